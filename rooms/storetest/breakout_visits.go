package storetest

// The suite's tests of instructors' breakout visits kept in the plan (rooms/breakout_visits.go).

import (
	"errors"
	"testing"

	"github.com/chalk-edu/chalk/rooms"
)

func testBreakoutVisits(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	_, err := s.VisitBreakout(ctx, "r", 0, rooms.Assignment{Identity: "prof", Breakout: 1}, "p")
	expectState(t, "visiting before breakouts opened", err)
	_, err = s.OpenBreakouts(ctx, "r", rooms.BreakoutOptions{Count: 3})
	must(t, err)
	sub := subscribe(t, s, "r")
	p, err := s.VisitBreakout(ctx, "r", 1, rooms.Assignment{Identity: "prof", Name: "Prof", Breakout: 2}, "p")
	must(t, err)
	expectPlanEvent(t, sub, "r", 2, rooms.EventBreakoutsChanged, "p", p)
	p, err = s.VisitBreakout(ctx, "r", 1, rooms.Assignment{Identity: "ann", Name: "Ann", Breakout: 3}, "a")
	must(t, err)
	expectPlanEvent(t, sub, "r", 3, rooms.EventBreakoutsChanged, "a", p)
	stored := plan(t, s, "r")
	samePlan(t, "plan after two visits", stored, p)
	if stored.VisitOf("prof") != 2 || stored.VisitOf("ann") != 3 || stored.VisitOf("zed") != 0 {
		t.Fatalf("visits = %+v, want prof in 2 and ann in 3", stored.Visits)
	}
	if len(stored.Assignments) != 0 {
		t.Fatalf("a visit assigned someone: %+v", stored.Assignments)
	}
	// The same visit again changes nothing; a move changes it; the main room ends it.
	_, err = s.VisitBreakout(ctx, "r", 1, rooms.Assignment{Identity: "prof", Name: "Prof", Breakout: 2}, "p")
	must(t, err)
	expectSeq(t, s, "r", 3, "the same visit again")
	p, err = s.VisitBreakout(ctx, "r", 1, rooms.Assignment{Identity: "prof", Name: "Prof", Breakout: 1}, "p")
	must(t, err)
	expectPlanEvent(t, sub, "r", 4, rooms.EventBreakoutsChanged, "p", p)
	p, err = s.VisitBreakout(ctx, "r", 1, rooms.Assignment{Identity: "ann", Breakout: 0}, "a")
	must(t, err)
	expectPlanEvent(t, sub, "r", 5, rooms.EventBreakoutsChanged, "a", p)
	if p.VisitOf("prof") != 1 || p.VisitOf("ann") != 0 || len(p.Visits) != 1 {
		t.Fatalf("visits = %+v, want prof in 1 only", p.Visits)
	}
	for _, v := range []rooms.Assignment{{Identity: "prof", Breakout: 4}, {Identity: "prof", Breakout: -1}, {Breakout: 1}} {
		if _, err := s.VisitBreakout(ctx, "r", 1, v, "p"); !errors.Is(err, rooms.ErrBreakoutInvalid) {
			t.Errorf("visit %+v: err = %v, want ErrBreakoutInvalid", v, err)
		}
	}
	_, err = s.VisitBreakout(ctx, "r", 2, rooms.Assignment{Identity: "prof", Breakout: 1}, "p")
	expectState(t, "visiting in another generation", err)
	// Closed breakouts have no visits, and the next generation starts without them.
	_, err = s.CloseBreakouts(ctx, "r", rooms.BreakoutClose{Generation: 1, By: "p"})
	must(t, err)
	if p := plan(t, s, "r"); p.VisitOf("prof") != 0 {
		t.Fatalf("closed breakouts still give prof breakout %d", p.VisitOf("prof"))
	}
	p, err = s.OpenBreakouts(ctx, "r", rooms.BreakoutOptions{Count: 2})
	must(t, err)
	if len(p.Visits) != 0 || p.Visits == nil {
		t.Fatalf("a new generation's visits = %#v, want []", p.Visits)
	}
}
