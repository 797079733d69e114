package rooms

import (
	"context"
	"fmt"
	"slices"
)

// Classroom interaction in the MemoryStore: chat and raised hands. Like every other change, each is
// applied and emitted under the room's lock.

// memChat is a room's kept messages, oldest first, with an index by ID. Messages are numbered from 0 in
// posting order; msgs[0] is number first. Trimming drops from the front, so a message's number never
// changes and the index stays valid: its place in msgs is its number minus first.
type memChat struct {
	msgs  []ChatMessage
	first uint64
	byID  map[string]uint64 // ID → number, for the kept messages only
}

// PostChat implements Store.
func (s *MemoryStore) PostChat(ctx context.Context, room string, m ChatMessage) error {
	if err := checkChat(ctx, room, m); err != nil {
		return err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	if r.parts[m.From] == nil {
		return fmt.Errorf("rooms: post chat %s/%s: sender: %w", room, m.From, ErrNotFound)
	}
	c := &r.chat
	if _, dup := c.byID[m.ID]; dup {
		return fmt.Errorf("rooms: post chat %s: message id %q is already in use", room, m.ID)
	}
	c.byID[m.ID] = c.first + uint64(len(c.msgs))
	c.msgs = append(c.msgs, m)
	for len(c.msgs) > MaxChatKept {
		delete(c.byID, c.msgs[0].ID)
		// Reslicing from the front keeps appends amortised O(1): once the capacity left runs out,
		// append copies only the kept messages to a new array and the old one is freed.
		c.msgs[0] = ChatMessage{}
		c.msgs = c.msgs[1:]
		c.first++
	}
	r.emit(Event{Type: EventChat, Chat: &m})
	return nil
}

// DeleteChat implements Store.
func (s *MemoryStore) DeleteChat(ctx context.Context, room, id, by string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	n, ok := r.chat.byID[id]
	if !ok {
		return fmt.Errorf("rooms: delete chat %s/%s: %w", room, id, ErrNotFound)
	}
	m := &r.chat.msgs[n-r.chat.first]
	if m.Deleted {
		return nil
	}
	m.Text, m.Deleted = "", true
	r.emit(Event{Type: EventChatDeleted, ChatID: id, By: by})
	return nil
}

// ChatHistory implements Store.
func (s *MemoryStore) ChatHistory(ctx context.Context, room string, n int) ([]ChatMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return nil, err
	}
	defer r.mu.Unlock()
	msgs := r.chat.msgs
	return append([]ChatMessage{}, msgs[len(msgs)-min(max(n, 0), len(msgs)):]...), nil
}

// RaiseHand implements Store.
func (s *MemoryStore) RaiseHand(ctx context.Context, room, participantID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	if r.parts[participantID] == nil {
		return fmt.Errorf("rooms: raise hand %s/%s: %w", room, participantID, ErrNotFound)
	}
	if slices.Contains(r.hands, participantID) {
		return nil
	}
	r.hands = append(r.hands, participantID)
	r.emit(Event{Type: EventHandRaised, ParticipantID: participantID})
	return nil
}

// LowerHand implements Store.
func (s *MemoryStore) LowerHand(ctx context.Context, room, participantID, by string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	if r.parts[participantID] != nil && r.lowerHand(participantID) { // a held hand is no one's to lower
		r.emit(Event{Type: EventHandLowered, ParticipantID: participantID, By: by})
	}
	return nil
}

// lowerHand takes a participant out of the hand queue, without an event, and reports whether its hand
// was up; r.mu must be held.
func (r *memRoom) lowerHand(id string) bool {
	i := slices.Index(r.hands, id)
	if i < 0 {
		return false
	}
	r.hands = slices.Delete(r.hands, i, i+1)
	return true
}

// checkChat validates a message before either store touches the room.
func checkChat(ctx context.Context, room string, m ChatMessage) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.ID == "" {
		return fmt.Errorf("rooms: post chat %s: message id must be set", room)
	}
	return nil
}
