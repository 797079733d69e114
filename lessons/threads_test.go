package lessons

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/recorder"
	"github.com/chalk-edu/chalk/recorder/storage"
	"github.com/chalk-edu/chalk/rooms"
)

// status is the HTTP status a logic error maps to (0: none, 503: an unexpected one).
func status(err error) int {
	var re *reqError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &re):
		return re.status
	}
	return 503
}

func TestThreadRules(t *testing.T) {
	ctx := context.Background()
	lr := testRecords()
	now := time.Date(2025, 3, 2, 18, 0, 0, 0, time.UTC)
	th, err := lr.postThread(ctx, ana, 312.5, "  Why is the period independent of the mass?  ", now)
	if err != nil || th.Text != "Why is the period independent of the mass?" || th.Author.Identity != "ana" || th.Answered {
		t.Fatalf("post: %+v, %v", th, err)
	}
	long := strings.Repeat("é", maxPostChars)
	tests := []struct {
		name string
		op   func() error
		want int
	}{
		{"post at the end", func() error { _, err := lr.postThread(ctx, ben, 600, "end", now); return err }, 0},
		{"post past the end", func() error { _, err := lr.postThread(ctx, ben, 600.5, "x", now); return err }, 400},
		{"post before the start", func() error { _, err := lr.postThread(ctx, ben, -1, "x", now); return err }, 400},
		{"post empty", func() error { _, err := lr.postThread(ctx, ben, 1, " \n ", now); return err }, 400},
		{"post 2000 characters", func() error { _, err := lr.postThread(ctx, ben, 1, long, now); return err }, 0},
		{"post 2001 characters", func() error { _, err := lr.postThread(ctx, ben, 1, long+"x", now); return err }, 400},
		{"edit someone else's", func() error { _, err := lr.editThread(ctx, ben, th.ID, "mine now", nil, now); return err }, 403},
		{"moderator edits someone else's", func() error { _, err := lr.editThread(ctx, prof, th.ID, "x", nil, now); return err }, 403},
		{"edit own", func() error { _, err := lr.editThread(ctx, ana, th.ID, "Why no mass?", nil, now); return err }, 0},
		{"edit unknown", func() error { _, err := lr.editThread(ctx, ana, "t-nope", "x", nil, now); return err }, 404},
		{"reply unknown", func() error { _, err := lr.reply(ctx, ben, "t-nope", "x", now); return err }, 404},
		{"reply too long", func() error { _, err := lr.reply(ctx, ben, th.ID, long+"x", now); return err }, 400},
		{"student deletes someone else's", func() error { return lr.deleteThread(ctx, ben, th.ID) }, 403},
		{"bad action", func() error { _, err := lr.moderate(ctx, th.ID, "burn"); return err }, 404},
	}
	for _, tc := range tests {
		if got := status(tc.op()); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}

	// Replies, the instructor's answer, edits and deletes.
	r1, err := lr.reply(ctx, ben, th.ID, "Good question", now.Add(time.Minute))
	if err != nil || r1.ByInstructor {
		t.Fatalf("reply: %+v, %v", r1, err)
	}
	r2, err := lr.reply(ctx, prof, th.ID, "m cancels out", now.Add(2*time.Minute))
	if err != nil || !r2.ByInstructor {
		t.Fatalf("instructor's reply: %+v, %v", r2, err)
	}
	if _, err := lr.editReply(ctx, ana, th.ID, r1.ID, "x", now); status(err) != 403 {
		t.Fatalf("edit another's reply: %v", err)
	}
	if r, err := lr.editReply(ctx, ben, th.ID, r1.ID, "Good question!", now.Add(3*time.Minute)); err != nil || r.EditedAt == nil || r.Text != "Good question!" {
		t.Fatalf("edit own reply: %+v, %v", r, err)
	}
	if err := lr.deleteReply(ctx, ben, th.ID, r2.ID); status(err) != 403 {
		t.Fatalf("a student deletes the instructor's reply: %v", err)
	}
	got := findThread(t, lr, "ana", th.ID)
	if !got.Answered || len(got.Replies) != 2 || got.EditedAt == nil || got.Text != "Why no mass?" {
		t.Fatalf("thread: %+v", got)
	}
	for _, a := range []string{"pin", "resolve"} {
		if _, err := lr.moderate(ctx, th.ID, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := lr.deleteReply(ctx, prof, th.ID, r2.ID); err != nil {
		t.Fatal(err)
	}
	if got := findThread(t, lr, "ana", th.ID); got.Answered || !got.Pinned || !got.Resolved || len(got.Replies) != 1 {
		t.Fatalf("after the answer is deleted: %+v", got)
	}
	if err := lr.deleteThread(ctx, prof, th.ID); err != nil {
		t.Fatalf("a moderator deletes any thread: %v", err)
	}
	if _, err := lr.reply(ctx, ben, th.ID, "late", now); status(err) != 404 {
		t.Fatalf("reply to a deleted thread: %v", err)
	}
}

func findThread(t *testing.T, lr *lessonRecords, who, id string) Thread {
	t.Helper()
	list, err := lr.listThreads(context.Background(), who, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, th := range list.Threads {
		if th.ID == id {
			return th
		}
	}
	t.Fatalf("no thread %s in %+v", id, list)
	return Thread{}
}

func TestThreadsUnread(t *testing.T) {
	ctx := context.Background()
	lr := testRecords()
	t0 := time.Date(2025, 3, 2, 18, 0, 0, 0, time.UTC)
	post := func(g auth.Grant, at float64, min int) Thread {
		th, err := lr.postThread(ctx, g, at, "thread by "+g.Name, t0.Add(time.Duration(min)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return th
	}
	late := post(ben, 500, 0)
	early := post(ana, 20, 1)
	if _, err := lr.reply(ctx, prof, late.ID, "answer", t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Ana never visited: what others wrote is unread, her own thread is not.
	list, err := lr.listThreads(ctx, "ana", t0.Add(3*time.Minute))
	if err != nil || list.LastSeen != nil || list.Unread != 2 || len(list.Threads) != 2 {
		t.Fatalf("first visit: %+v, %v", list, err)
	}
	if list.Threads[0].ID != early.ID || list.Threads[0].Unread || !list.Threads[1].Unread || !list.Threads[1].Replies[0].Unread {
		t.Fatalf("order by moment, unread marks: %+v", list.Threads)
	}
	// She marks seen what the list showed (its "now"); a reply after that is the only unread one.
	if _, err := lr.markSeen(ctx, "ana", list.Now, t0.Add(4*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := lr.reply(ctx, ben, early.ID, "me too", t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	list, err = lr.listThreads(ctx, "ana", t0.Add(6*time.Minute))
	if err != nil || list.Unread != 1 || list.LastSeen == nil || !list.LastSeen.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("second visit: %+v, %v", list, err)
	}
	if !list.Threads[0].Replies[0].Unread || list.Threads[1].Unread || list.Threads[1].Replies[0].Unread {
		t.Fatalf("unread after seen: %+v", list.Threads)
	}
	// The last visit never goes back, nor past the server's clock.
	if seen, _ := lr.markSeen(ctx, "ana", t0, t0.Add(7*time.Minute)); !seen.Equal(t0.Add(3 * time.Minute)) {
		t.Fatalf("seen went back to %v", seen)
	}
	if seen, _ := lr.markSeen(ctx, "ana", t0.Add(time.Hour), t0.Add(7*time.Minute)); !seen.Equal(t0.Add(7 * time.Minute)) {
		t.Fatalf("seen went past now: %v", seen)
	}
}

func TestPromoteChat(t *testing.T) {
	ctx := context.Background()
	objects, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	lr := testRecords()
	now := time.Now()
	svc := New(Config{Objects: objects})
	putTimeline(t, objects, lr.lesson.ID, []timelineChat{
		{t: 12.5, msg: rooms.ChatMessage{ID: "c-1", FromIdentity: "ben", FromName: "Ben", FromRole: rooms.RoleStudent, Text: "Is the exam open-book?"}},
		{t: 30, msg: rooms.ChatMessage{ID: "c-2", FromIdentity: "ben", FromName: "Ben", FromRole: rooms.RoleStudent, Text: "psst", To: rooms.ChatToInstructors}},
		{t: 40, msg: rooms.ChatMessage{ID: "c-3", FromIdentity: "eve", FromName: "Eve", FromRole: rooms.RoleStudent, Text: "spam"}},
		{t: 41, deleted: "c-3"},
	})
	th, err := lr.promoteChat(ctx, svc.readTimeline, "c-1", now)
	if err != nil || !th.FromChat || th.ChatID != "c-1" || th.At != 12.5 || th.Author.Name != "Ben" || th.Text != "Is the exam open-book?" {
		t.Fatalf("promote: %+v, %v", th, err)
	}
	for _, tc := range []struct {
		id   string
		want int
	}{{"c-1", 409}, {"c-2", 400}, {"c-3", 400}, {"c-404", 404}, {"", 400}} {
		if _, err := lr.promoteChat(ctx, svc.readTimeline, tc.id, now); status(err) != tc.want {
			t.Errorf("promote %q: %v, want %d", tc.id, err, tc.want)
		}
	}
	other := testRecords()
	other.lesson.ID = "math-2"
	if _, err := other.promoteChat(ctx, svc.readTimeline, "c-1", now); status(err) != 404 {
		t.Errorf("a lesson without a timeline: %v", err)
	}
}

type timelineChat struct {
	t       float64
	msg     rooms.ChatMessage
	deleted string
}

// putTimeline stores a timeline.json with these chat events for lesson, as the recorder writes it.
func putTimeline(t *testing.T, objects storage.Store, lesson string, chats []timelineChat) {
	t.Helper()
	tl := recorder.TimelineDoc{Lesson: lesson, Room: "math", Duration: recorder.Seconds(600 * time.Second)}
	tl.Events = append(tl.Events, recorder.TimelineEvent{Type: recorder.EventRecordingStarted})
	for _, c := range chats {
		ev := rooms.Event{Room: "math", Type: rooms.EventChat}
		if c.deleted != "" {
			ev.Type, ev.ChatID = rooms.EventChatDeleted, c.deleted
		} else {
			m := c.msg
			ev.Chat = &m
		}
		raw, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		tl.Events = append(tl.Events, recorder.TimelineEvent{T: recorder.Seconds(time.Duration(c.t * float64(time.Second))), Type: string(ev.Type), Data: raw})
	}
	raw, err := json.Marshal(tl)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "timeline.json")
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := objects.Put(context.Background(), recorder.Prefix(lesson)+"timeline.json", p, "application/json"); err != nil {
		t.Fatal(err)
	}
}
