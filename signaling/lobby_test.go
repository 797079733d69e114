package signaling

import (
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chalk-edu/chalk/rooms"
)

// expectPosition reads "waiting" messages until one says position (or fails on a timeout).
func (w *wsTest) expectPosition(position int) waitingMsg {
	w.t.Helper()
	for {
		m := decode[waitingMsg](w, "waiting")
		if m.Position == position {
			return m
		}
	}
}

func TestLobby(t *testing.T) {
	env := newTestEnv(t, nil)
	prof, _ := env.joinAs(t, "math", "prof", rooms.RoleInstructor)
	inside, _ := env.joinAs(t, "math", "inside", rooms.RoleStudent)
	prof.send("update_settings", map[string]any{"lobby": "on"})
	inside.expect("settings_changed")

	ada, wa := env.waitAs(t, "math", "ada")
	if wa.Position != 1 || wa.Lobby != rooms.LobbyOn || wa.Room != "math" || wa.ResumeToken == "" || wa.Resumed || wa.Participant.Identity != "ada" {
		t.Fatalf("waiting = %+v", wa)
	}
	if lj := decode[participantJoinedMsg](prof, "lobby_joined"); lj.Participant.ID != ada.id || lj.Seq == 0 {
		t.Fatalf("lobby_joined = %+v", lj)
	}
	inside.expectNo("lobby_joined", 100*time.Millisecond) // students do not see the lobby
	bob, wb := env.waitAs(t, "math", "bob")
	if wb.Position != 2 {
		t.Fatalf("bob waits at %d", wb.Position)
	}

	// Waiting: no media, no room events.
	ada.send("offer", map[string]any{"sdp": "v=0", "tracks": []map[string]string{{"mid": "0", "source": "camera"}}})
	ada.expectError(CodeOutOfOrder)
	ada.send("chat", map[string]string{"text": "let me in"})
	ada.expectError(CodeOutOfOrder)
	prof.send("chat", map[string]string{"text": "welcome, everyone inside"})
	prof.expectChat()
	ada.send("ping", nil)
	ada.expect("pong")
	ada.expectNo("chat", 100*time.Millisecond)

	// A late instructor sees the line.
	_, j := env.joinAs(t, "math", "prof2", rooms.RoleInstructor)
	if len(j.Lobby) != 2 || j.Lobby[0].ID != ada.id || j.Lobby[1].ID != bob.id {
		t.Fatalf("joined.lobby = %+v", j.Lobby)
	}
	ada.expectNo("participant_joined", 100*time.Millisecond)

	// Admit bob: he joins; ada's place does not change.
	prof.send("admit", map[string]string{"participantId": bob.id})
	jb := decode[joinedMsg](bob, "joined")
	if jb.Participant.ID != bob.id || len(jb.Participants) != 4 || len(jb.Chat) != 1 {
		t.Fatalf("bob's joined = %+v", jb)
	}
	if l := decode[lobbyLeftMsg](prof, "lobby_left"); l.ParticipantID != bob.id || l.Reason != rooms.ReasonAdmitted || l.By != prof.id {
		t.Fatalf("lobby_left = %+v", l)
	}
	for decode[participantJoinedMsg](inside, "participant_joined").Participant.ID != bob.id { // prof2 came first
	}
	bob.send("ping", nil) // bob is a participant now
	bob.expect("pong")
	ada.expectNo("waiting", 100*time.Millisecond)

	// carl joins behind ada; denying ada moves him up.
	carl, wc := env.waitAs(t, "math", "carl")
	if wc.Position != 2 {
		t.Fatalf("carl waits at %d", wc.Position)
	}
	prof.send("deny", map[string]string{"participantId": ada.id})
	if bye := decode[byeMsg](ada, "bye"); bye.Reason != rooms.ReasonDenied {
		t.Fatalf("bye = %+v", bye)
	}
	ada.expectClosed()
	carl.expectPosition(1)

	// A waiting student who closes the tab leaves the line.
	carl.c.Close(websocket.StatusGoingAway, "tab closed")
	for {
		if l := decode[lobbyLeftMsg](prof, "lobby_left"); l.ParticipantID == carl.id {
			if l.Reason != rooms.ReasonLeft {
				t.Fatalf("lobby_left = %+v", l)
			}
			break
		}
	}
	snap, _ := env.store.Snapshot(context.Background(), "math")
	if len(snap.Lobby) != 0 {
		t.Fatalf("lobby after everyone left it: %+v", snap.Lobby)
	}
}

func TestOfficeHours(t *testing.T) {
	env := newTestEnv(t, nil)
	prof, _ := env.joinAs(t, "office", "prof", rooms.RoleInstructor)
	prof.send("update_settings", map[string]any{"lobby": "office_hours"})
	prof.expect("settings_changed")
	var line []*wsTest
	for i, name := range []string{"s1", "s2", "s3", "s4"} {
		w, m := env.waitAs(t, "office", name)
		if m.Position != i+1 || m.Lobby != rooms.LobbyOfficeHours {
			t.Fatalf("%s: waiting = %+v", name, m)
		}
		line = append(line, w)
	}
	prof.send("admit_next", nil)
	line[0].expect("joined")
	line[1].expectPosition(1)
	line[2].expectPosition(2)
	line[3].expectPosition(3)

	// s2 leaves the line; everyone behind moves up.
	line[1].send("leave", nil)
	line[1].expectClosed()
	line[2].expectPosition(1)
	line[3].expectPosition(2)

	prof.send("admit_next", nil)
	if j := decode[joinedMsg](line[2], "joined"); len(j.Participants) != 3 {
		t.Fatalf("s3 joined with %d participants, want prof, s1, s3", len(j.Participants))
	}
	line[3].expectPosition(1)
	// Switching the lobby off admits everyone still waiting.
	prof.send("update_settings", map[string]any{"lobby": "off"})
	line[3].expect("joined")
	prof.send("admit_next", nil)
	prof.expectError(CodeNotFound)
}

func TestAdmitAll(t *testing.T) {
	env := newTestEnv(t, nil)
	prof, _ := env.joinAs(t, "math", "prof", rooms.RoleInstructor)
	prof.send("update_settings", map[string]any{"lobby": "on"})
	prof.expect("settings_changed")
	a, _ := env.waitAs(t, "math", "a")
	b, _ := env.waitAs(t, "math", "b")
	ta, _ := env.joinAs(t, "math", "ta", rooms.RoleCoInstructor) // moderators never wait
	ta.send("admit_all", nil)
	for _, w := range []*wsTest{a, b} {
		if j := decode[joinedMsg](w, "joined"); j.Participant.ID != w.id || j.Settings.Lobby != rooms.LobbyOn {
			t.Fatalf("joined = %+v", j)
		}
	}
}

// A waiting participant's session survives a network blip like any other, and its admission reaches
// the new socket.
func TestWaitingResume(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.SilenceTimeout = 3 * time.Second })
	prof, _ := env.joinAs(t, "math", "prof", rooms.RoleInstructor)
	prof.send("update_settings", map[string]any{"lobby": "on"})
	prof.expect("settings_changed")
	ada, m := env.waitAs(t, "math", "ada")
	ada.c.CloseNow() // a blip: no close frame
	again := env.dial(t)
	again.send("join", map[string]string{"resume": m.ResumeToken})
	if r := decode[waitingMsg](again, "waiting"); !r.Resumed || r.Position != 1 || r.Participant.ID != m.Participant.ID {
		t.Fatalf("resumed waiting = %+v", r)
	}
	prof.send("admit", map[string]string{"participantId": m.Participant.ID})
	if j := decode[joinedMsg](again, "joined"); j.Participant.ID != m.Participant.ID {
		t.Fatalf("joined = %+v", j)
	}

	// A waiting participant that falls silent leaves the line.
	silent := env.dialSilent(t)
	silent.send("join", map[string]string{"room": "math", "token": env.token(t, "math", "bob", "Bob", rooms.RoleStudent)})
	for {
		if l := decode[lobbyLeftMsg](prof, "lobby_left"); l.Reason == rooms.ReasonLeft {
			break
		}
	}
}

// The same identity joining again while waiting replaces the waiting session, which is told so.
func TestWaitingReplaced(t *testing.T) {
	env := newTestEnv(t, nil)
	prof, _ := env.joinAs(t, "math", "prof", rooms.RoleInstructor)
	prof.send("update_settings", map[string]any{"lobby": "on", "locked": true})
	prof.expect("settings_changed")
	// Locked: a new student may not even wait.
	late := env.dial(t)
	late.send("join", map[string]string{"room": "math", "token": env.token(t, "math", "ada", "Ada", rooms.RoleStudent)})
	late.expectError(CodeRoomLocked)
	prof.send("update_settings", map[string]any{"locked": false})
	prof.expect("settings_changed")
	first, _ := env.waitAs(t, "math", "ada")
	prof.send("update_settings", map[string]any{"locked": true})
	prof.expect("settings_changed")
	second, m := env.waitAs(t, "math", "ada") // a reload: still waits, though the room is now locked
	if bye := decode[byeMsg](first, "bye"); bye.Reason != rooms.ReasonReplaced {
		t.Fatalf("bye = %+v", bye)
	}
	first.expectClosed()
	if m.Position != 1 {
		t.Fatalf("waiting = %+v", m)
	}
	prof.send("remove_participant", map[string]string{"participantId": second.id})
	if bye := decode[byeMsg](second, "bye"); bye.Reason != rooms.ReasonRemoved {
		t.Fatalf("bye = %+v", bye)
	}
}
