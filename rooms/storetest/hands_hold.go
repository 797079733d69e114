package storetest

// The suite's tests of raised hands that outlive a session (rooms/hands.go): a replacing join moves
// the hand in place, a lost participant's hand is held for its identity, and the hold runs out.

import (
	"fmt"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/rooms"
)

var handHoldTests = []struct {
	name string
	fn   func(t *testing.T, s rooms.Store)
}{
	{"HandMovesToReplacingSession", testHandReplaced},
	{"HandHeldForLostParticipant", testHandHeld},
	{"HandHoldRunsOut", testHandHoldRunsOut},
	{"HandHoldInEmptiedRoom", testHandHoldEmptyRoom},
	{"HandHoldReasons", testHandHoldReasons},
}

// holdSetter is how the suite shortens the hold; both stores must implement it.
func holdSetter(t *testing.T, s rooms.Store) rooms.HandHolder {
	t.Helper()
	h, ok := s.(rooms.HandHolder)
	if !ok {
		t.Fatalf("%T does not implement rooms.HandHolder", s)
	}
	return h
}

// eventStep checks the next event of sub against want, with the room and the next Seq filled in.
func eventStep(t *testing.T, sub *rooms.Subscription, seq *uint64, want rooms.Event) {
	t.Helper()
	*seq++
	want.Room, want.Seq = "r", *seq
	expect(t, next(t, sub), want)
}

func testHandReplaced(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	a, b, c := person("a", "alice", t0), person("b", "bob", t0), person("c", "carol", t0)
	for _, p := range []rooms.Participant{a, b, c} {
		mustJoin(t, s, "r", p)
	}
	for _, id := range []string{"b", "a", "c"} {
		must(t, s.RaiseHand(ctx, "r", id))
	}
	sub := subscribe(t, s, "r")
	seq := uint64(6)
	a2 := person("a2", "alice", t0)
	snap := mustJoin(t, s, "r", a2)
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventParticipantLeft, ParticipantID: "a", Reason: rooms.ReasonReplaced})
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventParticipantJoined, Participant: &a2})
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventHandRestored, ParticipantID: "a2", Hands: []string{"b", "a2", "c"}})
	if snap.Seq != seq {
		t.Fatalf("Join returned Seq %d, want %d", snap.Seq, seq)
	}
	sameHands(t, "snapshot returned by the replacing Join", snap.Hands, []string{"b", "a2", "c"})
	// The hand is the new session's now: the old id lowers nothing, the new one lowers it.
	must(t, s.LowerHand(ctx, "r", "a", "a"))
	mustJoin(t, s, "r", person("d", "dan", t0)) // had the lower emitted, this would not be the next event
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventParticipantJoined, Participant: ptr(person("d", "dan", t0))})
	must(t, s.RaiseHand(ctx, "r", "a2")) // already up: nothing
	must(t, s.LowerHand(ctx, "r", "a2", "a2"))
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventHandLowered, ParticipantID: "a2", By: "a2"})
	// A replacing session whose old one had no hand up gets none and no event.
	b2 := person("b2", "bob", t0)
	must(t, s.LowerHand(ctx, "r", "b", "b"))
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventHandLowered, ParticipantID: "b", By: "b"})
	mustJoin(t, s, "r", b2)
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventParticipantLeft, ParticipantID: "b", Reason: rooms.ReasonReplaced})
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventParticipantJoined, Participant: &b2})
	sameHands(t, "after b was replaced with its hand down", snapshot(t, s, "r").Hands, []string{"c"})
	if got := snapshot(t, s, "r").Seq; got != seq {
		t.Fatalf("Seq %d, want %d: an event too many", got, seq)
	}
}

func testHandHeld(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	a, b, c := person("a", "alice", t0), person("b", "bob", t0), person("c", "carol", t0)
	for _, p := range []rooms.Participant{a, b, c} {
		mustJoin(t, s, "r", p)
	}
	for _, id := range []string{"b", "a", "c"} {
		must(t, s.RaiseHand(ctx, "r", id))
	}
	sub := subscribe(t, s, "r")
	seq := uint64(6)
	// Lost with its node: the left event only; the hand is held, out of the snapshot's queue.
	must(t, s.Leave(ctx, "r", "a", rooms.ReasonNodeFailed))
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventParticipantLeft, ParticipantID: "a", Reason: rooms.ReasonNodeFailed})
	sameHands(t, "with a's hand held", snapshot(t, s, "r").Hands, []string{"b", "c"})
	must(t, s.LowerHand(ctx, "r", "a", "c")) // nobody's to lower: nothing
	if err := s.RaiseHand(ctx, "r", "a"); err == nil {
		t.Fatal("RaiseHand of a participant who is gone succeeded")
	}
	// Leaving still lowers; a newcomer raises behind the held hand.
	must(t, s.Leave(ctx, "r", "b", rooms.ReasonLeft))
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventParticipantLeft, ParticipantID: "b", Reason: rooms.ReasonLeft})
	d := person("d", "dan", t0)
	mustJoin(t, s, "r", d)
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventParticipantJoined, Participant: &d})
	must(t, s.RaiseHand(ctx, "r", "d"))
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventHandRaised, ParticipantID: "d"})
	sameHands(t, "after b left and d raised", snapshot(t, s, "r").Hands, []string{"c", "d"})
	// The same user comes back as a new session: its hand is back ahead of c and d.
	a2 := person("a2", "alice", t0)
	snap := mustJoin(t, s, "r", a2)
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventParticipantJoined, Participant: &a2})
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventHandRestored, ParticipantID: "a2", Hands: []string{"a2", "c", "d"}})
	sameHands(t, "snapshot returned by the rejoin", snap.Hands, []string{"a2", "c", "d"})
	// A silence timeout holds the hand too.
	must(t, s.Leave(ctx, "r", "c", rooms.ReasonTimeout))
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventParticipantLeft, ParticipantID: "c", Reason: rooms.ReasonTimeout})
	sameHands(t, "with c's hand held", snapshot(t, s, "r").Hands, []string{"a2", "d"})
	c2 := person("c2", "carol", t0)
	mustJoin(t, s, "r", c2)
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventParticipantJoined, Participant: &c2})
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventHandRestored, ParticipantID: "c2", Hands: []string{"a2", "c2", "d"}})
	// A held hand is its identity's, not its old participant id's: another user joining with that
	// id gets no hand, and the held one is dropped.
	must(t, s.Leave(ctx, "r", "d", rooms.ReasonNodeFailed))
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventParticipantLeft, ParticipantID: "d", Reason: rooms.ReasonNodeFailed})
	impostor := person("d", "eve", t0)
	mustJoin(t, s, "r", impostor)
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventParticipantJoined, Participant: &impostor})
	sameHands(t, "after another user took d's id", snapshot(t, s, "r").Hands, []string{"a2", "c2"})
	d2 := person("d2", "dan", t0)
	mustJoin(t, s, "r", d2)
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventParticipantJoined, Participant: &d2})
	snap = snapshot(t, s, "r")
	sameHands(t, "after dan came back", snap.Hands, []string{"a2", "c2"})
	if snap.Seq != seq {
		t.Fatalf("Seq %d, want %d: an event too many", snap.Seq, seq)
	}
}

// testHandHoldRunsOut shortens the hold; waiting past it is the point, not a timing assertion.
func testHandHoldRunsOut(t *testing.T, s rooms.Store) {
	const hold = 200 * time.Millisecond
	holdSetter(t, s).SetHandHold(hold)
	ctx := testCtx(t)
	for _, p := range []rooms.Participant{person("a", "alice", t0), person("b", "bob", t0)} {
		mustJoin(t, s, "r", p)
		must(t, s.RaiseHand(ctx, "r", p.ID))
	}
	must(t, s.Leave(ctx, "r", "a", rooms.ReasonNodeFailed))
	time.Sleep(2 * hold)
	sub := subscribe(t, s, "r")
	seq := snapshot(t, s, "r").Seq
	a2 := person("a2", "alice", t0)
	snap := mustJoin(t, s, "r", a2)
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventParticipantJoined, Participant: &a2})
	sameHands(t, "after alice came back too late", snap.Hands, []string{"b"})
	must(t, s.RaiseHand(ctx, "r", "a2"))
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventHandRaised, ParticipantID: "a2"}) // no hand_restored before it
	sameHands(t, "a2 raised afresh", snapshot(t, s, "r").Hands, []string{"b", "a2"})

	// No hold at all: a lost participant's hand goes down with it; a replacement still keeps it.
	holdSetter(t, s).SetHandHold(0)
	must(t, s.Leave(ctx, "r", "b", rooms.ReasonTimeout))
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventParticipantLeft, ParticipantID: "b", Reason: rooms.ReasonTimeout})
	b2 := person("b2", "bob", t0)
	mustJoin(t, s, "r", b2)
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventParticipantJoined, Participant: &b2})
	a3 := person("a3", "alice", t0)
	mustJoin(t, s, "r", a3)
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventParticipantLeft, ParticipantID: "a2", Reason: rooms.ReasonReplaced})
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventParticipantJoined, Participant: &a3})
	eventStep(t, sub, &seq, rooms.Event{Type: rooms.EventHandRestored, ParticipantID: "a3", Hands: []string{"a3"}})
}

// testHandHoldEmptyRoom: hands held in a room that emptied must not take later hands with them when
// the hold runs out (the Redis store lets the emptied room's hand keys expire).
func testHandHoldEmptyRoom(t *testing.T, s rooms.Store) {
	const hold = 200 * time.Millisecond
	holdSetter(t, s).SetHandHold(hold)
	ctx := testCtx(t)
	for _, p := range []rooms.Participant{person("a", "alice", t0), person("b", "bob", t0)} {
		mustJoin(t, s, "r", p)
		must(t, s.RaiseHand(ctx, "r", p.ID))
	}
	must(t, s.Leave(ctx, "r", "a", rooms.ReasonNodeFailed))
	must(t, s.Leave(ctx, "r", "b", rooms.ReasonNodeFailed))
	sameHands(t, "in the emptied room", snapshot(t, s, "r").Hands, []string{})
	mustJoin(t, s, "r", person("c", "carol", t0))
	must(t, s.RaiseHand(ctx, "r", "c"))
	time.Sleep(3 * hold)
	sameHands(t, "after the holds ran out", snapshot(t, s, "r").Hands, []string{"c"})
	snap := mustJoin(t, s, "r", person("a2", "alice", t0))
	sameHands(t, "after alice came back too late", snap.Hands, []string{"c"})
}

// testHandHoldReasons: which ways of leaving hold the hand for a rejoin.
func testHandHoldReasons(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	for i, tc := range []struct {
		reason string
		held   bool
	}{
		{rooms.ReasonLeft, false},
		{rooms.ReasonMoved, false},
		{rooms.ReasonRemoved, false},
		{rooms.ReasonTimeout, true},
		{rooms.ReasonNodeFailed, true},
		{rooms.ReasonRelocated, true},
	} {
		room := fmt.Sprintf("r%d", i)
		mustJoin(t, s, room, person("x", "xena", t0))
		must(t, s.RaiseHand(ctx, room, "x"))
		must(t, s.Leave(ctx, room, "x", tc.reason))
		var want []string
		if tc.held {
			want = []string{"x2"}
		}
		sameHands(t, "after leaving for "+tc.reason+" and joining again",
			mustJoin(t, s, room, person("x2", "xena", t0)).Hands, append([]string{}, want...))
	}
}
