package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const (
	metricCPU           = "process_cpu_seconds_total"
	metricRSS           = "process_resident_memory_bytes"
	metricForwarded     = "chalk_sfu_rtp_packets_forwarded_total"
	metricRetransmitted = "chalk_sfu_rtp_retransmissions_total"
	metricWriteErrors   = "chalk_sfu_rtp_write_errors_total"
	metricFanoutDrops   = "chalk_sfu_fanout_drops_total"
	metricForwardDelay  = "chalk_sfu_forward_delay_seconds_bucket"
	metricGoroutines    = "go_goroutines"
	metricHeapInuse     = "go_memstats_heap_inuse_bytes"
)

// scrape reads the server's /metrics and returns the unlabelled series the load generator uses.
func scrape(ctx context.Context, base string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape metrics: %s", resp.Status)
	}
	want := map[string]bool{metricCPU: true, metricRSS: true, metricForwarded: true, metricRetransmitted: true, metricGoroutines: true, metricHeapInuse: true, metricWriteErrors: true, metricFanoutDrops: true}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for lines := 0; sc.Scan() && lines < 100000; lines++ {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || !want[name] && !strings.HasPrefix(name, metricForwardDelay+"{") {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			out[name] = v
		}
	}
	if _, ok := out[metricCPU]; !ok {
		return nil, fmt.Errorf("scrape metrics: no %s at %s (is it a Chalk server?)", metricCPU, base)
	}
	return out, sc.Err()
}

// child is a Chalk server the load generator started.
type child struct {
	cmd  *exec.Cmd
	url  string
	dir  string
	done chan struct{}
}

// startServer runs `chalk serve` on free loopback ports, pinned to cpus (nil: not pinned), with
// tokens signed by secret, and waits for /healthz.
func startServer(ctx context.Context, bin string, extra []string, cpus []int, secret string, pprof bool) (*child, error) {
	if bin == "" {
		var err error
		if bin, err = findServer(); err != nil {
			return nil, err
		}
	}
	httpPort, err := freePort("tcp")
	if err != nil {
		return nil, err
	}
	mediaPort, err := freePort("udp")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "chalk-load-")
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "-listen", "127.0.0.1:" + strconv.Itoa(httpPort), "-media-port", strconv.Itoa(mediaPort),
		"-media-bind", "127.0.0.1", "-media-tcp-port", "-1", "-storage", dir, "-node-id", "load", "-log-level", "error"}
	if pprof {
		args = append(args, "-pprof")
	}
	args = append(args, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "CHALK_TOKEN_SECRET="+secret)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := startPinned(cmd, cpus); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	c := &child{cmd: cmd, url: "http://127.0.0.1:" + strconv.Itoa(httpPort), dir: dir, done: make(chan struct{})}
	go func() { cmd.Wait(); close(c.done) }()
	for deadline := time.Now().Add(15 * time.Second); ; {
		resp, err := http.Get(c.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c, nil
			}
		}
		select {
		case <-c.done:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("%s exited at start", bin)
		case <-ctx.Done():
			c.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("%s did not answer /healthz in 15 s", bin)
		}
	}
}

// stop asks the server to shut down (SIGTERM) and kills it if it has not within 12 s.
func (c *child) stop() {
	c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(12 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
	os.RemoveAll(c.dir)
}

// findServer looks for the chalk binary next to this one, then on PATH.
func findServer() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "chalk")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath("chalk"); err == nil {
		return p, nil
	}
	return "", errors.New("no chalk binary next to chalk-load or on PATH: build one (go build -o bin/ ./cmd/chalk ./cmd/chalk-load) or pass -server-bin, or point -url at a running server")
}

func freePort(network string) (int, error) {
	if network == "udp" {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// profiler fetches the server's CPU profile over the measurement window, then its allocation
// profile, into a directory.
type profiler struct {
	errc chan error
}

func startProfiles(ctx context.Context, base, dir string, d time.Duration) *profiler {
	p := &profiler{errc: make(chan error, 1)}
	go func() {
		secs := max(1, int(d.Seconds()))
		err := fetch(ctx, base+"/debug/pprof/profile?seconds="+strconv.Itoa(secs), filepath.Join(dir, "cpu.pprof"), d+30*time.Second)
		if err == nil {
			err = fetch(ctx, base+"/debug/pprof/allocs", filepath.Join(dir, "allocs.pprof"), 30*time.Second)
		}
		p.errc <- err
	}()
	return p
}

func (p *profiler) wait() error { return <-p.errc }

func fetch(ctx context.Context, url, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile %s: %s (start the server with -pprof)", url, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
