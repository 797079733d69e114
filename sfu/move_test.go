package sfu

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

func TestMoveKeepsForwardingUntilUnsubscribed(t *testing.T) {
	s := newTestSFU(t)
	var plis atomic.Int32
	up := fakeUpTrack(s, webrtc.RTPCodecTypeVideo, &plis)
	pub, err := s.NewPeer("r", "pub", &handler{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	pub.ups[up.id] = up
	s.addUpTrack(up)

	var got atomic.Int64
	sub, client := connectSubscriber(t, s, up, "sub", &got)
	defer sub.Close()
	defer client.Close()

	pub.Move("r.b1")
	if pub.Room() != "r.b1" || s.UpTrack("r", "pub", "camera") != nil || s.UpTrack("r.b1", "pub", "camera") != up {
		t.Fatalf("after the move: room %q, old room finds %v, new room finds %v", pub.Room(), s.UpTrack("r", "pub", "camera"), s.UpTrack("r.b1", "pub", "camera"))
	}
	s.mu.Lock()
	_, stale := s.rooms["r"]
	s.mu.Unlock()
	if stale {
		t.Fatal("the old room is still in the registry with no tracks")
	}
	// The subscriber in the old room still receives until its session unsubscribes it.
	before := got.Load()
	deadline := time.Now().Add(10 * time.Second)
	for n := uint16(1000); got.Load() == before; n++ {
		up.forward(vp8Packet(n, true))
		if time.Now().After(deadline) {
			t.Fatal("forwarding stopped at the move")
		}
		time.Sleep(10 * time.Millisecond)
	}
	sub.UnsubscribeAll()
	if n := len(*up.downs.Load()); n != 0 {
		t.Fatalf("%d down-tracks left after UnsubscribeAll", n)
	}
	if sub.downs == nil || len(sub.downs) != 0 {
		t.Fatalf("subscriber still lists %d subscriptions", len(sub.downs))
	}

	// A track whose media starts while the peer moves lands in the new room.
	late := fakeUpTrack(s, webrtc.RTPCodecTypeAudio, &plis)
	pub.ups[late.id] = late
	pub.Move("r.b2")
	s.addUpTrack(late)
	if s.UpTrack("r.b2", "pub", "microphone") != late || s.UpTrack("r.b2", "pub", "camera") != up {
		t.Fatal("tracks not in the room the peer moved to")
	}
	late.end()
	if s.UpTrack("r.b2", "pub", "microphone") != nil {
		t.Fatal("an ended track stayed registered after a move")
	}
}
