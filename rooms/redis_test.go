package rooms_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/rooms/redistest"
	"github.com/chalk-edu/chalk/rooms/storetest"
)

var prefixes atomic.Int64

// newRedisStore connects a store with its own key prefix, so tests sharing a server do not collide.
func newRedisStore(t *testing.T, url, prefix string) *rooms.RedisStore {
	t.Helper()
	if prefix == "" {
		prefix = fmt.Sprintf("test%d:", prefixes.Add(1))
	}
	s, err := rooms.NewRedisStore(t.Context(), url, rooms.RedisOptions{KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// rawClient is a plain client, for looking behind the store's back.
func rawClient(t *testing.T, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRedisStore(t *testing.T) {
	url := redistest.Start(t)
	storetest.Run(t, func(t *testing.T) rooms.Store { return newRedisStore(t, url, "") })
}

func TestRedisDocs(t *testing.T) {
	url := redistest.Start(t)
	n := 0
	storetest.RunDocs(t, func(t *testing.T) rooms.Docs {
		n++ // a fresh prefix per test: an empty store on the shared server
		return newRedisStore(t, url, fmt.Sprintf("docs%d:", n))
	})
}

// Two nodes sharing one Redis must see the same events in the same order, whichever node applied them.
func TestRedisTwoNodesSeeOneOrder(t *testing.T) {
	url := redistest.Start(t)
	ctx := t.Context()
	nodes := []*rooms.RedisStore{newRedisStore(t, url, "shared:"), newRedisStore(t, url, "shared:")}
	var subs []*rooms.Subscription
	for _, n := range nodes {
		sub, err := n.Subscribe(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub)
	}
	const perNode = 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*perNode)
	for ni, n := range nodes {
		wg.Go(func() {
			for i := range perNode {
				id := fmt.Sprintf("n%d-p%d", ni, i)
				p := rooms.Participant{ID: id, Identity: id, Role: rooms.RoleStudent, Node: fmt.Sprint("node", ni), JoinedAt: time.Now()}
				if _, _, err := n.Join(ctx, "r", p); err != nil {
					errs <- err
				}
				if err := n.PublishTrack(ctx, "r", id, rooms.Track{ID: "mic", Source: rooms.SourceMicrophone}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	const total = 4 * perNode
	var orders [2][]string
	for i, sub := range subs {
		for seq := uint64(1); seq <= total; seq++ {
			select {
			case ev, ok := <-sub.C:
				if !ok || ev.Seq != seq {
					t.Fatalf("node %d: event Seq %d (open %v, Err %v), want %d", i, ev.Seq, ok, sub.Err(), seq)
				}
				id := ev.ParticipantID
				if ev.Participant != nil {
					id = ev.Participant.ID
				}
				orders[i] = append(orders[i], fmt.Sprint(ev.Seq, ev.Type, id))
			case <-time.After(5 * time.Second):
				t.Fatalf("node %d: no event %d within 5s", i, seq)
			}
		}
	}
	if strings.Join(orders[0], ",") != strings.Join(orders[1], ",") {
		t.Fatalf("nodes saw different orders:\n%v\n%v", orders[0], orders[1])
	}
	s0, err0 := nodes[0].Snapshot(ctx, "r")
	s1, err1 := nodes[1].Snapshot(ctx, "r")
	if err := errors.Join(err0, err1); err != nil {
		t.Fatal(err)
	}
	if s0.Seq != total || len(s0.Participants) != 2*perNode || fmt.Sprint(s0) != fmt.Sprint(s1) {
		t.Fatalf("snapshots differ or are incomplete:\n%+v\n%+v", s0, s1)
	}
	// Another prefix is another world.
	if snap, err := newRedisStore(t, url, "elsewhere:").Snapshot(ctx, "r"); err != nil || snap.Seq != 0 {
		t.Fatalf("store with another prefix: %+v, %v", snap, err)
	}
}

func TestRedisUnreachableFailsFast(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s, err := rooms.NewRedisStore(ctx, "redis://"+addr, rooms.RedisOptions{})
	if err == nil {
		s.Close()
		t.Fatal("NewRedisStore succeeded against a closed port")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("NewRedisStore took %v to fail", d)
	}
	if msg := err.Error(); !strings.Contains(msg, "unreachable") || !strings.Contains(msg, addr) {
		t.Errorf("error %q should say Redis at %s is unreachable", msg, addr)
	}
	if _, err := rooms.NewRedisStore(ctx, "http://nope", rooms.RedisOptions{}); err == nil {
		t.Error("NewRedisStore accepted a non-redis URL")
	}
}

// When the subscriber connection breaks, events may be lost: subscriptions must end with ErrLagged,
// and new ones must work on the replacement connection.
func TestRedisSubscriberConnectionLost(t *testing.T) {
	url := redistest.Start(t)
	ctx := t.Context()
	s := newRedisStore(t, url, "")
	sub, err := s.Subscribe(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if err := rawClient(t, url).ClientKillByFilter(ctx, "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	if err := drainErr(t, sub); !errors.Is(err, rooms.ErrLagged) {
		t.Fatalf("Err after the connection was killed = %v, want ErrLagged", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for sub, err = s.Subscribe(ctx, "r"); err != nil; sub, err = s.Subscribe(ctx, "r") {
		if time.Now().After(deadline) { // the replacement connection may still be on its way
			t.Fatalf("Subscribe after reconnect: %v", err)
		}
	}
	if _, _, err := s.Join(ctx, "r", rooms.Participant{ID: "a", Identity: "a", JoinedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-sub.C:
		if ev.Seq != 1 {
			t.Fatalf("got Seq %d, want 1", ev.Seq)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event on the new connection")
	}
}

// A hole in the Seq sequence (a message lost in transit) ends the subscription with ErrLagged.
func TestRedisSeqGapEndsSubscription(t *testing.T) {
	url := redistest.Start(t)
	ctx := t.Context()
	s := newRedisStore(t, url, "gap:")
	sub, err := s.Subscribe(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Join(ctx, "r", rooms.Participant{ID: "a", Identity: "a", JoinedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	fake := `5 {"room":"r","type":"participant_left","participantId":"a","reason":"left"}`
	if err := rawClient(t, url).Publish(ctx, "gap:room:{r}:events", fake).Err(); err != nil {
		t.Fatal(err)
	}
	if err := drainErr(t, sub); !errors.Is(err, rooms.ErrLagged) {
		t.Fatalf("Err after a gap = %v, want ErrLagged", err)
	}
}

// The key layout is documented on RedisStore; operators and other tools rely on it.
func TestRedisKeyLayout(t *testing.T) {
	url := redistest.Start(t)
	ctx := t.Context()
	s, err := rooms.NewRedisStore(ctx, url, rooms.RedisOptions{}) // default prefix
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := rooms.Participant{ID: "p1", Identity: "alice", JoinedAt: time.Now(), Tracks: []rooms.Track{{ID: "cam", Source: rooms.SourceCamera}}}
	if _, _, err := s.Join(ctx, "r", p); err != nil {
		t.Fatal(err)
	}
	c := rawClient(t, url)
	for _, tc := range []struct {
		cmd  *redis.StringCmd
		want string
	}{
		{c.Get(ctx, "chalk:room:{r}:seq"), "1"},
		{c.HGet(ctx, "chalk:room:{r}:identities", "alice"), "p1"},
		{c.HGet(ctx, "chalk:room:{r}:participants", "p1"), `"identity":"alice"`},
		{c.LIndex(ctx, "chalk:room:{r}:tracks:p1", 0), `"id":"cam"`},
	} {
		if got, err := tc.cmd.Result(); err != nil || !strings.Contains(got, tc.want) {
			t.Errorf("%v: %q, %v; want it to contain %q", tc.cmd.Args(), got, err, tc.want)
		}
	}
	// Leaving cleans up everything but the Seq, which must never go back, and the attendance.
	if err := s.Leave(ctx, "r", "p1", rooms.ReasonLeft); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(ctx, "chalk:*").Result()
	slices.Sort(keys)
	if want := []string{"chalk:room:{r}:attcount", "chalk:room:{r}:attendance", "chalk:room:{r}:seq"}; err != nil || !slices.Equal(keys, want) {
		t.Fatalf("keys after the room emptied: %q, %v; want %q", keys, err, want)
	}

	// Hands and chat.
	if _, _, err := s.Join(ctx, "r", p); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(s.RaiseHand(ctx, "r", "p1"),
		s.PostChat(ctx, "r", rooms.ChatMessage{ID: "c1", From: "p1", Text: "hi", At: time.Now()}),
		s.PostChat(ctx, "r", rooms.ChatMessage{ID: "c2", From: "p1", Text: "again", At: time.Now()})); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cmd  *redis.StringCmd
		want string
	}{
		{c.LIndex(ctx, "chalk:room:{r}:hands", 0), "p1"},
		{c.LIndex(ctx, "chalk:room:{r}:chat", 0), `"id":"c1"`},
		{c.LIndex(ctx, "chalk:room:{r}:chat", 1), `"text":"again"`},
		{c.HGet(ctx, "chalk:room:{r}:chatidx", "c2"), "2"},
		{c.Get(ctx, "chalk:room:{r}:chatcount"), "2"},
	} {
		if got, err := tc.cmd.Result(); err != nil || !strings.Contains(got, tc.want) {
			t.Errorf("%v: %q, %v; want it to contain %q", tc.cmd.Args(), got, err, tc.want)
		}
	}
	// Chat outlives the class; the hand goes with its participant.
	if err := s.Leave(ctx, "r", "p1", rooms.ReasonLeft); err != nil {
		t.Fatal(err)
	}
	keys, err = c.Keys(ctx, "chalk:*").Result()
	slices.Sort(keys)
	want := []string{"chalk:room:{r}:attcount", "chalk:room:{r}:attendance", "chalk:room:{r}:chat", "chalk:room:{r}:chatcount", "chalk:room:{r}:chatidx", "chalk:room:{r}:seq"}
	if err != nil || !slices.Equal(keys, want) {
		t.Fatalf("keys after the room emptied again: %q, %v; want %q", keys, err, want)
	}
}

// DeleteChat must not trust an index entry blindly: one left behind by a trim (or by a crash of an
// older version) means the message is gone, and one pointing at another message is an error.
func TestRedisChatIndexMismatch(t *testing.T) {
	url := redistest.Start(t)
	ctx := t.Context()
	s := newRedisStore(t, url, "idx:")
	if _, _, err := s.Join(ctx, "r", rooms.Participant{ID: "a", Identity: "a", JoinedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"m1", "m2"} {
		if err := s.PostChat(ctx, "r", rooms.ChatMessage{ID: id, From: "a", Text: id, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	c := rawClient(t, url)
	// "stale" is message 0: before the first kept one. "wrong" claims to be message 2, which is m2.
	if err := c.HSet(ctx, "idx:room:{r}:chatidx", "stale", 0, "wrong", 2).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteChat(ctx, "r", "stale", "a"); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("DeleteChat of a stale entry: err = %v, want ErrNotFound", err)
	}
	if n, err := c.HExists(ctx, "idx:room:{r}:chatidx", "stale").Result(); err != nil || n {
		t.Fatalf("stale index entry still there (%v, %v)", n, err)
	}
	if err := s.DeleteChat(ctx, "r", "wrong", "a"); err == nil || errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("DeleteChat through an entry pointing at another message: err = %v, want an error", err)
	}
	msgs, err := s.ChatHistory(ctx, "r", 10)
	if err != nil || len(msgs) != 2 || msgs[1].ID != "m2" || msgs[1].Deleted {
		t.Fatalf("history after the bad deletes: %+v, %v; want m1 and m2 untouched", msgs, err)
	}
	if snap, err := s.Snapshot(ctx, "r"); err != nil || snap.Seq != 3 {
		t.Fatalf("bad deletes moved Seq: %+v, %v", snap, err)
	}
}

func drainErr(t *testing.T, sub *rooms.Subscription) error {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-sub.C:
			if !ok {
				return sub.Err()
			}
		case <-timeout:
			t.Fatal("subscription did not end within 5s")
		}
	}
}
