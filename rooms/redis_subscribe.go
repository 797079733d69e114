package rooms

// The RedisStore's subscriptions: one Pub/Sub connection per store carries every room channel its
// feeds listen to, and is replaced as a whole when it fails.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisChan is a room channel this store listens to, counted by its feeds.
type redisChan struct {
	feeds   map[*feed]struct{}
	want    bool          // the last command sent for the channel was SUBSCRIBE (else UNSUBSCRIBE)
	pending int           // commands sent whose confirmation has not been read yet
	ready   chan struct{} // closed when the last SUBSCRIBE is confirmed: events flow from then on
}

// pubsubHealth is how long the subscriber connection may stay silent before it is pinged, and then
// how long the answer may take before the connection is declared dead.
const pubsubHealth = 15 * time.Second

// Subscribe implements Store. It returns once Redis has confirmed the channel subscription, so every
// event applied after it returns is delivered; a few applied just before may come too, which the
// consumer skips by Seq after reading the Snapshot.
func (s *RedisStore) Subscribe(ctx context.Context, room string) (*Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	name := s.base(room) + "events"
	f := newFeed()
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	c := s.chans[name]
	if c == nil {
		c = &redisChan{feeds: make(map[*feed]struct{})}
		s.chans[name] = c
	}
	c.feeds[f] = struct{}{}
	if !c.want {
		c.want, c.ready = true, make(chan struct{})
		c.pending++
		if err := s.ps.Subscribe(context.Background(), name); err != nil {
			s.restartLocked(err)
			s.mu.Unlock()
			return nil, fmt.Errorf("rooms: redis subscribe %s: %w", room, err)
		}
	}
	ready := c.ready
	s.mu.Unlock()

	drop := func(err error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if c := s.chans[name]; c != nil && !f.isDone() {
			delete(c.feeds, f)
			f.end(err)
			s.releaseLocked(name, c)
		}
	}
	select {
	case <-ready:
	case <-f.done: // the connection broke or the store closed before Redis confirmed
		return nil, fmt.Errorf("rooms: redis subscribe %s: %w", room, f.Err())
	case <-ctx.Done():
		drop(ctx.Err())
		return nil, ctx.Err()
	}
	f.setStop(context.AfterFunc(ctx, func() { drop(context.Cause(ctx)) }))
	return NewSubscription(f.c, f.Err, func() { drop(nil) }), nil
}

// releaseLocked unsubscribes from a channel nobody listens to any more; s.mu must be held.
func (s *RedisStore) releaseLocked(name string, c *redisChan) {
	if len(c.feeds) > 0 || !c.want {
		return
	}
	c.want = false
	c.pending++
	if err := s.ps.Unsubscribe(context.Background(), name); err != nil {
		s.restartLocked(err)
	}
}

// restartLocked replaces the subscriber connection after it failed. Events may have been lost with it,
// so every subscription ends with ErrLagged and its consumer resubscribes and re-reads the Snapshot.
// A whole new PubSub (rather than go-redis's reconnect) means no confirmation or message of the old
// connection can be mistaken for one of the new. s.mu must be held.
func (s *RedisStore) restartLocked(cause error) {
	err := fmt.Errorf("%w: redis subscriber connection failed: %v", ErrLagged, cause)
	for _, c := range s.chans {
		for f := range c.feeds {
			f.end(err)
		}
	}
	s.chans = make(map[string]*redisChan)
	_ = s.ps.Close()
	s.ps = s.client.Subscribe(context.Background())
	// Pause before redialling, longer each time, so that a Redis that is down is not hammered.
	s.failures++
	pause := min(100*time.Millisecond<<min(s.failures, 6), 5*time.Second)
	s.wg.Add(1)
	go s.read(s.ps, pause)
}

// read dispatches what ps receives until ps is closed or replaced.
func (s *RedisStore) read(ps *redis.PubSub, pause time.Duration) {
	defer s.wg.Done()
	select {
	case <-time.After(pause):
	case <-s.done:
		return
	}
	ctx := context.Background()
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, pubsubHealth)
		s.mu.Lock()
		if s.ps != ps { // closed or replaced
			s.mu.Unlock()
			return
		}
		var ne net.Error
		if err != nil && errors.As(err, &ne) && ne.Timeout() && !pinged {
			// Silence may just be a quiet room; a ping tells it from a dead connection.
			pinged = true
			err = ps.Ping(ctx)
			s.mu.Unlock()
			if err == nil {
				continue
			}
			s.mu.Lock()
		}
		if err != nil {
			if s.ps == ps {
				s.restartLocked(err)
			}
			s.mu.Unlock()
			return
		}
		pinged, s.failures = false, 0
		s.dispatchLocked(msg)
		s.mu.Unlock()
	}
}

func (s *RedisStore) dispatchLocked(msg any) {
	switch m := msg.(type) {
	case *redis.Subscription:
		// Redis confirms each SUBSCRIBE and UNSUBSCRIBE of a channel once, in order, so when none is
		// pending the channel is in the state of the last command sent.
		c := s.chans[m.Channel]
		if c == nil || c.pending == 0 {
			return
		}
		c.pending--
		switch {
		case c.pending > 0:
		case c.want:
			close(c.ready)
		case len(c.feeds) == 0:
			delete(s.chans, m.Channel)
		}
	case *redis.Message:
		c := s.chans[m.Channel]
		if c == nil || !c.want || c.pending > 0 {
			return // from before the current SUBSCRIBE took effect
		}
		ev, err := decodeEvent(m.Payload)
		for f := range c.feeds {
			if err != nil {
				f.end(fmt.Errorf("rooms: redis event on %s: %w", m.Channel, err))
			}
			if err != nil || !f.send(ev) {
				delete(c.feeds, f)
			}
		}
		s.releaseLocked(m.Channel, c)
	}
}

func decodeEvent(payload string) (Event, error) {
	seqText, body, ok := strings.Cut(payload, " ")
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if !ok || err != nil {
		return Event{}, fmt.Errorf("malformed event %.40q", payload)
	}
	var ev Event
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		return Event{}, err
	}
	ev.Seq = seq
	return ev, nil
}
