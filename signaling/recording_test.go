package signaling

import (
	"context"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/rooms"
)

// Recording requests that must be refused, on a node without a recorder. The recording itself is
// tested end to end in cmd/chalk (TestRecordingThroughSignaling), with real media and ffmpeg.
func TestRecordingRefusals(t *testing.T) {
	env := newTestEnv(t, nil)
	prof := env.joinInstructor(t, "math", "Prof")
	ada := env.dial(t)
	ada.join("math", "Ada")

	ada.send("start_recording", nil)
	ada.expectError(CodeForbidden)
	ada.send("stop_recording", nil)
	ada.expectError(CodeForbidden)
	prof.send("start_recording", nil)
	prof.expectError(CodeRecordingUnavailable)
	prof.send("stop_recording", nil)
	prof.expectError(CodeConflict)

	// Another node records this room (the store says so): this node shows the indicator, stops
	// it on an instructor's request, and everyone is told.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := env.store.StartRecording(ctx, "math", rooms.Recording{ID: "math-1", Node: "elsewhere", StartedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	ada.expect("recording_started")
	late := env.dial(t)
	if j := late.join("math", "Late"); j.Recording == nil || j.Recording.ID != "math-1" {
		t.Fatalf("late joiner's recording = %+v", j.Recording)
	}
	prof.send("stop_recording", nil)
	ada.expect("recording_stopped")
	if rec, err := env.store.ActiveRecording(ctx, "math"); err != nil || rec != nil {
		t.Fatalf("after stop: %+v, %v", rec, err)
	}
}
