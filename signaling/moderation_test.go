package signaling

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
)

// token mints a join token for identity in room.
func (e *testEnv) token(t *testing.T, room, identity, name string, role rooms.Role) string {
	t.Helper()
	tok, err := e.tokens.Mint(auth.Grant{Room: room, Identity: identity, Name: name, Role: role}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// joinAs joins with a token for identity and role, and returns the client with its joined message.
func (e *testEnv) joinAs(t *testing.T, room, identity string, role rooms.Role) (*wsTest, joinedMsg) {
	t.Helper()
	w := e.dial(t)
	w.send("join", map[string]string{"room": room, "token": e.token(t, room, identity, identity, role)})
	j := decode[joinedMsg](w, "joined")
	if j.Participant.Role != role {
		t.Fatalf("%s joined as %s, want %s", identity, j.Participant.Role, role)
	}
	w.id = j.Participant.ID
	return w, j
}

// waitAs joins a room with the lobby on, as a student, and returns the client and its waiting message.
func (e *testEnv) waitAs(t *testing.T, room, identity string) (*wsTest, waitingMsg) {
	t.Helper()
	w := e.dial(t)
	w.send("join", map[string]string{"room": room, "token": e.token(t, room, identity, identity, rooms.RoleStudent)})
	m := decode[waitingMsg](w, "waiting")
	w.id = m.Participant.ID
	return w, m
}

// expectUpdate returns the next participant_updated about participant id, skipping the others.
func (w *wsTest) expectUpdate(id string) participantUpdatedMsg {
	w.t.Helper()
	for {
		if u := decode[participantUpdatedMsg](w, "participant_updated"); u.Participant.ID == id {
			return u
		}
	}
}

func decode[T any](w *wsTest, typ string) T {
	w.t.Helper()
	var v T
	if err := json.Unmarshal(w.expect(typ), &v); err != nil {
		w.t.Fatalf("decode %s: %v", typ, err)
	}
	return v
}

// roomState is the room's snapshot as JSON, to show that a refused action changed nothing.
func (e *testEnv) roomState(t *testing.T, room string) string {
	t.Helper()
	snap, err := e.store.Snapshot(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(snap)
	return string(b)
}

func (e *testEnv) participant(t *testing.T, room, id string) rooms.Participant {
	t.Helper()
	snap, _ := e.store.Snapshot(context.Background(), room)
	for _, p := range snap.Participants {
		if p.ID == id {
			return p
		}
	}
	t.Fatalf("%s is not in %s", id, room)
	return rooms.Participant{}
}

// A student (and, for roles, a co-instructor) sending any moderation message is refused with
// forbidden, and neither the room nor the store changes.
func TestModerationIsForbiddenToStudents(t *testing.T) {
	env := newTestEnv(t, nil)
	prof, _ := env.joinAs(t, "math", "prof", rooms.RoleInstructor)
	ta, _ := env.joinAs(t, "math", "ta", rooms.RoleCoInstructor)
	ada, _ := env.joinAs(t, "math", "ada", rooms.RoleStudent)
	bob, _ := env.joinAs(t, "math", "bob", rooms.RoleStudent)
	carl, _ := env.joinAs(t, "math", "carl", rooms.RoleStudent)
	prof.send("remove_participant", map[string]string{"participantId": carl.id})
	carl.expectClosed()
	prof.send("update_settings", map[string]any{"lobby": "on"})
	for _, w := range []*wsTest{prof, ta, ada, bob} {
		w.expect("settings_changed")
	}
	_, dan := env.waitAs(t, "math", "dan")
	prof.expect("lobby_joined")

	before := env.roomState(t, "math")
	for _, tc := range []struct {
		who  *wsTest
		typ  string
		data any
	}{
		{ada, "set_role", map[string]string{"participantId": bob.id, "role": "co_instructor"}},
		{ta, "set_role", map[string]string{"participantId": bob.id, "role": "co_instructor"}},
		{ada, "update_settings", map[string]any{"locked": true}},
		{ada, "update_settings", map[string]any{"spotlight": ada.id}},
		{ada, "mute_participant", map[string]string{"participantId": bob.id, "source": "microphone"}},
		{ada, "mute_participant", map[string]string{"participantId": bob.id, "source": "camera"}},
		{ada, "mute_all", map[string]string{}},
		{ada, "allow_unmute", map[string]string{"participantId": bob.id, "source": "microphone"}},
		{ada, "remove_participant", map[string]string{"participantId": bob.id}},
		{ada, "allow_rejoin", map[string]string{"identity": "carl"}},
		{ada, "admit", map[string]string{"participantId": dan.Participant.ID}},
		{ada, "admit_next", nil},
		{ada, "admit_all", nil},
		{ada, "deny", map[string]string{"participantId": dan.Participant.ID}},
		// Targets above the actor's rank: refused by the store.
		{ta, "mute_participant", map[string]string{"participantId": prof.id, "source": "microphone"}},
		{ta, "remove_participant", map[string]string{"participantId": prof.id}},
		{prof, "set_role", map[string]string{"participantId": prof.id, "role": "student"}},
	} {
		tc.who.send(tc.typ, tc.data)
		if e := tc.who.expectError(CodeForbidden); e.Ref != tc.typ {
			t.Fatalf("%s: error ref %q", tc.typ, e.Ref)
		}
	}
	if after := env.roomState(t, "math"); after != before {
		t.Fatalf("refused actions changed the room:\n%s\n%s", before, after)
	}
	for _, w := range []*wsTest{prof, ada, bob} {
		for _, typ := range []string{"settings_changed", "participant_updated", "track_updated", "participant_left", "lobby_left", "participant_removed", "rejoin_allowed"} {
			w.expectNo(typ, 50*time.Millisecond)
		}
	}
}

func TestModerationBadInput(t *testing.T) {
	env := newTestEnv(t, nil)
	prof, _ := env.joinAs(t, "math", "prof", rooms.RoleInstructor)
	for _, tc := range []struct {
		typ, data, want string
	}{
		{"set_role", `{"participantId":"Pabc","role":"instructor"}`, "role"},
		{"set_role", `{"role":"student"}`, "participantId"},
		{"update_settings", `{}`, "at least one"},
		{"update_settings", `{"lobby":"sometimes"}`, "lobby"},
		{"update_settings", `{"locked":"yes"}`, "invalid"},
		{"update_settings", `{"volume":11}`, "unknown field"},
		{"mute_participant", `{"participantId":"Pabc","source":"screen"}`, "source"},
		{"mute_all", `{"source":"screen"}`, "source"},
		{"allow_rejoin", `{}`, "identity"},
		{"admit", `{"participantId":"not valid!"}`, "participantId"},
	} {
		prof.raw(`{"v":1,"type":"` + tc.typ + `","data":` + tc.data + `}`)
		if e := prof.expectError(CodeBadMessage); !strings.Contains(e.Message, tc.want) {
			t.Errorf("%s %s: message %q does not mention %q", tc.typ, tc.data, e.Message, tc.want)
		}
	}
	for _, tc := range []struct{ typ, data, code string }{
		{"mute_participant", `{"participantId":"Pnobody","source":"microphone"}`, CodeNotFound},
		{"admit", `{"participantId":"Pnobody"}`, CodeNotFound},
		{"admit_next", `{}`, CodeNotFound},
		{"deny", `{"participantId":"Pnobody"}`, CodeNotFound},
		{"allow_rejoin", `{"identity":"nobody"}`, CodeNotFound},
		{"update_settings", `{"spotlight":"Pnobody"}`, CodeNotFound},
	} {
		prof.raw(`{"v":1,"type":"` + tc.typ + `","data":` + tc.data + `}`)
		prof.expectError(tc.code)
	}
	prof.send("admit_all", nil) // nobody waiting: nothing to do, no error
	prof.send("ping", nil)
	prof.expect("pong")
	prof.expectNo("error", 100*time.Millisecond)
}

func TestSetRole(t *testing.T) {
	env := newTestEnv(t, nil)
	prof, _ := env.joinAs(t, "math", "prof", rooms.RoleInstructor)
	ada, _ := env.joinAs(t, "math", "ada", rooms.RoleStudent)
	bob, _ := env.joinAs(t, "math", "bob", rooms.RoleStudent)
	bob.send("chat", map[string]string{"text": "psst", "to": "instructors"})
	prof.expectChat()

	prof.send("set_role", map[string]string{"participantId": ada.id, "role": "co_instructor"})
	for _, w := range []*wsTest{prof, ada, bob} {
		u := decode[participantUpdatedMsg](w, "participant_updated")
		if u.Participant.ID != ada.id || u.Participant.Role != rooms.RoleCoInstructor || u.By != prof.id || u.Seq == 0 {
			t.Fatalf("participant_updated = %+v", u)
		}
	}
	// Promoted, ada now sees what moderators see: the lobby, removals and private messages.
	r := decode[resyncMsg](ada, "resync")
	if r.Lobby == nil || r.Removed == nil || len(r.Chat) != 1 || r.Chat[0].Text != "psst" {
		t.Fatalf("resync after promotion = %+v", r)
	}
	ada.send("update_settings", map[string]any{"studentChat": false})
	if s := decode[settingsChangedMsg](prof, "settings_changed"); s.By != ada.id || s.Settings.StudentChat {
		t.Fatalf("settings_changed = %+v", s)
	}
	ada.send("set_role", map[string]string{"participantId": bob.id, "role": "co_instructor"})
	ada.expectError(CodeForbidden)

	prof.send("set_role", map[string]string{"participantId": ada.id, "role": "student"})
	if u := decode[participantUpdatedMsg](bob, "participant_updated"); u.Participant.Role != rooms.RoleStudent {
		t.Fatalf("demotion = %+v", u)
	}
	if r := decode[resyncMsg](ada, "resync"); len(r.Chat) != 0 {
		t.Fatalf("demoted student still sees private messages: %+v", r.Chat)
	}
	ada.send("update_settings", map[string]any{"studentChat": true})
	ada.expectError(CodeForbidden)
	if p := env.participant(t, "math", ada.id); p.Role != rooms.RoleStudent {
		t.Fatalf("ada is %s", p.Role)
	}
}

// A co-instructor's token grants the role from the start; a co-instructor moderates students but not
// instructors.
func TestCoInstructorToken(t *testing.T) {
	env := newTestEnv(t, nil)
	prof, _ := env.joinAs(t, "math", "prof", rooms.RoleInstructor)
	ta, j := env.joinAs(t, "math", "ta", rooms.RoleCoInstructor)
	if j.Lobby == nil || j.Removed == nil {
		t.Fatalf("co-instructor's joined lacks the lobby or removals: %+v", j)
	}
	ada, _ := env.joinAs(t, "math", "ada", rooms.RoleStudent)
	ta.send("mute_participant", map[string]string{"participantId": ada.id, "source": "microphone"})
	if u := decode[participantUpdatedMsg](prof, "participant_updated"); u.Participant.ID != ada.id || len(u.Participant.ModeratorMuted) != 1 {
		t.Fatalf("participant_updated = %+v", u)
	}
	ta.send("mute_participant", map[string]string{"participantId": prof.id, "source": "microphone"})
	if e := ta.expectError(CodeForbidden); !strings.Contains(e.Message, "lower role") {
		t.Fatalf("message %q", e.Message)
	}
}

func TestMuteParticipantAndMuteAll(t *testing.T) {
	env := newTestEnv(t, nil)
	prof, _ := env.joinAs(t, "math", "prof", rooms.RoleInstructor)
	ada, _ := env.joinAs(t, "math", "ada", rooms.RoleStudent)
	bob, _ := env.joinAs(t, "math", "bob", rooms.RoleStudent)
	// ada publishes a microphone (in the store; the media path is TestModeratorMuteStopsMedia).
	if err := env.store.PublishTrack(context.Background(), "math", ada.id, rooms.Track{ID: "microphone", Source: rooms.SourceMicrophone}); err != nil {
		t.Fatal(err)
	}
	prof.expect("track_published")

	prof.send("mute_participant", map[string]string{"participantId": ada.id, "source": "microphone"})
	for _, w := range []*wsTest{prof, ada, bob} {
		u := decode[participantUpdatedMsg](w, "participant_updated")
		if u.Participant.ID != ada.id || len(u.Participant.ModeratorMuted) != 1 || u.Participant.ModeratorMuted[0] != rooms.SourceMicrophone || u.By != prof.id {
			t.Fatalf("participant_updated = %+v", u)
		}
		if tr := decode[trackEventMsg](w, "track_updated"); tr.ParticipantID != ada.id || !tr.Track.Muted {
			t.Fatalf("track_updated = %+v", tr)
		}
	}
	// Students may unmute themselves by default. (Unmuting the track itself is the usual mute path;
	// TestModeratorMuteStopsMedia follows it with real media.)
	ada.send("mute", map[string]any{"source": "microphone", "muted": false})
	if u := decode[participantUpdatedMsg](prof, "participant_updated"); len(u.Participant.ModeratorMuted) != 0 || u.By != ada.id {
		t.Fatalf("self-release = %+v", u)
	}

	// Unless the instructor forbids it: then only the instructor's allow_unmute lets them.
	prof.send("update_settings", map[string]any{"studentsMayUnmute": false})
	ada.expect("settings_changed")
	prof.send("mute_all", map[string]string{})
	muted := map[string]bool{}
	for range 2 { // ada and bob, in participant ID order; ada's track was muted already
		u := decode[participantUpdatedMsg](prof, "participant_updated")
		if len(u.Participant.ModeratorMuted) != 1 || u.Participant.Role != rooms.RoleStudent {
			t.Fatalf("mute_all: %+v", u)
		}
		muted[u.Participant.ID] = true
	}
	if !muted[ada.id] || !muted[bob.id] {
		t.Fatalf("mute_all muted %v", muted)
	}
	if u := bob.expectUpdate(bob.id); u.By != prof.id { // the muted student is told
		t.Fatalf("bob told %+v", u)
	}
	before := env.roomState(t, "math")
	ada.send("mute", map[string]any{"source": "microphone", "muted": false})
	ada.expectError(CodeForbidden)
	if after := env.roomState(t, "math"); after != before {
		t.Fatalf("a refused unmute changed the room:\n%s\n%s", before, after)
	}
	if p := env.participant(t, "math", ada.id); !p.Tracks[0].Muted {
		t.Fatal("ada's microphone is not muted in the store")
	}
	if p := env.participant(t, "math", prof.id); len(p.ModeratorMuted) != 0 {
		t.Fatal("mute_all muted the instructor")
	}
	prof.send("allow_unmute", map[string]string{"participantId": ada.id, "source": "microphone"})
	if u := decode[participantUpdatedMsg](ada, "participant_updated"); u.Participant.ID != ada.id || len(u.Participant.ModeratorMuted) != 0 || u.By != prof.id {
		t.Fatalf("allow_unmute = %+v", u)
	}
	ada.send("mute", map[string]any{"source": "microphone", "muted": false})
	ada.send("ping", nil)
	ada.expect("pong")
	ada.expectNo("error", 100*time.Millisecond)

	// Turning a camera off is the same with source camera; the hold outlives a track not yet published.
	prof.send("mute_participant", map[string]string{"participantId": bob.id, "source": "camera"})
	if u := bob.expectUpdate(bob.id); len(u.Participant.ModeratorMuted) != 2 {
		t.Fatalf("camera off: %+v", u)
	}
	bob.send("mute", map[string]any{"source": "camera", "muted": false})
	bob.expectError(CodeForbidden)
}

func TestRemoveParticipant(t *testing.T) {
	env := newTestEnv(t, nil)
	prof, _ := env.joinAs(t, "math", "prof", rooms.RoleInstructor)
	bob, _ := env.joinAs(t, "math", "bob", rooms.RoleStudent)
	ada, _ := env.joinAs(t, "math", "ada", rooms.RoleStudent)
	prof.send("remove_participant", map[string]string{"participantId": ada.id})
	if bye := decode[byeMsg](ada, "bye"); bye.Reason != rooms.ReasonRemoved {
		t.Fatalf("bye = %+v", bye)
	}
	ada.expectClosed()
	if l := decode[participantLeftMsg](bob, "participant_left"); l.ParticipantID != ada.id || l.Reason != rooms.ReasonRemoved {
		t.Fatalf("participant_left = %+v", l)
	}
	bob.expectNo("participant_removed", 100*time.Millisecond) // moderators only
	r := decode[participantRemovedMsg](prof, "participant_removed")
	if r.Removal.Identity != "ada" || r.Removal.Name != "ada" || r.Removal.By != prof.id || time.Until(r.Removal.Until) < rooms.RemovalTTL-time.Minute {
		t.Fatalf("participant_removed = %+v", r)
	}

	// The same identity cannot come back, with any session, until an instructor allows it.
	again := env.dial(t)
	again.send("join", map[string]string{"room": "math", "token": env.token(t, "math", "ada", "Ada", rooms.RoleStudent)})
	if e := again.expectError(CodeRemoved); !strings.Contains(e.Message, "removed") {
		t.Fatalf("message %q", e.Message)
	}
	again.expectClosed()
	late, j := env.joinAs(t, "math", "prof2", rooms.RoleInstructor)
	if len(j.Removed) != 1 || j.Removed[0].Identity != "ada" {
		t.Fatalf("joined.removed = %+v", j.Removed)
	}
	late.send("allow_rejoin", map[string]string{"identity": "ada"})
	if a := decode[rejoinAllowedMsg](prof, "rejoin_allowed"); a.Identity != "ada" || a.By != late.id {
		t.Fatalf("rejoin_allowed = %+v", a)
	}
	env.joinAs(t, "math", "ada", rooms.RoleStudent)
}

func TestLockedRoom(t *testing.T) {
	env := newTestEnv(t, nil)
	prof, _ := env.joinAs(t, "math", "prof", rooms.RoleInstructor)
	ada := env.dial(t)
	ada.send("join", map[string]string{"room": "math", "name": "Ada", "identity": "ada"})
	ada.expect("joined")
	prof.send("update_settings", map[string]any{"locked": true})
	if s := decode[settingsChangedMsg](ada, "settings_changed"); !s.Settings.Locked || s.By != prof.id {
		t.Fatalf("settings_changed = %+v", s)
	}
	late := env.dial(t)
	late.send("join", map[string]string{"room": "math", "name": "Late"})
	if e := late.expectError(CodeRoomLocked); !strings.Contains(e.Message, "locked") || e.Ref != "join" {
		t.Fatalf("error = %+v", e)
	}
	if st := late.expectClosed(); st != websocket.StatusPolicyViolation {
		t.Fatalf("close status %v", st)
	}
	// A reload is not a new join, and moderators always get in.
	reload := env.dial(t)
	reload.send("join", map[string]string{"room": "math", "name": "Ada", "identity": "ada"})
	if j := decode[joinedMsg](reload, "joined"); !j.Settings.Locked {
		t.Fatalf("joined.settings = %+v", j.Settings)
	}
	env.joinAs(t, "math", "ta", rooms.RoleCoInstructor)
	prof.send("update_settings", map[string]any{"locked": false})
	for decode[settingsChangedMsg](prof, "settings_changed").Settings.Locked { // the lock's own event first
	}
	late = env.dial(t)
	late.join("math", "Late")
}

func TestScreenShareAndChatPermissions(t *testing.T) {
	env := newTestEnv(t, nil)
	prof, _ := env.joinAs(t, "math", "prof", rooms.RoleInstructor)
	ada, j := env.joinAs(t, "math", "ada", rooms.RoleStudent)
	if j.Settings != rooms.DefaultSettings() || j.Lobby == nil || len(j.Lobby) != 0 || len(j.Removed) != 0 {
		t.Fatalf("student's joined: settings %+v, lobby %v, removed %v", j.Settings, j.Lobby, j.Removed)
	}
	prof.send("update_settings", map[string]any{"studentScreenShare": false, "studentChat": false})
	ada.expect("settings_changed")

	ada.send("publish", map[string]string{"source": "screen"})
	if e := ada.expectError(CodeForbidden); !strings.Contains(e.Message, "screen") || e.Ref != "publish" {
		t.Fatalf("error = %+v", e)
	}
	prof.send("publish", map[string]string{"source": "screen"}) // instructors may
	prof.send("ping", nil)
	prof.expect("pong")
	prof.expectNo("error", 100*time.Millisecond)

	ada.send("chat", map[string]string{"text": "hello all"})
	if e := ada.expectError(CodeForbidden); !strings.Contains(e.Message, "instructors") {
		t.Fatalf("error = %+v", e)
	}
	ada.send("chat", map[string]string{"text": "a private question", "to": "instructors"})
	for _, w := range []*wsTest{prof, ada} {
		if m := w.expectChat(); m.Text != "a private question" {
			t.Fatalf("chat = %+v", m)
		}
	}
	prof.send("chat", map[string]string{"text": "quiet please"})
	for _, w := range []*wsTest{prof, ada} {
		if m := w.expectChat(); m.Text != "quiet please" {
			t.Fatalf("chat = %+v", m)
		}
	}
	prof.send("update_settings", map[string]any{"studentChat": true})
	ada.expect("settings_changed")
	ada.send("chat", map[string]string{"text": "thanks"})
	if m := prof.expectChat(); m.Text != "thanks" {
		t.Fatalf("chat = %+v", m)
	}
}

func TestSpotlight(t *testing.T) {
	env := newTestEnv(t, nil)
	prof, _ := env.joinAs(t, "math", "prof", rooms.RoleInstructor)
	ada, _ := env.joinAs(t, "math", "ada", rooms.RoleStudent)
	bob, _ := env.joinAs(t, "math", "bob", rooms.RoleStudent)
	prof.send("update_settings", map[string]any{"spotlight": ada.id})
	for _, w := range []*wsTest{prof, ada, bob} {
		if s := decode[settingsChangedMsg](w, "settings_changed"); s.Settings.Spotlight != ada.id {
			t.Fatalf("settings_changed = %+v", s)
		}
	}
	if _, j := env.joinAs(t, "math", "late", rooms.RoleStudent); j.Settings.Spotlight != ada.id {
		t.Fatalf("joined.settings = %+v", j.Settings)
	}
	ada.send("leave", nil)
	if l := decode[participantLeftMsg](bob, "participant_left"); l.ParticipantID != ada.id {
		t.Fatalf("participant_left = %+v", l)
	}
	if s := decode[settingsChangedMsg](bob, "settings_changed"); s.Settings.Spotlight != "" || s.By != "" {
		t.Fatalf("spotlight after its participant left: %+v", s)
	}
}
