package client

import (
	"context"
	"encoding/json"
	"sync"
)

// Breakout rooms: the server may move the client to another room (a "moved" message) over the same
// socket and peer connections; the client follows and offers helpers for the breakout messages.

// whereabouts tracks the client's current room and breakout state.
type whereabouts struct {
	mu        sync.Mutex
	room      string
	breakouts json.RawMessage
	changed   chan struct{} // closed and replaced whenever either changes
}

// update reads room and breakouts from a joined, moved or breakouts message.
func (w *whereabouts) update(data json.RawMessage) {
	var m struct {
		Room      *string         `json:"room"`
		Breakouts json.RawMessage `json:"breakouts"`
		Version   *uint64         `json:"version"` // set only in a breakouts message itself
	}
	if json.Unmarshal(data, &m) != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case m.Version != nil:
		w.breakouts = data
	default:
		if m.Room != nil {
			w.room = *m.Room
		}
		if m.Breakouts != nil {
			w.breakouts = m.Breakouts
		}
	}
	if w.changed != nil {
		close(w.changed)
	}
	w.changed = make(chan struct{})
}

func (w *whereabouts) wait() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.changed == nil {
		w.changed = make(chan struct{})
	}
	return w.changed
}

// Room is the room the client is in now: the room it joined, or a breakout the server moved it to.
func (c *Client) Room() string {
	c.where.mu.Lock()
	defer c.where.mu.Unlock()
	return c.where.room
}

// Breakouts is the latest breakout state the server sent (the "breakouts" object of protocol.md).
func (c *Client) Breakouts() json.RawMessage {
	c.where.mu.Lock()
	defer c.where.mu.Unlock()
	return c.where.breakouts
}

// WaitRoom waits until the client is in room, or ctx ends.
func (c *Client) WaitRoom(ctx context.Context, room string) error {
	for {
		ch := c.where.wait()
		if c.Room() == room {
			return nil
		}
		select {
		case <-ch:
		case <-c.done:
			return context.Canceled
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// BreakoutOptions is the body of breakouts_open.
type BreakoutOptions struct {
	Count           int            `json:"count"`
	Names           []string       `json:"names,omitempty"`
	Assignments     map[string]int `json:"assignments,omitempty"`
	Random          bool           `json:"random,omitempty"`
	SelfSelect      bool           `json:"selfSelect,omitempty"`
	DurationSeconds int            `json:"durationSeconds,omitempty"`
}

// OpenBreakouts asks the server to open breakouts (instructors only).
func (c *Client) OpenBreakouts(ctx context.Context, o BreakoutOptions) error {
	return c.Send(ctx, "breakouts_open", o)
}

// CloseBreakouts asks the server to close the breakouts (instructors only).
func (c *Client) CloseBreakouts(ctx context.Context) error {
	return c.Send(ctx, "breakouts_close", struct{}{})
}

// VisitBreakout moves an instructor to breakout n (0: the main room).
func (c *Client) VisitBreakout(ctx context.Context, n int) error {
	return c.Send(ctx, "breakout_visit", map[string]int{"breakout": n})
}

// ChooseBreakout picks breakout n (0: the main room) when the breakouts are self-select.
func (c *Client) ChooseBreakout(ctx context.Context, n int) error {
	return c.Send(ctx, "breakout_choose", map[string]int{"breakout": n})
}
