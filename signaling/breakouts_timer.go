package signaling

import (
	"context"
	"sync"
	"time"

	"github.com/chalk-edu/chalk/rooms"
)

// Breakout timers. Every node with a participant of a class keeps one timer for the class's open,
// timed breakouts. When it fires the node asks the store to close that generation if its deadline
// is still the one the timer was set for. With several nodes on one Redis the first call closes
// and the others change nothing; an extension that overtook a timer makes its call change nothing.

// expireAttempts bounds the retries of a close the store failed to apply, one per moveRetry.
const expireAttempts = 30

type breakoutTimers struct {
	mu     sync.Mutex
	closed bool
	timers map[string]*breakoutTimer // by main room
}

type breakoutTimer struct {
	version  uint64 // of the plan the timer was set from
	gen      uint64
	deadline time.Time
	t        *time.Timer
}

// armBreakoutTimer sets, moves or stops the main room's timer to match plan p. Sessions call it
// with every plan they adopt; a plan older than the one the timer follows changes nothing.
func (h *Hub) armBreakoutTimer(p rooms.BreakoutPlan) {
	bt := &h.bo
	bt.mu.Lock()
	defer bt.mu.Unlock()
	if bt.closed {
		return
	}
	cur := bt.timers[p.Room]
	if cur != nil && p.Version <= cur.version {
		return
	}
	want := p.Open && !p.EndsAt.IsZero()
	if cur != nil && want && cur.gen == p.Generation && cur.deadline.Equal(p.EndsAt) {
		cur.version = p.Version
		return
	}
	if cur != nil {
		cur.t.Stop()
		delete(bt.timers, p.Room)
	}
	if !want {
		return
	}
	if bt.timers == nil {
		bt.timers = map[string]*breakoutTimer{}
	}
	room, gen, deadline := p.Room, p.Generation, p.EndsAt
	bt.timers[room] = &breakoutTimer{version: p.Version, gen: gen, deadline: deadline,
		t: time.AfterFunc(time.Until(deadline), func() { h.expireBreakouts(room, gen, deadline, 1) })}
}

// expireBreakouts closes a generation whose timer ran out, retrying while the store fails.
func (h *Hub) expireBreakouts(room string, gen uint64, deadline time.Time, attempt int) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	closed, err := h.cfg.Store.CloseBreakouts(ctx, room, rooms.BreakoutClose{Generation: gen, Deadline: deadline})
	cancel()
	bt := &h.bo
	bt.mu.Lock()
	defer bt.mu.Unlock()
	if bt.closed {
		return
	}
	cur := bt.timers[room]
	if cur == nil || cur.gen != gen || !cur.deadline.Equal(deadline) {
		return // re-armed meanwhile for a newer plan
	}
	if err != nil && attempt < expireAttempts {
		h.log.Error("close breakouts at the end of their timer; retrying", "room", room, "generation", gen, "err", err)
		cur.t = time.AfterFunc(moveRetry, func() { h.expireBreakouts(room, gen, deadline, attempt+1) })
		return
	}
	if err != nil {
		h.log.Error("close breakouts at the end of their timer; giving up", "room", room, "generation", gen, "err", err)
	} else if closed {
		h.log.Info("breakouts ended by their timer", "room", room, "generation", gen)
	}
	delete(bt.timers, room)
}

// stop cancels every timer (the hub is closing); the store keeps the deadlines for other nodes.
func (bt *breakoutTimers) stop() {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	bt.closed = true
	for _, t := range bt.timers {
		t.t.Stop()
	}
	bt.timers = nil
}
