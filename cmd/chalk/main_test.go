package main

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
)

func TestHealthzAndMetrics(t *testing.T) {
	srv := startTestServer(t, nil)
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("/healthz = %d %s", code, body)
	}
	code, body := get("/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, series := range []string{"chalk_sfu_peers", "chalk_sfu_rtp_packets_forwarded_total", "chalk_signaling_sessions", "process_cpu_seconds_total", "go_goroutines"} {
		if !strings.Contains(body, series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
	if code, _ := get("/r/some-room"); code != 200 {
		t.Errorf("room page = %d", code)
	}
}

func TestTokenCommand(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"token", "-room", "physics", "-identity", "s1", "-name", "Ada", "-role", "instructor", "-token-secret", testSecret, "-public-url", "https://class.example"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "https://class.example/r/physics?token=") {
		t.Fatalf("output %q", out.String())
	}
	is, _ := auth.NewIssuer(testSecret)
	g, err := is.Check(lines[0], "physics")
	if err != nil || g.Role != rooms.RoleInstructor || g.Identity != "s1" || g.Name != "Ada" {
		t.Fatalf("minted token: %+v %v", g, err)
	}
}

func TestCommandErrors(t *testing.T) {
	t.Setenv("CHALK_TOKEN_SECRET", "")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string
	}{
		{"unknown command", []string{"launch"}, nil, 2, "unknown command"},
		{"serve needs a secret outside dev mode", []string{"serve"}, nil, 1, "CHALK_TOKEN_SECRET"},
		{"short secret", []string{"serve", "-token-secret", "short", "-listen", "127.0.0.1:0", "-media-port", "0", "-media-tcp-port", "-1"}, nil, 1, "at least 32 bytes"},
		{"bad env number", []string{"serve", "-dev"}, map[string]string{"CHALK_MEDIA_PORT": "seven"}, 1, "CHALK_MEDIA_PORT"},
		{"bad log level", []string{"serve", "-dev", "-log-level", "loud"}, nil, 1, "log level"},
		{"token without room", []string{"token", "-identity", "x", "-token-secret", testSecret}, nil, 1, "-room"},
		{"token with a bad role", []string{"token", "-room", "r", "-identity", "x", "-role", "dean", "-token-secret", testSecret}, nil, 1, "role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var out, errb bytes.Buffer
			if code := run(tt.args, &out, &errb); code != tt.code {
				t.Fatalf("exit %d, want %d (%s)", code, tt.code, errb.String())
			}
			if !strings.Contains(errb.String(), tt.want) {
				t.Fatalf("stderr %q does not mention %q", errb.String(), tt.want)
			}
		})
	}
}
