package rooms

import (
	"context"
	"slices"
	"time"
)

// Instructors' breakout visits in the plan. Where an instructor is visiting used to be session state
// only, so a fresh join (after its node died, or a reload) put the instructor back in the main room;
// kept in the plan, a fresh join goes back to the breakout. A new generation starts with no visits.

// BreakoutVisitStore records instructors' visits; both stores implement it through changeBreakouts.
type BreakoutVisitStore interface {
	// VisitBreakout records that v.Identity (an instructor) is in breakout v.Breakout of generation
	// gen, 0 for the main room (EventBreakoutsChanged; the same visit again changes nothing).
	// ErrBreakoutState if gen is not open, ErrBreakoutInvalid for a breakout out of range.
	VisitBreakout(ctx context.Context, room string, gen uint64, v Assignment, by string) (BreakoutPlan, error)
}

// VisitOf says which breakout identity is visiting in the open generation; 0: none (the main room).
func (p *BreakoutPlan) VisitOf(identity string) int {
	if !p.Open {
		return 0
	}
	if i, ok := slices.BinarySearchFunc(p.Visits, identity, cmpIdentity); ok {
		return p.Visits[i].Breakout
	}
	return 0
}

func visitBreakout(gen uint64, v Assignment) breakoutChange {
	return func(p *BreakoutPlan, _ time.Time) (EventType, error) {
		if err := p.Current(gen); err != nil {
			return "", err
		}
		if v.Identity == "" || v.Breakout < 0 || v.Breakout > len(p.Rooms) {
			return "", invalid("a visit needs an identity and a breakout from 0 to %d", len(p.Rooms))
		}
		i, ok := slices.BinarySearchFunc(p.Visits, v.Identity, cmpIdentity)
		switch {
		case ok && v.Breakout == 0:
			p.Visits = slices.Delete(p.Visits, i, i+1)
		case ok && p.Visits[i].Breakout != v.Breakout:
			p.Visits[i] = v
		case !ok && v.Breakout > 0:
			if len(p.Visits) >= MaxBreakoutAssigned {
				return "", invalid("at most %d visits", MaxBreakoutAssigned)
			}
			p.Visits = slices.Insert(p.Visits, i, v)
		default:
			return "", nil
		}
		return EventBreakoutsChanged, nil
	}
}

// VisitBreakout implements BreakoutVisitStore.
func (o breakoutOps) VisitBreakout(ctx context.Context, room string, gen uint64, v Assignment, by string) (BreakoutPlan, error) {
	p, _, err := o.c.changeBreakouts(ctx, room, by, visitBreakout(gen, v))
	return p, err
}
