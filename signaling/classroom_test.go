package signaling

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
)

// joinInstructor joins with an instructor token (accepted in dev mode too).
func (e *testEnv) joinInstructor(t *testing.T, room, name string) *wsTest {
	t.Helper()
	tok, err := e.tokens.Mint(auth.Grant{Room: room, Identity: "prof-" + name, Name: name, Role: rooms.RoleInstructor}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	w := e.dial(t)
	w.send("join", map[string]string{"room": room, "token": tok})
	var j joinedMsg
	json.Unmarshal(w.expect("joined"), &j)
	if j.Participant.Role != rooms.RoleInstructor {
		t.Fatalf("joined as %s", j.Participant.Role)
	}
	w.id = j.Participant.ID
	return w
}

func (w *wsTest) expectChat() rooms.ChatMessage {
	w.t.Helper()
	var m chatEventMsg
	json.Unmarshal(w.expect("chat"), &m)
	if m.Seq == 0 {
		w.t.Fatal("chat event without seq")
	}
	return m.Message
}

// expectNo fails if a message of type typ arrives within d (others are skipped).
func (w *wsTest) expectNo(typ string, d time.Duration) {
	w.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case b := <-w.frames:
			var env envelope
			json.Unmarshal(b, &env)
			if env.Type == typ {
				w.t.Fatalf("unexpected %s: %s", typ, b)
			}
		case <-deadline:
			return
		}
	}
}

func TestChat(t *testing.T) {
	env := newTestEnv(t, nil)
	prof := env.joinInstructor(t, "math", "Prof")
	ada := env.dial(t)
	ada.join("math", "Ada")
	bob := env.dial(t)
	bob.join("math", "Bob")

	ada.send("chat", map[string]string{"text": "  Is the homework due Friday?  "})
	for _, w := range []*wsTest{prof, ada, bob} {
		m := w.expectChat()
		if m.Text != "Is the homework due Friday?" || m.From != ada.id || m.FromName != "Ada" || m.FromRole != rooms.RoleStudent || m.ID == "" {
			t.Fatalf("chat = %+v", m)
		}
	}

	// A private question reaches the instructors and its sender, nobody else.
	ada.send("chat", map[string]string{"text": "I am stuck on question 3", "to": "instructors"})
	for _, w := range []*wsTest{prof, ada} {
		if m := w.expectChat(); m.To != rooms.ChatToInstructors || m.Text != "I am stuck on question 3" {
			t.Fatalf("private chat = %+v", m)
		}
	}
	bob.expectNo("chat", 300*time.Millisecond)

	// History on join: a late student sees the public message only; a late instructor sees both.
	late := env.dial(t)
	j := late.join("math", "Late")
	if len(j.Chat) != 1 || j.Chat[0].Text != "Is the homework due Friday?" {
		t.Fatalf("student history = %+v", j.Chat)
	}
	prof2 := env.dial(t)
	tok, _ := env.tokens.Mint(auth.Grant{Room: "math", Identity: "prof2", Name: "Prof 2", Role: rooms.RoleInstructor}, time.Hour)
	prof2.send("join", map[string]string{"room": "math", "token": tok})
	var j2 joinedMsg
	json.Unmarshal(prof2.expect("joined"), &j2)
	if len(j2.Chat) != 2 {
		t.Fatalf("instructor history has %d messages, want 2", len(j2.Chat))
	}
}

func TestChatBadInput(t *testing.T) {
	env := newTestEnv(t, nil)
	ada := env.dial(t)
	ada.join("math", "Ada")
	tests := []struct {
		data map[string]string
		code string
		want string
	}{
		{map[string]string{"text": strings.Repeat("a", MaxChatRunes+1)}, CodeBadMessage, "limit"},
		{map[string]string{"text": "   "}, CodeBadMessage, "empty"},
		{map[string]string{"text": "hi", "to": "everyone-but-bob"}, CodeBadMessage, "instructors"},
	}
	for _, tt := range tests {
		ada.send("chat", tt.data)
		if e := ada.expectError(tt.code); !strings.Contains(e.Message, tt.want) {
			t.Errorf("error %q does not mention %q", e.Message, tt.want)
		}
	}
	// A message of exactly the limit (in characters, not bytes) is fine.
	ada.send("chat", map[string]string{"text": strings.Repeat("é", MaxChatRunes)})
	ada.expectChat()
}

func TestChatRateLimit(t *testing.T) {
	env := newTestEnv(t, nil)
	ada := env.dial(t)
	ada.join("math", "Ada")
	for i := range chatBurst {
		ada.send("chat", map[string]string{"text": "spam " + string(rune('a'+i))})
	}
	ada.send("chat", map[string]string{"text": "one too many"})
	// The burst arrives as chat events and the sixth message is refused; the
	// refusal is a direct reply, so it may overtake the published events.
	chats, refused := 0, 0
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for chats < chatBurst || refused == 0 {
		b, err := ada.next(ctx)
		if err != nil {
			t.Fatalf("after %d chats and %d refusals: %v", chats, refused, err)
		}
		var env envelope
		json.Unmarshal(b, &env)
		switch env.Type {
		case "chat":
			chats++
		case "error":
			var e errorMsg
			json.Unmarshal(env.Data, &e)
			if e.Code != CodeRateLimited || !strings.Contains(e.Message, "wait") {
				t.Fatalf("error = %+v, want rate_limited asking to wait", e)
			}
			refused++
		}
	}
	ada.expectNo("chat", 200*time.Millisecond)
	time.Sleep(chatRefill + 100*time.Millisecond)
	ada.send("chat", map[string]string{"text": "after a pause"})
	if m := ada.expectChat(); m.Text != "after a pause" {
		t.Fatalf("got %q", m.Text)
	}
}

func TestChatDelete(t *testing.T) {
	env := newTestEnv(t, nil)
	prof := env.joinInstructor(t, "math", "Prof")
	ada := env.dial(t)
	ada.join("math", "Ada")
	ada.send("chat", map[string]string{"text": "something rude"})
	id := ada.expectChat().ID
	prof.expectChat()

	ada.send("chat_delete", map[string]string{"id": id})
	ada.expectError(CodeForbidden)
	prof.send("chat_delete", map[string]string{"id": "Mnosuchmessage"})
	prof.expectError(CodeNotFound)

	prof.send("chat_delete", map[string]string{"id": id})
	for _, w := range []*wsTest{prof, ada} {
		var d chatDeletedMsg
		json.Unmarshal(w.expect("chat_deleted"), &d)
		if d.ID != id || d.By != prof.id {
			t.Fatalf("chat_deleted = %+v", d)
		}
	}
	late := env.dial(t)
	j := late.join("math", "Late")
	if len(j.Chat) != 1 || !j.Chat[0].Deleted || j.Chat[0].Text != "" {
		t.Fatalf("history after delete = %+v", j.Chat)
	}
}

func TestRaisedHands(t *testing.T) {
	env := newTestEnv(t, nil)
	prof := env.joinInstructor(t, "math", "Prof")
	ada := env.dial(t)
	ada.join("math", "Ada")
	bob := env.dial(t)
	bob.join("math", "Bob")

	expectHand := func(w *wsTest, typ, who, by string) {
		t.Helper()
		var h handMsg
		json.Unmarshal(w.expect(typ), &h)
		if h.ParticipantID != who || h.By != by {
			t.Fatalf("%s = %+v, want %s by %q", typ, h, who, by)
		}
	}
	bob.send("raise_hand", nil)
	expectHand(prof, "hand_raised", bob.id, "")
	ada.send("raise_hand", nil)
	expectHand(prof, "hand_raised", ada.id, "")

	late := env.dial(t)
	if j := late.join("math", "Late"); len(j.Hands) != 2 || j.Hands[0] != bob.id || j.Hands[1] != ada.id {
		t.Fatalf("hands on join = %v, want [bob ada] in order", j.Hands)
	}

	ada.send("lower_hand", map[string]string{"participantId": bob.id})
	ada.expectError(CodeForbidden)
	prof.send("lower_hand", map[string]string{"participantId": bob.id})
	expectHand(bob, "hand_lowered", bob.id, prof.id)
	expectHand(prof, "hand_lowered", bob.id, prof.id)
	ada.send("lower_hand", map[string]string{})
	expectHand(prof, "hand_lowered", ada.id, ada.id)

	// A participant who leaves with a raised hand leaves the queue too.
	bob.send("raise_hand", nil)
	expectHand(prof, "hand_raised", bob.id, "")
	bob.send("leave", nil)
	prof.expect("participant_left")
	late2 := env.dial(t)
	if j := late2.join("math", "Later"); len(j.Hands) != 0 {
		t.Fatalf("hands after the raiser left = %v", j.Hands)
	}
}

// A private message stays visible to its sender after a rejoin (a reload is a new session of the
// same identity), and to nobody else who is not an instructor.
func TestPrivateChatSurvivesRejoin(t *testing.T) {
	env := newTestEnv(t, nil)
	joinAs := func(identity, name string) (*wsTest, joinedMsg) {
		w := env.dial(t)
		w.send("join", map[string]string{"room": "math", "name": name, "identity": identity})
		var j joinedMsg
		json.Unmarshal(w.expect("joined"), &j)
		w.id = j.Participant.ID
		return w, j
	}
	ada, _ := joinAs("ada", "Ada")
	ada.send("chat", map[string]string{"text": "private question", "to": "instructors"})
	if m := ada.expectChat(); m.FromIdentity != "guest-ada" {
		t.Fatalf("fromIdentity = %q", m.FromIdentity)
	}
	ada.send("leave", nil)
	ada.expectClosed()

	_, j := joinAs("ada", "Ada")
	if len(j.Chat) != 1 || j.Chat[0].Text != "private question" {
		t.Fatalf("Ada's history after rejoining = %+v", j.Chat)
	}
	if _, j := joinAs("bob", "Bob"); len(j.Chat) != 0 {
		t.Fatalf("Bob sees %+v", j.Chat)
	}
}
