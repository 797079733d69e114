// Package cluster holds the node registry and room placement of a multi-node Chalk: which nodes
// are alive (a heartbeat in Redis, judged by Redis's clock), their load, and which node hosts
// each room, decided atomically in Redis.
package cluster

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults: a node heartbeats every second and is dead after 5 s of silence (LiveKit's rule).
const (
	DefaultHeartbeat = time.Second
	DefaultDeadAfter = 5 * time.Second
	// cleanupLease is how long a node holds the right to clean up after a dead node; if it dies
	// meanwhile, another node takes the job over when the lease runs out.
	cleanupLease = 30 * time.Second
)

// Every key shares one hash tag, so the scripts work on Redis Cluster too (one slot).
const (
	keyNodes     = "{chalk-cluster}:nodes"     // hash: node id → Node JSON
	keyAlive     = "{chalk-cluster}:alive"     // zset: node id → expiry (Redis ms)
	keyPlacement = "{chalk-cluster}:placement" // hash: room → node id
	keyDead      = "{chalk-cluster}:dead"      // zset: dead node id → cleanup lease expiry (0: unclaimed)
	prefixRooms  = "{chalk-cluster}:rooms:"    // set per node: the rooms placed on it
)

// ErrNoNode: no live node accepts rooms (all draining or dead).
var ErrNoNode = errors.New("cluster: no live node accepts new rooms")

// Load is what a node reports with each heartbeat; placement prefers the least loaded node.
type Load struct {
	CPU          float64 `json:"cpu"` // share of the host's CPUs this process used, 0..1
	Participants int     `json:"participants"`
	Tracks       int     `json:"tracks"`
}

// Node is one registered node as other nodes see it.
type Node struct {
	ID  string `json:"id"`
	URL string `json:"url"` // base URL clients reach this node at (http[s]://host:port)
	Load
	Draining bool `json:"draining"`
	// Capacity is how many participants the node takes before a room placed on it spills over to
	// edge nodes (cascading); 0: no limit.
	Capacity int `json:"capacity,omitempty"`
	Rooms    int `json:"rooms"` // rooms placed on it (filled by Nodes)
}

// Route says where a room is served. It is the one routing decision of the cluster: the asking node
// hosts the room (Local), serves it as an edge of the hosting node Node/URL (Edge: the host is full,
// media comes over a relay), or sends the client to Node/URL (neither).
type Route struct {
	Node  string // the hosting node's id; with neither Local nor Edge, the node to redirect to
	URL   string // its base URL
	Local bool   // the asking node hosts the room
	Edge  bool   // the asking node serves the room as an edge of Node
}

// Options configure a Registry.
type Options struct {
	ID, URL string
	Load    func() Load // sampled at each heartbeat; nil: zero load
	// Capacity: participants this node takes before rooms placed on it spill to edges; 0: no limit.
	Capacity  int
	Heartbeat time.Duration
	DeadAfter time.Duration
	Logger    *slog.Logger
	// OnDead is called (on the registry's goroutine) when this node has claimed the cleanup of a
	// dead node: rooms are those that were placed on it. Returning nil marks the cleanup done; an
	// error leaves it for a retry when the lease runs out.
	OnDead func(ctx context.Context, node string, rooms []string) error
}

// Registry is this node's membership in the cluster.
type Registry struct {
	rdb  *redis.Client
	opts Options
	log  *slog.Logger

	draining bool // owned by Run's goroutine after start; set through drainc
	drainc   chan chan error
	cleaning atomic.Bool    // a dead node's cleanup is running
	wg       sync.WaitGroup // the cleanup goroutine
	alive    atomic.Int64   // live nodes at the last heartbeat
	hosted   atomic.Int64   // rooms placed on this node at the last heartbeat
}

// Stats are the figures of the last heartbeat: live nodes and rooms placed on this node.
func (r *Registry) Stats() (alive, rooms int) { return int(r.alive.Load()), int(r.hosted.Load()) }

//go:embed scripts/heartbeat.lua
var heartbeatLua string

//go:embed scripts/route.lua
var routeLua string

//go:embed scripts/lookup.lua
var lookupLua string

//go:embed scripts/reap.lua
var reapLua string

//go:embed scripts/release.lua
var releaseLua string

var (
	heartbeatScript = redis.NewScript(heartbeatLua)
	routeScript     = redis.NewScript(routeLua)
	lookupScript    = redis.NewScript(lookupLua)
	reapScript      = redis.NewScript(reapLua)
	releaseScript   = redis.NewScript(releaseLua)
)

// New connects to Redis and registers the node (one heartbeat), so it can take rooms at once.
func New(ctx context.Context, redisURL string, o Options) (*Registry, error) {
	if o.ID == "" || o.URL == "" {
		return nil, errors.New("cluster: a node needs an id and a URL")
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.DeadAfter <= 0 {
		o.DeadAfter = DefaultDeadAfter
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	ro, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("cluster: redis URL: %w", err)
	}
	r := &Registry{rdb: redis.NewClient(ro), opts: o, log: o.Logger.With("component", "cluster"), drainc: make(chan chan error)}
	if err := r.heartbeat(ctx); err != nil {
		r.rdb.Close()
		return nil, err
	}
	return r, nil
}

// ID is this node's id.
func (r *Registry) ID() string { return r.opts.ID }

// Run heartbeats and looks for dead nodes until ctx ends, then leaves the registry.
func (r *Registry) Run(ctx context.Context) {
	t := time.NewTicker(r.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.wg.Wait() // a cleanup in progress ends with ctx
			lctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			r.leave(lctx)
			cancel()
			return
		case done := <-r.drainc:
			r.draining = true
			hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			done <- r.heartbeat(hctx)
			cancel()
		case <-t.C:
			hctx, cancel := context.WithTimeout(ctx, r.opts.Heartbeat)
			if err := r.heartbeat(hctx); err != nil {
				r.log.Warn("heartbeat failed", "err", err)
			}
			cancel()
			r.reap(ctx)
		}
	}
}

func (r *Registry) heartbeat(ctx context.Context) error {
	n := Node{ID: r.opts.ID, URL: r.opts.URL, Draining: r.draining, Capacity: r.opts.Capacity}
	if r.opts.Load != nil {
		n.Load = r.opts.Load()
	}
	b, _ := json.Marshal(n)
	res, err := heartbeatScript.Run(ctx, r.rdb, []string{keyNodes, keyAlive}, n.ID, b, r.opts.DeadAfter.Milliseconds(), prefixRooms).Int64Slice()
	if err != nil {
		return fmt.Errorf("cluster: heartbeat: %w", err)
	}
	if len(res) == 2 {
		r.alive.Store(res[0])
		r.hosted.Store(res[1])
	}
	return nil
}

// reap moves nodes silent past their expiry to the dead set and, if it can claim one, cleans up
// after it. The claim is atomic in Redis, so exactly one live node cleans up each dead node. The
// cleanup runs beside the heartbeat (one at a time), so a long one cannot make this node look dead.
func (r *Registry) reap(ctx context.Context) {
	if !r.cleaning.CompareAndSwap(false, true) {
		return // busy with a dead node; the others look meanwhile
	}
	cctx, cancel := context.WithTimeout(ctx, r.opts.Heartbeat)
	res, err := reapScript.Run(cctx, r.rdb, []string{keyAlive, keyNodes, keyPlacement, keyDead}, prefixRooms, cleanupLease.Milliseconds()).StringSlice()
	cancel()
	if err != nil || len(res) == 0 {
		if err != nil && !errors.Is(err, redis.Nil) {
			r.log.Warn("look for dead nodes", "err", err)
		}
		r.cleaning.Store(false)
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer r.cleaning.Store(false)
		r.cleanUp(ctx, res[0], res[1:])
	}()
}

// appendMissing appends to list the names of more that it lacks.
func appendMissing(list, more []string) []string {
	seen := make(map[string]bool, len(list))
	for _, s := range list {
		seen[s] = true
	}
	for _, s := range more {
		if !seen[s] {
			seen[s] = true
			list = append(list, s)
		}
	}
	return list
}

// cleanUp runs OnDead for a claimed dead node and, if it succeeds, forgets the node.
func (r *Registry) cleanUp(ctx context.Context, dead string, rooms []string) {
	r.log.Warn("node is gone; cleaning up after it", "dead_node", dead, "rooms", len(rooms))
	// Rooms placed on other nodes may hold its participants too: those it served as an edge.
	if others, err := r.rdb.HKeys(ctx, keyPlacement).Result(); err == nil {
		rooms = appendMissing(rooms, others)
	} else {
		r.log.Warn("list placed rooms; only the dead node's own rooms are cleaned", "err", err)
	}
	if r.opts.OnDead != nil {
		dctx, cancel := context.WithTimeout(ctx, cleanupLease/2)
		err := r.opts.OnDead(dctx, dead, rooms)
		cancel()
		if err != nil {
			r.log.Error("clean up after a dead node; a node retries when the lease ends", "dead_node", dead, "err", err)
			return
		}
	}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := r.rdb.TxPipelined(dctx, func(p redis.Pipeliner) error {
		p.ZRem(dctx, keyDead, dead)
		p.Del(dctx, prefixRooms+dead)
		return nil
	})
	if err != nil {
		r.log.Warn("mark a dead node cleaned up", "dead_node", dead, "err", err)
	}
}

// Drain marks the node draining: no new rooms are placed on it, and Route re-places the rooms it
// hosts on other nodes. It needs Run to be running.
func (r *Registry) Drain(ctx context.Context) error {
	done := make(chan error, 1)
	select {
	case r.drainc <- done:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Route places room if it is not placed on a live, non-draining node (least-loaded live node
// first) and says where it is served. One script, so concurrent joins on several nodes agree.
func (r *Registry) Route(ctx context.Context, room string) (Route, error) {
	res, err := routeScript.Run(ctx, r.rdb, []string{keyPlacement, keyNodes, keyAlive}, room, prefixRooms, r.opts.ID).StringSlice()
	if errors.Is(err, redis.Nil) {
		return Route{}, ErrNoNode
	}
	if err != nil {
		return Route{}, fmt.Errorf("cluster: route %s: %w", room, err)
	}
	rt := Route{Node: res[0], URL: res[1]}
	switch res[2] {
	case "home":
		rt.Local = res[0] == r.opts.ID
	case "edge":
		rt.Edge = true
	}
	return rt, nil
}

// Lookup says where room is placed without placing it; ok is false when it is not placed on a
// live node.
func (r *Registry) Lookup(ctx context.Context, room string) (rt Route, ok bool, err error) {
	res, err := lookupScript.Run(ctx, r.rdb, []string{keyPlacement, keyNodes, keyAlive}, room).StringSlice()
	if errors.Is(err, redis.Nil) {
		return Route{}, false, nil
	}
	if err != nil {
		return Route{}, false, fmt.Errorf("cluster: look up %s: %w", room, err)
	}
	return Route{Node: res[0], URL: res[1], Local: res[0] == r.opts.ID}, true, nil
}

// Release drops room's placement if this node holds it (the room emptied here); the next join
// places it afresh.
func (r *Registry) Release(ctx context.Context, room string) error {
	if err := releaseScript.Run(ctx, r.rdb, []string{keyPlacement}, room, r.opts.ID, prefixRooms).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("cluster: release %s: %w", room, err)
	}
	return nil
}

// Rooms lists the rooms placed on this node.
func (r *Registry) Rooms(ctx context.Context) ([]string, error) {
	return r.rdb.SMembers(ctx, prefixRooms+r.opts.ID).Result()
}

// Nodes lists the live nodes.
func (r *Registry) Nodes(ctx context.Context) ([]Node, error) {
	now, err := r.rdb.Time(ctx).Result()
	if err != nil {
		return nil, err
	}
	ids, err := r.rdb.ZRangeByScore(ctx, keyAlive, &redis.ZRangeBy{Min: fmt.Sprint(now.UnixMilli()), Max: "+inf"}).Result()
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	raw, err := r.rdb.HMGet(ctx, keyNodes, ids...).Result()
	if err != nil {
		return nil, err
	}
	var out []Node
	for _, v := range raw {
		s, ok := v.(string)
		if !ok {
			continue
		}
		var n Node
		if json.Unmarshal([]byte(s), &n) == nil {
			n.Rooms = int(r.rdb.SCard(ctx, prefixRooms+n.ID).Val())
			out = append(out, n)
		}
	}
	return out, nil
}

// leave takes the node out of the registry at a clean exit, so no one waits 5 s to notice, and
// hands what is left of it (placements, any participant record) to the dead-node cleanup.
func (r *Registry) leave(ctx context.Context) {
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, keyAlive, r.opts.ID)
		p.HDel(ctx, keyNodes, r.opts.ID)
		p.ZAdd(ctx, keyDead, redis.Z{Score: 0, Member: r.opts.ID})
		return nil
	})
	if err != nil {
		r.log.Warn("leave the registry", "err", err)
	}
}

// Close releases the Redis connection.
func (r *Registry) Close() error { return r.rdb.Close() }
