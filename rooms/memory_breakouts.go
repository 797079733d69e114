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
