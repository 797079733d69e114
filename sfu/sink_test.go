package sfu

import (
	"sync/atomic"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/chalk-edu/chalk/recorder"
)

// The recorder's tracks are sinks; the recorder does not import sfu, so the seam is checked here.
var _ Sink = (*recorder.Track)(nil)

// copySink keeps the last payload in a fixed buffer, as a real sink must (the packet is reused).
type copySink struct {
	n    int
	last [1500]byte
	size int
}

func (s *copySink) WriteRTP(pkt *rtp.Packet) {
	s.n++
	s.size = copy(s.last[:], pkt.Payload)
}

func TestSinkReceivesPackets(t *testing.T) {
	s := newTestSFU(t)
	var plis atomic.Int32
	up := fakeUpTrack(s, webrtc.RTPCodecTypeVideo, &plis)
	sink := &copySink{}
	up.AddSink(sink)
	up.AddSink(sink) // idempotent
	if plis.Load() != 1 {
		t.Fatalf("adding a sink sent %d keyframe requests, want 1", plis.Load())
	}
	for i := uint16(0); i < 5; i++ {
		up.forward(vp8Packet(i, i == 0))
	}
	// Padding-only packets are not media: sinks do not see them either.
	up.forward(&rtp.Packet{Header: rtp.Header{Version: 2, Padding: true, SequenceNumber: 5}, PaddingSize: 100})
	if sink.n != 5 {
		t.Fatalf("sink got %d packets, want 5 (added twice must still mean once each)", sink.n)
	}
	up.RemoveSink(sink)
	up.forward(vp8Packet(6, false))
	if sink.n != 5 {
		t.Fatal("a removed sink still received packets")
	}
}

// A sink must not make forwarding allocate.
func TestForwardToSinkAllocatesNothing(t *testing.T) {
	s := newTestSFU(t)
	var plis atomic.Int32
	up := fakeUpTrack(s, webrtc.RTPCodecTypeVideo, &plis)
	up.AddSink(&copySink{})
	pkt := vp8Packet(0, false)
	allocs := testing.AllocsPerRun(1000, func() {
		pkt.SequenceNumber++
		up.forward(pkt)
	})
	if allocs != 0 {
		t.Fatalf("forwarding to a sink allocates %.1f times per packet", allocs)
	}
}
