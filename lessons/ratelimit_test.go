package lessons

import (
	"testing"
	"time"
)

func TestPostLimiter(t *testing.T) {
	var l postLimiter
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	for i := range postBurst {
		if ok, _ := l.allow("math\x00ana", t0); !ok {
			t.Fatalf("post %d of the burst refused", i)
		}
	}
	ok, wait := l.allow("math\x00ana", t0)
	if ok || wait != postRefill {
		t.Fatalf("after the burst: %v, wait %v", ok, wait)
	}
	if ok, _ := l.allow("math\x00ben", t0); !ok {
		t.Fatal("another person is limited too")
	}
	if ok, _ := l.allow("math\x00ana", t0.Add(postRefill)); !ok {
		t.Fatal("a token did not come back after postRefill")
	}
	// Idle people are forgotten when the map is full; if nobody is idle, everyone is.
	for _, c := range []struct {
		later time.Duration
		keep  int
	}{{time.Hour, 1}, {0, 1}, {time.Second, 1}} {
		l := postLimiter{}
		for i := range maxLimitedIDs {
			l.allow(string(rune(i)), t0)
		}
		if ok, _ := l.allow("new", t0.Add(c.later)); !ok || len(l.buckets) != c.keep {
			t.Fatalf("%v later: %v, %d buckets kept", c.later, ok, len(l.buckets))
		}
	}
}
