package cluster

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/rooms/redistest"
)

func newNode(t *testing.T, url, id string, o Options) *Registry {
	t.Helper()
	o.ID, o.URL = id, "http://"+id
	r, err := New(context.Background(), url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestRouteSpreadsRoomsAndKeepsOwners(t *testing.T) {
	url := redistest.Start(t)
	ctx := context.Background()
	a := newNode(t, url, "a", Options{})
	b := newNode(t, url, "b", Options{})
	c := newNode(t, url, "c", Options{Load: func() Load { return Load{Participants: 40} }}) // busy
	if err := c.heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for i := range 6 {
		rt, err := a.Route(ctx, fmt.Sprint("room-", i))
		if err != nil {
			t.Fatal(err)
		}
		count[rt.Node]++
		if rt.URL != "http://"+rt.Node || rt.Local != (rt.Node == "a") {
			t.Fatalf("route %+v", rt)
		}
	}
	// c carries 40 participants (score 5): the six new rooms go to a and b, three each.
	if count["a"] != 3 || count["b"] != 3 || count["c"] != 0 {
		t.Fatalf("rooms per node %v, want a:3 b:3 c:0", count)
	}
	// Asking again, from any node, gives the same owner.
	first, _ := a.Route(ctx, "room-0")
	again, err := b.Route(ctx, "room-0")
	if err != nil || again.Node != first.Node || again.Local != (first.Node == "b") {
		t.Fatalf("second route %+v (%v), first %+v", again, err, first)
	}
	if got, ok, err := c.Lookup(ctx, "room-0"); err != nil || !ok || got.Node != first.Node {
		t.Fatalf("lookup %+v %v %v", got, ok, err)
	}
	if _, ok, err := c.Lookup(ctx, "nowhere"); err != nil || ok {
		t.Fatalf("lookup of an unplaced room: ok=%v err=%v", ok, err)
	}
	// Released rooms are placed afresh.
	owner := map[string]*Registry{"a": a, "b": b}[first.Node]
	if err := owner.Release(ctx, "room-0"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.Lookup(ctx, "room-0"); ok {
		t.Fatal("room-0 still placed after release")
	}
}

func TestDrainingNodeGetsNoRoomsAndLosesItsOwn(t *testing.T) {
	url := redistest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := newNode(t, url, "a", Options{})
	b := newNode(t, url, "b", Options{Load: func() Load { return Load{Participants: 80} }})
	b.heartbeat(ctx)
	rt, _ := a.Route(ctx, "bio")
	if rt.Node != "a" {
		t.Fatalf("bio placed on %s, want the idle a", rt.Node)
	}
	go a.Run(ctx)
	if err := a.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	for _, room := range []string{"bio", "chem"} {
		rt, err := a.Route(ctx, room)
		if err != nil || rt.Node != "b" || rt.Local {
			t.Fatalf("%s after a drains: %+v %v, want b", room, rt, err)
		}
	}
	if rooms, _ := a.Rooms(ctx); len(rooms) != 0 {
		t.Fatalf("draining a still holds %v", rooms)
	}
	short, stop := context.WithTimeout(ctx, 100*time.Millisecond)
	defer stop()
	if err := b.Drain(short); err == nil {
		t.Fatal("Drain returned without Run running") // b's Run is not running: only ctx ends it
	}
}

func TestDeadNodeIsCleanedUpOnceAndItsRoomsReplaced(t *testing.T) {
	url := redistest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dead := newNode(t, url, "dead", Options{DeadAfter: 300 * time.Millisecond})
	rt, err := dead.Route(ctx, "bio")
	if err != nil || rt.Node != "dead" {
		t.Fatalf("%+v %v", rt, err)
	}
	type call struct {
		by, node string
		rooms    []string
	}
	calls := make(chan call, 10)
	for _, id := range []string{"b", "c"} {
		r := newNode(t, url, id, Options{Heartbeat: 50 * time.Millisecond, OnDead: func(_ context.Context, node string, rooms []string) error {
			calls <- call{id, node, rooms}
			return nil
		}})
		go r.Run(ctx)
	}
	select {
	case c := <-calls:
		if c.node != "dead" || !slices.Equal(c.rooms, []string{"bio"}) {
			t.Fatalf("cleanup call %+v", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no node cleaned up after the dead one within 10 s")
	}
	rt, err = dead.Route(ctx, "bio")
	if err != nil || rt.Node == "dead" {
		t.Fatalf("bio after its node died: %+v %v", rt, err)
	}
	time.Sleep(500 * time.Millisecond) // ten more reap rounds on each node
	select {
	case c := <-calls:
		t.Fatalf("cleaned up twice: %+v", c)
	default:
	}
	nodes, err := dead.Nodes(ctx)
	if err != nil || len(nodes) != 2 {
		t.Fatalf("live nodes %+v %v, want b and c", nodes, err)
	}
}

// A room whose owner is at its capacity spills: a join through another node below capacity is
// served there as an edge; a join through the full owner, or through a full node, is sent to a node
// with room to spare; when every node is full, the owner takes it.
func TestRouteSpillsAFullRoomToEdges(t *testing.T) {
	url := redistest.Start(t)
	ctx := context.Background()
	load := map[string]int{}
	node := func(id string) *Registry {
		return newNode(t, url, id, Options{Capacity: 2, Load: func() Load { return Load{Participants: load[id]} }})
	}
	a, b, c := node("a"), node("b"), node("c")
	beat := func() {
		for _, r := range []*Registry{a, b, c} {
			if err := r.heartbeat(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	rt, err := a.Route(ctx, "lecture")
	if err != nil || !rt.Local || rt.Edge {
		t.Fatalf("first route %+v %v, want placed on a (lowest id, all idle)", rt, err)
	}
	load["a"] = 2 // a is full
	beat()
	tests := []struct {
		name string
		from *Registry
		load map[string]int
		want Route
	}{
		{"through a node with room: edge there", b, map[string]int{"a": 2}, Route{Node: "a", URL: "http://a", Edge: true}},
		{"through the full owner: sent to the least-loaded node with room", a, map[string]int{"a": 2, "b": 1}, Route{Node: "c", URL: "http://c"}},
		{"through a full node: sent to one with room", b, map[string]int{"a": 2, "b": 2, "c": 1}, Route{Node: "c", URL: "http://c"}},
		{"every node full: the owner takes it", c, map[string]int{"a": 2, "b": 2, "c": 2}, Route{Node: "a", URL: "http://a"}},
		{"the owner has room again: home", c, map[string]int{"a": 1, "b": 2, "c": 2}, Route{Node: "a", URL: "http://a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clear(load)
			for k, v := range tt.load {
				load[k] = v
			}
			beat()
			got, err := tt.from.Route(ctx, "lecture")
			if err != nil || got != tt.want {
				t.Fatalf("route from %s = %+v (%v), want %+v", tt.from.ID(), got, err, tt.want)
			}
		})
	}
}
