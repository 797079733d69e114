// Package storetest is the conformance suite every rooms.Store implementation must pass.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/rooms"
)

// wait bounds every wait for an event or for a subscription to end.
const wait = 5 * time.Second

// lagEvents is enough events to overflow a subscriber's buffer (1024) with room to spare.
const lagEvents = 1200

// Run runs the suite. newStore must return a fresh, empty store and close it when the test ends
// (t.Cleanup); the suite also closes some stores itself, so Close must be idempotent.
func Run(t *testing.T, newStore func(t *testing.T) rooms.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s rooms.Store)
	}{
		{"JoinSnapshotRoundTrip", testJoinSnapshot},
		{"JoinValidation", testJoinValidation},
		{"EventsInSeqOrder", testEventOrder},
		{"JoinReplacesSameIdentity", testJoinReplaces},
		{"JoinIDConflict", testJoinConflict},
		{"Leave", testLeave},
		{"PublishTrack", testPublishTrack},
		{"TrackNotFound", testTrackNotFound},
		{"MuteWithoutChange", testMuteNoChange},
		{"SeqSurvivesEmptyRoom", testSeqSurvivesEmptyRoom},
		{"SnapshotIsACopy", testSnapshotCopy},
		{"RoomsIsolated", testRoomsIsolated},
		{"SubscribeThenSnapshotUnderConcurrentJoins", testNoGap},
		{"SubscriptionClose", testSubscriptionClose},
		{"StoreClose", testStoreClose},
		{"SlowConsumerLags", testLag},
		{"ContextEndsSubscription", testContextCancel},
		{"ChatPostAndHistory", testChatHistory},
		{"ChatSenderNotInRoom", testChatSenderNotInRoom},
		{"ChatDuplicateID", testChatDuplicateID},
		{"ChatDelete", testChatDelete},
		{"ChatSurvivesEmptyRoom", testChatSurvivesEmptyRoom},
		{"ChatTrimmedToMaxChatKept", testChatTrim},
		{"HandsQueue", testHandsQueue},
		{"HandsLeave", testHandsLeave},
		{"HandNotInRoom", testHandNotInRoom},
		{"HandsConcurrentRaises", testHandsConcurrent},
		{"HandsSubscribeThenSnapshot", testHandsNoGap},
		{"EmptyListsEncodeAsArrays", testEmptyLists},
		{"Polls", testPolls}, // polls.go
	}
	tests = append(tests, breakoutTests...)
	tests = append(tests, moderationTests...)
	tests = append(tests, recordingTests...)
	tests = append(tests, handHoldTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 123456789, time.UTC)

func person(id, identity string, joinedAt time.Time) rooms.Participant {
	return rooms.Participant{
		ID: id, Identity: identity, Name: "Name of " + identity, Role: rooms.RoleStudent,
		Node: "node-" + id, JoinedAt: joinedAt,
	}
}

var (
	cam = rooms.Track{ID: "cam", Source: rooms.SourceCamera}
	mic = rooms.Track{ID: "mic", Source: rooms.SourceMicrophone, Muted: true}
)

// norm makes participants comparable with reflect.DeepEqual: times in UTC without monotonic clock
// readings, and a nil track list equal to an empty one.
func norm(ps ...rooms.Participant) []rooms.Participant {
	out := make([]rooms.Participant, 0, len(ps))
	for _, p := range ps {
		p.JoinedAt = p.JoinedAt.UTC()
		p.Tracks = append([]rooms.Track{}, p.Tracks...)
		out = append(out, p)
	}
	return out
}

func sameParticipants(t *testing.T, what string, got, want []rooms.Participant) {
	t.Helper()
	if g, w := norm(got...), norm(want...); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func mustJoin(t *testing.T, s rooms.Store, room string, p rooms.Participant) rooms.Snapshot {
	t.Helper()
	snap, _, err := s.Join(testCtx(t), room, p)
	if err != nil {
		t.Fatalf("join %s to %s: %v", p.ID, room, err)
	}
	return snap
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func snapshot(t *testing.T, s rooms.Store, room string) rooms.Snapshot {
	t.Helper()
	snap, err := s.Snapshot(testCtx(t), room)
	if err != nil {
		t.Fatalf("snapshot %s: %v", room, err)
	}
	return snap
}

func subscribe(t *testing.T, s rooms.Store, room string) *rooms.Subscription {
	t.Helper()
	sub, err := s.Subscribe(testCtx(t), room)
	if err != nil {
		t.Fatalf("subscribe %s: %v", room, err)
	}
	t.Cleanup(sub.Close)
	return sub
}

// next returns the next event, failing if none comes within wait or the subscription ends.
func next(t *testing.T, sub *rooms.Subscription) rooms.Event {
	t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case ev, ok := <-sub.C:
		if !ok {
			t.Fatalf("subscription ended while an event was expected: %v", sub.Err())
		}
		return ev
	case <-timer.C:
		t.Fatalf("no event within %v", wait)
	}
	return rooms.Event{}
}

// ended drains sub until C is closed and returns the events read and Err.
func ended(t *testing.T, sub *rooms.Subscription) ([]rooms.Event, error) {
	t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var evs []rooms.Event
	for {
		select {
		case ev, ok := <-sub.C:
			if !ok {
				return evs, sub.Err()
			}
			evs = append(evs, ev)
		case <-timer.C:
			t.Fatalf("subscription not ended within %v (read %d events)", wait, len(evs))
		}
	}
}

// expect checks an event against want; At must be set, Participant is compared with norm and Chat
// with normChat.
func expect(t *testing.T, got, want rooms.Event) {
	t.Helper()
	if got.At.IsZero() || time.Since(got.At) > time.Minute || time.Until(got.At) > time.Minute {
		t.Errorf("event %d: At = %v, want about now", got.Seq, got.At)
	}
	if (got.Participant == nil) != (want.Participant == nil) {
		t.Fatalf("event %d: participant = %+v, want %+v", got.Seq, got.Participant, want.Participant)
	}
	if want.Participant != nil {
		sameParticipants(t, fmt.Sprintf("event %d participant", got.Seq), norm(*got.Participant), norm(*want.Participant))
	}
	if (got.Chat == nil) != (want.Chat == nil) {
		t.Fatalf("event %d: chat = %+v, want %+v", got.Seq, got.Chat, want.Chat)
	}
	if want.Chat != nil {
		sameChat(t, fmt.Sprintf("event %d chat", got.Seq), []rooms.ChatMessage{*got.Chat}, []rooms.ChatMessage{*want.Chat})
	}
	got.At, got.Participant, want.Participant, got.Chat, want.Chat = time.Time{}, nil, nil, nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("event:\n got %+v\nwant %+v", got, want)
	}
}

func testJoinSnapshot(t *testing.T, s rooms.Store) {
	empty := snapshot(t, s, "math")
	if empty.Room != "math" || empty.Seq != 0 || len(empty.Participants) != 0 {
		t.Fatalf("never-joined room: %+v, want empty with Seq 0", empty)
	}
	// Joined out of order, with a JoinedAt tie broken by ID.
	c := person("c", "carol", t0.Add(2*time.Second))
	c.Role, c.Tracks = rooms.RoleInstructor, []rooms.Track{cam, mic}
	b := person("b", "bob", t0)
	a := person("a", "alice", t0.In(time.FixedZone("CET", 3600)))
	mustJoin(t, s, "math", c)
	mustJoin(t, s, "math", b)
	joined := mustJoin(t, s, "math", a)
	got := snapshot(t, s, "math")
	if got.Room != "math" || got.Seq != 3 {
		t.Fatalf("snapshot room %q seq %d, want math 3", got.Room, got.Seq)
	}
	sameParticipants(t, "snapshot", got.Participants, []rooms.Participant{a, b, c})
	if joined.Seq != got.Seq {
		t.Fatalf("Join returned Seq %d, Snapshot %d", joined.Seq, got.Seq)
	}
	sameParticipants(t, "snapshot returned by Join", joined.Participants, got.Participants)
}

func testJoinValidation(t *testing.T, s rooms.Store) {
	for _, p := range []rooms.Participant{person("", "u", t0), person("p", "", t0)} {
		if _, _, err := s.Join(testCtx(t), "r", p); err == nil {
			t.Errorf("Join(%+v) succeeded, want an error", p)
		}
	}
	if snap := snapshot(t, s, "r"); snap.Seq != 0 || len(snap.Participants) != 0 {
		t.Fatalf("invalid joins changed the room: %+v", snap)
	}
}

func testEventOrder(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	sub := subscribe(t, s, "r")
	a, b := person("a", "alice", t0), person("b", "bob", t0)
	steps := []struct {
		do   func() error
		want rooms.Event
	}{
		{func() error { _, _, err := s.Join(ctx, "r", a); return err },
			rooms.Event{Type: rooms.EventParticipantJoined, Participant: &a}},
		{func() error { _, _, err := s.Join(ctx, "r", b); return err },
			rooms.Event{Type: rooms.EventParticipantJoined, Participant: &b}},
		{func() error { return s.PublishTrack(ctx, "r", "a", cam) },
			rooms.Event{Type: rooms.EventTrackPublished, ParticipantID: "a", Track: &cam}},
		{func() error { return s.PublishTrack(ctx, "r", "a", mic) },
			rooms.Event{Type: rooms.EventTrackPublished, ParticipantID: "a", Track: &mic}},
		{func() error { return s.SetTrackMuted(ctx, "r", "a", "cam", true) },
			rooms.Event{Type: rooms.EventTrackUpdated, ParticipantID: "a", Track: &rooms.Track{ID: "cam", Source: rooms.SourceCamera, Muted: true}}},
		{func() error { return s.UnpublishTrack(ctx, "r", "a", "mic") },
			rooms.Event{Type: rooms.EventTrackUnpublished, ParticipantID: "a", Track: &rooms.Track{ID: "mic", Source: rooms.SourceMicrophone}}},
		{func() error { return s.Leave(ctx, "r", "b", rooms.ReasonTimeout) },
			rooms.Event{Type: rooms.EventParticipantLeft, ParticipantID: "b", Reason: rooms.ReasonTimeout}},
	}
	for i, st := range steps {
		must(t, st.do())
		st.want.Room, st.want.Seq = "r", uint64(i+1)
		expect(t, next(t, sub), st.want)
	}
	if snap := snapshot(t, s, "r"); snap.Seq != uint64(len(steps)) {
		t.Fatalf("snapshot Seq %d after %d events", snap.Seq, len(steps))
	}
}

func testJoinReplaces(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	first := person("p1", "alice", t0)
	mustJoin(t, s, "r", first)
	must(t, s.PublishTrack(ctx, "r", "p1", cam))
	first.Tracks = []rooms.Track{cam}
	sub := subscribe(t, s, "r")

	second := person("p2", "alice", t0.Add(time.Second))
	snap, replaced, err := s.Join(ctx, "r", second)
	must(t, err)
	if replaced == nil {
		t.Fatal("Join of the same identity returned no replaced participant")
	}
	sameParticipants(t, "replaced", []rooms.Participant{*replaced}, []rooms.Participant{first})
	expect(t, next(t, sub), rooms.Event{Room: "r", Seq: 3, Type: rooms.EventParticipantLeft, ParticipantID: "p1", Reason: rooms.ReasonReplaced})
	expect(t, next(t, sub), rooms.Event{Room: "r", Seq: 4, Type: rooms.EventParticipantJoined, Participant: &second})
	if snap.Seq != 4 {
		t.Fatalf("Join returned Seq %d, want 4", snap.Seq)
	}
	sameParticipants(t, "after replace", snap.Participants, []rooms.Participant{second})

	// The same session joining again (a reconnect) replaces itself.
	snap, replaced, err = s.Join(ctx, "r", second)
	must(t, err)
	if replaced == nil || replaced.ID != "p2" || snap.Seq != 6 || len(snap.Participants) != 1 {
		t.Fatalf("rejoin of p2: replaced %+v, snapshot %+v", replaced, snap)
	}
	expect(t, next(t, sub), rooms.Event{Room: "r", Seq: 5, Type: rooms.EventParticipantLeft, ParticipantID: "p2", Reason: rooms.ReasonReplaced})
	expect(t, next(t, sub), rooms.Event{Room: "r", Seq: 6, Type: rooms.EventParticipantJoined, Participant: &second})
}

func testJoinConflict(t *testing.T, s rooms.Store) {
	mustJoin(t, s, "r", person("p1", "alice", t0))
	_, _, err := s.Join(testCtx(t), "r", person("p1", "mallory", t0))
	if err == nil || errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("Join with another identity's participant ID: err = %v, want a conflict error", err)
	}
	snap := snapshot(t, s, "r")
	if snap.Seq != 1 || len(snap.Participants) != 1 || snap.Participants[0].Identity != "alice" {
		t.Fatalf("failed join changed the room: %+v", snap)
	}
}

func testLeave(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	mustJoin(t, s, "r", person("a", "alice", t0))
	mustJoin(t, s, "r", person("b", "bob", t0))
	must(t, s.PublishTrack(ctx, "r", "a", cam))
	must(t, s.PublishTrack(ctx, "r", "a", mic))
	must(t, s.Leave(ctx, "r", "a", rooms.ReasonLeft))
	snap := snapshot(t, s, "r")
	if len(snap.Participants) != 1 || snap.Participants[0].ID != "b" || snap.Seq != 5 {
		t.Fatalf("after leave: %+v", snap)
	}
	// Rejoining with the same ID starts without the old tracks.
	snap = mustJoin(t, s, "r", person("a", "alice", t0))
	if len(snap.Participants) != 2 || len(snap.Participants[0].Tracks) != 0 {
		t.Fatalf("rejoined participant kept tracks: %+v", snap.Participants)
	}
	for _, tc := range []struct{ name, room, id string }{
		{"unknown participant", "r", "zed"},
		{"unknown room", "nowhere", "a"},
	} {
		if err := s.Leave(ctx, tc.room, tc.id, rooms.ReasonLeft); !errors.Is(err, rooms.ErrNotFound) {
			t.Errorf("Leave %s: err = %v, want ErrNotFound", tc.name, err)
		}
	}
	must(t, s.Leave(ctx, "r", "a", rooms.ReasonLeft))
	if err := s.Leave(ctx, "r", "a", rooms.ReasonLeft); !errors.Is(err, rooms.ErrNotFound) {
		t.Errorf("second Leave: err = %v, want ErrNotFound", err)
	}
}

func testPublishTrack(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	mustJoin(t, s, "r", person("a", "alice", t0))
	must(t, s.PublishTrack(ctx, "r", "a", cam))
	must(t, s.PublishTrack(ctx, "r", "a", mic))
	sub := subscribe(t, s, "r")
	// Same ID: replaced in place, not added.
	screen := rooms.Track{ID: "cam", Source: rooms.SourceScreen, Muted: true}
	must(t, s.PublishTrack(ctx, "r", "a", screen))
	expect(t, next(t, sub), rooms.Event{Room: "r", Seq: 4, Type: rooms.EventTrackPublished, ParticipantID: "a", Track: &screen})
	snap := snapshot(t, s, "r")
	if got, want := snap.Participants[0].Tracks, []rooms.Track{screen, mic}; !reflect.DeepEqual(got, want) {
		t.Fatalf("tracks = %+v, want %+v", got, want)
	}
	if err := s.PublishTrack(ctx, "r", "zed", cam); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("PublishTrack for an unknown participant: err = %v, want ErrNotFound", err)
	}
	if snap := snapshot(t, s, "r"); snap.Seq != 4 {
		t.Fatalf("failed PublishTrack moved Seq to %d", snap.Seq)
	}
}

func testTrackNotFound(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	mustJoin(t, s, "r", person("a", "alice", t0))
	must(t, s.PublishTrack(ctx, "r", "a", cam))
	ops := map[string]func(room, pid, tid string) error{
		"UnpublishTrack": func(room, pid, tid string) error { return s.UnpublishTrack(ctx, room, pid, tid) },
		"SetTrackMuted":  func(room, pid, tid string) error { return s.SetTrackMuted(ctx, room, pid, tid, true) },
	}
	for name, op := range ops {
		for _, tc := range []struct{ what, room, pid, tid string }{
			{"unknown participant", "r", "zed", "cam"},
			{"unknown track", "r", "a", "nope"},
			{"unknown room", "nowhere", "a", "cam"},
		} {
			if err := op(tc.room, tc.pid, tc.tid); !errors.Is(err, rooms.ErrNotFound) {
				t.Errorf("%s, %s: err = %v, want ErrNotFound", name, tc.what, err)
			}
		}
	}
	if snap := snapshot(t, s, "r"); snap.Seq != 2 || !reflect.DeepEqual(snap.Participants[0].Tracks, []rooms.Track{cam}) {
		t.Fatalf("failed operations changed the room: %+v", snap)
	}
}

func testMuteNoChange(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	mustJoin(t, s, "r", person("a", "alice", t0))
	must(t, s.PublishTrack(ctx, "r", "a", cam))
	sub := subscribe(t, s, "r")
	must(t, s.SetTrackMuted(ctx, "r", "a", "cam", false)) // already unmuted: no event
	if snap := snapshot(t, s, "r"); snap.Seq != 2 {
		t.Fatalf("no-op mute moved Seq to %d", snap.Seq)
	}
	must(t, s.SetTrackMuted(ctx, "r", "a", "cam", true))
	// Had the no-op emitted, it would come first with Seq 3.
	expect(t, next(t, sub), rooms.Event{Room: "r", Seq: 3, Type: rooms.EventTrackUpdated, ParticipantID: "a",
		Track: &rooms.Track{ID: "cam", Source: rooms.SourceCamera, Muted: true}})
	if snap := snapshot(t, s, "r"); !snap.Participants[0].Tracks[0].Muted {
		t.Fatal("track not muted in snapshot")
	}
}

func testSeqSurvivesEmptyRoom(t *testing.T, s rooms.Store) {
	mustJoin(t, s, "r", person("a", "alice", t0))
	must(t, s.Leave(testCtx(t), "r", "a", rooms.ReasonLeft))
	sub := subscribe(t, s, "r")
	if snap := mustJoin(t, s, "r", person("a", "alice", t0)); snap.Seq != 3 {
		t.Fatalf("Seq after the room emptied = %d, want 3", snap.Seq)
	}
	if ev := next(t, sub); ev.Seq != 3 {
		t.Fatalf("event Seq %d, want 3", ev.Seq)
	}
}

func testSnapshotCopy(t *testing.T, s rooms.Store) {
	p := person("a", "alice", t0)
	p.Tracks = []rooms.Track{cam}
	snap := mustJoin(t, s, "r", p)
	p.Tracks[0].Muted = true
	snap.Participants[0].Tracks[0].ID = "changed"
	if got := snapshot(t, s, "r").Participants[0].Tracks; !reflect.DeepEqual(got, []rooms.Track{cam}) {
		t.Fatalf("store shares memory with its callers: tracks now %+v", got)
	}
}
