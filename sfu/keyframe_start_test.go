package sfu

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// A new subscriber asks the publisher for a keyframe once its connection is up: one asked for
// before would arrive while DTLS is still in progress and be dropped.
func TestNewSubscriberAsksForKeyframeWhenConnected(t *testing.T) {
	s := newTestSFU(t)
	f := negotiateCamera(t, s)
	p, plis := f.peer, &f.plis
	for deadline := time.Now().Add(10 * time.Second); plis.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no keyframe request in 10 s (subscribe connection %s)", p.sub.ConnectionState())
		}
	}
}

// notReadyWriter is a subscriber's writer before its DTLS is up: Pion drops every packet and
// reports 0 bytes, no error.
type notReadyWriter struct {
	ready   atomic.Bool
	written atomic.Int32
}

func (w *notReadyWriter) WriteRTP(h *rtp.Header, p []byte) (int, error) {
	if !w.ready.Load() {
		return 0, nil
	}
	w.written.Add(1)
	return len(p), nil
}

func (w *notReadyWriter) Write(b []byte) (int, error) { return w.WriteRTP(nil, b) }

// A keyframe the transport dropped does not start the subscriber: it waits for the next one
// rather than receiving frames it cannot decode.
func TestDroppedKeyframeKeepsTheGateShut(t *testing.T) {
	s := newTestSFU(t)
	var plis atomic.Int32
	up := fakeUpTrack(s, webrtc.RTPCodecTypeVideo, &plis)
	d := newDownTrack(up, s.metrics)
	w := &notReadyWriter{}
	d.bound.Store(&binding{ssrc: 1, pt: 96, w: w})

	d.writeRTP(vp8Packet(1, true), true, time.Now()) // dropped: DTLS not up
	w.ready.Store(true)
	d.writeRTP(vp8Packet(2, false), false, time.Now())
	d.writeRTP(vp8Packet(3, false), false, time.Now())
	if n := w.written.Load(); n != 0 {
		t.Fatalf("%d delta packets sent after the keyframe was dropped; want none before the next keyframe", n)
	}
	d.writeRTP(vp8Packet(4, true), true, time.Now())
	d.writeRTP(vp8Packet(5, false), false, time.Now())
	if n := w.written.Load(); n != 2 {
		t.Fatalf("%d packets sent from the next keyframe on, want 2", n)
	}
}

// A subscriber whose connection comes up shortly after a keyframe went to the others is sent that
// keyframe and the packets since from the cache, and the publisher is not asked for another.
func TestNewSubscriberStartsFromTheCache(t *testing.T) {
	keepCachedKeyframes(t)
	s := newTestSFU(t)
	f := negotiateCamera(t, s)
	up, p, got, plis := f.up, f.peer, &f.got, &f.plis
	// The publisher's latest keyframe and the frames after it, as the reader sees them, while the
	// subscriber's connection is still coming up.
	for seq := uint16(100); seq <= 110; seq++ {
		pkt := vp8Packet(seq, seq == 100)
		raw, err := pkt.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		up.remember(pkt, raw)
		up.forward(pkt)
	}
	for deadline := time.Now().Add(10 * time.Second); got.Load() < 11; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the subscriber received %d of the 11 cached packets (subscribe connection %s)", got.Load(), p.sub.ConnectionState())
		}
	}
	if n := plis.Load(); n != 0 {
		t.Fatalf("%d keyframe requests; the cached keyframe should have served", n)
	}
	// Live packets continue the stream, without the cached ones twice.
	pkt := vp8Packet(111, false)
	up.forward(pkt)
	for deadline := time.Now().Add(5 * time.Second); got.Load() < 12; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the packet after the cached ones did not arrive")
		}
	}
}

// Packets a writer hands over after the cache start, up to the last one sent from the cache, are
// not sent twice.
func TestCacheStartSkipsWhatItSent(t *testing.T) {
	keepCachedKeyframes(t)
	s := newTestSFU(t)
	var plis atomic.Int32
	up := fakeUpTrack(s, webrtc.RTPCodecTypeVideo, &plis)
	d := newDownTrack(up, s.metrics)
	w := &notReadyWriter{}
	w.ready.Store(true)
	d.bound.Store(&binding{ssrc: 1, pt: 96, w: w})
	if got := d.startFromCache(); got != startNone {
		t.Fatalf("startFromCache with nothing cached = %v, want startNone", got)
	}
	for seq := uint16(100); seq <= 110; seq++ {
		pkt := vp8Packet(seq, seq == 100)
		raw, err := pkt.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		up.remember(pkt, raw)
	}
	if got := d.startFromCache(); got != startDone {
		t.Fatalf("startFromCache = %v, want startDone", got)
	}
	if n := w.written.Load(); n != 11 {
		t.Fatalf("%d packets sent from the cache, want 11", n)
	}
	d.writeRTP(vp8Packet(109, false), false, time.Now()) // a writer that was behind
	d.writeRTP(vp8Packet(110, false), false, time.Now())
	d.writeRTP(vp8Packet(111, false), false, time.Now())
	if n := w.written.Load(); n != 12 {
		t.Fatalf("%d packets sent, want 12 (109 and 110 not twice)", n)
	}
}

// keepCachedKeyframes lets a cached keyframe start a subscriber however long its connection takes
// to come up (on a loaded machine, longer than the half second allowed in production).
func keepCachedKeyframes(t *testing.T) {
	old := startMaxAge.Swap(int64(time.Hour))
	t.Cleanup(func() { startMaxAge.Store(old) })
}
