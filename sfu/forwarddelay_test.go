package sfu

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	dto "github.com/prometheus/client_model/go"
)

func forwardDelayHistogram(tb testing.TB, m *Metrics) *dto.Histogram {
	tb.Helper()
	var d dto.Metric
	if err := m.forwardDelay.Write(&d); err != nil {
		tb.Fatal(err)
	}
	return d.GetHistogram()
}

// TestForwardDelayObserved: one forward-delay sample per packet per fan-out group (the reader's
// inline subscribers, each writer goroutine), none for a group without subscribers.
func TestForwardDelayObserved(t *testing.T) {
	for _, tc := range []struct {
		name         string
		subs, groups int
	}{
		{"no subscribers", 0, 0},
		{"inline only", inlineDowns, 1},
		{"inline and three writers", inlineDowns + 2*downsPerWriter + 1, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSFU(t)
			var plis atomic.Int32
			up := fakeUpTrack(s, webrtc.RTPCodecTypeVideo, &plis)
			var writes atomic.Int64
			for range tc.subs {
				attach(up, &seqWriter{count: &writes})
			}
			const packets = 10
			pkt := vp8Packet(0, true)
			for range packets {
				up.forward(pkt)
				pkt.SequenceNumber++
			}
			deadline := time.Now().Add(10 * time.Second)
			for writes.Load() < int64(tc.subs*packets) && time.Now().Before(deadline) {
				runtime.Gosched()
			}
			up.downMu.Lock()
			up.fan.close()
			up.downMu.Unlock()
			// The writers observe after their writes: wait for the count, bounded.
			want := uint64(tc.groups * packets)
			h := forwardDelayHistogram(t, s.metrics)
			for h.GetSampleCount() < want && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
				h = forwardDelayHistogram(t, s.metrics)
			}
			if h.GetSampleCount() != want {
				t.Errorf("%d forward-delay samples, want %d", h.GetSampleCount(), want)
			}
		})
	}
}

// spinWriter costs about what a real subscriber write does (SRTP, the system call's share), so the
// order in which one core serves the fan-out groups shows in the forward delay.
type spinWriter struct {
	cost   time.Duration
	writes *atomic.Int64
}

func (w *spinWriter) WriteRTP(_ *rtp.Header, p []byte) (int, error) {
	for start := time.Now(); time.Since(start) < w.cost; {
	}
	w.writes.Add(1)
	return len(p), nil
}
func (w *spinWriter) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkFanOutBurst is a frame's burst of 5 packets to 200 subscribers on one core (GOMAXPROCS
// 1, as with the server pinned), each write costing 5 µs: it reports the mean forward delay of a
// fan-out group (ms). On one core the groups of a burst finish one after another whatever their
// order (interleaving the writers packet by packet, tried with runtime.Gosched, measured the same:
// equal jobs have the same mean completion time in any order), so the delay is the burst's work:
// what lowers it is less work per copy or a burst spread out by the publisher's pacer.
func BenchmarkFanOutBurst(b *testing.B) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const subs, burst = 200, 5
	s := newTestSFU(b)
	var plis atomic.Int32
	up := fakeUpTrack(s, webrtc.RTPCodecTypeVideo, &plis)
	defer up.end()
	var writes atomic.Int64
	for range subs {
		d := newDownTrack(up, up.sfu.metrics)
		d.bound.Store(&binding{ssrc: 5, pt: 96, w: &spinWriter{cost: 5 * time.Microsecond, writes: &writes}})
		d.needKeyframe.Store(false)
		up.addDown(d)
	}
	pkt := vp8Packet(0, true)
	h0 := forwardDelayHistogram(b, s.metrics)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for range burst {
			up.forward(pkt)
			pkt.SequenceNumber++
		}
		for want := int64(subs * burst * (i + 1)); writes.Load() < want; {
			runtime.Gosched()
		}
	}
	b.StopTimer()
	h := forwardDelayHistogram(b, s.metrics)
	if n := h.GetSampleCount() - h0.GetSampleCount(); n > 0 {
		b.ReportMetric((h.GetSampleSum()-h0.GetSampleSum())/float64(n)*1000, "delay-ms/group")
	}
}
