package storetest

// The suite's tests of chat: posting, history, deletion, and how much is kept.

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/rooms"
)

// chatLine is a message from participant p (as person() makes them) with text and time derived from i.
func chatLine(id string, from rooms.Participant, i int) rooms.ChatMessage {
	return rooms.ChatMessage{
		ID: id, From: from.ID, FromName: from.Name, FromRole: from.Role,
		Text: fmt.Sprint("message ", i, " from ", from.ID), At: t0.Add(time.Duration(i) * time.Second),
	}
}

// normChat makes messages comparable with reflect.DeepEqual: times in UTC without monotonic clock
// readings (a store may keep the caller's zone or hand back UTC), and nil equal to empty.
func normChat(ms ...rooms.ChatMessage) []rooms.ChatMessage {
	out := make([]rooms.ChatMessage, 0, len(ms))
	for _, m := range ms {
		m.At = m.At.UTC().Round(0)
		out = append(out, m)
	}
	return out
}

func sameChat(t *testing.T, what string, got, want []rooms.ChatMessage) {
	t.Helper()
	if g, w := normChat(got...), normChat(want...); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got %#v\nwant %#v", what, g, w) // %#v: quoted, so odd characters show as escapes
	}
}

func history(t *testing.T, s rooms.Store, room string, n int) []rooms.ChatMessage {
	t.Helper()
	msgs, err := s.ChatHistory(testCtx(t), room, n)
	if err != nil {
		t.Fatalf("chat history of %s: %v", room, err)
	}
	return msgs
}

// trickyName and trickyText need escaping in JSON, and stores may re-encode what they keep.
const (
	trickyName = `Zoë "<b>&</b>" / 日本 \ é 🎓`
	trickyText = "multi\nline\ttext, \u2028, a NUL \x00 and " + trickyName
)

// deleted is m as history shows it after deletion.
func deleted(m rooms.ChatMessage) rooms.ChatMessage {
	m.Text, m.Deleted = "", true
	return m
}

func testChatHistory(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	if got := history(t, s, "never", 10); got == nil || len(got) != 0 {
		t.Fatalf("history of a room never used = %#v, want an empty, non-nil slice", got)
	}
	a, b := person("a", "alice", t0), person("b", "bob", t0)
	b.Role = rooms.RoleInstructor
	mustJoin(t, s, "r", a)
	mustJoin(t, s, "r", b)
	sub := subscribe(t, s, "r")

	private := chatLine("m3", a, 3)
	private.To = rooms.ChatToInstructors
	tricky := chatLine("m4", b, 4)
	tricky.FromName, tricky.Text = trickyName, trickyText
	tricky.At = t0.In(time.FixedZone("CET", 3600)) // a store may hand it back in UTC
	msgs := []rooms.ChatMessage{chatLine("m1", a, 1), chatLine("m2", b, 2), private, tricky, chatLine("m5", a, 5)}
	for i, m := range msgs {
		must(t, s.PostChat(ctx, "r", m))
		expect(t, next(t, sub), rooms.Event{Room: "r", Seq: uint64(3 + i), Type: rooms.EventChat, Chat: &m})
	}
	if snap := snapshot(t, s, "r"); snap.Seq != 7 {
		t.Fatalf("snapshot Seq %d after 2 joins and 5 messages, want 7", snap.Seq)
	}
	for _, tc := range []struct {
		n    int
		want []rooms.ChatMessage
	}{
		{len(msgs), msgs},
		{100, msgs},
		{3, msgs[2:]},
		{1, msgs[4:]},
		{0, nil},
		{-1, nil},
	} {
		got := history(t, s, "r", tc.n)
		if got == nil {
			t.Fatalf("ChatHistory(%d) = nil, want an empty slice rather", tc.n)
		}
		sameChat(t, fmt.Sprintf("ChatHistory(%d)", tc.n), got, tc.want)
	}
	// The store must not share memory with its callers.
	got := history(t, s, "r", 1)
	got[0].Text = "changed"
	if again := history(t, s, "r", 1); again[0].Text != msgs[4].Text {
		t.Fatalf("changing a returned message changed the store: %+v", again[0])
	}
}

func testChatSenderNotInRoom(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	a := person("a", "alice", t0)
	mustJoin(t, s, "r", a)
	mustJoin(t, s, "other", person("o", "olga", t0))
	must(t, s.Leave(ctx, "r", "a", rooms.ReasonLeft))
	for _, tc := range []struct{ what, room, from string }{
		{"unknown sender", "r", "zed"},
		{"sender who left", "r", "a"},
		{"sender in another room", "r", "o"},
		{"unknown room", "nowhere", "a"},
	} {
		m := chatLine("m-"+tc.from, person(tc.from, "x", t0), 1)
		if err := s.PostChat(ctx, tc.room, m); !errors.Is(err, rooms.ErrNotFound) {
			t.Errorf("PostChat, %s: err = %v, want ErrNotFound", tc.what, err)
		}
	}
	if snap := snapshot(t, s, "r"); snap.Seq != 2 {
		t.Fatalf("failed posts moved Seq to %d", snap.Seq)
	}
	if got := history(t, s, "r", 10); len(got) != 0 {
		t.Fatalf("failed posts were kept: %+v", got)
	}
}

func testChatDuplicateID(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	a, b := person("a", "alice", t0), person("b", "bob", t0)
	mustJoin(t, s, "r", a)
	mustJoin(t, s, "r", b)
	first := chatLine("m1", a, 1)
	must(t, s.PostChat(ctx, "r", first))
	for _, tc := range []struct {
		what string
		m    rooms.ChatMessage
	}{
		{"same message again", first},
		{"same ID, other sender and text", chatLine("m1", b, 2)},
		{"empty ID", chatLine("", a, 3)},
	} {
		if err := s.PostChat(ctx, "r", tc.m); err == nil || errors.Is(err, rooms.ErrNotFound) {
			t.Errorf("PostChat, %s: err = %v, want an error other than ErrNotFound", tc.what, err)
		}
	}
	if snap := snapshot(t, s, "r"); snap.Seq != 3 {
		t.Fatalf("rejected posts moved Seq to %d", snap.Seq)
	}
	sameChat(t, "history after rejected posts", history(t, s, "r", 10), []rooms.ChatMessage{first})
	// The same ID in another room is another message.
	mustJoin(t, s, "other", a)
	must(t, s.PostChat(ctx, "other", first))
}

func testChatDelete(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	a, b := person("a", "alice", t0), person("b", "bob", t0)
	b.Role = rooms.RoleInstructor
	mustJoin(t, s, "r", a)
	mustJoin(t, s, "r", b)
	// Deletion rewrites the kept message: every other field must come through, even odd ones.
	m2 := chatLine(`m2 "ü/\`, a, 2)
	m2.To, m2.FromName, m2.Text = rooms.ChatToInstructors, trickyName, trickyText
	msgs := []rooms.ChatMessage{chatLine("m1", a, 1), m2, chatLine("m3", b, 3)}
	for _, m := range msgs {
		must(t, s.PostChat(ctx, "r", m))
	}
	sub := subscribe(t, s, "r")
	seq := uint64(5)

	must(t, s.DeleteChat(ctx, "r", m2.ID, "b"))
	seq++
	expect(t, next(t, sub), rooms.Event{Room: "r", Seq: seq, Type: rooms.EventChatDeleted, ChatID: m2.ID, By: "b"})
	want := []rooms.ChatMessage{msgs[0], deleted(m2), msgs[2]}
	sameChat(t, "history after a delete", history(t, s, "r", 10), want)

	// Deleting again, or deleting what is not there, emits nothing: the next event is the next post.
	must(t, s.DeleteChat(ctx, "r", m2.ID, "a"))
	for _, tc := range []struct{ what, room, id string }{
		{"unknown message", "r", "nope"},
		{"unknown room", "nowhere", "m1"},
		{"message of another room", "elsewhere", "m1"},
	} {
		if err := s.DeleteChat(ctx, tc.room, tc.id, "b"); !errors.Is(err, rooms.ErrNotFound) {
			t.Errorf("DeleteChat, %s: err = %v, want ErrNotFound", tc.what, err)
		}
	}
	if snap := snapshot(t, s, "r"); snap.Seq != seq {
		t.Fatalf("repeated and failed deletes moved Seq from %d to %d", seq, snap.Seq)
	}
	m4 := chatLine("m4", a, 4)
	must(t, s.PostChat(ctx, "r", m4))
	seq++
	expect(t, next(t, sub), rooms.Event{Room: "r", Seq: seq, Type: rooms.EventChat, Chat: &m4})

	// Deleting the newest and the oldest works the same.
	must(t, s.DeleteChat(ctx, "r", "m4", "b"))
	must(t, s.DeleteChat(ctx, "r", "m1", "b"))
	for _, id := range []string{"m4", "m1"} {
		seq++
		expect(t, next(t, sub), rooms.Event{Room: "r", Seq: seq, Type: rooms.EventChatDeleted, ChatID: id, By: "b"})
	}
	want = []rooms.ChatMessage{deleted(msgs[0]), deleted(m2), msgs[2], deleted(m4)}
	sameChat(t, "history after more deletes", history(t, s, "r", 10), want)
}

func testChatSurvivesEmptyRoom(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	a, b := person("a", "alice", t0), person("b", "bob", t0)
	mustJoin(t, s, "r", a)
	mustJoin(t, s, "r", b)
	msgs := []rooms.ChatMessage{chatLine("m1", a, 1), chatLine("m2", b, 2), chatLine("m3", a, 3)}
	for _, m := range msgs {
		must(t, s.PostChat(ctx, "r", m))
	}
	must(t, s.Leave(ctx, "r", "a", rooms.ReasonLeft))
	must(t, s.Leave(ctx, "r", "b", rooms.ReasonTimeout))
	if snap := snapshot(t, s, "r"); len(snap.Participants) != 0 || snap.Seq != 7 {
		t.Fatalf("room not empty: %+v", snap)
	}
	sameChat(t, "history of the emptied room", history(t, s, "r", 10), msgs)
	// The lesson timeline may still be edited after the class.
	sub := subscribe(t, s, "r")
	must(t, s.DeleteChat(ctx, "r", "m2", "b"))
	expect(t, next(t, sub), rooms.Event{Room: "r", Seq: 8, Type: rooms.EventChatDeleted, ChatID: "m2", By: "b"})
	// Coming back, the class continues the same history.
	mustJoin(t, s, "r", a)
	must(t, s.PostChat(ctx, "r", chatLine("m4", a, 4)))
	got := history(t, s, "r", 10)
	if len(got) != 4 || got[1].Text != "" || !got[1].Deleted || got[3].ID != "m4" {
		t.Fatalf("history after the class came back: %+v", got)
	}
}

// testChatTrim writes the real MaxChatKept messages plus a few. Most are posted concurrently, which
// also shows that concurrent posts lose nothing.
func testChatTrim(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	const writers = 8
	start := time.Now()
	a := person("a", "alice", t0)
	mustJoin(t, s, "r", a)
	must(t, s.PostChat(ctx, "r", chatLine("first", a, 0)))
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := w; i < rooms.MaxChatKept; i += writers {
				if err := s.PostChat(ctx, "r", chatLine(fmt.Sprint("m", i), a, i+1)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := history(t, s, "r", rooms.MaxChatKept+100)
	if len(got) != rooms.MaxChatKept {
		t.Fatalf("history holds %d messages after %d posts, want MaxChatKept = %d", len(got), rooms.MaxChatKept+1, rooms.MaxChatKept)
	}
	seen := make(map[string]bool, len(got))
	for _, m := range got {
		if seen[m.ID] || m.ID == "first" {
			t.Fatalf("history holds %q twice, or the oldest message that should have been trimmed", m.ID)
		}
		seen[m.ID] = true
	}
	if err := s.DeleteChat(ctx, "r", "first", "a"); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("DeleteChat of a trimmed message: err = %v, want ErrNotFound", err)
	}

	// One more post pushes out the oldest kept message; the index still finds the others.
	last := chatLine("last", a, rooms.MaxChatKept+1)
	must(t, s.PostChat(ctx, "r", last))
	after := history(t, s, "r", rooms.MaxChatKept+100)
	if len(after) != rooms.MaxChatKept || after[0].ID != got[1].ID || after[len(after)-1].ID != "last" {
		t.Fatalf("after one more post: %d messages from %q to %q; want %d from %q to \"last\"",
			len(after), after[0].ID, after[len(after)-1].ID, rooms.MaxChatKept, got[1].ID)
	}
	if !slices.EqualFunc(after[:len(after)-1], got[1:], func(x, y rooms.ChatMessage) bool { return x.ID == y.ID }) {
		t.Fatal("trimming reordered the kept messages")
	}
	if err := s.DeleteChat(ctx, "r", got[0].ID, "a"); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("DeleteChat of the message just trimmed: err = %v, want ErrNotFound", err)
	}
	for _, id := range []string{got[1].ID, got[len(got)/2].ID, "last"} {
		must(t, s.DeleteChat(ctx, "r", id, "a"))
	}
	final := history(t, s, "r", rooms.MaxChatKept)
	for _, i := range []int{0, len(got)/2 - 1, len(final) - 1} {
		if m := final[i]; !m.Deleted || m.Text != "" {
			t.Fatalf("message %d (%s) not deleted: %+v", i, m.ID, m)
		}
	}
	if m := final[1]; m.Deleted || m.ID != got[2].ID {
		t.Fatalf("message 1 = %+v, want %s untouched", m, got[2].ID)
	}
	if snap := snapshot(t, s, "r"); snap.Seq != uint64(1+1+rooms.MaxChatKept+1+3) {
		t.Fatalf("Seq %d after join, %d posts and 3 deletes", snap.Seq, rooms.MaxChatKept+2)
	}
	t.Logf("%d posts, 3 deletes and 4 histories in %v", rooms.MaxChatKept+2, time.Since(start))
}
