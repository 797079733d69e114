package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chalk-edu/chalk/cluster"
	"github.com/chalk-edu/chalk/signaling/client"
)

// A cascaded lecture on three real nodes: the room's home is full (-node-capacity), so students
// joining through the other two nodes are served there as edges, with the media relayed once per
// (room, edge) — and what the edges' students publish relayed up and across.
func TestClusterCascadedLecture(t *testing.T) {
	redisURL, nodes := startCluster(t, "-node-capacity", "2")
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()

	lecture := client.Options{Room: "lecture-hall"}
	teacher := startRoamer(t, "teacher", 1, nodes[0], lecture)
	home := waitNode(t, nodes, teacher)
	first := startRoamer(t, "s0", 2, home, lecture)
	if n := waitNode(t, nodes, first); n != home {
		t.Fatalf("the first student was sent to %s; the home %s is not full yet", n.name, home.name)
	}
	waitParticipants(t, rdb, home.name, 2) // the home is now full

	var edges []*node
	for _, n := range nodes {
		if n != home {
			edges = append(edges, n)
		}
	}
	everyone := []*roamer{teacher, first}
	var students []*roamer
	for i, e := range edges {
		for j := range 2 {
			s := startRoamer(t, fmt.Sprintf("%s-student-%d", e.name, j), 3+2*i+j, e, lecture)
			if n := waitNode(t, nodes, s); n != e {
				t.Fatalf("a student joining through %s was served by %s; the home is full, so %s should serve it as an edge", e.name, n.name, e.name)
			}
			students = append(students, s)
		}
	}
	everyone = append(everyone, students...)
	took := allHearEachOther(t, "cascaded lecture", everyone, 30*time.Second)
	t.Logf("all six hear each other %v after the last join", took.Round(time.Millisecond))

	// Delivery of the teacher's media at the edges over 15 s: packets sent and received counted at
	// the same instants, so what is in flight at either end cancels out.
	before := map[*roamer]int{}
	sent0 := teacher.sent.Load()
	for _, s := range students {
		before[s] = s.recv.counts()[teacher.idx]
	}
	time.Sleep(15 * time.Second)
	sent := teacher.sent.Load() - sent0
	for _, s := range students {
		got := s.recv.counts()[teacher.idx] - before[s]
		ratio := float64(got) / float64(sent)
		t.Logf("student %d got %d of the teacher's %d packets (%.2f %%)", s.idx, got, sent, 100*ratio)
		if ratio < 0.99 {
			t.Errorf("student %d on an edge got %.2f %% of the teacher's packets, want ≥ 99 %%", s.idx, 100*ratio)
		}
	}

	// Once per (room, edge): the home holds one relay to each edge, and each edge receives each
	// remote participant's two tracks once, whatever the number of its own subscribers.
	if v := metricValue(t, home, "chalk_sfu_relay_connections_out"); v != 2 {
		t.Errorf("the home holds %v relay connections, want 2 (one per edge)", v)
	}
	for _, e := range edges {
		// teacher, s0 and the other edge's two students: four participants, two tracks each.
		if v := metricValue(t, e, "chalk_sfu_relay_tracks_in"); v != 8 {
			t.Errorf("%s receives %v relayed tracks, want 8 (each remote track once)", e.name, v)
		}
	}
}

// waitNode waits until r has joined and returns the node serving it.
func waitNode(t *testing.T, nodes []*node, r *roamer) *node {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if u, _, _ := r.where(); u != "" {
			if n := nodeOf(nodes, u); n != nil {
				return n
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not join within 30 s", r.name)
	return nil
}

// waitParticipants waits until node's heartbeat in Redis reports at least n participants.
func waitParticipants(t *testing.T, rdb *redis.Client, node string, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		raw, err := rdb.HGet(context.Background(), "{chalk-cluster}:nodes", node).Bytes()
		var rec cluster.Node
		if err == nil && json.Unmarshal(raw, &rec) == nil && rec.Participants >= n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s's heartbeat never reported %d participants", node, n)
}
