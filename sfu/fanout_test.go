package sfu

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// seqWriter records the sequence numbers written to one subscriber.
type seqWriter struct {
	mu    sync.Mutex
	seqs  []uint16
	count *atomic.Int64 // all writers' writes, for benchmarks
}

func (w *seqWriter) WriteRTP(h *rtp.Header, p []byte) (int, error) {
	if w.count != nil {
		w.count.Add(1)
		return len(p), nil
	}
	w.mu.Lock()
	w.seqs = append(w.seqs, h.SequenceNumber)
	w.mu.Unlock()
	return len(p), nil
}
func (w *seqWriter) Write(b []byte) (int, error) { return len(b), nil }

func (w *seqWriter) snapshot() []uint16 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]uint16(nil), w.seqs...)
}

// attach adds a bound down-track writing to w.
func attach(up *UpTrack, w *seqWriter) *DownTrack {
	d := newDownTrack(up, up.sfu.metrics)
	d.bound.Store(&binding{ssrc: 5, pt: 96, w: w})
	d.needKeyframe.Store(false)
	up.addDown(d)
	return d
}

func TestFanOutSpreadsSubscribersAndKeepsOrder(t *testing.T) {
	s := newTestSFU(t)
	var plis atomic.Int32
	up := fakeUpTrack(s, webrtc.RTPCodecTypeVideo, &plis)
	baseGoroutines := runtime.NumGoroutine()

	const subs = 100
	ws := make([]*seqWriter, subs)
	downs := make([]*DownTrack, subs)
	for i := range ws {
		ws[i] = &seqWriter{}
		downs[i] = attach(up, ws[i])
	}
	// 16 written by the reader, then writers of up to 32 each: 32, 32, 20.
	if n := len(up.fan.loadInline()); n != inlineDowns {
		t.Fatalf("reader writes %d subscribers itself, want %d", n, inlineDowns)
	}
	writers := up.fan.loadWriters()
	var sizes []int
	for _, w := range writers {
		sizes = append(sizes, len(*w.downs.Load()))
	}
	if len(sizes) != 3 || sizes[0] != 32 || sizes[1] != 32 || sizes[2] != 20 {
		t.Fatalf("writers own %v subscribers, want [32 32 20]", sizes)
	}

	// Send at most 32 packets ahead of the slowest writer: a stalled writer drops by design (see
	// the next test), which is not what this one is about.
	send := func(from, to uint16) {
		for seq := from; seq < to; seq++ {
			up.forward(vp8Packet(seq, seq == from))
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
				behind := 0
				for _, w := range up.fan.loadWriters() {
					behind = max(behind, len(w.queue))
				}
				if behind < 32 {
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	waitFor := func(w *seqWriter, n int) []uint16 {
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := w.snapshot()
			if len(got) >= n || time.Now().After(deadline) {
				return got
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	send(0, 500)
	for i, w := range ws {
		got := waitFor(w, 500)
		if len(got) != 500 {
			t.Fatalf("subscriber %d got %d packets, want 500", i, len(got))
		}
		for j, seq := range got {
			if seq != uint16(j) {
				t.Fatalf("subscriber %d got packet %d at position %d: out of order", i, seq, j)
			}
		}
	}

	// Half leave (from the reader's share and the writers'); the rest keep receiving, in order.
	for i := 0; i < subs; i += 2 {
		up.removeDown(downs[i])
	}
	// A newcomer fills the reader's share first.
	late := &seqWriter{}
	if d := attach(up, late); !slices.Contains(up.fan.loadInline(), d) {
		t.Fatal("a newcomer went to a writer while the reader had room")
	}
	send(500, 600)
	for i, w := range ws {
		want := 600
		if i%2 == 0 {
			want = 500
		}
		if got := waitFor(w, want); len(got) != want {
			t.Fatalf("subscriber %d got %d packets, want %d", i, len(got), want)
		}
	}
	time.Sleep(50 * time.Millisecond)
	for i := 0; i < subs; i += 2 {
		if n := len(ws[i].snapshot()); n != 500 {
			t.Fatalf("subscriber %d received %d packets after it left", i, n)
		}
	}
	if got := waitFor(late, 100); len(got) != 100 || got[0] != 500 {
		t.Fatalf("the newcomer got %d packets starting at %v", len(got), got[:min(1, len(got))])
	}

	// The track ends: its writers end too.
	up.end()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseGoroutines {
		if time.Now().After(deadline) {
			t.Fatalf("writers outlived their track: %d goroutines, %d before", runtime.NumGoroutine(), baseGoroutines)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFanOutDropsWhenWritersAreStuck(t *testing.T) {
	s := newTestSFU(t)
	var plis atomic.Int32
	up := fakeUpTrack(s, webrtc.RTPCodecTypeVideo, &plis)
	for range inlineDowns {
		attach(up, &seqWriter{})
	}
	stuck := &blockingWriter{release: make(chan struct{})}
	d := newDownTrack(up, s.metrics)
	d.bound.Store(&binding{ssrc: 5, pt: 96, w: stuck})
	d.needKeyframe.Store(false)
	up.addDown(d)
	defer up.end()
	defer close(stuck.release)
	// The writer blocks on its first packet: the queue fills, then the reader drops for it rather
	// than wait, and the reader's own subscribers are not held up.
	done := make(chan struct{})
	go func() {
		for seq := range uint16(writerQueue + 50) {
			up.forward(vp8Packet(seq, seq == 0))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a stuck writer blocked the reader")
	}
	if n := counterValue(t, s.metrics.fanoutDrops); n < 40 {
		t.Fatalf("%v fan-out drops, want at least 40", n)
	}
}

type blockingWriter struct{ release chan struct{} }

func (w *blockingWriter) WriteRTP(h *rtp.Header, p []byte) (int, error) {
	<-w.release
	return len(p), nil
}
func (w *blockingWriter) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkFanOut is one packet to every subscriber of a track, through the reader's share and the
// writers', with writers that discard: Chalk's own fan-out cost (rewrite, hand-off, wake-ups) and
// its allocations (must be 0 allocs/op). Each op waits until every subscriber has the packet.
func BenchmarkFanOut(b *testing.B) {
	for _, subs := range []int{10, 50, 200} {
		b.Run("subscribers="+itoa3(subs), func(b *testing.B) {
			s := newTestSFU(b)
			var plis atomic.Int32
			up := fakeUpTrack(s, webrtc.RTPCodecTypeVideo, &plis)
			defer up.end()
			var writes atomic.Int64
			for range subs {
				attach(up, &seqWriter{count: &writes})
			}
			pkt := vp8Packet(0, true)
			up.forward(pkt) // warm the pool
			for writes.Load() < int64(subs) {
				runtime.Gosched()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pkt.SequenceNumber++
				up.forward(pkt)
				for want := int64(subs) * int64(i+2); writes.Load() < want; {
					runtime.Gosched()
				}
			}
		})
	}
}

func itoa3(i int) string {
	if i < 100 {
		return itoa(i)
	}
	return string(rune('0'+i/100%10)) + itoa(i%100)
}

func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
