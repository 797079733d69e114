package lessons

import (
	"sync"
	"time"
)

// Posting limits: threads, replies and their edits, per person per room, on this node. A burst of
// postBurst, then one per postRefill: far above what a person types, far below what a script
// sends. (Heartbeats have their own limit, kept in the progress document, on every node.)
const (
	postBurst     = 30
	postRefill    = 2 * time.Second
	maxLimitedIDs = 10000 // people tracked before idle ones are forgotten
)

// postLimiter is a token bucket per key.
type postLimiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// allow takes a token for key, or says how long until there is one.
func (l *postLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxLimitedIDs {
			l.forgetIdle(now)
		}
		b = &bucket{tokens: postBurst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(postBurst, b.tokens+now.Sub(b.last).Seconds()/postRefill.Seconds())
	b.last = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(postRefill))
	}
	b.tokens--
	return true, 0
}

// forgetIdle drops the buckets that have refilled (their owners are idle): a forgotten person
// starts again with a full bucket, which is what they would have. If all are busy, it drops all.
func (l *postLimiter) forgetIdle(now time.Time) {
	for k, b := range l.buckets {
		if now.Sub(b.last) >= postBurst*postRefill {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxLimitedIDs {
		clear(l.buckets)
	}
}
