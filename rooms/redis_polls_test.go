package rooms_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/rooms/redistest"
)

// The poll keys are documented in rooms/redis_polls.go; they outlive the class, like chat.
func TestRedisPollKeyLayout(t *testing.T) {
	url := redistest.Start(t)
	ctx := t.Context()
	s := newRedisStore(t, url, "pk:")
	p := rooms.Participant{ID: "p1", Identity: "alice", Name: "Alice", JoinedAt: time.Now()}
	if _, _, err := s.Join(ctx, "r", p); err != nil {
		t.Fatal(err)
	}
	poll := rooms.Poll{ID: "q1", Question: "Why?", Options: []string{"a", "b", "c"}, Anonymous: true, CreatedBy: "p1", CreatedAt: time.Now()}
	if err := errors.Join(s.CreatePoll(ctx, "r", poll), s.Vote(ctx, "r", "q1", "p1", []int{2})); err != nil {
		t.Fatal(err)
	}
	c := rawClient(t, url)
	for _, tc := range []struct {
		cmd  *redis.StringCmd
		want string
	}{
		{c.LIndex(ctx, "pk:room:{r}:polls", 0), "q1"},
		{c.HGet(ctx, "pk:room:{r}:poll:q1", "def"), `"question":"Why?"`},
		{c.HGet(ctx, "pk:room:{r}:poll:q1", "n"), "3"},
		{c.HGet(ctx, "pk:room:{r}:poll:q1", "anon"), "1"},
		{c.HGet(ctx, "pk:room:{r}:poll:q1", "voters"), "1"},
		{c.HGet(ctx, "pk:room:{r}:poll:q1", "c2"), "1"},
		// Kept for an anonymous poll too, so the vote can be changed; never read out for it.
		{c.HGet(ctx, "pk:room:{r}:pollvotes:q1", "alice"), `"choices":[2]`},
	} {
		if got, err := tc.cmd.Result(); err != nil || !strings.Contains(got, tc.want) {
			t.Errorf("%v: %q, %v; want it to contain %q", tc.cmd.Args(), got, err, tc.want)
		}
	}
	if open, err := c.SMembers(ctx, "pk:room:{r}:pollsopen").Result(); err != nil || !slices.Equal(open, []string{"q1"}) {
		t.Errorf("open polls: %q, %v", open, err)
	}
	if err := errors.Join(s.ClosePoll(ctx, "r", "q1", "p1"), s.Leave(ctx, "r", "p1", rooms.ReasonLeft)); err != nil {
		t.Fatal(err)
	}
	if closed, err := c.HGet(ctx, "pk:room:{r}:poll:q1", "closed").Result(); err != nil || !strings.Contains(closed, `"closedBy":"p1"`) {
		t.Errorf("closed field: %q, %v", closed, err)
	}
	keys, err := c.Keys(ctx, "pk:*").Result()
	slices.Sort(keys)
	want := []string{"pk:room:{r}:attcount", "pk:room:{r}:attendance", "pk:room:{r}:poll:q1", "pk:room:{r}:polls", "pk:room:{r}:pollvotes:q1", "pk:room:{r}:seq"}
	if err != nil || !slices.Equal(keys, want) {
		t.Fatalf("keys after the class: %q, %v; want %q", keys, err, want)
	}
}
