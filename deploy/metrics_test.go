package deploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/rooms/redistest"
	"github.com/chalk-edu/chalk/signaling/client"
)

// scrapeServer builds and starts a real `chalk serve` (dev mode, embedded TURN on, on a real
// redis-server so that the cluster series exist), makes one
// participant join and send a message out of order so that the labelled counters have series, and
// returns every metric family in /metrics with the label names seen on it.
func scrapeServer(t *testing.T) map[string]map[string]bool {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "chalk")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/chalk").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	httpPort, turnPort := freePort(t, "tcp"), freePort(t, "udp")
	listen := fmt.Sprintf("127.0.0.1:%d", httpPort)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve", "-dev", "-listen", listen, "-media-bind", "127.0.0.1", "-media-port", "0",
		"-media-tcp-port", "-1", "-storage", filepath.Join(dir, "data"), "-turn-udp-port", fmt.Sprint(turnPort), "-log-level", "warn",
		"-redis", redistest.Start(t))
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})

	// The image's HEALTHCHECK command, against the real server.
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := exec.Command(bin, "health", "-listen", listen).CombinedOutput()
		if err == nil && bytes.Contains(out, []byte(`"status":"ok"`)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chalk health never passed: %v %s\nserver log:\n%s", err, out, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{URL: "ws://" + listen + "/ws", Room: "metrics", Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Send(ctx, "join", map[string]any{"room": "metrics", "name": "Ada"}); err != nil { // out_of_order
		t.Fatal(err)
	}

	families := map[string]map[string]bool{}
	labelRE := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`)
	for time.Now().Before(deadline.Add(10 * time.Second)) {
		resp, err := http.Get("http://" + listen + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		families = map[string]map[string]bool{}
		sc := bufio.NewScanner(bytes.NewReader(body))
		for sc.Scan() {
			line := sc.Text()
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			name, rest, _ := strings.Cut(line, "{")
			name, _, _ = strings.Cut(name, " ")
			if families[name] == nil {
				families[name] = map[string]bool{}
			}
			if i := strings.Index(rest, "}"); i >= 0 {
				for _, m := range labelRE.FindAllStringSubmatch(rest[:i], -1) {
					families[name][m[1]] = true
				}
			}
		}
		if families["chalk_signaling_errors_total"] != nil {
			return families
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no chalk_signaling_errors_total after an out-of-order join; have %d families", len(families))
	return nil
}

func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// The Grafana dashboard, strictly: the fields it is written with, each panel's queries.
type dashboard struct {
	Title         string          `json:"title"`
	UID           string          `json:"uid"`
	Tags          []string        `json:"tags"`
	Timezone      string          `json:"timezone"`
	SchemaVersion int             `json:"schemaVersion"`
	Version       int             `json:"version"`
	Refresh       string          `json:"refresh"`
	Editable      bool            `json:"editable"`
	Time          json.RawMessage `json:"time"`
	Templating    struct {
		List []struct {
			Name    string          `json:"name"`
			Type    string          `json:"type"`
			Query   string          `json:"query"`
			Label   string          `json:"label"`
			Current json.RawMessage `json:"current"`
			Hide    int             `json:"hide"`
		} `json:"list"`
	} `json:"templating"`
	Annotations json.RawMessage `json:"annotations"`
	Panels      []struct {
		ID          int             `json:"id"`
		Type        string          `json:"type"`
		Title       string          `json:"title"`
		Description string          `json:"description"`
		Datasource  json.RawMessage `json:"datasource"`
		GridPos     struct {
			H, W, X, Y int
		} `json:"gridPos"`
		FieldConfig json.RawMessage `json:"fieldConfig"`
		Options     json.RawMessage `json:"options"`
		Targets     []struct {
			RefID        string          `json:"refId"`
			Expr         string          `json:"expr"`
			LegendFormat string          `json:"legendFormat"`
			Datasource   json.RawMessage `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

var (
	metricRE = regexp.MustCompile(`\b(?:chalk|process|go)_[a-z0-9_]+\b`)
	byRE     = regexp.MustCompile(`\bby \(([^)]*)\)`)
)

// Every metric the dashboard queries is one the server exports, and every label it groups by is
// on that metric (or added by Prometheus: instance, job).
func TestDashboardMetricsExist(t *testing.T) {
	b, err := os.ReadFile("grafana/chalk-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var d dashboard
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	if len(d.Panels) == 0 {
		t.Fatal("no panels")
	}
	exported := scrapeServer(t)
	for _, must := range []string{"chalk_sfu_peers", "chalk_signaling_sessions", "chalk_turn_allocations", "process_cpu_seconds_total"} {
		if exported[must] == nil {
			t.Fatalf("the server does not export %s: is the scrape working? (%d families)", must, len(exported))
		}
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			names := metricRE.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: %q names no Chalk, process or Go metric", p.Title, tg.Expr)
			}
			for _, n := range names {
				labels, ok := exported[n]
				if !ok {
					t.Errorf("panel %q: %s is not in the server's /metrics", p.Title, n)
					continue
				}
				for _, m := range byRE.FindAllStringSubmatch(tg.Expr, -1) {
					for _, l := range strings.Split(m[1], ",") {
						if l = strings.TrimSpace(l); l != "instance" && l != "job" && !labels[l] {
							t.Errorf("panel %q: %s has no label %q", p.Title, n, l)
						}
					}
				}
			}
		}
	}
}
