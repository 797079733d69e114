package rooms_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/rooms"
)

// A durable embedded store started again on the same file has the lessons and the attendance of the
// last run; the stays that run left open (it was killed mid-class) are closed when the new one starts.
func TestDurableMemoryStoreRestart(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	open := func() (*rooms.MemoryStore, *rooms.DiskDocs) {
		d, err := rooms.OpenDiskDocs(dir)
		if err != nil {
			t.Fatal(err)
		}
		s, err := rooms.NewDurableMemoryStore(ctx, d, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s, d
	}
	s, d := open()
	join := func(room, id string) {
		t.Helper()
		p := rooms.Participant{ID: id, Identity: "u-" + id, Name: "N " + id, Role: rooms.RoleStudent, JoinedAt: time.Now()}
		if _, _, err := s.Join(ctx, room, p); err != nil {
			t.Fatal(err)
		}
	}
	join("math", "a")
	join("math", "b")
	join("math.b2", "c")
	if err := s.Leave(ctx, "math", "a", rooms.ReasonLeft); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 3 {
		l := rooms.Lesson{ID: fmt.Sprint("l", 2-i), Room: "math", Status: "processing", StartedAt: time.Now()}
		if err := s.UpdateLesson(ctx, "math", l); err != nil {
			t.Fatal(err)
		}
		want = append(want, l.ID)
	}
	if err := s.UpdateLesson(ctx, "math", rooms.Lesson{ID: "l1", Room: "math", Status: "ready"}); err != nil {
		t.Fatal(err)
	}
	// No Close of the store: a killed process leaves only the file (its lock goes with the process).
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	restartedAt := time.Now()

	s, d = open()
	t.Cleanup(func() { s.Close(); d.Close() })
	ls, err := s.Lessons(ctx, "math")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range ls {
		got = append(got, l.ID+":"+l.Status)
	}
	if fmt.Sprint(got) != "[l2:processing l1:ready l0:processing]" {
		t.Fatalf("lessons after the restart: %v, want l2, l1 (ready), l0 in that order", got)
	}
	recs, err := s.Attendance(ctx, "math")
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, r := range recs {
		got = append(got, r.Room+"/"+r.Identity)
		switch {
		case r.LeftAt.IsZero():
			t.Errorf("%s's stay in %s is still open after the restart", r.Identity, r.Room)
		case r.Identity != "u-a" && (r.LeftAt.Before(restartedAt.Add(-time.Second)) || r.LeftAt.After(time.Now())):
			t.Errorf("%s's stay was closed at %v, want the restart (%v)", r.Identity, r.LeftAt, restartedAt)
		case r.Identity == "u-a" && !r.LeftAt.Before(restartedAt):
			t.Errorf("u-a left before the restart but the record says %v", r.LeftAt)
		}
	}
	if fmt.Sprint(got) != "[math/u-a math/u-b math.b2/u-c]" {
		t.Fatalf("attendance after the restart: %v", got)
	}
	// The room is live again: b rejoins, a new stay (listed after the main room's others).
	join("math", "b")
	if recs, _ := s.Attendance(ctx, "math"); len(recs) != 4 || recs[2].Identity != "u-b" || !recs[2].LeftAt.IsZero() {
		t.Fatalf("a join after the restart: %+v", recs)
	}
}

// BenchmarkDurableJoinLeave is a join and a leave on the embedded store with its attendance on disk:
// four fsynced writes (each stay and the list of stays in progress).
func BenchmarkDurableJoinLeave(b *testing.B) {
	d, err := rooms.OpenDiskDocs(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	ctx := b.Context()
	s, err := rooms.NewDurableMemoryStore(ctx, d, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	p := rooms.Participant{ID: "p", Identity: "u", Name: "U", Role: rooms.RoleStudent, JoinedAt: time.Now()}
	for b.Loop() {
		if _, _, err := s.Join(ctx, "r", p); err != nil {
			b.Fatal(err)
		}
		if err := s.Leave(ctx, "r", "p", rooms.ReasonLeft); err != nil {
			b.Fatal(err)
		}
	}
}

// failingDocs refuses writes to collections starting with fail, as a full disk would.
type failingDocs struct {
	rooms.Docs
	fail string
}

func (f *failingDocs) UpdateDoc(ctx context.Context, coll, id string, fn func([]byte) ([]byte, error)) error {
	if f.fail != "" && strings.HasPrefix(coll, f.fail) {
		return errors.New("disk full")
	}
	return f.Docs.UpdateDoc(ctx, coll, id, fn)
}

// A join whose attendance cannot be recorded changes nothing: no participant, no event, no stay; a
// lesson that cannot be stored is not announced.
func TestDurableMemoryStoreWriteFails(t *testing.T) {
	ctx := t.Context()
	docs := &failingDocs{Docs: rooms.NewMemoryDocs()}
	s, err := rooms.NewDurableMemoryStore(ctx, docs, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sub, err := s.Subscribe(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	for _, coll := range []string{"store/open-stays", "room/r/attendance"} {
		docs.fail = coll
		p := rooms.Participant{ID: "a", Identity: "u-a", Name: "A", Role: rooms.RoleStudent, JoinedAt: time.Now()}
		if _, _, err := s.Join(ctx, "r", p); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("join with %s failing: %v", coll, err)
		}
	}
	docs.fail = "room/r/lessons"
	if err := s.UpdateLesson(ctx, "r", rooms.Lesson{ID: "l1", Room: "r", Status: "ready"}); err == nil {
		t.Fatal("a lesson that could not be stored was accepted")
	}
	docs.fail = ""
	snap, _ := s.Snapshot(ctx, "r")
	recs, _ := s.Attendance(ctx, "r")
	open, _ := docs.ListDocs(ctx, "store/open-stays")
	if len(snap.Participants) != 0 || snap.Seq != 0 || len(recs) != 0 || len(open) != 0 {
		t.Fatalf("after failed writes: %d participants, seq %d, %d stays, %d open pointers", len(snap.Participants), snap.Seq, len(recs), len(open))
	}
	select {
	case ev := <-sub.C:
		t.Fatalf("an event after failed writes: %+v", ev)
	default:
	}
}
