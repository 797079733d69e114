package rooms

import (
	"slices"
	"time"
)

// Held hands in the MemoryStore (hands.go). A held hand keeps its participant id in r.hands, so it
// keeps its place; it is held because that id is no longer a participant of the room.

// heldHand is a hand waiting for its owner's identity to join again.
type heldHand struct {
	id    string    // the lost session's participant id, still in r.hands
	until time.Time // zero: held for the join in progress (a replacement), which takes it at once
}

// SetHandHold implements HandHolder.
func (s *MemoryStore) SetHandHold(d time.Duration) { s.handHold.Store(int64(d)) }

// handGone runs when participant p is removed for reason, before its left event: its hand, if
// raised, is held for its identity or lowered; r.mu must be held.
func (r *memRoom) handGone(p *Participant, reason string) {
	now := time.Now()
	r.pruneHands(now)
	if !slices.Contains(r.hands, p.ID) {
		return
	}
	h := heldHand{id: p.ID}
	switch hold := time.Duration(r.handHold.Load()); {
	case reason == ReasonReplaced:
	case holdsHand(reason) && hold > 0:
		h.until = now.Add(hold)
	default:
		r.lowerHand(p.ID)
		return
	}
	if old, ok := r.held[p.Identity]; ok && old.id != p.ID {
		r.lowerHand(old.id)
	}
	if r.held == nil {
		r.held = make(map[string]heldHand)
	}
	r.held[p.Identity] = h
}

// handBack runs after participant p's joined event: a hand held for its identity comes back at its
// place in the queue; r.mu must be held.
func (r *memRoom) handBack(p *Participant) {
	now := time.Now()
	r.pruneHands(now)
	for identity, h := range r.held {
		if h.id == p.ID && identity != p.Identity { // the id came back for someone else: not theirs
			delete(r.held, identity)
			r.lowerHand(h.id)
		}
	}
	h, ok := r.held[p.Identity]
	if !ok {
		return
	}
	delete(r.held, p.Identity)
	i := slices.Index(r.hands, h.id)
	if i < 0 {
		return
	}
	r.hands[i] = p.ID
	r.emit(Event{Type: EventHandRestored, ParticipantID: p.ID, Hands: r.visibleHands()})
}

// pruneHands drops the held hands whose hold ran out; r.mu must be held.
func (r *memRoom) pruneHands(now time.Time) {
	for identity, h := range r.held {
		if !h.until.IsZero() && !now.Before(h.until) {
			delete(r.held, identity)
			r.lowerHand(h.id)
		}
	}
}

// visibleHands is the queue without the held hands: the raised hands of participants in the room;
// r.mu must be held.
func (r *memRoom) visibleHands() []string {
	out := make([]string, 0, len(r.hands))
	for _, id := range r.hands {
		if r.parts[id] != nil {
			out = append(out, id)
		}
	}
	return out
}
