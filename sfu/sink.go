package sfu

import (
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Sink receives an up-track's packets inside the process, like a subscriber without a connection:
// the recorder is one. WriteRTP runs on the track's forwarding goroutine, so it must copy what it
// keeps (the packet and its payload are reused for the next read) and must never block: a sink
// that falls behind drops and counts, it does not slow the class down.
type Sink interface {
	WriteRTP(pkt *rtp.Packet)
}

// AddSink starts handing this track's packets to s and asks the publisher for a keyframe, so a
// video sink can start decoding soon. Adding a sink twice is a no-op.
func (t *UpTrack) AddSink(s Sink) {
	if t.sc != nil {
		t.sc.addSink(t, s)
		t.RequestKeyframe()
		return
	}
	t.downMu.Lock()
	old := *t.sinks.Load()
	for _, x := range old {
		if x == s {
			t.downMu.Unlock()
			return
		}
	}
	next := make([]Sink, len(old), len(old)+1)
	copy(next, old)
	next = append(next, s)
	t.sinks.Store(&next)
	t.downMu.Unlock()
	t.RequestKeyframe()
}

// RemoveSink stops handing packets to s. Once it returns, s gets no further WriteRTP call that
// began after it; one already running may still finish.
func (t *UpTrack) RemoveSink(s Sink) {
	if t.sc != nil {
		t.sc.removeSink(t, s)
		return
	}
	t.downMu.Lock()
	defer t.downMu.Unlock()
	old := *t.sinks.Load()
	next := make([]Sink, 0, len(old))
	for _, x := range old {
		if x != s {
			next = append(next, x)
		}
	}
	t.sinks.Store(&next)
}

// Codec is what the publisher sends (MIME type, clock rate), for sinks that store the media.
func (t *UpTrack) Codec() webrtc.RTPCodecParameters { return t.codec }

// Room is the room the track is published in.
func (t *UpTrack) Room() string { return t.room }
