package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Breakout plans in the RedisStore. Keys of main room R, for prefix P:
//
//	P room:{R}:breakouts     string  the plan's JSON
//	P room:{R}:breakoutver   string  the plan's Version (0 when absent)
//
// A change reads the plan, applies the shared change function in Go, and stores the result with one
// script that checks the Version is still the one read (compare-and-set), writes, counts the room's
// Seq and publishes the event. A concurrent change makes the check fail and the change is applied
// again to the newer plan, so the rules live once, in Go, and each change is still one atomic step.

// casAttempts bounds the retries of a contended change: each retry means another change won, so
// it only runs out under a flood of concurrent changes to one plan.
const casAttempts = 50

// errCASConflict: the plan changed between read and write.
var errCASConflict = errors.New("breakout plan changed concurrently")

// Breakouts implements BreakoutStore.
func (s *RedisStore) Breakouts(ctx context.Context, room string) (BreakoutPlan, error) {
	if s.closed.Load() {
		return BreakoutPlan{}, ErrClosed
	}
	raw, err := s.client.Get(ctx, s.base(room)+"breakouts").Result()
	if errors.Is(err, redis.Nil) {
		return BreakoutPlan{Room: room}.Clone(), nil
	}
	if err != nil {
		return BreakoutPlan{}, fmt.Errorf("rooms: redis breakouts of %s: %w", room, err)
	}
	var p BreakoutPlan
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return BreakoutPlan{}, fmt.Errorf("rooms: redis breakouts of %s: %w", room, err)
	}
	return p.Clone(), nil
}

// changeBreakouts applies c to the room's plan with compare-and-set, retrying on conflicts.
func (s *RedisStore) changeBreakouts(ctx context.Context, room, by string, c breakoutChange) (BreakoutPlan, bool, error) {
	for range casAttempts {
		cur, err := s.Breakouts(ctx, room)
		if err != nil {
			return BreakoutPlan{}, false, err
		}
		next, now := cur.Clone(), time.Now()
		typ, err := c(&next, now)
		if err != nil || typ == "" {
			return cur, false, err
		}
		next.Version = cur.Version + 1
		err = s.storeBreakouts(ctx, room, cur.Version, next, Event{Room: room, Type: typ, At: now, By: by, Breakouts: &next})
		if errors.Is(err, errCASConflict) {
			continue
		}
		if err != nil {
			return BreakoutPlan{}, false, err
		}
		return next, true, nil
	}
	return BreakoutPlan{}, false, fmt.Errorf("rooms: redis breakouts of %s: %d concurrent changes in a row; try again", room, casAttempts)
}

func (s *RedisStore) storeBreakouts(ctx context.Context, room string, was uint64, p BreakoutPlan, ev Event) error {
	pj, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("rooms: redis breakouts: %w", err)
	}
	ej, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("rooms: redis breakouts: %w", err)
	}
	res, err := s.run(ctx, casBreakoutsScript, room, ev.At, was, pj, ej)
	if err != nil {
		return fmt.Errorf("rooms: redis breakouts of %s: %w", room, err)
	}
	if n, _ := res.(int64); n == -3 {
		return errCASConflict
	}
	return nil
}

// ARGV[3..]: the Version the change was computed from, the new plan JSON, the event JSON. Answers
// the event's Seq, or -3 if the plan's Version is no longer the one given.
var casBreakoutsScript = redis.NewScript(luaLib + `
local bkey, vkey = base .. 'breakouts', base .. 'breakoutver'
if (redis.call('GET', vkey) or '0') ~= ARGV[3] then return -3 end
redis.call('SET', bkey, ARGV[4])
redis.call('SET', vkey, tostring(tonumber(ARGV[3]) + 1))
return emit(ARGV[5])
`)
