package storetest

// The suite's tests of recording state and lessons.

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/rooms"
)

var recordingTests = []storeTest{
	{"RecordingStartStop", testRecordingStartStop},
	{"RecordingConcurrentStarts", testRecordingConcurrentStarts},
	{"Lessons", testLessons},
	{"DeleteLesson", testDeleteLesson}, // library.go
}

func testRecordingStartStop(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	mustJoin(t, s, "r", person("a", "user-a", t0))
	if rec, err := s.ActiveRecording(ctx, "r"); err != nil || rec != nil {
		t.Fatalf("ActiveRecording before any = %+v, %v", rec, err)
	}
	if _, err := s.StopRecording(ctx, "r", "a", "stopped"); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("stopping what is not recorded: err = %v, want ErrNotFound", err)
	}
	sub := subscribe(t, s, "r")
	rec := rooms.Recording{ID: "r-lesson-1", Node: "node-1", StartedAt: t0, By: "a"}
	must(t, s.StartRecording(ctx, "r", rec))
	expect(t, next(t, sub), rooms.Event{Room: "r", Seq: 2, Type: rooms.EventRecordingStarted, Recording: &rec})
	if err := s.StartRecording(ctx, "r", rooms.Recording{ID: "other", Node: "node-2", StartedAt: t0}); !errors.Is(err, rooms.ErrRecordingActive) {
		t.Fatalf("second start: err = %v, want ErrRecordingActive", err)
	}
	if got, err := s.ActiveRecording(ctx, "r"); err != nil || got == nil || *got != rec {
		t.Fatalf("ActiveRecording = %+v, %v; want %+v", got, err, rec)
	}
	if got, err := s.ActiveRecording(ctx, "elsewhere"); err != nil || got != nil {
		t.Fatalf("another room's recording = %+v, %v", got, err)
	}

	// The recording outlives its starter: leaving does not stop it (the node decides when).
	must(t, s.Leave(ctx, "r", "a", rooms.ReasonLeft))
	next(t, sub)
	got, err := s.StopRecording(ctx, "r", "a", "stopped")
	if err != nil || got != rec {
		t.Fatalf("StopRecording = %+v, %v; want %+v", got, err, rec)
	}
	expect(t, next(t, sub), rooms.Event{Room: "r", Seq: 4, Type: rooms.EventRecordingStopped, Recording: &rec, By: "a", Reason: "stopped"})
	if got, err := s.ActiveRecording(ctx, "r"); err != nil || got != nil {
		t.Fatalf("ActiveRecording after stop = %+v, %v", got, err)
	}
	// A new recording may start once the last stopped.
	must(t, s.StartRecording(ctx, "r", rooms.Recording{ID: "r-lesson-2", Node: "node-1", StartedAt: t0}))
	for _, bad := range []rooms.Recording{{Node: "n"}, {ID: "x"}} {
		if err := s.StartRecording(ctx, "q", bad); !errors.Is(err, rooms.ErrInvalid) {
			t.Errorf("start %+v: err = %v, want ErrInvalid", bad, err)
		}
	}
}

// Two instructors pressing record on two nodes at once: exactly one recording starts.
func testRecordingConcurrentStarts(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.StartRecording(ctx, "r", rooms.Recording{ID: fmt.Sprint("lesson-", i), Node: fmt.Sprint("node-", i), StartedAt: t0})
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, rooms.ErrRecordingActive):
			t.Fatalf("unexpected error %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d concurrent starts succeeded, want exactly 1", won, n)
	}
	if snap := snapshot(t, s, "r"); snap.Seq != 1 {
		t.Fatalf("Seq after the starts = %d, want 1 (losers emit nothing)", snap.Seq)
	}
}

func testLessons(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	if ls, err := s.Lessons(ctx, "r"); err != nil || ls == nil || len(ls) != 0 {
		t.Fatalf("Lessons of a new room = %#v, %v; want an empty list", ls, err)
	}
	sub := subscribe(t, s, "r")
	l1 := rooms.Lesson{ID: "l1", Room: "r", Status: "processing", StartedAt: t0, Duration: 61.5, UpdatedAt: t0}
	l2 := rooms.Lesson{ID: "l2", Room: "r", Status: "processing", StartedAt: t0.Add(time.Hour), UpdatedAt: t0}
	must(t, s.UpdateLesson(ctx, "r", l1))
	expect(t, next(t, sub), rooms.Event{Room: "r", Seq: 1, Type: rooms.EventLessonUpdated, Lesson: &l1})
	must(t, s.UpdateLesson(ctx, "r", l2))
	next(t, sub)
	// Updating keeps the lesson's place.
	l1.Status, l1.Preview, l1.Video = "ready", true, true
	must(t, s.UpdateLesson(ctx, "r", l1))
	expect(t, next(t, sub), rooms.Event{Room: "r", Seq: 3, Type: rooms.EventLessonUpdated, Lesson: &l1})
	ls, err := s.Lessons(ctx, "r")
	if err != nil || len(ls) != 2 || ls[0] != l1 || ls[1] != l2 {
		t.Fatalf("Lessons = %+v, %v; want [l1 (ready), l2]", ls, err)
	}
	if err := s.UpdateLesson(ctx, "r", rooms.Lesson{Status: "ready"}); !errors.Is(err, rooms.ErrInvalid) {
		t.Fatalf("a lesson without id: err = %v, want ErrInvalid", err)
	}
}
