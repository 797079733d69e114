package storetest

// The suite's tests of attendance.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/rooms"
)

func attendance(t *testing.T, s rooms.Store, room string) []rooms.AttendanceRecord {
	t.Helper()
	recs, err := s.Attendance(testCtx(t), room)
	if err != nil {
		t.Fatalf("attendance of %s: %v", room, err)
	}
	if recs == nil {
		t.Fatalf("attendance of %s is nil, which encodes as null", room)
	}
	return recs
}

// stay is what a test expects of a record: its room, identity and role, and whether it has ended.
type stay struct {
	room, identity string
	role           rooms.Role
	left           bool
}

// sameStays checks records against stays, and that their times are plausible: about now, and a stay
// ends after it starts.
func sameStays(t *testing.T, what string, got []rooms.AttendanceRecord, want []stay) {
	t.Helper()
	var g, w []string
	for _, r := range got {
		g = append(g, fmt.Sprintf("%s/%s(%s) left:%v", r.Room, r.Identity, r.Role, !r.LeftAt.IsZero()))
		if d := time.Since(r.JoinedAt); d < 0 || d > time.Minute {
			t.Errorf("%s: %s joined %s at %v, want about now", what, r.Identity, r.Room, r.JoinedAt)
		}
		if !r.LeftAt.IsZero() && r.LeftAt.Before(r.JoinedAt) {
			t.Errorf("%s: %s left %s at %v, before joining at %v", what, r.Identity, r.Room, r.LeftAt, r.JoinedAt)
		}
		if r.Name != "Name of "+r.Identity {
			t.Errorf("%s: %s has name %q", what, r.Identity, r.Name)
		}
	}
	for _, s := range want {
		w = append(w, fmt.Sprintf("%s/%s(%s) left:%v", s.room, s.identity, s.role, s.left))
	}
	if strings.Join(g, "\n") != strings.Join(w, "\n") {
		t.Fatalf("%s:\n got %q\nwant %q", what, g, w)
	}
}

func testAttendance(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	attendance(t, s, "never")
	prof := member("prof", "u-prof", rooms.RoleInstructor)
	mustJoin(t, s, "r", prof)
	mustJoin(t, s, "r", person("a", "u-a", t0))
	mustJoin(t, s, "r", person("b", "u-b", t0))
	must(t, s.Leave(ctx, "r", "a", rooms.ReasonTimeout))
	mustJoin(t, s, "r", person("a2", "u-a", t0)) // back after a timeout: a second stay
	mustJoin(t, s, "r", person("a3", "u-a", t0)) // a reload: the same stay
	must(t, s.SetRole(ctx, "r", "b", rooms.RoleCoInstructor, prof.ID))
	sameStays(t, "during the class", attendance(t, s, "r"), []stay{
		{"r", "u-prof", rooms.RoleInstructor, false},
		{"r", "u-a", rooms.RoleStudent, true},
		{"r", "u-b", rooms.RoleStudent, false}, // the role entered with
		{"r", "u-a", rooms.RoleStudent, false},
	})
	must(t, s.Remove(ctx, "r", "b", prof.ID))
	must(t, s.Leave(ctx, "r", "a3", rooms.ReasonLeft))
	must(t, s.Leave(ctx, "r", "prof", rooms.ReasonLeft))
	// Kept after the room empties, every stay ended.
	recs := attendance(t, s, "r")
	sameStays(t, "after the class", recs, []stay{
		{"r", "u-prof", rooms.RoleInstructor, true},
		{"r", "u-a", rooms.RoleStudent, true},
		{"r", "u-b", rooms.RoleStudent, true},
		{"r", "u-a", rooms.RoleStudent, true},
	})
	if !recs[1].LeftAt.Before(recs[3].JoinedAt) && !recs[1].LeftAt.Equal(recs[3].JoinedAt) {
		t.Fatalf("u-a's first stay ends at %v, after its second begins at %v", recs[1].LeftAt, recs[3].JoinedAt)
	}
	if snap := snapshot(t, s, "r"); len(snap.Participants) != 0 {
		t.Fatalf("room not empty: %+v", snap.Participants)
	}
}

func testAttendanceBreakouts(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	join := func(room, id string) { mustJoin(t, s, room, person(id, "u-"+id, t0)) }
	join("math.b10", "e")
	join("math.b2", "c")
	join("math", "a")
	join("math.b1", "d")
	join("mathx", "f")   // another room
	join("math.bx", "g") // not a breakout name
	join("math.b0", "h") // breakouts count from 1
	join("math.b1.b1", "i")
	join("math.b101", "j") // beyond the last breakout
	must(t, s.Leave(ctx, "math", "a", rooms.ReasonLeft))
	join("math.b1", "a") // moved to a breakout
	sameStays(t, "main room and breakouts", attendance(t, s, "math"), []stay{
		{"math", "u-a", rooms.RoleStudent, true},
		{"math.b1", "u-d", rooms.RoleStudent, false},
		{"math.b1", "u-a", rooms.RoleStudent, false},
		{"math.b2", "u-c", rooms.RoleStudent, false},
		{"math.b10", "u-e", rooms.RoleStudent, false},
	})
	sameStays(t, "a breakout room alone", attendance(t, s, "math.b2"), []stay{{"math.b2", "u-c", rooms.RoleStudent, false}})
}

func testAttendanceLobby(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	prof, _ := class(t, s)
	setLobby(t, s, "r", rooms.LobbyOn, prof.ID)
	enter(t, s, "r", person("a", "u-a", t0))
	enter(t, s, "r", person("b", "u-b", t0))
	want := []stay{{"r", "u-prof", rooms.RoleInstructor, false}, {"r", "u-ta", rooms.RoleCoInstructor, false}}
	sameStays(t, "waiting is not attending", attendance(t, s, "r"), want)
	admittedAt := time.Now()
	must(t, s.Admit(ctx, "r", "a", prof.ID))
	must(t, s.LeaveLobby(ctx, "r", "b", rooms.ReasonDenied, prof.ID))
	recs := attendance(t, s, "r")
	sameStays(t, "after an admission and a denial", recs, append(want, stay{"r", "u-a", rooms.RoleStudent, false}))
	if recs[2].JoinedAt.Before(admittedAt) {
		t.Fatalf("stay starts at %v, before the admission at %v", recs[2].JoinedAt, admittedAt)
	}
}
