package storetest

// The suite's tests of roles, room settings and moderation (lobby.go: the lobby; attendance.go:
// attendance).

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/rooms"
)

type storeTest = struct {
	name string
	fn   func(t *testing.T, s rooms.Store)
}

var moderationTests = []storeTest{
	{"SettingsDefaults", testSettingsDefaults},
	{"UpdateSettings", testUpdateSettings},
	{"SpotlightClearsWhenItsParticipantLeaves", testSpotlightClears},
	{"SetRole", testSetRole},
	{"MuteByModerator", testMuteByModerator},
	{"MuteAllStudents", testMuteAll},
	{"ReleaseMute", testReleaseMute},
	{"Remove", testRemove},
	{"EnterPolicy", testEnterPolicy},
	{"EnterKeepsPromotionOnReload", testEnterKeepsPromotion},
	{"Lobby", testLobby},
	{"LobbyAdmitFirst", testAdmitFirst},
	{"LobbyOffAdmitsEveryone", testLobbyOffAdmitsAll},
	{"LobbyConcurrentEnterAndAdmit", testLobbyConcurrent},
	{"LobbyLockAndRemoval", testLobbyLockAndRemoval},
	{"Attendance", testAttendance},
	{"AttendanceOfBreakoutRooms", testAttendanceBreakouts},
	{"AttendanceOfTheLobby", testAttendanceLobby},
}

// member is a participant of role role.
func member(id, identity string, role rooms.Role) rooms.Participant {
	p := person(id, identity, t0)
	p.Role = role
	return p
}

// class joins an instructor "prof", a co-instructor "ta" and the given students to room r.
func class(t *testing.T, s rooms.Store, students ...string) (prof, ta rooms.Participant) {
	t.Helper()
	prof, ta = member("prof", "u-prof", rooms.RoleInstructor), member("ta", "u-ta", rooms.RoleCoInstructor)
	mustJoin(t, s, "r", prof)
	mustJoin(t, s, "r", ta)
	for _, id := range students {
		mustJoin(t, s, "r", person(id, "u-"+id, t0))
	}
	return prof, ta
}

// recorder follows a room's events, checking that their Seq has no gap.
type recorder struct {
	t    *testing.T
	s    rooms.Store
	sub  *rooms.Subscription
	room string
	seq  uint64
}

// follow subscribes to room; nothing else may change the room concurrently.
func follow(t *testing.T, s rooms.Store, room string) *recorder {
	t.Helper()
	sub := subscribe(t, s, room)
	return &recorder{t: t, s: s, sub: sub, room: room, seq: snapshot(t, s, room).Seq}
}

func (r *recorder) next() rooms.Event {
	r.t.Helper()
	ev := next(r.t, r.sub)
	if ev.Seq != r.seq+1 {
		r.t.Fatalf("event %s with Seq %d, want Seq %d", ev.Type, ev.Seq, r.seq+1)
	}
	r.seq = ev.Seq
	return ev
}

// want checks the next event against ev (Room and Seq are filled in).
func (r *recorder) want(ev rooms.Event) rooms.Event {
	r.t.Helper()
	got := r.next()
	ev.Room, ev.Seq = r.room, got.Seq
	expect(r.t, got, ev)
	return got
}

// settled checks that no event beyond those read was emitted.
func (r *recorder) settled(what string) {
	r.t.Helper()
	if snap := snapshot(r.t, r.s, r.room); snap.Seq != r.seq {
		r.t.Fatalf("%s: Seq is %d, want %d: an unexpected event was emitted", what, snap.Seq, r.seq)
	}
}

// failsWith checks that err wraps want and that the room did not change.
func (r *recorder) failsWith(what string, err, want error) {
	r.t.Helper()
	if want == nil && err == nil || want != nil && !errors.Is(err, want) {
		r.t.Fatalf("%s: err = %v, want %v", what, err, cmpOr(want, "an error"))
	}
	r.settled(what)
}

func cmpOr(err error, s string) any {
	if err == nil {
		return s
	}
	return err
}

// state is a snapshot as JSON, for checking that a failed change changed nothing.
func state(t *testing.T, s rooms.Store, room string) string {
	t.Helper()
	b, err := json.Marshal(snapshot(t, s, room))
	must(t, err)
	return string(b)
}

func find(ps []rooms.Participant, id string) *rooms.Participant {
	for i := range ps {
		if ps[i].ID == id {
			return &ps[i]
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func settingsEvent(st rooms.RoomSettings, by string) rooms.Event {
	return rooms.Event{Type: rooms.EventSettingsChanged, Settings: &st, By: by}
}

func testSettingsDefaults(t *testing.T, s rooms.Store) {
	snap := snapshot(t, s, "never")
	if !reflect.DeepEqual(snap.Settings, rooms.DefaultSettings()) {
		t.Fatalf("settings of a new room = %+v, want %+v", snap.Settings, rooms.DefaultSettings())
	}
	b, err := json.Marshal(snap)
	must(t, err)
	for _, field := range []string{`"lobby":[]`, `"removed":[]`, `"settings":{`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("JSON %s lacks %s", b, field)
		}
	}
}

func testUpdateSettings(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	prof, ta := class(t, s, "a")
	rec := follow(t, s, "r")
	before := state(t, s, "r")
	lock := rooms.SettingsChange{Locked: ptr(true)}
	rec.failsWith("student changes settings", s.UpdateSettings(ctx, "r", lock, "a"), rooms.ErrForbidden)
	rec.failsWith("outsider changes settings", s.UpdateSettings(ctx, "r", lock, "zed"), rooms.ErrForbidden)
	rec.failsWith("unknown lobby mode", s.UpdateSettings(ctx, "r", rooms.SettingsChange{Lobby: ptr(rooms.LobbyMode("maybe"))}, prof.ID), nil)
	rec.failsWith("spotlight on nobody", s.UpdateSettings(ctx, "r", rooms.SettingsChange{Spotlight: ptr("zed")}, prof.ID), rooms.ErrNotFound)
	if after := state(t, s, "r"); after != before {
		t.Fatalf("refused changes changed the room:\n%s\n%s", before, after)
	}

	want := rooms.DefaultSettings()
	want.Locked, want.StudentChat = true, false
	must(t, s.UpdateSettings(ctx, "r", rooms.SettingsChange{Locked: ptr(true), StudentChat: ptr(false)}, prof.ID))
	rec.want(settingsEvent(want, prof.ID))
	must(t, s.UpdateSettings(ctx, "r", rooms.SettingsChange{Locked: ptr(true)}, ta.ID))
	rec.settled("a change to the current value")

	want.Lobby, want.StudentsMayUnmute, want.StudentScreenShare, want.Spotlight = rooms.LobbyOfficeHours, false, false, "a"
	must(t, s.UpdateSettings(ctx, "r", rooms.SettingsChange{Lobby: ptr(rooms.LobbyOfficeHours), StudentsMayUnmute: ptr(false),
		StudentScreenShare: ptr(false), Spotlight: ptr("a")}, ta.ID))
	rec.want(settingsEvent(want, ta.ID))
	if got := snapshot(t, s, "r").Settings; got != want {
		t.Fatalf("snapshot settings = %+v, want %+v", got, want)
	}

	// Settings outlive the class: they are the room's.
	for _, id := range []string{"a", "prof", "ta"} {
		must(t, s.Leave(ctx, "r", id, rooms.ReasonLeft))
	}
	want.Spotlight = "" // a went out with a
	if got := snapshot(t, s, "r").Settings; got != want {
		t.Fatalf("settings after the room emptied = %+v, want %+v", got, want)
	}
}

func testSpotlightClears(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	prof, _ := class(t, s, "a", "b")
	must(t, s.UpdateSettings(ctx, "r", rooms.SettingsChange{Spotlight: ptr("a")}, prof.ID))
	rec := follow(t, s, "r")
	must(t, s.Leave(ctx, "r", "b", rooms.ReasonLeft))
	rec.want(rooms.Event{Type: rooms.EventParticipantLeft, ParticipantID: "b", Reason: rooms.ReasonLeft})
	rec.settled("someone else left")
	must(t, s.Leave(ctx, "r", "a", rooms.ReasonTimeout))
	rec.want(rooms.Event{Type: rooms.EventParticipantLeft, ParticipantID: "a", Reason: rooms.ReasonTimeout})
	rec.want(settingsEvent(rooms.DefaultSettings(), ""))

	// A new session of the same identity is another participant: the spotlight goes out too.
	must(t, s.UpdateSettings(ctx, "r", rooms.SettingsChange{Spotlight: ptr(prof.ID)}, prof.ID))
	st := rooms.DefaultSettings()
	st.Spotlight = prof.ID
	rec.want(settingsEvent(st, prof.ID))
	again := member("prof2", prof.Identity, rooms.RoleInstructor)
	mustJoin(t, s, "r", again)
	rec.want(rooms.Event{Type: rooms.EventParticipantLeft, ParticipantID: prof.ID, Reason: rooms.ReasonReplaced})
	rec.want(settingsEvent(rooms.DefaultSettings(), ""))
	rec.want(rooms.Event{Type: rooms.EventParticipantJoined, Participant: &again})
}

func testSetRole(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	prof, ta := class(t, s, "a", "b")
	prof2 := member("prof2", "u-prof2", rooms.RoleInstructor)
	mustJoin(t, s, "r", prof2)
	must(t, s.PublishTrack(ctx, "r", "a", cam))
	rec := follow(t, s, "r")
	before := state(t, s, "r")
	for _, tc := range []struct {
		what, target string
		role         rooms.Role
		by           string
		err          error
	}{
		{"student promotes", "b", rooms.RoleCoInstructor, "a", rooms.ErrForbidden},
		{"co-instructor promotes", "a", rooms.RoleCoInstructor, ta.ID, rooms.ErrForbidden},
		{"co-instructor demotes a co-instructor", ta.ID, rooms.RoleStudent, ta.ID, rooms.ErrForbidden},
		{"instructor demotes an instructor", prof2.ID, rooms.RoleStudent, prof.ID, rooms.ErrForbidden},
		{"outsider promotes", "a", rooms.RoleCoInstructor, "zed", rooms.ErrForbidden},
		{"unknown participant", "zed", rooms.RoleCoInstructor, prof.ID, rooms.ErrNotFound},
		{"making an instructor", "a", rooms.RoleInstructor, prof.ID, nil},
		{"an unknown role", "a", rooms.Role("dean"), prof.ID, nil},
	} {
		rec.failsWith(tc.what, s.SetRole(ctx, "r", tc.target, tc.role, tc.by), tc.err)
	}
	if after := state(t, s, "r"); after != before {
		t.Fatalf("refused role changes changed the room:\n%s\n%s", before, after)
	}
	must(t, s.SetRole(ctx, "r", "a", rooms.RoleStudent, prof.ID))
	rec.settled("setting the current role")

	a := person("a", "u-a", t0)
	a.Role, a.Tracks = rooms.RoleCoInstructor, []rooms.Track{cam}
	must(t, s.SetRole(ctx, "r", "a", rooms.RoleCoInstructor, prof.ID))
	rec.want(rooms.Event{Type: rooms.EventParticipantUpdated, Participant: &a, By: prof.ID})
	sameParticipants(t, "promoted in the snapshot", []rooms.Participant{*find(snapshot(t, s, "r").Participants, "a")}, []rooms.Participant{a})
	// A co-instructor moderates, and a co-instructor's role changes like a student's.
	must(t, s.UpdateSettings(ctx, "r", rooms.SettingsChange{StudentChat: ptr(false)}, "a"))
	rec.next()
	must(t, s.SetRole(ctx, "r", ta.ID, rooms.RoleStudent, prof2.ID))
	demoted := ta
	demoted.Role = rooms.RoleStudent
	rec.want(rooms.Event{Type: rooms.EventParticipantUpdated, Participant: &demoted, By: prof2.ID})
	a.Role = rooms.RoleStudent
	must(t, s.SetRole(ctx, "r", "a", rooms.RoleStudent, prof.ID))
	rec.want(rooms.Event{Type: rooms.EventParticipantUpdated, Participant: &a, By: prof.ID})
	rec.failsWith("demoted co-instructor changes settings", s.UpdateSettings(ctx, "r", rooms.SettingsChange{StudentChat: ptr(true)}, "a"), rooms.ErrForbidden)
}

func testMuteByModerator(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	prof, ta := class(t, s, "a", "b")
	prof2, ta2 := member("prof2", "u-prof2", rooms.RoleInstructor), member("ta2", "u-ta2", rooms.RoleCoInstructor)
	mustJoin(t, s, "r", prof2)
	mustJoin(t, s, "r", ta2)
	liveMic := rooms.Track{ID: "mic", Source: rooms.SourceMicrophone}
	must(t, s.PublishTrack(ctx, "r", "a", liveMic))
	must(t, s.PublishTrack(ctx, "r", "a", cam))
	rec := follow(t, s, "r")
	before := state(t, s, "r")
	for _, tc := range []struct {
		what, target string
		source       rooms.Source
		by           string
		err          error
	}{
		{"student mutes", "b", rooms.SourceMicrophone, "a", rooms.ErrForbidden},
		{"student mutes everyone", "", rooms.SourceMicrophone, "a", rooms.ErrForbidden},
		{"outsider mutes", "a", rooms.SourceMicrophone, "zed", rooms.ErrForbidden},
		{"co-instructor mutes an instructor", prof.ID, rooms.SourceMicrophone, ta.ID, rooms.ErrForbidden},
		{"co-instructor mutes a co-instructor", ta2.ID, rooms.SourceMicrophone, ta.ID, rooms.ErrForbidden},
		{"instructor mutes an instructor", prof2.ID, rooms.SourceMicrophone, prof.ID, rooms.ErrForbidden},
		{"unknown participant", "zed", rooms.SourceMicrophone, prof.ID, rooms.ErrNotFound},
		{"a screen", "a", rooms.SourceScreen, prof.ID, nil},
	} {
		rec.failsWith(tc.what, s.MuteByModerator(ctx, "r", tc.target, tc.source, tc.by), tc.err)
	}
	if after := state(t, s, "r"); after != before {
		t.Fatalf("refused mutes changed the room:\n%s\n%s", before, after)
	}

	a := person("a", "u-a", t0)
	a.Tracks, a.ModeratorMuted = []rooms.Track{liveMic, cam}, []rooms.Source{rooms.SourceMicrophone}
	must(t, s.MuteByModerator(ctx, "r", "a", rooms.SourceMicrophone, ta.ID))
	rec.want(rooms.Event{Type: rooms.EventParticipantUpdated, Participant: &a, By: ta.ID})
	mutedMic := rooms.Track{ID: "mic", Source: rooms.SourceMicrophone, Muted: true}
	rec.want(rooms.Event{Type: rooms.EventTrackUpdated, ParticipantID: "a", Track: &mutedMic})
	must(t, s.MuteByModerator(ctx, "r", "a", rooms.SourceMicrophone, prof.ID))
	rec.settled("muting a muted microphone")

	// The camera is already muted: only the hold is new. b publishes nothing: it is held all the same.
	must(t, s.PublishTrack(ctx, "r", "a", rooms.Track{ID: "cam", Source: rooms.SourceCamera, Muted: true}))
	rec.next()
	a.Tracks = []rooms.Track{mutedMic, {ID: "cam", Source: rooms.SourceCamera, Muted: true}}
	a.ModeratorMuted = []rooms.Source{rooms.SourceMicrophone, rooms.SourceCamera}
	must(t, s.MuteByModerator(ctx, "r", "a", rooms.SourceCamera, prof.ID))
	rec.want(rooms.Event{Type: rooms.EventParticipantUpdated, Participant: &a, By: prof.ID})
	b := person("b", "u-b", t0)
	b.ModeratorMuted = []rooms.Source{rooms.SourceCamera}
	must(t, s.MuteByModerator(ctx, "r", "b", rooms.SourceCamera, prof.ID))
	rec.want(rooms.Event{Type: rooms.EventParticipantUpdated, Participant: &b, By: prof.ID})
	// An instructor may mute a co-instructor.
	must(t, s.MuteByModerator(ctx, "r", ta.ID, rooms.SourceMicrophone, prof.ID))
	rec.next()
	snap := snapshot(t, s, "r")
	sameParticipants(t, "snapshot", []rooms.Participant{*find(snap.Participants, "a"), *find(snap.Participants, "b")}, []rooms.Participant{a, b})
	if p := find(snap.Participants, prof.ID); len(p.ModeratorMuted) != 0 {
		t.Fatalf("instructor is muted by moderator: %+v", p)
	}
}

func testMuteAll(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	prof, ta := class(t, s, "c", "a", "b")
	liveMic := rooms.Track{ID: "mic", Source: rooms.SourceMicrophone}
	for _, id := range []string{"b", prof.ID, ta.ID} {
		must(t, s.PublishTrack(ctx, "r", id, liveMic))
	}
	must(t, s.MuteByModerator(ctx, "r", "c", rooms.SourceMicrophone, prof.ID))
	rec := follow(t, s, "r")
	must(t, s.MuteByModerator(ctx, "r", "", rooms.SourceMicrophone, ta.ID))
	// In participant ID order; c was muted already, and moderators are not students.
	held := []rooms.Source{rooms.SourceMicrophone}
	a := person("a", "u-a", t0)
	a.ModeratorMuted = held
	rec.want(rooms.Event{Type: rooms.EventParticipantUpdated, Participant: &a, By: ta.ID})
	b := person("b", "u-b", t0)
	b.Tracks, b.ModeratorMuted = []rooms.Track{liveMic}, held
	rec.want(rooms.Event{Type: rooms.EventParticipantUpdated, Participant: &b, By: ta.ID})
	rec.want(rooms.Event{Type: rooms.EventTrackUpdated, ParticipantID: "b", Track: &rooms.Track{ID: "mic", Source: rooms.SourceMicrophone, Muted: true}})
	rec.settled("mute all")
	must(t, s.MuteByModerator(ctx, "r", "", rooms.SourceMicrophone, prof.ID))
	rec.settled("mute all again")
	for _, p := range snapshot(t, s, "r").Participants {
		if held := len(p.ModeratorMuted) == 1; held != (p.Role == rooms.RoleStudent) {
			t.Errorf("%s (%s): moderator-muted %v", p.ID, p.Role, p.ModeratorMuted)
		}
		if len(p.Tracks) > 0 && p.Tracks[0].Muted != (p.Role == rooms.RoleStudent) {
			t.Errorf("%s (%s): microphone muted = %v", p.ID, p.Role, p.Tracks[0].Muted)
		}
	}
}

func testReleaseMute(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	prof, ta := class(t, s, "a", "b")
	must(t, s.PublishTrack(ctx, "r", "a", rooms.Track{ID: "mic", Source: rooms.SourceMicrophone}))
	for _, src := range []rooms.Source{rooms.SourceMicrophone, rooms.SourceCamera} {
		must(t, s.MuteByModerator(ctx, "r", "a", src, prof.ID))
	}
	must(t, s.MuteByModerator(ctx, "r", ta.ID, rooms.SourceMicrophone, prof.ID))
	rec := follow(t, s, "r")
	before := state(t, s, "r")
	rec.failsWith("student releases another", s.ReleaseMute(ctx, "r", "a", rooms.SourceMicrophone, "b"), rooms.ErrForbidden)
	rec.failsWith("co-instructor releases an instructor", s.ReleaseMute(ctx, "r", prof.ID, rooms.SourceMicrophone, ta.ID), rooms.ErrForbidden)
	rec.failsWith("unknown participant", s.ReleaseMute(ctx, "r", "zed", rooms.SourceMicrophone, prof.ID), rooms.ErrNotFound)
	rec.failsWith("a screen", s.ReleaseMute(ctx, "r", "a", rooms.SourceScreen, prof.ID), nil)
	if after := state(t, s, "r"); after != before {
		t.Fatalf("refused releases changed the room:\n%s\n%s", before, after)
	}
	must(t, s.ReleaseMute(ctx, "r", "b", rooms.SourceMicrophone, prof.ID))
	rec.settled("releasing what is not held")

	// By default a student may release its own mute; the track stays muted until it unmutes.
	a := person("a", "u-a", t0)
	a.Tracks = []rooms.Track{{ID: "mic", Source: rooms.SourceMicrophone, Muted: true}}
	a.ModeratorMuted = []rooms.Source{rooms.SourceCamera}
	must(t, s.ReleaseMute(ctx, "r", "a", rooms.SourceMicrophone, "a"))
	rec.want(rooms.Event{Type: rooms.EventParticipantUpdated, Participant: &a, By: "a"})

	must(t, s.UpdateSettings(ctx, "r", rooms.SettingsChange{StudentsMayUnmute: ptr(false)}, prof.ID))
	rec.next()
	before = state(t, s, "r")
	rec.failsWith("student releases its own mute when not allowed", s.ReleaseMute(ctx, "r", "a", rooms.SourceCamera, "a"), rooms.ErrForbidden)
	if after := state(t, s, "r"); after != before {
		t.Fatalf("refused release changed the room:\n%s\n%s", before, after)
	}
	// A moderator may release it, and a co-instructor may release its own.
	a.ModeratorMuted = nil
	must(t, s.ReleaseMute(ctx, "r", "a", rooms.SourceCamera, ta.ID))
	rec.want(rooms.Event{Type: rooms.EventParticipantUpdated, Participant: &a, By: ta.ID})
	must(t, s.ReleaseMute(ctx, "r", ta.ID, rooms.SourceMicrophone, ta.ID))
	rec.want(rooms.Event{Type: rooms.EventParticipantUpdated, Participant: &ta, By: ta.ID})
	for _, p := range snapshot(t, s, "r").Participants {
		if len(p.ModeratorMuted) != 0 {
			t.Errorf("%s still moderator-muted: %v", p.ID, p.ModeratorMuted)
		}
	}
}

// wantRemoval checks a participant_removed event.
func (r *recorder) wantRemoval(identity, name, by string) rooms.Removal {
	r.t.Helper()
	ev := r.next()
	rm := ev.Removal
	if ev.Type != rooms.EventParticipantRemoved || rm == nil || rm.Identity != identity || rm.Name != name || rm.By != by {
		r.t.Fatalf("event %+v (removal %+v), want %s of %s (%s) by %s", ev, rm, rooms.EventParticipantRemoved, identity, name, by)
	}
	if time.Since(rm.At) > time.Minute || rm.Until.Sub(rm.At) != rooms.RemovalTTL {
		r.t.Fatalf("removal at %v until %v, want now until %v later", rm.At, rm.Until, rooms.RemovalTTL)
	}
	return *rm
}

func testRemove(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	prof, ta := class(t, s, "a", "b")
	prof2 := member("prof2", "u-prof2", rooms.RoleInstructor)
	mustJoin(t, s, "r", prof2)
	rec := follow(t, s, "r")
	before := state(t, s, "r")
	for _, tc := range []struct {
		what, target, by string
		err              error
	}{
		{"student removes", "b", "a", rooms.ErrForbidden},
		{"outsider removes", "b", "zed", rooms.ErrForbidden},
		{"co-instructor removes an instructor", prof.ID, ta.ID, rooms.ErrForbidden},
		{"instructor removes an instructor", prof2.ID, prof.ID, rooms.ErrForbidden},
		{"unknown participant", "zed", prof.ID, rooms.ErrNotFound},
	} {
		rec.failsWith(tc.what, s.Remove(ctx, "r", tc.target, tc.by), tc.err)
	}
	if after := state(t, s, "r"); after != before {
		t.Fatalf("refused removals changed the room:\n%s\n%s", before, after)
	}
	must(t, s.RaiseHand(ctx, "r", "a"))
	rec.next()
	must(t, s.Remove(ctx, "r", "a", ta.ID))
	rec.want(rooms.Event{Type: rooms.EventParticipantLeft, ParticipantID: "a", Reason: rooms.ReasonRemoved})
	rm := rec.wantRemoval("u-a", "Name of u-a", ta.ID)
	snap := snapshot(t, s, "r")
	if find(snap.Participants, "a") != nil || len(snap.Hands) != 0 {
		t.Fatalf("removed participant still in the room: %+v", snap)
	}
	if len(snap.Removed) != 1 || snap.Removed[0].Identity != "u-a" || !snap.Removed[0].Until.Equal(rm.Until) {
		t.Fatalf("snapshot removals = %+v, want %+v", snap.Removed, rm)
	}

	// The identity stays out, whatever its session, until a moderator lets it back.
	_, err := s.Enter(ctx, "r", person("a2", "u-a", t0))
	rec.failsWith("removed identity enters", err, rooms.ErrRemoved)
	rec.failsWith("student allows a rejoin", s.AllowRejoin(ctx, "r", "u-a", "b"), rooms.ErrForbidden)
	rec.failsWith("allowing back one not removed", s.AllowRejoin(ctx, "r", "u-b", prof.ID), rooms.ErrNotFound)
	must(t, s.AllowRejoin(ctx, "r", "u-a", prof.ID))
	rec.want(rooms.Event{Type: rooms.EventRejoinAllowed, Removal: &rooms.Removal{Identity: "u-a", By: prof.ID}})
	rec.failsWith("allowing back twice", s.AllowRejoin(ctx, "r", "u-a", prof.ID), rooms.ErrNotFound)
	if snap := snapshot(t, s, "r"); len(snap.Removed) != 0 {
		t.Fatalf("removals after the rejoin was allowed: %+v", snap.Removed)
	}
	if e := enter(t, s, "r", person("a2", "u-a", t0)); e.Waiting {
		t.Fatal("allowed back into a room without a lobby, but waiting")
	}
	rec.next()

	// A removed co-instructor stays out too; its token's role does not matter.
	must(t, s.Remove(ctx, "r", ta.ID, prof.ID))
	rec.next()
	rec.wantRemoval(ta.Identity, ta.Name, prof.ID)
	_, err = s.Enter(ctx, "r", member("ta3", ta.Identity, rooms.RoleCoInstructor))
	rec.failsWith("removed co-instructor enters", err, rooms.ErrRemoved)
}
