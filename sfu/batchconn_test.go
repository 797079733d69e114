package sfu

import (
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// Media flows through batched sockets both ways they are opened: the one bound socket (BindIP) and
// the per-address sockets of Pion's multi-socket mux (no BindIP), and the fan-out really batches.
func TestBatchedWritesDeliver(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"bound", Config{BindIP: "127.0.0.1", TCPPort: -1, IncludeLoopback: true}},
		{"all-interfaces", Config{TCPPort: -1, IncludeLoopback: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
			s, err := New(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.batch == nil || len(s.batch.conns) == 0 {
				t.Fatal("batching is not on")
			}
			var plis atomic.Int32
			up := fakeUpTrack(s, webrtc.RTPCodecTypeVideo, &plis)
			var got atomic.Int64
			p, client := connectSubscriber(t, s, up, "sub", &got)
			defer client.Close()
			defer p.Close()
			before := got.Load()
			for seq := uint16(100); seq < 110; seq++ {
				up.forward(vp8Packet(seq, false))
			}
			for deadline := time.Now().Add(5 * time.Second); got.Load()-before < 10; {
				if time.Now().After(deadline) {
					t.Fatalf("received %d of 10 packets", got.Load()-before)
				}
				time.Sleep(10 * time.Millisecond)
			}
			var batches int64
			for _, bc := range s.batch.conns {
				batches += bc.batches.Load()
			}
			if batches == 0 {
				t.Fatal("no packet went out through sendmmsg")
			}
		})
	}
}

func TestUnbatchedWritesDeliver(t *testing.T) {
	s, err := New(Config{BindIP: "127.0.0.1", TCPPort: -1, IncludeLoopback: true, NoBatchWrites: true,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.batch != nil {
		t.Fatal("NoBatchWrites left batching on")
	}
	var plis atomic.Int32
	up := fakeUpTrack(s, webrtc.RTPCodecTypeVideo, &plis)
	var got atomic.Int64
	p, client := connectSubscriber(t, s, up, "sub", &got) // returns once packets arrive
	client.Close()
	p.Close()
}
