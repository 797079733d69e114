package signaling

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/sfu"
	"github.com/chalk-edu/chalk/signaling/client"
)

// cascadeNode is one node of a cascade test: hub, SFU and its own Redis connection, serving /ws
// and /relay, with its SFU metrics in a registry of its own.
type cascadeNode struct {
	base, ws string
	reg      *prometheus.Registry
}

func newCascadeNode(t *testing.T, redisURL, node string, mutate func(*sfu.Config, *Config)) *cascadeNode {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})).With("node", node)
	reg := prometheus.NewRegistry()
	metrics := sfu.NewMetrics()
	if err := metrics.Register(reg); err != nil {
		t.Fatal(err)
	}
	sc := sfu.Config{BindIP: "127.0.0.1", TCPPort: -1, IncludeLoopback: true, Logger: log, Metrics: metrics}
	store, err := rooms.NewRedisStore(t.Context(), redisURL, rooms.RedisOptions{KeyPrefix: "cascade:"})
	if err != nil {
		t.Fatal(err)
	}
	tokens, _ := auth.NewIssuer(secret)
	hc := Config{Store: store, Tokens: tokens, DevMode: true, Node: node, Logger: log}
	if mutate != nil {
		mutate(&sc, &hc)
	}
	media, err := sfu.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	hc.SFU = media
	hub := NewHub(hc)
	mux := http.NewServeMux()
	mux.Handle("GET /ws", hub)
	mux.HandleFunc("GET /relay", hub.ServeRelay)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hub.Close(ctx); err != nil {
			t.Errorf("close hub %s: %v", node, err)
		}
		srv.Close()
		media.Close()
		store.Close()
	})
	return &cascadeNode{base: srv.URL, ws: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws", reg: reg}
}

// metric is the value of a gauge or counter without labels, 0 if absent.
func (n *cascadeNode) metric(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := n.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.Metric) == 0 {
			continue
		}
		m := mf.Metric[0]
		if g := m.GetGauge(); g != nil {
			return g.GetValue()
		}
		return m.GetCounter().GetValue()
	}
	return 0
}

// lossyRelay drops the first copy of every 50th video packet the home sends up a relay, before
// SRTP protects it: the edge never sees it and must NACK it, and only a retransmission from the
// home's cache can fill the gap.
type lossyRelay struct {
	mu      sync.Mutex
	dropped map[uint32]map[uint16]bool // by SSRC
	n       atomic.Int64
}

func (l *lossyRelay) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &lossyWriter{l: l}, nil
}

type lossyWriter struct {
	interceptor.NoOp
	l *lossyRelay
}

func (w *lossyWriter) BindLocalStream(info *interceptor.StreamInfo, wr interceptor.RTPWriter) interceptor.RTPWriter {
	if !strings.HasPrefix(info.MimeType, "video/") {
		return wr
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if h.SequenceNumber%50 == 7 && w.l.drop(h.SSRC, h.SequenceNumber) {
			return len(payload), nil
		}
		return wr.Write(h, payload, a)
	})
}

// drop reports whether this is the first copy of the packet (and counts it as dropped).
func (l *lossyRelay) drop(ssrc uint32, seq uint16) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dropped == nil {
		l.dropped = map[uint32]map[uint16]bool{}
	}
	if l.dropped[ssrc] == nil {
		l.dropped[ssrc] = map[uint16]bool{}
	}
	if l.dropped[ssrc][seq] {
		return false
	}
	l.dropped[ssrc][seq] = true
	l.n.Add(1)
	return true
}

// received counts the synthetic packets one subscriber got, by publisher and kind, and remembers
// the SSRC of a camera.
type received struct {
	mu         sync.Mutex
	seen       map[recvKey]map[uint32]bool
	cameraSSRC atomic.Uint32
}

type recvKey struct {
	participant string
	kind        webrtc.RTPCodecType
}

func (r *received) onTrack(info client.TrackInfo, tr *webrtc.TrackRemote) {
	if info.Source == "camera" {
		r.cameraSSRC.Store(uint32(tr.SSRC()))
	}
	go func() {
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			m, ok := client.ParseMarker(tr.Kind(), pkt.Payload)
			if !ok {
				continue
			}
			k := recvKey{info.Participant, tr.Kind()}
			r.mu.Lock()
			if r.seen == nil {
				r.seen = map[recvKey]map[uint32]bool{}
			}
			if r.seen[k] == nil {
				r.seen[k] = map[uint32]bool{}
			}
			r.seen[k][m.N] = true
			r.mu.Unlock()
		}
	}()
}

// count is how many of participant's packets of kind numbered in [from, to) arrived.
func (r *received) count(participant string, kind webrtc.RTPCodecType, from, to uint32) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for i := from; i < to; i++ {
		if r.seen[recvKey{participant, kind}][i] {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sendSynthetic writes numbered audio (and video, if the client has it) at 50 packets/s until stop,
// storing how many it has sent.
func sendSynthetic(c *client.Client, sent *atomic.Uint32, stop <-chan struct{}) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for n := uint32(0); ; n++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		client.WriteSynthetic(c.Audio, webrtc.RTPCodecTypeAudio, n, 0)
		if c.Video != nil {
			client.WriteSynthetic(c.Video, webrtc.RTPCodecTypeVideo, n, 10)
		}
		sent.Store(n + 1)
	}
}

// tcpProxy forwards connections to addr until cut, which drops every connection open at the time.
type tcpProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newTCPProxy(t *testing.T, addr string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
