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
	var plis atomic.Int32
	up := fakeUpTrack(s, webrtc.RTPCodecTypeVideo, &plis)
	var got atomic.Int64
	p, client := negotiateSubscriber(t, s, up, "sub", &got, false)
	defer client.Close()
	defer p.Close()
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

	d.writeRTP(vp8Packet(1, true), true) // dropped: DTLS not up
	w.ready.Store(true)
	d.writeRTP(vp8Packet(2, false), false)
	d.writeRTP(vp8Packet(3, false), false)
	if n := w.written.Load(); n != 0 {
		t.Fatalf("%d delta packets sent after the keyframe was dropped; want none before the next keyframe", n)
	}
	d.writeRTP(vp8Packet(4, true), true)
	d.writeRTP(vp8Packet(5, false), false)
	if n := w.written.Load(); n != 2 {
		t.Fatalf("%d packets sent from the next keyframe on, want 2", n)
	}
}
