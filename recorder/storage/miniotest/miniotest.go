// Package miniotest runs a throwaway MinIO server for tests, on a free loopback port with a temporary
// data directory. It can stop and restart the server on the same port and data, to test outages.
package miniotest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Credentials every test server uses.
const (
	AccessKey = "chalk-test"
	SecretKey = "chalk-test-secret"
)

// readyWithin bounds how long a started server may take to answer its health check (about 1 s).
const readyWithin = 30 * time.Second

// Server is a running (or stopped) MinIO.
type Server struct {
	Endpoint string // 127.0.0.1:port, for storage.MinIOConfig.Endpoint

	t       testing.TB
	bin     string
	dir     string
	console string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Bin finds the minio binary: on PATH, or where `go install` puts it. A missing binary fails the
// test: scripts/install-test-deps.sh installs it.
func Bin(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("minio"); err == nil {
		return p
	}
	for _, dir := range gobinDirs() {
		p := filepath.Join(dir, "minio")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	t.Fatalf("miniotest: the minio server is not installed (not on PATH nor in GOBIN/GOPATH/bin); run scripts/install-test-deps.sh")
	return ""
}

func gobinDirs() []string {
	var dirs []string
	if d := os.Getenv("GOBIN"); d != "" {
		dirs = append(dirs, d)
	}
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) > 0 && strings.TrimSpace(lines[0]) != "" {
			dirs = append(dirs, strings.TrimSpace(lines[0]))
		}
		if len(lines) > 1 {
			for _, p := range filepath.SplitList(strings.TrimSpace(lines[1])) {
				dirs = append(dirs, filepath.Join(p, "bin"))
			}
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	return dirs
}

// Start runs a MinIO server until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, bin: Bin(t), dir: t.TempDir()}
	var errs []string
	// A free port is only free when we looked; retry if someone else took it.
	for attempt := 1; attempt <= 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("miniotest: %v", err)
		}
		console, err := freePort()
		if err != nil {
			t.Fatalf("miniotest: %v", err)
		}
		s.Endpoint = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		s.console = net.JoinHostPort("127.0.0.1", strconv.Itoa(console))
		s.logPath = filepath.Join(s.dir, fmt.Sprintf("minio-%d.log", attempt))
		if err := s.start(); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		t.Cleanup(s.Stop)
		return s
	}
	t.Fatalf("miniotest: minio did not start:\n%s", strings.Join(errs, "\n"))
	return nil
}

func (s *Server) start() error {
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(s.bin, "server", "--quiet", "--address", s.Endpoint, "--console-address", s.console, filepath.Join(s.dir, "data"))
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+AccessKey, "MINIO_ROOT_PASSWORD="+SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	if err := waitReady(s.Endpoint, exited); err != nil {
		_ = cmd.Process.Kill()
		<-exited
		log, _ := os.ReadFile(s.logPath)
		return fmt.Errorf("on %s: %w\n%s", s.Endpoint, err, tail(string(log), 1500))
	}
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	return nil
}

// Stop kills the server (an outage); its data stays for Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Restart starts the server again on the same address and data after Stop.
func (s *Server) Restart() {
	s.t.Helper()
	var err error
	for attempt := 0; attempt < 3; attempt++ { // the old socket may linger for a moment
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	s.t.Fatalf("miniotest: restart: %v", err)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(readyWithin)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get("http://" + addr + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("health check: %s", resp.Status)
		}
		select {
		case <-exited:
			return fmt.Errorf("minio exited: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not live within %v: %w", readyWithin, err)
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
