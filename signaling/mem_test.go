package signaling

import (
	"fmt"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/rooms"
)

// A lecture's sessions keep only the participants the last-N rule looks at, and the rule still
// sees a student who turns a camera on and off.
func TestMediaViewKeepsOnlyModeratorsAndCameras(t *testing.T) {
	cam := []rooms.Track{{ID: "camera", Source: rooms.SourceCamera}}
	snap := rooms.Snapshot{Participants: []rooms.Participant{{ID: "teacher", Role: rooms.RoleInstructor, Tracks: cam}, {ID: "ta", Role: rooms.RoleCoInstructor}}}
	for i := range 200 {
		snap.Participants = append(snap.Participants, rooms.Participant{ID: fmt.Sprint("s", i), Role: rooms.RoleStudent})
	}
	var v mediaView
	v.fromSnapshot(snap)
	if len(v.roster) != 2 || v.cameras() != 1 {
		t.Fatalf("roster %v, cameras %d: want the instructor and the co-instructor, 1 camera", v.roster, v.cameras())
	}
	v.note(rooms.Event{Type: rooms.EventParticipantJoined, Participant: &rooms.Participant{ID: "late", Role: rooms.RoleStudent}})
	v.note(rooms.Event{Type: rooms.EventTrackPublished, ParticipantID: "s7", Track: &cam[0]})
	if e, ok := v.roster["s7"]; !ok || !e.camera || e.role != rooms.RoleStudent || len(v.roster) != 3 || v.cameras() != 2 {
		t.Fatalf("after s7's camera: roster %v, cameras %d", v.roster, v.cameras())
	}
	if !lastNOff(&v, "s7", true, 1, 1) || lastNOff(&v, "teacher", true, 1, 1) {
		t.Fatal("last-N: a silent student's camera must be held back from students, the instructor's not")
	}
	v.note(rooms.Event{Type: rooms.EventTrackUnpublished, ParticipantID: "s7", Track: &cam[0]})
	v.note(rooms.Event{Type: rooms.EventParticipantUpdated, Participant: &rooms.Participant{ID: "s8", Role: rooms.RoleCoInstructor}})
	if _, ok := v.roster["s7"]; ok || !v.roster["s8"].role.Moderator() || len(v.roster) != 3 {
		t.Fatalf("after s7 stopped and s8 was promoted: roster %v", v.roster)
	}
	v.note(rooms.Event{Type: rooms.EventParticipantUpdated, Participant: &rooms.Participant{ID: "s8", Role: rooms.RoleStudent}})
	if _, ok := v.roster["s8"]; ok || len(v.roster) != 2 {
		t.Fatalf("after s8 was demoted: roster %v", v.roster)
	}
}

// A served mailbox runs posts in order, one at a time, across the goroutines it starts and ends as
// work comes and goes, and stops for good when exec says so.
func TestServedMailbox(t *testing.T) {
	m := newMailbox()
	var got []int
	stopped := make(chan struct{})
	m.serve(func(f func()) bool { f(); return len(got) < 100 }, func() { close(stopped) })
	for i := range 150 {
		m.post(func() { got = append(got, i) })
		if i%10 == 0 {
			time.Sleep(time.Millisecond) // let the queue run dry, so a new goroutine takes over
		}
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the mailbox did not stop")
	}
	m.post(func() { got = append(got, -1) }) // dropped: the mailbox has stopped
	time.Sleep(10 * time.Millisecond)
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(got) != 100 || m.running || len(m.queue) != 0 {
		t.Fatalf("ran %d functions (running %v, %d queued), want 100", len(got), m.running, len(m.queue))
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("function %d ran as number %d: out of order", v, i)
		}
	}
}

// The WebSocket writer exists only while frames wait: it starts with a frame and stops when the
// queue is empty.
func TestWSWriterStopsWhenIdle(t *testing.T) {
	w := &wsConn{done: make(chan struct{}), flushed: make(chan struct{})}
	if q := w.take(); len(q) != 0 || w.writing {
		t.Fatalf("an idle connection: %d queued, writing %v", len(q), w.writing)
	}
	w.mu.Lock()
	w.queue, w.writing = []outFrame{{data: []byte("x")}}, true
	w.mu.Unlock()
	if q := w.take(); len(q) != 1 || !w.writing {
		t.Fatalf("take with a frame: got %d, writing %v", len(q), w.writing)
	}
	if q := w.take(); len(q) != 0 || w.writing {
		t.Fatalf("take after the queue ran dry: got %d, writing %v (a writer must restart with the next frame)", len(q), w.writing)
	}
}
