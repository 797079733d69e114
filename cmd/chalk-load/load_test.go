package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/sfu"
	"github.com/chalk-edu/chalk/signaling"
)

const testSecret = "load-test-secret-0123456789abcdef-0123"

// startNode runs a Chalk node in this process, on 127.0.0.1, as cmd/chalk assembles one (store,
// SFU, hub, /ws and /metrics), and returns its base URL.
func startNode(t *testing.T) string {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	sm, gm := sfu.NewMetrics(), signaling.NewMetrics()
	if err := sm.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := gm.Register(reg); err != nil {
		t.Fatal(err)
	}
	media, err := sfu.New(sfu.Config{BindIP: "127.0.0.1", TCPPort: -1, IncludeLoopback: true, Logger: log, Metrics: sm})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewIssuer(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	store := rooms.NewMemoryStore()
	hub := signaling.NewHub(signaling.Config{Store: store, SFU: media, Tokens: tokens, Node: "test", Logger: log, Metrics: gm})
	mux := http.NewServeMux()
	mux.Handle("GET /ws", hub)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		hub.Close(ctx)
		srv.Shutdown(ctx)
		media.Close()
		store.Close()
	})
	return "http://" + ln.Addr().String()
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

// TestLectureRun runs the lecture scenario small against a real node and checks the JSON line a
// run prints: every field present and sane, and the media delivered. It is not a timing test: the
// figures are only checked for being possible, not fast.
func TestLectureRun(t *testing.T) {
	url := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o, err := parseFlags([]string{"-url", url, "-token-secret", testSecret, "-n", "5", "-duration", "3s",
		"-warmup", "500ms", "-grace", "500ms", "-floor", "200ms", "-join-timeout", "30s"}, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	out, err := execute(ctx, o, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	line, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", line)

	var got map[string]any
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatal(err)
	}
	num := func(key string) float64 {
		t.Helper()
		v, ok := got[key].(float64)
		if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("field %q = %v (%T), want a number", key, got[key], got[key])
		}
		return v
	}
	checks := []struct {
		key      string
		min, max float64
	}{
		{"rooms", 1, 1},
		{"publishers", 1, 1},
		{"subscribers", 5, 5},
		{"duration_s", 2.5, 30},
		{"joins_failed", 0, 0},
		{"subscribers_without_media", 0, 0},
		{"packets_sent", 1, 1e9},
		{"packets_expected", 1, 1e9},
		{"packets_received", 1, 1e9},
		{"duplicates", 0, 1e9},
		{"delivery", 0.9, 1},
		{"worst_subscriber_delivery", 0, 1},
		{"latency_ms_p50", 0, 60000},
		{"latency_ms_p99", 0, 60000},
		{"latency_ms_max", 0, 60000},
		{"socket_latency_ms_p50", 0, 60000},
		{"socket_latency_ms_p99", 0, 60000},
		{"socket_latency_ms_max", 0, 60000},
		{"socket_latency_samples", 1, 1e9},
		{"socket_latency_misses", 0, 1e9},
		{"server_forward_ms_p50", 0.0001, 60000},
		{"server_forward_ms_p99", 0.0001, 60000},
		{"join_to_first_media_ms_p50", 0.001, 60000},
		{"join_to_first_media_ms_p99", 0.001, 60000},
		{"join_samples", 5, 5},
		{"server_cpu_s", 0, 1000},
		{"server_cpu_cores", 0, 64},
		{"server_packets_forwarded", 1, 1e9},
		{"server_retransmissions", 0, 1e9},
		{"server_write_errors", 0, 1e9},
		{"server_fanout_drops", 0, 1e9},
		{"server_cpu_us_per_packet", 0, 1e6},
		{"server_cpu_us_per_packet_sent", 0, 1e6},
		{"server_heap_inuse_bytes", 1 << 10, 1 << 40},
		{"server_goroutines", 1, 1e7},
		{"server_rss_bytes", 1 << 20, 1 << 40},
		{"server_rss_idle_bytes", 1 << 20, 1 << 40},
		{"server_rss_mb_per_subscriber", -1e6, 1e6},
		{"load_cpu_s", 0.001, 1000},
		{"load_cpu_cores", 0, 64},
		{"ratio_to_floor", 0, 1e6},
	}
	for _, c := range checks {
		if v := num(c.key); v < c.min || v > c.max {
			t.Errorf("%s = %v, want within [%v, %v]", c.key, v, c.min, c.max)
		}
	}
	if num("socket_latency_ms_p50") > num("socket_latency_ms_p99") || num("server_forward_ms_p50") > num("server_forward_ms_p99") {
		t.Error("a socket or server p50 is above its p99")
	}
	// The socket sees a packet before the track read does, and almost every packet is stamped.
	if num("socket_latency_ms_p50") > num("latency_ms_p50") {
		t.Errorf("socket latency p50 %v above the application's %v", num("socket_latency_ms_p50"), num("latency_ms_p50"))
	}
	if num("socket_latency_misses") > num("socket_latency_samples")/10 {
		t.Errorf("%v packets without a socket arrival, %v with", num("socket_latency_misses"), num("socket_latency_samples"))
	}
	if num("latency_ms_p50") > num("latency_ms_p99") || num("join_to_first_media_ms_p50") > num("join_to_first_media_ms_p99") {
		t.Error("a p50 is above its p99")
	}
	if num("worst_subscriber_delivery") > num("delivery") {
		t.Error("the worst subscriber did better than the average")
	}
	// Every packet sent in the window is expected once by each of the 5 students.
	if e, s := num("packets_expected"), num("packets_sent"); e != 5*s {
		t.Errorf("packets_expected = %v, want 5 × packets_sent (%v)", e, s)
	}
	floor, ok := got["floor"].(map[string]any)
	if !ok {
		t.Fatalf("floor = %v, want the floor measured in the run", got["floor"])
	}
	for _, k := range []string{"sendto_us_per_packet", "sendmmsg_us_per_packet", "sendto_packets", "sendmmsg_fanout_us_per_packet"} {
		if v, ok := floor[k].(float64); !ok || v <= 0 {
			t.Errorf("floor.%s = %v, want > 0", k, floor[k])
		}
	}
	for _, k := range []string{"scenario", "go", "started"} {
		if s, ok := got[k].(string); !ok || s == "" {
			t.Errorf("%s = %v, want a string", k, got[k])
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	for _, c := range []struct{ q, want float64 }{{0.5, 500}, {0.99, 990}} {
		if got := h.quantile(c.q); math.Abs(got-c.want)/c.want > 0.04 {
			t.Errorf("q%v = %v ms, want %v within 4%%", c.q, got, c.want)
		}
	}
	var empty histogram
	if empty.quantile(0.99) != 0 {
		t.Error("an empty histogram has a p99")
	}
}

func TestMarkerRoundTrip(t *testing.T) {
	p := make([]byte, videoPayload)
	putMarker(p[videoPrefix:], marker{stream: 7, n: 123456, sent: 987654321})
	m, ok := parseMarker(webrtc.RTPCodecTypeVideo, p)
	if !ok || m.stream != 7 || m.n != 123456 || m.sent != 987654321 {
		t.Fatalf("parsed %+v %v", m, ok)
	}
	if _, ok := parseMarker(webrtc.RTPCodecTypeVideo, []byte{0x10, 0, 'x'}); ok {
		t.Fatal("a short payload parsed")
	}
}
