package signaling

import (
	"context"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/rooms/redistest"
)

// Two nodes sharing Redis: an instructor on one node runs the lobby and moderates a student on the
// other. Nothing takes a local shortcut, so this only works through the store's events.
func TestModerationAcrossNodes(t *testing.T) {
	url := redistest.Start(t)
	node := func(name string) (*testEnv, rooms.Store) {
		s, err := rooms.NewRedisStore(context.Background(), url, rooms.RedisOptions{KeyPrefix: "nodes:"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		env := newTestEnv(t, func(c *Config) { c.Store, c.Node = s, name })
		env.store = s
		return env, s
	}
	one, store := node("n1")
	two, _ := node("n2")
	prof, _ := one.joinAs(t, "math", "prof", rooms.RoleInstructor)
	prof.send("update_settings", map[string]any{"lobby": "office_hours"})
	prof.expect("settings_changed")

	ada, w := two.waitAs(t, "math", "ada")
	if w.Position != 1 || w.Participant.Node != "n2" {
		t.Fatalf("waiting = %+v", w)
	}
	if lj := decode[participantJoinedMsg](prof, "lobby_joined"); lj.Participant.ID != ada.id {
		t.Fatalf("lobby_joined = %+v", lj)
	}
	bob, _ := two.waitAs(t, "math", "bob")
	prof.send("admit_next", nil)
	if j := decode[joinedMsg](ada, "joined"); j.Participant.ID != ada.id || len(j.Participants) != 2 {
		t.Fatalf("joined on the other node = %+v", j)
	}
	bob.expectPosition(1)

	prof.send("mute_participant", map[string]string{"participantId": ada.id, "source": "microphone"})
	if u := ada.expectUpdate(ada.id); len(u.Participant.ModeratorMuted) != 1 || u.By != prof.id {
		t.Fatalf("participant_updated = %+v", u)
	}
	prof.expectUpdate(ada.id)
	ada.send("mute", map[string]any{"source": "microphone", "muted": false}) // allowed by default
	if u := prof.expectUpdate(ada.id); len(u.Participant.ModeratorMuted) != 0 || u.By != ada.id {
		t.Fatalf("self-release = %+v", u)
	}
	prof.send("remove_participant", map[string]string{"participantId": ada.id})
	if bye := decode[byeMsg](ada, "bye"); bye.Reason != rooms.ReasonRemoved {
		t.Fatalf("bye = %+v", bye)
	}
	again := two.dial(t)
	again.send("join", map[string]string{"room": "math", "token": two.token(t, "math", "ada", "Ada", rooms.RoleStudent)})
	again.expectError(CodeRemoved)

	recs, err := store.Attendance(context.Background(), "math")
	if err != nil || len(recs) != 2 || recs[1].Identity != "ada" || recs[1].LeftAt.IsZero() || time.Since(recs[1].JoinedAt) > time.Minute {
		t.Fatalf("attendance = %+v, %v", recs, err)
	}
}
