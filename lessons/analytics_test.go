package lessons

import (
	"slices"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/rooms"
)

func TestOverview(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	at := func(min float64) time.Time { return t0.Add(time.Duration(min * float64(time.Minute))) }
	lessons := []rooms.Lesson{
		{ID: "L1", StartedAt: at(0), Duration: 3600, Status: "ready"},
		{ID: "L2", StartedAt: at(24 * 60), Duration: 1800, Status: "ready"},
	}
	att := []rooms.AttendanceRecord{
		// Ana: in the main room 0–40, in a breakout 30–50 (overlapping stays count once), back 55–70.
		{Room: "math", Identity: "ana", Name: "Ana", Role: rooms.RoleStudent, JoinedAt: at(0), LeftAt: at(40)},
		{Room: "math.b1", Identity: "ana", Name: "Ana", Role: rooms.RoleStudent, JoinedAt: at(30), LeftAt: at(50)},
		{Room: "math", Identity: "ana", Name: "Ana K.", Role: rooms.RoleStudent, JoinedAt: at(55), LeftAt: at(70)},
		// The instructor is not a student.
		{Room: "math", Identity: "prof", Name: "Prof", Role: rooms.RoleInstructor, JoinedAt: at(0), LeftAt: at(60)},
		// Cy is still in the second class ("now" is 10 minutes into it).
		{Room: "math", Identity: "cy", Name: "Cy", Role: rooms.RoleStudent, JoinedAt: at(24*60 + 5)},
	}
	progress := map[string]map[string]progressDoc{
		"L1": {
			"ben":  {Person: Person{"ben", "Ben", rooms.RoleStudent}, Watched: []span{{0, 1800}}, LastWatchedAt: at(100), LastBeatAt: at(100)},
			"ana":  {Person: Person{"ana", "Ana K.", rooms.RoleStudent}, Watched: []span{{3000, 3600}}, LastWatchedAt: at(200), LastBeatAt: at(200)},
			"prof": {Person: Person{"prof", "Prof", rooms.RoleInstructor}, Watched: []span{{0, 3600}}},
		},
		"L2": {},
	}
	ov := overview("math", lessons, att, progress, at(24*60+10))
	if len(ov.Students) != 3 {
		t.Fatalf("students: %+v", ov.Students)
	}
	want := []struct {
		id, name    string
		live        float64
		l1Live      float64
		l1Watched   float64
		l1Percent   float64
		l2Live      float64
		lastWatched bool
	}{
		{"ana", "Ana K.", 65 * 60, 55 * 60, 600, 16.7, 0, true},
		{"ben", "Ben", 0, 0, 1800, 50, 0, true},
		{"cy", "Cy", 5 * 60, 0, 0, 0, 5 * 60, false},
	}
	for i, w := range want {
		s := ov.Students[i]
		if s.Identity != w.id || s.Name != w.name || s.LiveSeconds != w.live || len(s.Lessons) != 2 {
			t.Fatalf("student %d: %+v", i, s)
		}
		l1, l2 := s.Lessons[0], s.Lessons[1]
		if l1.Lesson != "L1" || l1.LiveSeconds != w.l1Live || l1.WatchedSeconds != w.l1Watched || l1.Percent != w.l1Percent ||
			l2.LiveSeconds != w.l2Live || (l1.LastWatchedAt != nil) != w.lastWatched {
			t.Fatalf("student %s lessons: %+v", w.id, s.Lessons)
		}
	}
	if l := ov.Lessons[0]; l.Viewers != 2 || l.LiveAttendees != 1 {
		t.Fatalf("L1 counts: %+v", l)
	}
	if l := ov.Lessons[1]; l.Viewers != 0 || l.LiveAttendees != 1 {
		t.Fatalf("L2 counts: %+v", l)
	}
}

// TestDeletedLessonsLoseEveryRecord: deleting a lesson (library.go) removes the collections of
// every kind of course record this package keeps for it.
func TestDeletedLessonsLoseEveryRecord(t *testing.T) {
	for _, kind := range []string{kindThreads, kindSeen, kindQuestions, kindAnswers, kindProgress} {
		if !slices.Contains(lessonCollections, kind) {
			t.Errorf("deleting a lesson leaves its %q collection behind", kind)
		}
	}
}
