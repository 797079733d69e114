package signaling

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/rooms"
)

// A room that moves to another node (a drain) takes its raised hands along: the sessions leave with
// reason relocated, the store holds their hands, and their rejoin gets them back in the same order.
func TestRelocatedRoomKeepsRaisedHands(t *testing.T) {
	router := &fakeRouter{where: map[string]string{}}
	env := newTestEnv(t, func(c *Config) { c.Router = router })
	a := env.joinGuestAs(t, "near", "Ada", "ada")
	b := env.joinGuestAs(t, "near", "Bob", "bob")
	a.expect("participant_joined")
	for _, w := range []*wsTest{b, a} {
		w.send("raise_hand", nil)
		var h handMsg
		json.Unmarshal(a.expect("hand_raised"), &h)
		if h.ParticipantID != w.id {
			t.Fatalf("hand_raised for %s, want %s", h.ParticipantID, w.id)
		}
	}

	ctx := context.Background()
	sub, err := env.store.Subscribe(ctx, "near")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	router.set("near", "n3")
	b.expectRedirect()
	a.expectRedirect()
	for range 2 {
		select {
		case ev := <-sub.C:
			if ev.Type != rooms.EventParticipantLeft || ev.Reason != rooms.ReasonRelocated {
				t.Fatalf("event %s (reason %q), want participant_left for relocated", ev.Type, ev.Reason)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no participant_left within 10 s of the room's move")
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		snap, err := env.store.Snapshot(ctx, "near")
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Participants) == 0 {
			if len(snap.Hands) != 0 {
				t.Fatalf("an empty room lists hands %q", snap.Hands)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d participants still in the room 10 s after it moved", len(snap.Participants))
		}
	}

	// The room is served here again (as by the node it moved to): both rejoin, Ada first.
	router.set("near", "n1")
	a2 := env.joinGuestAs(t, "near", "Ada", "ada")
	b2 := env.joinGuestAs(t, "near", "Bob", "bob")
	var restored handRestoredMsg
	json.Unmarshal(a2.expect("hand_restored"), &restored) // Bob's, after his participant_joined
	if restored.ParticipantID != b2.id || !slices.Equal(restored.Hands, []string{b2.id, a2.id}) {
		t.Fatalf("hand_restored = %+v, want Bob's (%s) ahead of Ada's (%s)", restored, b2.id, a2.id)
	}
	snap, err := env.store.Snapshot(ctx, "near")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(snap.Hands, []string{b2.id, a2.id}) {
		t.Fatalf("hands after the rejoin = %q, want Bob's then Ada's", snap.Hands)
	}
}
