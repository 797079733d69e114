package signaling

import (
	"errors"
	"time"

	"github.com/chalk-edu/chalk/rooms"
)

// Classroom interaction: chat and raised hands. Every action is checked here (role, rate) and applied
// by the store, which publishes the event every node delivers; nothing changes locally first.

// Chat rate limit per participant: a burst of chatBurst messages, then one per chatRefill.
const (
	chatBurst  = 5
	chatRefill = time.Second
)

// chatLimiter is a token bucket; only the session's goroutine touches it.
type chatLimiter struct {
	tokens float64
	last   time.Time
}

func (l *chatLimiter) allow(now time.Time) bool {
	if l.last.IsZero() {
		l.tokens = chatBurst
	} else {
		l.tokens = min(chatBurst, l.tokens+now.Sub(l.last).Seconds()/chatRefill.Seconds())
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

// isInstructor: instructors and co-instructors (who have an instructor's powers but over roles).
func (s *session) isInstructor() bool { return s.me.Role.Moderator() }

// canSee reports whether this participant may read m: private messages to the instructors reach
// only instructors and their sender — the same user after a rejoin too, hence the identity.
func (s *session) canSee(m rooms.ChatMessage) bool {
	return m.To != rooms.ChatToInstructors || s.isInstructor() || m.From == s.me.ID || m.FromIdentity == s.me.Identity
}

func (s *session) visibleChat(all []rooms.ChatMessage) []rooms.ChatMessage {
	out := make([]rooms.ChatMessage, 0, len(all))
	for _, m := range all {
		if s.canSee(m) {
			out = append(out, m)
		}
	}
	return out
}

// chatHistory reads the recent messages this participant may see; on failure it logs and returns
// none, so a join still succeeds without history.
func (s *session) chatHistory() []rooms.ChatMessage {
	ctx, cancel := s.ctx()
	defer cancel()
	all, err := s.hub.cfg.Store.ChatHistory(ctx, s.room, ChatHistoryLen)
	if err != nil {
		s.log.Error("read chat history", "err", err)
		return []rooms.ChatMessage{}
	}
	return s.visibleChat(all)
}

func (s *session) handleChat(conn *wsConn, m *chatMsg) {
	if !s.chatLimit.allow(time.Now()) {
		s.fail(conn, protoErr(CodeRateLimited, "chat", "you are sending messages too fast; wait a moment and try again"))
		return
	}
	msg := rooms.ChatMessage{
		ID: newID("M", 12), From: s.me.ID, FromIdentity: s.me.Identity, FromName: s.me.Name, FromRole: s.me.Role,
		To: m.To, Text: m.Text, At: time.Now().UTC(),
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.hub.cfg.Store.PostChat(ctx, s.room, msg); err != nil {
		s.storeError(conn, "chat", err)
	}
}

func (s *session) handleChatDelete(conn *wsConn, m *chatDeleteMsg) {
	if !s.isInstructor() {
		s.fail(conn, protoErr(CodeForbidden, "chat_delete", "only an instructor can delete messages"))
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.hub.cfg.Store.DeleteChat(ctx, s.room, m.ID, s.me.ID); errors.Is(err, rooms.ErrNotFound) {
		s.fail(conn, protoErr(CodeNotFound, "chat_delete", "no such message"))
	} else if err != nil {
		s.storeError(conn, "chat_delete", err)
	}
}

func (s *session) handleRaiseHand(conn *wsConn) {
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.hub.cfg.Store.RaiseHand(ctx, s.room, s.me.ID); err != nil {
		s.storeError(conn, "raise_hand", err)
	}
}

func (s *session) handleLowerHand(conn *wsConn, m *lowerHandMsg) {
	target := m.ParticipantID
	if target == "" {
		target = s.me.ID
	}
	if target != s.me.ID && !s.isInstructor() {
		s.fail(conn, protoErr(CodeForbidden, "lower_hand", "only an instructor can lower someone else's hand"))
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.hub.cfg.Store.LowerHand(ctx, s.room, target, s.me.ID); err != nil {
		s.storeError(conn, "lower_hand", err)
	}
}

// storeError reports a failed store call: not found is the client's mistake, anything else ours.
func (s *session) storeError(conn *wsConn, ref string, err error) {
	if errors.Is(err, rooms.ErrNotFound) {
		s.fail(conn, protoErr(CodeNotFound, ref, "that participant or item is not in the room"))
		return
	}
	s.log.Error("store", "ref", ref, "err", err)
	s.fail(conn, protoErr(CodeInternal, ref, "the classroom state store failed; try again"))
}

// onClassroomEvent delivers chat and hand events; it reports false for other event types.
func (s *session) onClassroomEvent(ev rooms.Event) bool {
	switch ev.Type {
	case rooms.EventChat:
		if s.canSee(*ev.Chat) {
			s.send("chat", chatEventMsg{Seq: ev.Seq, Message: *ev.Chat})
		}
	case rooms.EventChatDeleted:
		s.send("chat_deleted", chatDeletedMsg{Seq: ev.Seq, ID: ev.ChatID, By: ev.By})
	case rooms.EventHandRaised, rooms.EventHandLowered:
		s.send(string(ev.Type), handMsg{Seq: ev.Seq, ParticipantID: ev.ParticipantID, By: ev.By})
	case rooms.EventHandRestored:
		s.send(string(ev.Type), handRestoredMsg{Seq: ev.Seq, ParticipantID: ev.ParticipantID, Hands: ev.Hands})
	default:
		return false
	}
	return true
}
