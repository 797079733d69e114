package storetest

// The suite's tests of subscriptions: isolation, ordering under concurrency, and how they end.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/rooms"
)

func testRoomsIsolated(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	roomA, roomB := "math:101", "art {2}"
	subA, subB := subscribe(t, s, roomA), subscribe(t, s, roomB)
	for i := range 3 {
		mustJoin(t, s, roomA, person(fmt.Sprint("a", i), fmt.Sprint("user", i), t0))
	}
	mustJoin(t, s, roomB, person("b", "user0", t0))
	must(t, s.PublishTrack(ctx, roomA, "a0", cam))
	must(t, s.PublishTrack(ctx, roomB, "b", cam))
	for i := range 4 {
		if ev := next(t, subA); ev.Room != roomA || ev.Seq != uint64(i+1) {
			t.Fatalf("room A got %s event %d", ev.Room, ev.Seq)
		}
	}
	for i := range 2 {
		if ev := next(t, subB); ev.Room != roomB || ev.Seq != uint64(i+1) {
			t.Fatalf("room B got %s event %d", ev.Room, ev.Seq)
		}
	}
	if a, b := snapshot(t, s, roomA), snapshot(t, s, roomB); len(a.Participants) != 3 || len(b.Participants) != 1 {
		t.Fatalf("snapshots: A %+v, B %+v", a, b)
	}
}

// testNoGap follows the documented consumer protocol — subscribe, snapshot, skip events up to the
// snapshot's Seq, apply the rest — while other goroutines join and publish. The state it rebuilds must
// equal the final snapshot: no event missed, none applied twice.
func testNoGap(t *testing.T, s rooms.Store) {
	for round := range 3 {
		noGapRound(t, s, fmt.Sprint("r", round))
	}
}

func noGapRound(t *testing.T, s rooms.Store, room string) {
	const n, early = 50, 10 // early participants are in before the subscription; the rest race it
	ctx := testCtx(t)
	phase1, phase2 := make(chan struct{}), make(chan struct{})
	done := make(chan error, n)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range n {
		gate := phase2
		if i < early {
			gate = phase1
		}
		wg.Go(func() {
			<-gate
			id := fmt.Sprint("p", i)
			_, _, err := s.Join(ctx, room, person(id, "user-"+id, t0.Add(time.Duration(i))))
			if err == nil {
				err = s.PublishTrack(ctx, room, id, cam)
			}
			done <- err
		})
	}
	waitDone := func(k int) {
		for range k {
			select {
			case err := <-done:
				must(t, err)
			case <-time.After(wait):
				t.Fatalf("%s: joins did not finish within %v", room, wait)
			}
		}
	}
	close(phase1)
	waitDone(early)
	close(phase2)
	sub := subscribe(t, s, room)
	snap := snapshot(t, s, room)
	state := make(map[string]rooms.Participant)
	applied := 0 // each event adds a participant or a track
	for _, p := range snap.Participants {
		state[p.ID] = p
		applied += 1 + len(p.Tracks)
	}
	if applied != int(snap.Seq) {
		t.Fatalf("%s: snapshot at Seq %d holds %d changes", room, snap.Seq, applied)
	}
	for last := snap.Seq; last < 2*n; {
		ev := next(t, sub)
		if ev.Seq <= snap.Seq {
			continue
		}
		if ev.Seq != last+1 {
			t.Fatalf("%s: after Seq %d got %d", room, last, ev.Seq)
		}
		last = ev.Seq
		switch ev.Type {
		case rooms.EventParticipantJoined:
			if _, dup := state[ev.Participant.ID]; dup {
				t.Fatalf("%s: %s joined twice (snapshot Seq %d, event %d)", room, ev.Participant.ID, snap.Seq, ev.Seq)
			}
			state[ev.Participant.ID] = *ev.Participant
		case rooms.EventTrackPublished:
			p, ok := state[ev.ParticipantID]
			if !ok {
				t.Fatalf("%s: track of %s before its join (snapshot Seq %d, event %d)", room, ev.ParticipantID, snap.Seq, ev.Seq)
			}
			p.Tracks = append(p.Tracks, *ev.Track)
			state[ev.ParticipantID] = p
		default:
			t.Fatalf("%s: unexpected %s event", room, ev.Type)
		}
	}
	waitDone(n - early)
	final := snapshot(t, s, room)
	rebuilt := slices.Collect(maps.Values(state))
	slices.SortFunc(rebuilt, func(a, b rooms.Participant) int { return a.JoinedAt.Compare(b.JoinedAt) })
	if final.Seq != 2*n || len(final.Participants) != n {
		t.Fatalf("%s: final snapshot at Seq %d with %d participants", room, final.Seq, len(final.Participants))
	}
	sameParticipants(t, room+": state rebuilt from snapshot and events", rebuilt, final.Participants)
	t.Logf("%s: subscribed at Seq %d of %d", room, snap.Seq, 2*n)
}

func testSubscriptionClose(t *testing.T, s rooms.Store) {
	sub1, sub2 := subscribe(t, s, "r"), subscribe(t, s, "r")
	sub1.Close()
	if evs, err := ended(t, sub1); err != nil || len(evs) != 0 {
		t.Fatalf("closed subscription: %d events, Err %v; want none and nil", len(evs), err)
	}
	mustJoin(t, s, "r", person("a", "alice", t0))
	if ev := next(t, sub2); ev.Seq != 1 {
		t.Fatalf("other subscription got Seq %d, want 1", ev.Seq)
	}
	// With every subscription of the room closed, a new one still gets the next event.
	sub2.Close()
	if _, err := ended(t, sub2); err != nil {
		t.Fatalf("closed subscription: Err %v", err)
	}
	sub3 := subscribe(t, s, "r")
	mustJoin(t, s, "r", person("b", "bob", t0))
	if ev := next(t, sub3); ev.Seq != 2 {
		t.Fatalf("resubscription got Seq %d, want 2", ev.Seq)
	}
	sub3.Close()
	sub3.Close() // twice is harmless
}

func testStoreClose(t *testing.T, s rooms.Store) {
	subs := []*rooms.Subscription{subscribe(t, s, "r"), subscribe(t, s, "r"), subscribe(t, s, "other")}
	must(t, s.Close())
	for i, sub := range subs {
		if _, err := ended(t, sub); !errors.Is(err, rooms.ErrClosed) {
			t.Errorf("subscription %d: Err %v, want ErrClosed", i, err)
		}
	}
	must(t, s.Close())
	if _, err := s.Subscribe(testCtx(t), "r"); !errors.Is(err, rooms.ErrClosed) {
		t.Errorf("Subscribe after Close: err = %v, want ErrClosed", err)
	}
	if _, _, err := s.Join(testCtx(t), "r", person("a", "alice", t0)); !errors.Is(err, rooms.ErrClosed) {
		t.Errorf("Join after Close: err = %v, want ErrClosed", err)
	}
}

func testLag(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	mustJoin(t, s, "r", person("a", "alice", t0))
	must(t, s.PublishTrack(ctx, "r", "a", cam))
	slow, fast := subscribe(t, s, "r"), subscribe(t, s, "r")
	// Nobody reads slow. fast is read concurrently and must not be affected; the writer lets it catch
	// up every half buffer, since on a busy machine a reader can be starved of CPU for a while.
	fastErr := make(chan error, 1)
	fastSeq := make(chan uint64, lagEvents)
	go func() {
		for want := uint64(3); want < 3+lagEvents; want++ {
			ev, ok := <-fast.C
			if !ok || ev.Seq != want {
				fastErr <- fmt.Errorf("fast subscriber: got Seq %d (open %v, Err %v), want %d", ev.Seq, ok, fast.Err(), want)
				return
			}
			fastSeq <- ev.Seq
		}
		fastErr <- nil
	}()
	for i := range lagEvents {
		if err := s.SetTrackMuted(ctx, "r", "a", "cam", i%2 == 0); err != nil {
			t.Fatalf("mutation %d with a stuck subscriber: %v", i, err)
		}
		for seq := uint64(0); (i+1)%500 == 0 && seq < uint64(3+i); {
			select {
			case seq = <-fastSeq:
			case err := <-fastErr:
				t.Fatal(err)
			case <-time.After(wait):
				t.Fatalf("fast subscriber stuck before event %d", 3+i)
			}
		}
	}
	evs, err := ended(t, slow)
	if !errors.Is(err, rooms.ErrLagged) {
		t.Fatalf("slow subscriber: Err %v after %d events, want ErrLagged", err, len(evs))
	}
	if len(evs) == 0 || len(evs) >= lagEvents {
		t.Fatalf("slow subscriber read %d of %d events before ending", len(evs), lagEvents)
	}
	for i, ev := range evs {
		if ev.Seq != uint64(3+i) {
			t.Fatalf("slow subscriber's event %d has Seq %d, want %d", i, ev.Seq, 3+i)
		}
	}
	select {
	case err := <-fastErr:
		must(t, err)
	case <-time.After(wait):
		t.Fatal("fast subscriber did not get every event")
	}
}

func testContextCancel(t *testing.T, s rooms.Store) {
	ctx, cancel := context.WithCancel(testCtx(t))
	sub, err := s.Subscribe(ctx, "r")
	must(t, err)
	other := subscribe(t, s, "r")
	cancel()
	if _, err := ended(t, sub); !errors.Is(err, context.Canceled) {
		t.Fatalf("Err after cancel = %v, want context.Canceled", err)
	}
	mustJoin(t, s, "r", person("a", "alice", t0))
	if ev := next(t, other); ev.Seq != 1 {
		t.Fatalf("other subscription got Seq %d, want 1", ev.Seq)
	}
	if _, err := s.Subscribe(ctx, "r"); err == nil {
		t.Fatal("Subscribe with a cancelled context succeeded")
	}
}
