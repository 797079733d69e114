package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/rooms"
)

func testDeleteLesson(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	var ls []rooms.Lesson
	for i, id := range []string{"l1", "l2", "l3"} {
		l := rooms.Lesson{ID: id, Room: "r", Status: "ready", StartedAt: t0.Add(time.Duration(i) * time.Hour), UpdatedAt: t0}
		must(t, s.UpdateLesson(ctx, "r", l))
		ls = append(ls, l)
	}
	must(t, s.UpdateLesson(ctx, "other", rooms.Lesson{ID: "l2", Room: "other", Status: "ready", UpdatedAt: t0}))
	must(t, s.DeleteLesson(ctx, "r", "l2"))
	got, err := s.Lessons(ctx, "r")
	if err != nil || len(got) != 2 || got[0] != ls[0] || got[1] != ls[2] {
		t.Fatalf("Lessons after deleting l2 = %+v, %v; want [l1 l3]", got, err)
	}
	// Another room's lesson of the same id stays.
	if got, err := s.Lessons(ctx, "other"); err != nil || len(got) != 1 {
		t.Fatalf("another room's lessons = %+v, %v", got, err)
	}
	for _, c := range []struct{ room, id string }{{"r", "l2"}, {"r", "nope"}, {"empty", "l1"}} {
		if err := s.DeleteLesson(ctx, c.room, c.id); !errors.Is(err, rooms.ErrNotFound) {
			t.Errorf("DeleteLesson(%s, %s) = %v, want ErrNotFound", c.room, c.id, err)
		}
	}
	if err := s.DeleteLesson(ctx, "r", ""); !errors.Is(err, rooms.ErrInvalid) {
		t.Errorf("DeleteLesson without an id = %v, want ErrInvalid", err)
	}
	// A deleted lesson may come back (the recorder finishing late): it is appended anew.
	must(t, s.UpdateLesson(ctx, "r", ls[1]))
	if got, err := s.Lessons(ctx, "r"); err != nil || len(got) != 3 || got[2] != ls[1] {
		t.Fatalf("Lessons after re-adding l2 = %+v, %v", got, err)
	}
}
