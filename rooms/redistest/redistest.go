// Package redistest starts a throwaway redis-server for tests.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readyWithin bounds how long a started server may take to answer PING (it usually takes ~50 ms).
const readyWithin = 5 * time.Second

// Start runs redis-server on a free loopback port, without persistence, until the test ends, and
// returns its redis:// URL. A missing redis-server fails the test: it is a dependency, not an option.
func Start(t testing.TB) (url string) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redistest: redis-server is not on PATH (%v); run scripts/install-test-deps.sh", err)
	}
	dir := t.TempDir()
	var errs []string
	// The free port is only free when we looked; another process may take it before redis binds it.
	for attempt := 1; attempt <= 3; attempt++ {
		url, err := start(t, bin, dir, attempt)
		if err == nil {
			return url
		}
		errs = append(errs, err.Error())
	}
	t.Fatalf("redistest: redis-server did not start:\n%s", strings.Join(errs, "\n"))
	return ""
}

func start(t testing.TB, bin, dir string, attempt int) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	logPath := filepath.Join(dir, fmt.Sprintf("redis-%d.log", attempt))
	logFile, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--dir", dir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	if err := waitReady(addr, exited); err != nil {
		stop()
		log, _ := os.ReadFile(logPath)
		return "", fmt.Errorf("attempt %d on %s: %w\n%s", attempt, addr, err, tail(string(log), 800))
	}
	t.Cleanup(stop)
	return "redis://" + addr, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls with PING until the server answers PONG, it exits, or readyWithin passes.
func waitReady(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(readyWithin)
	for {
		err := ping(addr)
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no PONG within %v: %w", readyWithin, err)
		}
	}
}

func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
