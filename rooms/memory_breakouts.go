package rooms

import (
	"context"
	"time"
)

// Breakout plans in the MemoryStore: each change is applied to a copy of the main room's plan and
// emitted under the room's lock, like every other change of the room.

// changeBreakouts applies c to the room's plan and emits its event.
func (s *MemoryStore) changeBreakouts(ctx context.Context, room, by string, c breakoutChange) (BreakoutPlan, bool, error) {
	if err := ctx.Err(); err != nil {
		return BreakoutPlan{}, false, err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return BreakoutPlan{}, false, err
	}
	defer r.mu.Unlock()
	next := r.breakouts()
	typ, err := c(&next, time.Now())
	if err != nil || typ == "" {
		return r.breakouts(), false, err
	}
	next.Version++
	r.plan = next.Clone()
	r.emit(Event{Type: typ, By: by, Breakouts: &next})
	return next.Clone(), true, nil
}

// breakouts returns a copy of the room's plan; r.mu must be held.
func (r *memRoom) breakouts() BreakoutPlan {
	p := r.plan.Clone()
	p.Room = r.name
	return p
}

// Breakouts implements BreakoutStore.
func (s *MemoryStore) Breakouts(ctx context.Context, room string) (BreakoutPlan, error) {
	if err := ctx.Err(); err != nil {
		return BreakoutPlan{}, err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return BreakoutPlan{}, err
	}
	defer r.mu.Unlock()
	return r.breakouts(), nil
}

// OpenBreakouts implements BreakoutStore.
func (s *MemoryStore) OpenBreakouts(ctx context.Context, room string, o BreakoutOptions) (BreakoutPlan, error) {
	p, _, err := s.changeBreakouts(ctx, room, o.By, openBreakouts(room, o))
	return p, err
}

// AssignBreakouts implements BreakoutStore.
func (s *MemoryStore) AssignBreakouts(ctx context.Context, room string, gen uint64, as []Assignment, by string) (BreakoutPlan, error) {
	p, _, err := s.changeBreakouts(ctx, room, by, assignBreakouts(gen, as))
	return p, err
}

// ChooseBreakout implements BreakoutStore.
func (s *MemoryStore) ChooseBreakout(ctx context.Context, room string, gen uint64, a Assignment, by string) (BreakoutPlan, error) {
	p, _, err := s.changeBreakouts(ctx, room, by, chooseBreakout(gen, a))
	return p, err
}

// ExtendBreakouts implements BreakoutStore.
func (s *MemoryStore) ExtendBreakouts(ctx context.Context, room string, gen uint64, d time.Duration, by string) (BreakoutPlan, error) {
	p, _, err := s.changeBreakouts(ctx, room, by, extendBreakouts(gen, d))
	return p, err
}

// BroadcastToBreakouts implements BreakoutStore.
func (s *MemoryStore) BroadcastToBreakouts(ctx context.Context, room string, gen uint64, b BreakoutBroadcast) (BreakoutPlan, error) {
	p, _, err := s.changeBreakouts(ctx, room, b.From, broadcastToBreakouts(gen, b))
	return p, err
}

// RequestBreakoutHelp implements BreakoutStore.
func (s *MemoryStore) RequestBreakoutHelp(ctx context.Context, room string, gen uint64, h HelpRequest) (BreakoutPlan, error) {
	p, _, err := s.changeBreakouts(ctx, room, h.ParticipantID, requestBreakoutHelp(gen, h))
	return p, err
}

// ClearBreakoutHelp implements BreakoutStore.
func (s *MemoryStore) ClearBreakoutHelp(ctx context.Context, room string, gen uint64, breakout int, by string) (BreakoutPlan, error) {
	p, _, err := s.changeBreakouts(ctx, room, by, clearBreakoutHelp(gen, breakout))
	return p, err
}

// CloseBreakouts implements BreakoutStore.
func (s *MemoryStore) CloseBreakouts(ctx context.Context, room string, c BreakoutClose) (bool, error) {
	_, closed, err := s.changeBreakouts(ctx, room, c.By, closeBreakouts(c))
	return closed, err
}
