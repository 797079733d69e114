package signaling

import (
	"testing"

	"time"
)

// An instructor's breakout visit is kept in the plan: a fresh join (a reload, or a rejoin after the
// node died; not a resume) goes back to the breakout being visited, and a visit back to the main room
// is remembered as well.
func TestBreakoutVisitSurvivesAFreshJoin(t *testing.T) {
	env := newTestEnv(t, nil)
	prof := env.joinInstructor(t, "math", "Prof")
	a := env.joinGuestAs(t, "math", "Ada", "a")
	prof.send("breakouts_open", map[string]any{"count": 2, "assignments": map[string]int{"guest-a": 1}})
	a.expectMoved("math.b1", moveAssigned)
	prof.send("breakout_visit", map[string]int{"breakout": 2})
	prof.expectMoved("math.b2", moveVisit)
	if p := planOf(t, env.store, "math"); p.VisitOf("prof-Prof") != 2 {
		t.Fatalf("plan's visits after the visit: %+v", p.Visits)
	}

	prof.c.CloseNow() // gone without a word; the new session replaces the old one
	again := env.joinInstructor(t, "math", "Prof")
	if m := again.expectMoved("math.b2", moveAssigned); m.From != "math" {
		t.Fatalf("fresh join moved from %q, want the main room", m.From)
	}
	waitRooms(t, env.store, map[string][]*wsTest{"math": {}, "math.b1": {a}, "math.b2": {again}})

	// Back to the main room: a fresh join stays there.
	again.send("breakout_visit", map[string]int{"breakout": 0})
	again.expectMoved("math", moveVisit)
	again.c.CloseNow()
	third := env.joinInstructor(t, "math", "Prof")
	third.expectNo("moved", 500*time.Millisecond)
	waitRooms(t, env.store, map[string][]*wsTest{"math": {third}, "math.b1": {a}, "math.b2": {}})
}
