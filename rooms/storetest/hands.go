package storetest

// The suite's tests of the raised-hand queue, and of the empty lists a snapshot encodes.

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chalk-edu/chalk/rooms"
)

func sameHands(t *testing.T, what string, got, want []string) {
	t.Helper()
	if got == nil || !slices.Equal(got, want) {
		t.Fatalf("%s: hands = %#v, want %q", what, got, want)
	}
}

func testHandsQueue(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	for _, id := range []string{"a", "b", "c"} {
		mustJoin(t, s, "r", person(id, "user-"+id, t0))
	}
	sameHands(t, "before any raise", snapshot(t, s, "r").Hands, []string{})
	sub := subscribe(t, s, "r")
	seq := uint64(3)
	step := func(err error, want rooms.Event) {
		t.Helper()
		must(t, err)
		seq++
		want.Room, want.Seq = "r", seq
		expect(t, next(t, sub), want)
	}
	for _, id := range []string{"b", "a", "c"} {
		step(s.RaiseHand(ctx, "r", id), rooms.Event{Type: rooms.EventHandRaised, ParticipantID: id})
	}
	sameHands(t, "after raising b, a, c", snapshot(t, s, "r").Hands, []string{"b", "a", "c"})

	// No-ops emit nothing and fail nothing; had one emitted, the next step would see its Seq.
	must(t, s.RaiseHand(ctx, "r", "a"))
	for _, tc := range []struct{ what, room, id string }{
		{"unknown participant", "r", "zed"},
		{"unknown room", "nowhere", "a"},
	} {
		if err := s.LowerHand(ctx, tc.room, tc.id, "a"); err != nil {
			t.Fatalf("LowerHand, %s: %v, want no error", tc.what, err)
		}
	}
	if snap := snapshot(t, s, "r"); snap.Seq != seq {
		t.Fatalf("no-op raise and lowers moved Seq from %d to %d", seq, snap.Seq)
	}

	step(s.LowerHand(ctx, "r", "a", "a"), rooms.Event{Type: rooms.EventHandLowered, ParticipantID: "a", By: "a"})
	step(s.LowerHand(ctx, "r", "c", "b"), rooms.Event{Type: rooms.EventHandLowered, ParticipantID: "c", By: "b"})
	sameHands(t, "after lowering a and c", snapshot(t, s, "r").Hands, []string{"b"})
	must(t, s.LowerHand(ctx, "r", "a", "b")) // already down
	// Raised again, a goes to the back of the queue.
	step(s.RaiseHand(ctx, "r", "a"), rooms.Event{Type: rooms.EventHandRaised, ParticipantID: "a"})
	d := person("d", "user-d", t0)
	joined := mustJoin(t, s, "r", d)
	step(nil, rooms.Event{Type: rooms.EventParticipantJoined, Participant: &d})
	if joined.Seq != seq {
		t.Fatalf("Join returned Seq %d, want %d", joined.Seq, seq)
	}
	sameHands(t, "snapshot returned by Join", joined.Hands, []string{"b", "a"})
	sameHands(t, "snapshot", snapshot(t, s, "r").Hands, []string{"b", "a"})
}

func testHandsLeave(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	a, b, c := person("a", "alice", t0), person("b", "bob", t0), person("c", "carol", t0)
	for _, p := range []rooms.Participant{a, b, c} {
		mustJoin(t, s, "r", p)
	}
	for _, id := range []string{"a", "b", "c"} {
		must(t, s.RaiseHand(ctx, "r", id))
	}
	sub := subscribe(t, s, "r")
	// Leaving lowers the hand with the left event only.
	must(t, s.Leave(ctx, "r", "a", rooms.ReasonLeft))
	expect(t, next(t, sub), rooms.Event{Room: "r", Seq: 7, Type: rooms.EventParticipantLeft, ParticipantID: "a", Reason: rooms.ReasonLeft})
	snap := snapshot(t, s, "r")
	if snap.Seq != 7 {
		t.Fatalf("Seq %d after the leave, want 7: was a hand_lowered event emitted too?", snap.Seq)
	}
	sameHands(t, "after a left", snap.Hands, []string{"b", "c"})
	// Being replaced by a new session of the same user moves the hand to it, in place
	// (hands_hold.go tests that in depth).
	b2 := person("b2", "bob", t0)
	snap, _, err := s.Join(ctx, "r", b2)
	must(t, err)
	expect(t, next(t, sub), rooms.Event{Room: "r", Seq: 8, Type: rooms.EventParticipantLeft, ParticipantID: "b", Reason: rooms.ReasonReplaced})
	expect(t, next(t, sub), rooms.Event{Room: "r", Seq: 9, Type: rooms.EventParticipantJoined, Participant: &b2})
	expect(t, next(t, sub), rooms.Event{Room: "r", Seq: 10, Type: rooms.EventHandRestored, ParticipantID: "b2", Hands: []string{"b2", "c"}})
	if snap.Seq != 10 {
		t.Fatalf("Join returned Seq %d, want 10", snap.Seq)
	}
	sameHands(t, "after b was replaced", snap.Hands, []string{"b2", "c"})
	// Coming back after leaving starts with the hand down, and lowering the old session's hand does nothing.
	must(t, s.LowerHand(ctx, "r", "b", "b2"))
	mustJoin(t, s, "r", a)
	must(t, s.LowerHand(ctx, "r", "b2", "b2"))
	must(t, s.Leave(ctx, "r", "c", rooms.ReasonLeft))
	snap = snapshot(t, s, "r")
	if snap.Seq != 13 {
		t.Fatalf("Seq %d, want 13", snap.Seq)
	}
	sameHands(t, "after everyone with a hand up left or lowered it", snap.Hands, []string{})
}

func testHandNotInRoom(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	mustJoin(t, s, "r", person("a", "alice", t0))
	mustJoin(t, s, "other", person("o", "olga", t0))
	mustJoin(t, s, "r", person("gone", "gina", t0))
	must(t, s.Leave(ctx, "r", "gone", rooms.ReasonLeft))
	for _, tc := range []struct{ what, room, id string }{
		{"unknown participant", "r", "zed"},
		{"participant who left", "r", "gone"},
		{"participant of another room", "r", "o"},
		{"unknown room", "nowhere", "a"},
	} {
		if err := s.RaiseHand(ctx, tc.room, tc.id); !errors.Is(err, rooms.ErrNotFound) {
			t.Errorf("RaiseHand, %s: err = %v, want ErrNotFound", tc.what, err)
		}
	}
	snap := snapshot(t, s, "r")
	if snap.Seq != 3 {
		t.Fatalf("failed raises moved Seq to %d", snap.Seq)
	}
	sameHands(t, "after failed raises", snap.Hands, []string{})
}

// testHandsConcurrent raises every hand twice at once: each must be in the queue once, with one event,
// and the queue's order must be the order of the events.
func testHandsConcurrent(t *testing.T, s rooms.Store) {
	const n = 50
	ctx := testCtx(t)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprint("p", i)
		mustJoin(t, s, "r", person(ids[i], "user-"+ids[i], t0))
	}
	sub := subscribe(t, s, "r")
	start := make(chan struct{})
	errs := make(chan error, 2*n)
	var wg sync.WaitGroup
	for i := range 2 * n {
		wg.Go(func() {
			<-start
			errs <- s.RaiseHand(ctx, "r", ids[i%n])
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	snap := snapshot(t, s, "r")
	if snap.Seq != 2*n {
		t.Fatalf("Seq %d after %d joins and %d raises of %d hands, want %d", snap.Seq, n, 2*n, n, 2*n)
	}
	if got := slices.Sorted(slices.Values(snap.Hands)); !slices.Equal(got, slices.Sorted(slices.Values(ids))) {
		t.Fatalf("hands = %q, want each of the %d participants once", snap.Hands, n)
	}
	var order []string
	for seq := uint64(n + 1); seq <= 2*n; seq++ {
		ev := next(t, sub)
		if ev.Seq != seq || ev.Type != rooms.EventHandRaised {
			t.Fatalf("event %d: %s, want %s with Seq %d", ev.Seq, ev.Type, rooms.EventHandRaised, seq)
		}
		order = append(order, ev.ParticipantID)
	}
	sameHands(t, "queue against the order of the events", snap.Hands, order)
}

// testHandsNoGap follows the consumer protocol (subscribe, snapshot, apply later events) while hands go
// up and down concurrently: the queue rebuilt must equal the final snapshot's, so Hands matches Seq.
func testHandsNoGap(t *testing.T, s rooms.Store) {
	for round := range 3 {
		handsNoGapRound(t, s, fmt.Sprint("r", round))
	}
}

func handsNoGapRound(t *testing.T, s rooms.Store, room string) {
	const n, ops = 20, 20 // each participant raises and lowers its hand in turn, ops times in all
	ctx := testCtx(t)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprint("p", i)
		mustJoin(t, s, room, person(ids[i], "user-"+ids[i], t0))
	}
	// Before the subscription, participant i makes i%3 changes, so some hands are up in the snapshot;
	// the rest race the subscription.
	phase1, phase2 := make(chan error, n), make(chan struct{})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i, id := range ids {
		wg.Go(func() {
			var err error
			op := 0
			toggle := func() {
				if op%2 == 0 {
					err = s.RaiseHand(ctx, room, id)
				} else {
					err = s.LowerHand(ctx, room, id, "teacher")
				}
				op++
			}
			for op < i%3 && err == nil {
				toggle()
			}
			phase1 <- err
			<-phase2
			for op < ops && err == nil {
				toggle()
			}
			errs <- err
		})
	}
	var early error
	for range n {
		early = cmp.Or(early, <-phase1)
	}
	close(phase2) // before failing, so that the goroutines can end
	must(t, early)
	sub := subscribe(t, s, room)
	snap := snapshot(t, s, room)
	hands := slices.Clone(snap.Hands)
	const total = n + n*ops
	for last := snap.Seq; last < total; {
		ev := next(t, sub)
		if ev.Seq <= snap.Seq {
			continue
		}
		if ev.Seq != last+1 {
			t.Fatalf("%s: after Seq %d got %d", room, last, ev.Seq)
		}
		last = ev.Seq
		switch i := slices.Index(hands, ev.ParticipantID); {
		case ev.Type == rooms.EventHandRaised && i < 0:
			hands = append(hands, ev.ParticipantID)
		case ev.Type == rooms.EventHandLowered && i >= 0 && ev.By == "teacher":
			hands = slices.Delete(hands, i, i+1)
		default:
			t.Fatalf("%s: event %d: %+v does not apply to queue %q (snapshot Seq %d)", room, ev.Seq, ev, hands, snap.Seq)
		}
	}
	for range n {
		must(t, <-errs)
	}
	final := snapshot(t, s, room)
	if final.Seq != total {
		t.Fatalf("%s: final Seq %d, want %d", room, final.Seq, total)
	}
	sameHands(t, room+": final snapshot, which every hand has left", final.Hands, []string{})
	sameHands(t, room+": queue rebuilt from snapshot and events", hands, final.Hands)
	t.Logf("%s: subscribed at Seq %d of %d, with %d hands up", room, snap.Seq, total, len(snap.Hands))
}

// testEmptyLists: clients read snapshots as JSON, where an empty list must be [] and not null.
func testEmptyLists(t *testing.T, s rooms.Store) {
	check := func(what string, snap rooms.Snapshot) {
		t.Helper()
		b, err := json.Marshal(snap)
		must(t, err)
		for _, field := range []string{`"participants":[]`, `"hands":[]`} {
			if !strings.Contains(string(b), field) {
				t.Errorf("%s: JSON %s lacks %s", what, b, field)
			}
		}
	}
	check("room never joined", snapshot(t, s, "never"))
	mustJoin(t, s, "r", person("a", "alice", t0))
	must(t, s.RaiseHand(testCtx(t), "r", "a"))
	must(t, s.Leave(testCtx(t), "r", "a", rooms.ReasonLeft))
	check("room emptied", snapshot(t, s, "r"))
	if got := history(t, s, "r", 10); got == nil {
		t.Error("ChatHistory of a room without messages returned nil, which encodes as null")
	}
}
