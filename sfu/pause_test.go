package sfu

import (
	"testing"
	"time"
)

// A paused track (a moderator turned it off) reaches nobody; resumed, subscribers start again at a
// keyframe, which is requested at once.
func TestPausedTrackIsNotForwarded(t *testing.T) {
	s := newTestSFU(t)
	f := subscribeCamera(t, s)
	up, got, plis := f.up, &f.got, &f.plis

	up.SetPaused(true)
	if !up.Paused() {
		t.Fatal("Paused() = false after SetPaused(true)")
	}
	before := got.Load()
	for i := uint16(3000); i < 3010; i++ {
		up.forward(vp8Packet(i, i == 3000))
	}
	time.Sleep(200 * time.Millisecond)
	if n := got.Load() - before; n != 0 {
		t.Fatalf("a paused track forwarded %d packets", n)
	}

	time.Sleep(keyframeInterval) // let the throttle window of the subscription's own request pass
	plisBefore := plis.Load()
	up.SetPaused(false)
	if plis.Load() != plisBefore+1 {
		t.Fatalf("resuming sent %d keyframe requests, want 1", plis.Load()-plisBefore)
	}
	up.forward(vp8Packet(3010, false)) // a delta frame would not decode after the gap
	time.Sleep(200 * time.Millisecond)
	if n := got.Load() - before; n != 0 {
		t.Fatalf("after resuming, %d delta packets arrived before a keyframe", n)
	}
	up.forward(vp8Packet(3011, true))
	up.forward(vp8Packet(3012, false))
	deadline := time.Now().Add(5 * time.Second)
	for got.Load()-before < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("after resuming and a keyframe the subscriber received %d packets, want 2", got.Load()-before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	up.SetPaused(false) // resuming a running track asks for nothing
	if plis.Load() != plisBefore+1 {
		t.Fatal("resuming a running track requested a keyframe")
	}
}
