package storetest

// The suite's tests of breakout plans: opening, assignments, the timer, broadcasts, help requests,
// closing (idempotent, also from several callers at once) and how plan events share the main room's Seq.

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/rooms"
)

var breakoutTests = []struct {
	name string
	fn   func(t *testing.T, s rooms.Store)
}{
	{"BreakoutsNeverOpened", testBreakoutsNeverOpened},
	{"BreakoutsOpen", testBreakoutsOpen},
	{"BreakoutsInvalid", testBreakoutsInvalid},
	{"BreakoutsAssign", testBreakoutsAssign},
	{"BreakoutsSelfSelect", testBreakoutsSelfSelect},
	{"BreakoutsTimer", testBreakoutsTimer},
	{"BreakoutsBroadcastAndHelp", testBreakoutsBroadcastAndHelp},
	{"BreakoutsConcurrentChanges", testBreakoutsConcurrent},
	{"BreakoutVisits", testBreakoutVisits}, // breakout_visits.go
}

// normPlan makes plans comparable with reflect.DeepEqual: times in UTC without monotonic readings.
func normPlan(p rooms.BreakoutPlan) rooms.BreakoutPlan {
	p = p.Clone()
	utc := func(t *time.Time) { *t = t.UTC().Round(0) }
	utc(&p.OpenedAt)
	utc(&p.EndsAt)
	utc(&p.ClosedAt)
	for i := range p.Broadcasts {
		utc(&p.Broadcasts[i].At)
	}
	for i := range p.Help {
		utc(&p.Help[i].At)
	}
	return p
}

func samePlan(t *testing.T, what string, got, want rooms.BreakoutPlan) {
	t.Helper()
	if g, w := normPlan(got), normPlan(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func plan(t *testing.T, s rooms.Store, room string) rooms.BreakoutPlan {
	t.Helper()
	p, err := s.Breakouts(testCtx(t), room)
	if err != nil {
		t.Fatalf("breakouts of %s: %v", room, err)
	}
	return p
}

// expectPlanEvent reads the next event and checks it is a breakout event of type typ with Seq seq,
// By by, carrying the plan want.
func expectPlanEvent(t *testing.T, sub *rooms.Subscription, room string, seq uint64, typ rooms.EventType, by string, want rooms.BreakoutPlan) {
	t.Helper()
	ev := next(t, sub)
	if ev.Room != room || ev.Seq != seq || ev.Type != typ || ev.By != by || ev.Breakouts == nil {
		t.Fatalf("event = %s %d %s by %q (plan %v), want %s %d %s by %q with a plan", ev.Room, ev.Seq, ev.Type, ev.By, ev.Breakouts != nil, room, seq, typ, by)
	}
	if ev.At.IsZero() || time.Since(ev.At) > time.Minute {
		t.Errorf("event %d: At = %v, want about now", ev.Seq, ev.At)
	}
	samePlan(t, fmt.Sprintf("plan in event %d", seq), *ev.Breakouts, want)
}

func expectState(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, rooms.ErrBreakoutState) {
		t.Fatalf("%s: err = %v, want ErrBreakoutState", what, err)
	}
}

// expectSeq checks nothing was published: the room's Seq is still seq.
func expectSeq(t *testing.T, s rooms.Store, room string, seq uint64, what string) {
	t.Helper()
	if got := snapshot(t, s, room).Seq; got != seq {
		t.Fatalf("%s: Seq = %d, want %d (an event was published, or one is missing)", what, got, seq)
	}
}

func testBreakoutsNeverOpened(t *testing.T, s rooms.Store) {
	p := plan(t, s, "r")
	if p.Room != "r" || p.Version != 0 || p.Generation != 0 || p.Open {
		t.Fatalf("plan of a room without breakouts = %+v", p)
	}
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, list := range []string{"rooms", "assignments", "broadcasts", "help"} {
		if !strings.Contains(string(raw), `"`+list+`":[]`) {
			t.Errorf("%s encodes as %s, want []", list, raw)
		}
	}
	if closed, err := s.CloseBreakouts(testCtx(t), "r", rooms.BreakoutClose{By: "a"}); closed || err != nil {
		t.Fatalf("closing breakouts never opened: closed %v, err %v; want nothing to do", closed, err)
	}
	expectSeq(t, s, "r", 0, "after closing nothing")
}

func testBreakoutsOpen(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	mustJoin(t, s, "r", person("a", "alice", t0))
	mustJoin(t, s, "r", person("b", "bob", t0))
	sub := subscribe(t, s, "r")
	before := time.Now().Add(-time.Millisecond)
	opened, err := s.OpenBreakouts(ctx, "r", rooms.BreakoutOptions{
		Count: 3, Names: []string{"", " Red team "},
		Assignments: []rooms.Assignment{{Identity: "zed", Breakout: 1}, {Identity: "bob", Name: "Bob", Breakout: 2}},
		Duration:    10 * time.Minute, By: "a",
	})
	must(t, err)
	want := rooms.BreakoutPlan{
		Room: "r", Version: 1, Generation: 1, Open: true,
		Rooms: []rooms.BreakoutRoom{
			{Number: 1, Room: "r.b1", Name: "Breakout 1"},
			{Number: 2, Room: "r.b2", Name: "Red team"},
			{Number: 3, Room: "r.b3", Name: "Breakout 3"},
		},
		Assignments: []rooms.Assignment{{Identity: "bob", Name: "Bob", Breakout: 2}, {Identity: "zed", Breakout: 1}},
		OpenedAt:    opened.OpenedAt, OpenedBy: "a", EndsAt: opened.OpenedAt.Add(10 * time.Minute),
		Broadcasts: []rooms.BreakoutBroadcast{}, Help: []rooms.HelpRequest{},
	}
	samePlan(t, "opened plan", opened, want)
	if opened.OpenedAt.Before(before) || opened.OpenedAt.After(time.Now()) || opened.OpenedAt.Location() != time.UTC {
		t.Fatalf("OpenedAt = %v, want now in UTC", opened.OpenedAt)
	}
	expectPlanEvent(t, sub, "r", 3, rooms.EventBreakoutsOpened, "a", want)
	samePlan(t, "Breakouts", plan(t, s, "r"), want)
	if got := opened.AssignedTo("bob"); got != 2 {
		t.Fatalf("bob assigned to %d, want 2", got)
	}
	if got := opened.AssignedTo("alice"); got != 0 {
		t.Fatalf("alice assigned to %d, want 0", got)
	}

	_, err = s.OpenBreakouts(ctx, "r", rooms.BreakoutOptions{Count: 2, By: "a"})
	expectState(t, "opening open breakouts", err)
	expectSeq(t, s, "r", 3, "after a refused open")

	// The plan belongs to the room, not to who is in it, and its events share the room's Seq.
	must(t, s.Leave(ctx, "r", "a", rooms.ReasonLeft))
	must(t, s.Leave(ctx, "r", "b", rooms.ReasonLeft))
	samePlan(t, "after everyone left", plan(t, s, "r"), want)
	if p := plan(t, s, "r.b2"); p.Version != 0 {
		t.Fatalf("a breakout room has a plan of its own: %+v", p)
	}
	closed, err := s.CloseBreakouts(ctx, "r", rooms.BreakoutClose{By: "a"})
	must(t, err)
	if !closed {
		t.Fatal("CloseBreakouts did not close open breakouts")
	}
	next(t, sub) // a left
	next(t, sub) // b left
	want.Version, want.Open, want.CloseReason = 2, false, rooms.BreakoutsClosedByInstructor
	want.ClosedAt = plan(t, s, "r").ClosedAt
	expectPlanEvent(t, sub, "r", 6, rooms.EventBreakoutsClosed, "a", want)
	if want.ClosedAt.Before(want.OpenedAt) {
		t.Fatalf("ClosedAt %v before OpenedAt %v", want.ClosedAt, want.OpenedAt)
	}

	// A new generation starts clean.
	again, err := s.OpenBreakouts(ctx, "r", rooms.BreakoutOptions{Count: 1, SelfSelect: true, By: "c"})
	must(t, err)
	if again.Generation != 2 || again.Version != 3 || len(again.Assignments) != 0 || !again.SelfSelect ||
		!again.EndsAt.IsZero() || again.CloseReason != "" || !again.ClosedAt.IsZero() || len(again.Rooms) != 1 {
		t.Fatalf("second generation = %+v", again)
	}
	expectPlanEvent(t, sub, "r", 7, rooms.EventBreakoutsOpened, "c", again)
}

func testBreakoutsInvalid(t *testing.T, s rooms.Store) {
	long := strings.Repeat("x", 65)
	for _, tc := range []struct {
		what string
		o    rooms.BreakoutOptions
	}{
		{"no breakouts", rooms.BreakoutOptions{Count: 0}},
		{"too many", rooms.BreakoutOptions{Count: rooms.MaxBreakouts + 1}},
		{"more names than breakouts", rooms.BreakoutOptions{Count: 1, Names: []string{"a", "b"}}},
		{"a long name", rooms.BreakoutOptions{Count: 1, Names: []string{long}}},
		{"negative timer", rooms.BreakoutOptions{Count: 1, Duration: -time.Second}},
		{"timer too long", rooms.BreakoutOptions{Count: 1, Duration: rooms.MaxBreakoutDuration + time.Second}},
		{"breakout 0", rooms.BreakoutOptions{Count: 2, Assignments: []rooms.Assignment{{Identity: "u", Breakout: 0}}}},
		{"breakout past count", rooms.BreakoutOptions{Count: 2, Assignments: []rooms.Assignment{{Identity: "u", Breakout: 3}}}},
		{"no identity", rooms.BreakoutOptions{Count: 2, Assignments: []rooms.Assignment{{Breakout: 1}}}},
		{"identity twice", rooms.BreakoutOptions{Count: 2, Assignments: []rooms.Assignment{{Identity: "u", Breakout: 1}, {Identity: "u", Breakout: 2}}}},
	} {
		if _, err := s.OpenBreakouts(testCtx(t), "r", tc.o); !errors.Is(err, rooms.ErrBreakoutInvalid) {
			t.Errorf("open with %s: err = %v, want ErrBreakoutInvalid", tc.what, err)
		}
	}
	if p := plan(t, s, "r"); p.Version != 0 || p.Open {
		t.Fatalf("refused opens changed the plan: %+v", p)
	}
	expectSeq(t, s, "r", 0, "after refused opens")
	if _, err := s.OpenBreakouts(testCtx(t), "r", rooms.BreakoutOptions{Count: rooms.MaxBreakouts}); err != nil {
		t.Fatalf("open %d breakouts: %v", rooms.MaxBreakouts, err)
	}
}

func testBreakoutsAssign(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	_, err := s.AssignBreakouts(ctx, "r", 0, []rooms.Assignment{{Identity: "u1", Breakout: 1}}, "a")
	expectState(t, "assigning before any breakouts", err)
	p, err := s.OpenBreakouts(ctx, "r", rooms.BreakoutOptions{Count: 2, Assignments: []rooms.Assignment{{Identity: "u1", Breakout: 1}}})
	must(t, err)
	sub := subscribe(t, s, "r")

	p, err = s.AssignBreakouts(ctx, "r", 1, []rooms.Assignment{{Identity: "u1", Name: "U one", Breakout: 2}, {Identity: "u0", Breakout: 1}}, "a")
	must(t, err)
	if want := []rooms.Assignment{{Identity: "u0", Breakout: 1}, {Identity: "u1", Name: "U one", Breakout: 2}}; !reflect.DeepEqual(p.Assignments, want) {
		t.Fatalf("assignments = %+v, want %+v", p.Assignments, want)
	}
	expectPlanEvent(t, sub, "r", 2, rooms.EventBreakoutsChanged, "a", p)

	// Assigning what is already so, or sending to the main room someone who is there, changes nothing.
	_, err = s.AssignBreakouts(ctx, "r", 0, []rooms.Assignment{{Identity: "u0", Breakout: 1}, {Identity: "nobody", Breakout: 0}}, "a")
	must(t, err)
	expectSeq(t, s, "r", 2, "after a no-op assignment")

	p, err = s.AssignBreakouts(ctx, "r", 0, []rooms.Assignment{{Identity: "u0", Breakout: 0}}, "a")
	must(t, err)
	if p.AssignedTo("u0") != 0 || len(p.Assignments) != 1 || p.Version != 3 {
		t.Fatalf("after sending u0 back to the main room: %+v", p)
	}
	expectPlanEvent(t, sub, "r", 3, rooms.EventBreakoutsChanged, "a", p)

	for _, tc := range []struct {
		what string
		gen  uint64
		as   []rooms.Assignment
		want error
	}{
		{"breakout past count", 1, []rooms.Assignment{{Identity: "u1", Breakout: 3}}, rooms.ErrBreakoutInvalid},
		{"negative breakout", 1, []rooms.Assignment{{Identity: "u1", Breakout: -1}}, rooms.ErrBreakoutInvalid},
		{"identity twice", 1, []rooms.Assignment{{Identity: "u1", Breakout: 1}, {Identity: "u1", Breakout: 2}}, rooms.ErrBreakoutInvalid},
		{"another generation", 7, []rooms.Assignment{{Identity: "u1", Breakout: 1}}, rooms.ErrBreakoutState},
	} {
		if _, err := s.AssignBreakouts(ctx, "r", tc.gen, tc.as, "a"); !errors.Is(err, tc.want) {
			t.Errorf("assign with %s: err = %v, want %v", tc.what, err, tc.want)
		}
	}
	_, err = s.ChooseBreakout(ctx, "r", 0, rooms.Assignment{Identity: "u1", Breakout: 1}, "p1")
	if !errors.Is(err, rooms.ErrBreakoutNotAllowed) {
		t.Fatalf("choosing without self-select: err = %v, want ErrBreakoutNotAllowed", err)
	}
	expectSeq(t, s, "r", 3, "after refused changes")

	closed, err := s.CloseBreakouts(ctx, "r", rooms.BreakoutClose{By: "a"})
	must(t, err)
	if !closed {
		t.Fatal("not closed")
	}
	_, err = s.AssignBreakouts(ctx, "r", 0, []rooms.Assignment{{Identity: "u1", Breakout: 1}}, "a")
	expectState(t, "assigning closed breakouts", err)
}

func testBreakoutsSelfSelect(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	_, err := s.OpenBreakouts(ctx, "r", rooms.BreakoutOptions{Count: 3, SelfSelect: true})
	must(t, err)
	sub := subscribe(t, s, "r")
	p, err := s.ChooseBreakout(ctx, "r", 1, rooms.Assignment{Identity: "u1", Name: "U", Breakout: 3}, "p1")
	must(t, err)
	if p.AssignedTo("u1") != 3 {
		t.Fatalf("u1 chose 3, plan says %d", p.AssignedTo("u1"))
	}
	expectPlanEvent(t, sub, "r", 2, rooms.EventBreakoutsChanged, "p1", p)
	p, err = s.ChooseBreakout(ctx, "r", 0, rooms.Assignment{Identity: "u1", Breakout: 0}, "p1")
	must(t, err)
	if p.AssignedTo("u1") != 0 || len(p.Assignments) != 0 {
		t.Fatalf("u1 chose the main room, plan says %+v", p.Assignments)
	}
	expectPlanEvent(t, sub, "r", 3, rooms.EventBreakoutsChanged, "p1", p)
	if _, err := s.ChooseBreakout(ctx, "r", 0, rooms.Assignment{Identity: "u1", Breakout: 4}, "p1"); !errors.Is(err, rooms.ErrBreakoutInvalid) {
		t.Fatalf("choosing breakout 4 of 3: err = %v, want ErrBreakoutInvalid", err)
	}
	_, err = s.ChooseBreakout(ctx, "r", 2, rooms.Assignment{Identity: "u1", Breakout: 1}, "p1")
	expectState(t, "choosing in another generation", err)
}

func testBreakoutsTimer(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	p, err := s.OpenBreakouts(ctx, "r", rooms.BreakoutOptions{Count: 2, Duration: time.Minute})
	must(t, err)
	first := p.EndsAt
	sub := subscribe(t, s, "r")
	p, err = s.ExtendBreakouts(ctx, "r", 1, 30*time.Second, "a")
	must(t, err)
	if !p.EndsAt.Equal(first.Add(30 * time.Second)) {
		t.Fatalf("extended timer ends at %v, want %v", p.EndsAt, first.Add(30*time.Second))
	}
	expectPlanEvent(t, sub, "r", 2, rooms.EventBreakoutsChanged, "a", p)
	for _, d := range []time.Duration{0, -time.Second, rooms.MaxBreakoutDuration} {
		if _, err := s.ExtendBreakouts(ctx, "r", 0, d, "a"); !errors.Is(err, rooms.ErrBreakoutInvalid) {
			t.Errorf("extend by %v: err = %v, want ErrBreakoutInvalid", d, err)
		}
	}

	// A node that saw the first deadline pass must not close breakouts whose timer was extended.
	for _, c := range []rooms.BreakoutClose{
		{Generation: 1, Deadline: first},
		{Generation: 2, Deadline: p.EndsAt},
		{Generation: 0, Deadline: p.EndsAt.Add(-time.Millisecond)},
	} {
		closed, err := s.CloseBreakouts(ctx, "r", c)
		if err != nil || closed {
			t.Fatalf("CloseBreakouts(%+v): closed %v, err %v; want nothing to do", c, closed, err)
		}
	}
	expectSeq(t, s, "r", 2, "after timer closes that were not due")
	closed, err := s.CloseBreakouts(ctx, "r", rooms.BreakoutClose{Generation: 1, Deadline: p.EndsAt})
	must(t, err)
	if !closed {
		t.Fatal("the timer did not close the breakouts at their deadline")
	}
	p = plan(t, s, "r")
	if p.Open || p.CloseReason != rooms.BreakoutsClosedByTimer || p.ClosedAt.IsZero() {
		t.Fatalf("after the timer: %+v", p)
	}
	expectPlanEvent(t, sub, "r", 3, rooms.EventBreakoutsClosed, "", p)
	if closed, err := s.CloseBreakouts(ctx, "r", rooms.BreakoutClose{Generation: 1, Deadline: p.EndsAt}); closed || err != nil {
		t.Fatalf("second close: closed %v, err %v", closed, err)
	}
	_, err = s.ExtendBreakouts(ctx, "r", 0, time.Minute, "a")
	expectState(t, "extending closed breakouts", err)

	// Without a timer, extending starts one.
	_, err = s.OpenBreakouts(ctx, "r", rooms.BreakoutOptions{Count: 1})
	must(t, err)
	before := time.Now().Add(-time.Millisecond)
	p, err = s.ExtendBreakouts(ctx, "r", 0, time.Minute, "a")
	must(t, err)
	if p.EndsAt.Before(before.Add(time.Minute)) || p.EndsAt.After(time.Now().Add(time.Minute)) {
		t.Fatalf("timer started by an extension ends at %v, want a minute from now", p.EndsAt)
	}
	if closed, err := s.CloseBreakouts(ctx, "r", rooms.BreakoutClose{Generation: 1, By: "a"}); closed || err != nil {
		t.Fatalf("closing generation 1 while 2 is open: closed %v, err %v", closed, err)
	}
}

func testBreakoutsBroadcastAndHelp(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	_, err := s.BroadcastToBreakouts(ctx, "r", 0, rooms.BreakoutBroadcast{Text: "hello", From: "a"})
	expectState(t, "broadcast without breakouts", err)
	_, err = s.OpenBreakouts(ctx, "r", rooms.BreakoutOptions{Count: 3})
	must(t, err)
	sub := subscribe(t, s, "r")
	p, err := s.BroadcastToBreakouts(ctx, "r", 1, rooms.BreakoutBroadcast{Text: trickyText, From: "a", FromName: trickyName})
	must(t, err)
	if b := p.Broadcasts; len(b) != 1 || b[0].Text != trickyText || b[0].FromName != trickyName || b[0].At.IsZero() {
		t.Fatalf("broadcasts = %+v", b)
	}
	expectPlanEvent(t, sub, "r", 2, rooms.EventBreakoutBroadcast, "a", p)
	if _, err := s.BroadcastToBreakouts(ctx, "r", 0, rooms.BreakoutBroadcast{Text: "  ", From: "a"}); !errors.Is(err, rooms.ErrBreakoutInvalid) {
		t.Fatalf("blank broadcast: err = %v, want ErrBreakoutInvalid", err)
	}
	for i := range rooms.MaxBreakoutBroadcasts + 4 {
		p, err = s.BroadcastToBreakouts(ctx, "r", 0, rooms.BreakoutBroadcast{Text: fmt.Sprint("note ", i), From: "a"})
		must(t, err)
	}
	if b := p.Broadcasts; len(b) != rooms.MaxBreakoutBroadcasts || b[0].Text != "note 4" || b[len(b)-1].Text != fmt.Sprint("note ", rooms.MaxBreakoutBroadcasts+3) {
		t.Fatalf("kept %d broadcasts from %q, want the last %d", len(b), b[0].Text, rooms.MaxBreakoutBroadcasts)
	}
	seq := uint64(2 + rooms.MaxBreakoutBroadcasts + 4)
	for range rooms.MaxBreakoutBroadcasts + 4 {
		next(t, sub)
	}

	ask := rooms.HelpRequest{Breakout: 2, ParticipantID: "p1", Identity: "u1", Name: "U one"}
	p, err = s.RequestBreakoutHelp(ctx, "r", 1, ask)
	must(t, err)
	seq++
	if h := p.HelpFor(2); h == nil || h.ParticipantID != "p1" || h.At.IsZero() || p.HelpFor(1) != nil {
		t.Fatalf("help = %+v", p.Help)
	}
	expectPlanEvent(t, sub, "r", seq, rooms.EventBreakoutHelp, "p1", p)
	_, err = s.RequestBreakoutHelp(ctx, "r", 1, rooms.HelpRequest{Breakout: 2, ParticipantID: "p2"})
	must(t, err)
	expectSeq(t, s, "r", seq, "after asking again for a breakout already waiting")
	p, err = s.RequestBreakoutHelp(ctx, "r", 0, rooms.HelpRequest{Breakout: 3, ParticipantID: "p3"})
	must(t, err)
	seq++
	expectPlanEvent(t, sub, "r", seq, rooms.EventBreakoutHelp, "p3", p)
	if len(p.Help) != 2 || p.Help[0].Breakout != 2 || p.Help[1].Breakout != 3 {
		t.Fatalf("help queue = %+v, want breakouts 2 then 3", p.Help)
	}
	for _, n := range []int{0, 4} {
		if _, err := s.RequestBreakoutHelp(ctx, "r", 0, rooms.HelpRequest{Breakout: n, ParticipantID: "p1"}); !errors.Is(err, rooms.ErrBreakoutInvalid) {
			t.Errorf("help for breakout %d: err = %v, want ErrBreakoutInvalid", n, err)
		}
		if _, err := s.ClearBreakoutHelp(ctx, "r", 0, n, "a"); !errors.Is(err, rooms.ErrBreakoutInvalid) {
			t.Errorf("clear help of breakout %d: err = %v, want ErrBreakoutInvalid", n, err)
		}
	}
	p, err = s.ClearBreakoutHelp(ctx, "r", 1, 2, "a")
	must(t, err)
	seq++
	if len(p.Help) != 1 || p.HelpFor(3) == nil {
		t.Fatalf("help after clearing breakout 2 = %+v", p.Help)
	}
	expectPlanEvent(t, sub, "r", seq, rooms.EventBreakoutsChanged, "a", p)
	_, err = s.ClearBreakoutHelp(ctx, "r", 1, 2, "a")
	must(t, err)
	expectSeq(t, s, "r", seq, "after clearing help nobody asked for")

	closed, err := s.CloseBreakouts(ctx, "r", rooms.BreakoutClose{By: "a"})
	must(t, err)
	if p := plan(t, s, "r"); !closed || len(p.Help) != 0 || len(p.Broadcasts) != rooms.MaxBreakoutBroadcasts {
		t.Fatalf("after close: help %+v, %d broadcasts (kept for the record)", p.Help, len(p.Broadcasts))
	}
	_, err = s.RequestBreakoutHelp(ctx, "r", 0, ask)
	expectState(t, "help after close", err)
}

// testBreakoutsConcurrent: many participants choose at once, then several nodes close at once.
// Every choice must land with its own event and Version, and exactly one close must win.
func testBreakoutsConcurrent(t *testing.T, s rooms.Store) {
	const n, closers = 30, 8
	ctx := testCtx(t)
	_, err := s.OpenBreakouts(ctx, "r", rooms.BreakoutOptions{Count: 3, SelfSelect: true, Duration: time.Hour})
	must(t, err)
	sub := subscribe(t, s, "r")
	start := make(chan struct{})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			_, err := s.ChooseBreakout(ctx, "r", 1, rooms.Assignment{Identity: fmt.Sprintf("u%02d", i), Breakout: i%3 + 1}, "p")
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	p := plan(t, s, "r")
	if p.Version != n+1 || len(p.Assignments) != n {
		t.Fatalf("after %d concurrent choices: Version %d, %d assignments", n, p.Version, len(p.Assignments))
	}
	for i := range n {
		if got := p.AssignedTo(fmt.Sprintf("u%02d", i)); got != i%3+1 {
			t.Fatalf("u%02d in breakout %d, want %d", i, got, i%3+1)
		}
	}
	for i := range n {
		ev := next(t, sub)
		if ev.Seq != uint64(i+2) || ev.Breakouts == nil || ev.Breakouts.Version != uint64(i+2) {
			t.Fatalf("event %d: Seq %d, plan %+v; want Seq and Version %d", i, ev.Seq, ev.Breakouts, i+2)
		}
	}

	results := make(chan bool, closers)
	start = make(chan struct{})
	for range closers {
		wg.Go(func() {
			<-start
			closed, err := s.CloseBreakouts(ctx, "r", rooms.BreakoutClose{Generation: 1, Deadline: p.EndsAt})
			if err != nil {
				t.Error(err)
			}
			results <- closed
		})
	}
	close(start)
	wg.Wait()
	close(results)
	wins := 0
	for closed := range results {
		if closed {
			wins++
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent closes reported closing, want exactly 1", wins, closers)
	}
	if ev := next(t, sub); ev.Type != rooms.EventBreakoutsClosed {
		t.Fatalf("event after the closes: %s", ev.Type)
	}
	expectSeq(t, s, "r", n+2, "after the concurrent closes")
}
