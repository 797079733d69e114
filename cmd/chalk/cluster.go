package main

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chalk-edu/chalk/cluster"
	"github.com/chalk-edu/chalk/signaling"
)

// A node with Redis joins the cluster: it registers (cluster.Registry), reports its load, routes
// joins through the registry's placement, cleans up after dead nodes, and drains on SIGTERM.

// nodeURL is the base URL this node advertises to clients for redirects.
func nodeURL(cfg serveConfig, ln net.Listener) string {
	if cfg.NodeURL != "" {
		return cfg.NodeURL
	}
	if cfg.PublicURL != "" {
		return cfg.PublicURL
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host, _ = os.Hostname() // listening on every address: the host's name is the best guess
	}
	return "http://" + net.JoinHostPort(host, port)
}

// joinCluster registers the node; hub is read when the registry calls back (after NewHub).
func (s *server) joinCluster(ctx context.Context, hub **signaling.Hub, reg prometheus.Registerer) error {
	cpu := &cpuSampler{}
	r, err := cluster.New(ctx, s.cfg.RedisURL, cluster.Options{
		ID: s.cfg.NodeID, URL: nodeURL(s.cfg, s.ln), Logger: s.log, Capacity: s.cfg.NodeCapacity,
		Load: func() cluster.Load {
			l := cluster.Load{CPU: cpu.sample()}
			if *hub != nil {
				l.Participants, l.Tracks = (*hub).Load()
			}
			return l
		},
		OnDead: func(ctx context.Context, node string, rooms []string) error {
			return (*hub).RemoveNode(ctx, node, rooms)
		},
	})
	if err != nil {
		return err
	}
	s.reg = r
	alive := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "chalk_cluster_nodes_alive", Help: "Live nodes in the cluster, as of this node's last heartbeat."},
		func() float64 { n, _ := r.Stats(); return float64(n) })
	hosted := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "chalk_cluster_rooms_hosted", Help: "Rooms placed on this node."},
		func() float64 { _, n := r.Stats(); return float64(n) })
	return errors.Join(reg.Register(alive), reg.Register(hosted))
}

// edge is the hub's Edge hook: a room whose placement names another node is served here as an edge
// of it (placement sent the join here because that node is full, see cluster.Route), its media
// relayed from there. Nil without a cluster.
func (s *server) edge() func(ctx context.Context, room string) (string, bool, error) {
	if s.reg == nil {
		return nil
	}
	return func(ctx context.Context, room string) (string, bool, error) {
		rt, ok, err := s.reg.Lookup(ctx, room)
		if err == nil && !ok { // not placed (its node died): place it, then read where
			if _, err = s.reg.Route(ctx, room); err == nil {
				rt, ok, err = s.reg.Lookup(ctx, room)
			}
		}
		if err != nil || !ok || rt.Local {
			return "", false, err
		}
		return rt.URL, true, nil
	}
}

// router is the registry as the hub's Router, or nil without a cluster (never a typed nil).
func (s *server) router() signaling.Router {
	if s.reg == nil {
		return nil
	}
	return s.reg
}

// nodeURLs returns a function listing the live nodes' URLs, read from the registry at most every
// few seconds (pages and socket upgrades ask for it). Nil without a cluster.
func (s *server) nodeURLs() func() []string {
	if s.reg == nil {
		return nil
	}
	var mu sync.Mutex
	var urls []string
	var at time.Time
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(at) < 3*time.Second {
			return urls
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		nodes, err := s.reg.Nodes(ctx)
		if err != nil {
			return urls
		}
		urls, at = nil, time.Now()
		for _, n := range nodes {
			urls = append(urls, n.URL)
		}
		return urls
	}
}

// originPatterns lists the hosts of the live nodes: a page served by one node may open its
// socket on another after a redirect.
func originPatterns(nodeURLs func() []string) func() []string {
	if nodeURLs == nil {
		return nil
	}
	return func() []string {
		var hosts []string
		for _, raw := range nodeURLs() {
			if u, err := url.Parse(raw); err == nil && u.Host != "" {
				hosts = append(hosts, u.Host)
			}
		}
		return hosts
	}
}

// runCluster heartbeats until stopCluster.
func (s *server) runCluster() {
	if s.reg == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stopReg, s.regDone = cancel, make(chan struct{})
	go func() {
		defer close(s.regDone)
		s.reg.Run(ctx)
	}()
}

// drain moves this node's participants to other nodes (SIGTERM): the registry marks the node
// draining, the hub re-places its rooms and redirects their sessions, and we wait for them to go,
// at most the drain timeout. With no other node, rooms finish here (shutdown tells the clients).
func (s *server) drain() {
	if s.reg == nil {
		return
	}
	s.drainBy = time.Now().Add(s.cfg.DrainTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), s.drainBy)
	defer cancel()
	if err := s.reg.Drain(ctx); err != nil {
		s.log.Warn("could not mark the node draining", "err", err)
		return
	}
	s.log.Info("draining: moving rooms to other nodes", "timeout", s.cfg.DrainTimeout)
	switch err := s.hub.Drain(ctx); {
	case errors.Is(err, cluster.ErrNoNode):
		s.log.Info("no other node takes rooms; the rooms here finish")
	case err != nil:
		s.log.Warn("drain did not finish; the remaining participants are told the server stops", "err", err)
	default:
		s.log.Info("drained: every participant moved")
	}
}

// waitLessons, after a drain, waits (within the drain time) for the recorder to finish the lessons
// of the rooms that stopped recording here when they moved away. What is left when the time runs out
// resumes from the recorder's journal at the next start on the same storage.
func (s *server) waitLessons() {
	if s.drainBy.IsZero() || s.rec == nil {
		return
	}
	for s.rec.Pending() > 0 && time.Now().Before(s.drainBy) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := s.rec.Pending(); n > 0 {
		s.log.Warn("drain time is up with lessons still processing; they resume at the next start on this storage", "lessons", n)
	} else {
		s.log.Info("drained: every lesson recorded here is processed")
	}
}

// stopCluster leaves the registry (the last heartbeat is withdrawn) and closes its connection.
func (s *server) stopCluster() {
	if s.stopReg != nil {
		s.stopReg()
		<-s.regDone
		s.stopReg = nil
	}
	if s.reg != nil {
		s.reg.Close()
	}
}

// cpuSampler measures this process's CPU use between samples as a share of the host's CPUs.
type cpuSampler struct {
	last    time.Time
	lastCPU time.Duration
}

func (c *cpuSampler) sample() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	used := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	now := time.Now()
	defer func() { c.last, c.lastCPU = now, used }()
	if c.last.IsZero() {
		return 0
	}
	wall := now.Sub(c.last)
	if wall <= 0 {
		return 0
	}
	return min(1, float64(used-c.lastCPU)/float64(wall)/float64(runtime.NumCPU()))
}
