package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/recorder/mediatest"
	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/rooms/redistest"
	"github.com/chalk-edu/chalk/signaling/client"
)

// Three real `chalk serve` nodes on one real redis-server: placement, joining through a node that
// does not host the room, kill -9 of the hosting node, and a SIGTERM drain.

func startCluster(t *testing.T, extra ...string) (redisURL string, nodes []*node) {
	t.Helper()
	redisURL = redistest.Start(t)
	for _, name := range []string{"node-a", "node-b", "node-c"} {
		nodes = append(nodes, startNode(t, name, redisURL, extra...))
	}
	// Each node registered before it answered /healthz; wait until all see three.
	deadline := time.Now().Add(15 * time.Second)
	for _, n := range nodes {
		for metricValue(t, n, "chalk_cluster_nodes_alive") != 3 {
			if time.Now().After(deadline) {
				t.Fatalf("%s does not see three live nodes", n.name)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return redisURL, nodes
}

// metricValue reads one unlabelled series from a node's /metrics (-1 if absent).
func metricValue(t *testing.T, n *node, name string) float64 {
	t.Helper()
	return metricAt(n.base, name)
}

// metricAt reads one series, named with its labels, from the /metrics of the server at base (-1 if
// absent or unreachable).
func metricAt(base, name string) float64 {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		var v float64
		if strings.HasPrefix(line, name+" ") {
			fmt.Sscan(strings.TrimPrefix(line, name+" "), &v)
			return v
		}
	}
	return -1
}

func nodeOf(nodes []*node, socketURL string) *node {
	for _, n := range nodes {
		if client.SocketURL(n.base) == socketURL {
			return n
		}
	}
	return nil
}

func TestClusterPlacesNewRoomsOnTheLeastLoadedNode(t *testing.T) {
	_, nodes := startCluster(t)
	a := nodes[0]
	perNode := map[string][]string{}
	for i := range 6 {
		room := fmt.Sprint("room-", i)
		p, _ := dialPeer(t, a, map[string]string{"room": room, "name": "S"})
		n := nodeOf(nodes, client.SocketURL(p.base))
		perNode[n.name] = append(perNode[n.name], room)
	}
	// Each placed room counts one in a node's load, so six rooms over three idle nodes go two each.
	for _, n := range nodes {
		if len(perNode[n.name]) != 2 {
			t.Fatalf("rooms per node %v, want two on each", perNode)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, n := range nodes {
		for metricValue(t, n, "chalk_cluster_rooms_hosted") != 2 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: chalk_cluster_rooms_hosted = %v, want 2", n.name, metricValue(t, n, "chalk_cluster_rooms_hosted"))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if v := metricValue(t, a, `chalk_signaling_redirects_total{reason="placement"}`); v != 4 {
		t.Errorf("node A redirected %v joins, want 4 (the rooms placed elsewhere)", v)
	}
}

// roamer is a Go participant with the web client's reconnect loop: on a lost socket it rejoins
// through its home node (any node, as behind a load balancer) with backoff, following redirects. It
// publishes numbered audio and video and counts what it receives, by publisher, across reconnects.
type roamer struct {
	t    *testing.T
	name string
	idx  int
	opts client.Options
	recv *bySender
	raw  atomic.Int64 // every packet received, synthetic or not (a browser's media)
	sent atomic.Int64 // synthetic packets written (audio and video)

	mu        sync.Mutex
	home      string // socket URL of the node it rejoins through
	c         *client.Client
	joins     int
	joined    json.RawMessage // the last joined message
	redirects []string        // reasons of the redirects received mid-session
	stop      chan struct{}
	done      chan struct{}
}

func startRoamer(t *testing.T, name string, idx int, home *node, o client.Options) *roamer {
	r := &roamer{t: t, name: name, idx: idx, recv: &bySender{got: map[int]int{}}, home: client.SocketURL(home.base),
		stop: make(chan struct{}), done: make(chan struct{})}
	o.Name, o.Audio, o.Video, o.OnTrack = name, true, true, r.onTrack
	if o.Token == "" {
		o.Identity = name
	}
	r.opts = o
	go r.run()
	t.Cleanup(func() {
		close(r.stop)
		<-r.done
	})
	return r
}

// onTrack counts a received track's packets: all of them, and the synthetic ones by publisher.
func (r *roamer) onTrack(_ client.TrackInfo, t *webrtc.TrackRemote) {
	go func() {
		for {
			pkt, _, err := t.ReadRTP()
			if err != nil {
				return
			}
			r.raw.Add(1)
			if m, ok := client.ParseMarker(t.Kind(), pkt.Payload); ok {
				r.recv.mu.Lock()
				r.recv.got[int(m.N/senderBase)]++
				r.recv.mu.Unlock()
			}
		}
	}()
}

// setHome changes the node the roamer rejoins through.
func (r *roamer) setHome(n *node) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.home = client.SocketURL(n.base)
}

func (r *roamer) run() {
	defer close(r.done)
	var c *client.Client
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	backoff := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second}
	attempt := 0
	var next *client.Redirect // a redirect received during the last session
	for tries := 0; tries < 200; tries++ {
		o := r.opts
		r.mu.Lock()
		o.URL = r.home
		r.mu.Unlock()
		if next != nil {
			o = next.Options(o)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var err error
		c, err = client.Dial(ctx, o)
		cancel()
		if err == nil {
			attempt = 0
			r.mu.Lock()
			r.c, r.joined = c, c.Joined
			r.joins++
			r.mu.Unlock()
			go r.publish(c)
			select {
			case <-r.stop:
				return
			case <-c.Done():
			}
			next = c.Redirected()
			if next != nil {
				r.mu.Lock()
				r.redirects = append(r.redirects, next.Reason)
				r.mu.Unlock()
			}
			c.Close()
			c = nil
			if next != nil {
				continue // told where to go: at once
			}
		}
		delay := backoff[min(attempt, len(backoff)-1)]
		if errors.Is(err, client.ErrNodeUnreachable) {
			delay, attempt = time.Second, min(attempt, 1) // home answered; the room's node did not
		}
		attempt++
		delay = time.Duration(float64(delay) * (0.75 + rand.Float64()/4))
		select {
		case <-r.stop:
			return
		case <-time.After(delay):
		}
	}
}

// publish sends 25 packets/s of audio and video (a keyframe every 10) while c lives.
func (r *roamer) publish(c *client.Client) {
	tick := time.NewTicker(40 * time.Millisecond)
	defer tick.Stop()
	for n := uint32(0); ; n++ {
		select {
		case <-c.Done():
			return
		case <-r.stop:
			return
		case <-tick.C:
		}
		num := uint32(r.idx*senderBase) + n
		client.WriteSynthetic(c.Audio, webrtc.RTPCodecTypeAudio, num, 0)
		client.WriteSynthetic(c.Video, webrtc.RTPCodecTypeVideo, num, 10)
		r.sent.Add(2)
	}
}

func (r *roamer) where() (url string, joins int, joined json.RawMessage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c == nil {
		return "", r.joins, r.joined
	}
	return r.c.URL(), r.joins, r.joined
}

// allHearEachOther waits until every roamer has fresh packets from every other, and says how long
// that took.
func allHearEachOther(t *testing.T, stage string, rs []*roamer, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	before := map[*roamer]map[int]int{}
	for _, r := range rs {
		before[r] = r.recv.counts()
	}
	for {
		var missing []string
		for _, l := range rs {
			now := l.recv.counts()
			for _, s := range rs {
				if s != l && now[s.idx] <= before[l][s.idx]+10 {
					missing = append(missing, l.name+"←"+s.name)
				}
			}
		}
		if len(missing) == 0 {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: no fresh media after %v for %v", stage, within, missing)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestClusterJoinThroughAnyNodeGetsMedia(t *testing.T) {
	_, nodes := startCluster(t)
	a, b, c := nodes[0], nodes[1], nodes[2]
	pub := startRoamer(t, "pub", 1, b, client.Options{Room: "physics"})
	sub := startRoamer(t, "sub", 2, c, client.Options{Room: "physics"})
	allHearEachOther(t, "joined through B and C", []*roamer{pub, sub}, 30*time.Second)
	pu, _, _ := pub.where()
	su, _, _ := sub.where()
	if pu != su {
		t.Fatalf("publisher on %s, subscriber on %s: the room must be served by one node", pu, su)
	}
	redirects := 0.0
	for _, n := range []*node{a, b, c} {
		redirects += max(0, metricValue(t, n, `chalk_signaling_redirects_total{reason="placement"}`))
	}
	if redirects < 1 {
		t.Fatalf("no redirect counted, yet B and C cannot both host physics")
	}
}

// TestClusterNodeFailure: kill -9 of the node hosting a class. Every client, rejoining through its
// home node, is back in media on another node within 10 s, and the chat history is intact.
func TestClusterNodeFailure(t *testing.T) {
	_, nodes := startCluster(t)
	issuer, _ := auth.NewIssuer(testSecret)
	tok, err := issuer.Mint(auth.Grant{Room: "bio", Identity: "prof", Name: "Prof", Role: rooms.RoleInstructor}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Place the room first, then give everyone a home that is not the room's node (a load
	// balancer would not send anyone to a dead node for long).
	probe, _ := dialPeer(t, nodes[0], map[string]string{"room": "bio", "token": tok})
	host := nodeOf(nodes, client.SocketURL(probe.base))
	var homes []*node
	for _, n := range nodes {
		if n != host {
			homes = append(homes, n)
		}
	}
	// The probe stays until the class is in: a room whose last participant leaves is released, and
	// the next join may place it elsewhere (prof's join, with the probe's identity, replaces it).
	rs := []*roamer{
		startRoamer(t, "prof", 1, homes[0], client.Options{Room: "bio", Token: tok}),
		startRoamer(t, "s1", 2, homes[1], client.Options{Room: "bio"}),
		startRoamer(t, "s2", 3, homes[0], client.Options{Room: "bio"}),
	}
	allHearEachOther(t, "before the failure", rs, 30*time.Second)
	probe.c.Close(1000, "")
	for _, r := range rs {
		if u, _, _ := r.where(); u != client.SocketURL(host.base) {
			t.Fatalf("%s is on %s, want the room's node %s", r.name, u, host.base)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs[0].mu.Lock()
	prof := rs[0].c
	rs[0].mu.Unlock()
	for _, text := range []string{"first", "second"} {
		if err := prof.Send(ctx, "chat", map[string]string{"text": text}); err != nil {
			t.Fatal(err)
		}
	}
	if err := prof.Send(ctx, "poll_create", map[string]any{"question": "Still with me?", "options": []string{"Yes", "No"}}); err != nil {
		t.Fatal(err)
	}
	// s2 raises a hand, then s1: the queue must come back in that order, with their new sessions.
	for _, r := range []*roamer{rs[2], rs[1]} {
		r.mu.Lock()
		c := r.c
		r.mu.Unlock()
		if err := c.Send(ctx, "raise_hand", nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // one after the other
	}
	time.Sleep(500 * time.Millisecond) // the chat, the poll and the hands are in Redis before the node dies

	joinsBefore := map[*roamer]int{}
	for _, r := range rs {
		_, joinsBefore[r], _ = r.where()
	}
	killed := time.Now()
	if err := host.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-host.exited
	// The target is 10 s; the deadline is twice that, so a loaded machine does not fail the test
	// while a client that never comes back does. The figure is logged.
	allHearEachOther(t, "after kill -9 of "+host.name, rs, 20*time.Second)
	t.Logf("media flows again %v after kill -9 of %s (target: within 10 s)", time.Since(killed).Round(10*time.Millisecond), host.name)
	var newHost string
	for _, r := range rs {
		u, joins, joined := r.where()
		if joins <= joinsBefore[r] || u == client.SocketURL(host.base) {
			t.Fatalf("%s did not rejoin elsewhere (on %s, joins %d)", r.name, u, joins)
		}
		if newHost == "" {
			newHost = u
		} else if u != newHost {
			t.Fatalf("after the failure the class is split: %s on %s, others on %s", r.name, u, newHost)
		}
		var j struct {
			Chat  []rooms.ChatMessage `json:"chat"`
			Polls []struct {
				Question string `json:"question"`
				Closed   bool   `json:"closed"`
			} `json:"polls"`
		}
		json.Unmarshal(joined, &j)
		if len(j.Chat) != 2 || j.Chat[0].Text != "first" || j.Chat[1].Text != "second" {
			t.Fatalf("%s's chat history after the failure: %+v", r.name, j.Chat)
		}
		if len(j.Polls) != 1 || j.Polls[0].Question != "Still with me?" || j.Polls[0].Closed {
			t.Fatalf("%s's polls after the failure: %+v", r.name, j.Polls)
		}
	}
	// The dead node's participant records are gone: the room lists exactly the three, all on the new
	// node, and the raised hands are the new sessions' of s2 and s1, in that order.
	deadline := time.Now().Add(15 * time.Second)
	for {
		snapNode := ""
		for _, n := range nodes {
			if client.SocketURL(n.base) == newHost {
				snapNode = n.name
			}
		}
		p, data := dialPeer(t, nodeOf(nodes, newHost), map[string]string{"room": "bio", "name": "Watcher"})
		var j struct {
			Participants []rooms.Participant `json:"participants"`
			Hands        []string            `json:"hands"`
		}
		json.Unmarshal(data, &j)
		p.send("leave", nil)
		stale := 0
		idOf := map[string]string{}
		for _, q := range j.Participants {
			if q.Node != snapNode {
				stale++
			}
			idOf[q.Name] = q.ID
		}
		handsOK := len(j.Hands) == 2 && j.Hands[0] == idOf["s2"] && j.Hands[1] == idOf["s1"]
		if stale == 0 && len(j.Participants) == 4 && handsOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the failure: participants %+v, hands %q (want s2's then s1's)", j.Participants, j.Hands)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestClusterDrain: SIGTERM to the hosting node moves its class to another node (clients are
// redirected, media flows there) and the node exits.
func TestClusterDrain(t *testing.T) {
	_, nodes := startCluster(t, "-drain-timeout", "20s")
	r1 := startRoamer(t, "r1", 1, nodes[0], client.Options{Room: "chem"})
	u, _, _ := r1.where()
	deadline := time.Now().Add(20 * time.Second)
	for u == "" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		u, _, _ = r1.where()
	}
	host := nodeOf(nodes, u)
	var other *node
	for _, n := range nodes {
		if n != host {
			other = n
		}
	}
	r2 := startRoamer(t, "r2", 2, other, client.Options{Room: "chem"})
	rs := []*roamer{r1, r2}
	allHearEachOther(t, "before the drain", rs, 30*time.Second)
	r2.mu.Lock()
	c2 := r2.c
	r2.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c2.Send(ctx, "raise_hand", nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the hand is in Redis before the drain

	if err := host.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, r := range rs {
		for {
			u, _, _ := r.where()
			if u != "" && u != client.SocketURL(host.base) {
				break
			}
			if time.Since(start) > 30*time.Second {
				t.Fatalf("%s still on the drained node 30 s after SIGTERM", r.name)
			}
			time.Sleep(20 * time.Millisecond)
		}
		r.mu.Lock()
		reasons := fmt.Sprint(r.redirects)
		r.mu.Unlock()
		if reasons != "[drain]" {
			t.Errorf("%s was redirected for %s, want [drain]", r.name, reasons)
		}
	}
	moved := time.Since(start)
	allHearEachOther(t, "after SIGTERM to "+host.name, rs, 30*time.Second)
	u2, _, _ := r2.where()
	waitHands(t, nodeOf(nodes, u2), "chem", "r2") // the raised hand moved with the class
	t.Logf("clients moved %v after SIGTERM; media flows on the new node %v after it", moved.Round(10*time.Millisecond), time.Since(start).Round(10*time.Millisecond))
	select {
	case <-host.exited:
		t.Logf("%s exited %v after SIGTERM (code %d)", host.name, time.Since(start).Round(10*time.Millisecond), host.cmd.ProcessState.ExitCode())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not exit within 30 s of SIGTERM", host.name)
	}
	if !host.cmd.ProcessState.Success() {
		t.Fatalf("%s exited with %v", host.name, host.cmd.ProcessState)
	}
}

// waitHands waits until the room's hand queue, as a watcher joining through n sees it, is the hands of
// the participants with the given names, in that order.
func waitHands(t *testing.T, n *node, room string, names ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		p, data := dialPeer(t, n, map[string]string{"room": room, "name": "Watcher"})
		p.send("leave", nil)
		var j struct {
			Participants []rooms.Participant `json:"participants"`
			Hands        []string            `json:"hands"`
		}
		json.Unmarshal(data, &j)
		var want []string
		for _, name := range names {
			for _, q := range j.Participants {
				if q.Name == name {
					want = append(want, q.ID)
				}
			}
		}
		if slices.Equal(j.Hands, want) && len(want) == len(names) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("hands in %s = %q, want those of %q (participants %+v)", room, j.Hands, names, j.Participants)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestClusterBreakoutsAcrossNodes: a breakout is placed like any room, so it may be served by
// another node than its main room. The students moved into it are redirected there, hear each
// other, and come back to the main room's node when the breakouts close.
func TestClusterBreakoutsAcrossNodes(t *testing.T) {
	_, nodes := startCluster(t)
	issuer, _ := auth.NewIssuer(testSecret)
	tok, err := issuer.Mint(auth.Grant{Room: "geo", Identity: "prof", Name: "Prof", Role: rooms.RoleInstructor}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	prof := startRoamer(t, "prof", 1, nodes[0], client.Options{Room: "geo", Token: tok})
	s1 := startRoamer(t, "s1", 2, nodes[0], client.Options{Room: "geo"})
	s2 := startRoamer(t, "s2", 3, nodes[0], client.Options{Room: "geo"})
	all := []*roamer{prof, s1, s2}
	allHearEachOther(t, "main room", all, 30*time.Second)
	mainURL, _, _ := prof.where()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prof.mu.Lock()
	pc := prof.c
	prof.mu.Unlock()
	if err := pc.OpenBreakouts(ctx, client.BreakoutOptions{Count: 2, Assignments: map[string]int{"guest-s1": 1, "guest-s2": 1}}); err != nil {
		t.Fatal(err)
	}
	// Both students end up together on a node that is not the main room's (it carries the main
	// room and its three participants; the other two carry nothing).
	deadline := time.Now().Add(30 * time.Second)
	for {
		u1, _, _ := s1.where()
		u2, _, _ := s2.where()
		if u1 != "" && u1 == u2 && u1 != mainURL {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("students not together on another node: s1 %q, s2 %q, main room on %s", u1, u2, mainURL)
		}
		time.Sleep(50 * time.Millisecond)
	}
	allHearEachOther(t, "breakout on another node", []*roamer{s1, s2}, 30*time.Second)
	for _, r := range []*roamer{s1, s2} {
		r.mu.Lock()
		c, reasons := r.c, fmt.Sprint(r.redirects)
		r.mu.Unlock()
		if reasons != "[breakout]" {
			t.Errorf("%s redirected for %s, want [breakout]", r.name, reasons)
		}
		if err := c.WaitRoom(ctx, "geo.b1"); err != nil {
			t.Fatalf("%s is not in geo.b1: %v", r.name, err)
		}
	}

	if err := pc.CloseBreakouts(ctx); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		u1, _, _ := s1.where()
		u2, _, _ := s2.where()
		if u1 == mainURL && u2 == mainURL {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("students not back on the main room's node %s: s1 %q, s2 %q", mainURL, u1, u2)
		}
		time.Sleep(50 * time.Millisecond)
	}
	allHearEachOther(t, "main room after the close", all, 30*time.Second)
}

// TestClusterDrainProcessesTheRecording: a room recorded on a node that drains stops recording when
// its participants move away, and the node makes the lesson before it exits.
func TestClusterDrainProcessesTheRecording(t *testing.T) {
	redisURL, nodes := startCluster(t, "-drain-timeout", "60s")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	video := mediatest.VP8(t, mediatest.Video{Size: "320x240", FPS: 15, Duration: 3 * time.Second})
	audio := mediatest.Opus(t, mediatest.Audio{Duration: 3 * time.Second})
	issuer, _ := auth.NewIssuer(testSecret)
	tok, err := issuer.Mint(auth.Grant{Room: "hist", Identity: "prof", Name: "Prof", Role: rooms.RoleInstructor}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	in := newInbox()
	prof, err := client.Dial(ctx, client.Options{URL: client.SocketURL(nodes[0].base), Room: "hist", Name: "Prof", Token: tok, Audio: true, Video: true, OnMessage: in.onMessage})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prof.Close)
	host := nodeOf(nodes, prof.URL())
	if err := prof.Send(ctx, "start_recording", struct{}{}); err != nil {
		t.Fatal(err)
	}
	var started struct {
		Recording rooms.Recording `json:"recording"`
	}
	json.Unmarshal(in.wait(t, "recording_started", 10*time.Second, nil), &started)
	if started.Recording.Node != host.name {
		t.Fatalf("recording on %q, want the room's node %s", started.Recording.Node, host.name)
	}
	var wg sync.WaitGroup
	for _, play := range []struct {
		tr *mediatest.Track
		to *webrtc.TrackLocalStaticRTP
	}{{video, prof.Video}, {audio, prof.Audio}} {
		wg.Go(func() { play.tr.Play(ctx, 1, trackSink{play.to}) })
	}
	wg.Wait()

	if err := host.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-prof.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the client was not sent away from the draining node")
	}
	if r := prof.Redirected(); r == nil || r.Reason != "drain" {
		t.Fatalf("redirect = %+v, want one for the drain", r)
	}
	select {
	case <-host.exited:
	case <-time.After(90 * time.Second):
		t.Fatalf("%s did not exit within 90 s of SIGTERM", host.name)
	}
	store, err := rooms.NewRedisStore(ctx, redisURL, rooms.RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	lessons, err := store.Lessons(ctx, "hist")
	if err != nil || len(lessons) != 1 || lessons[0].ID != started.Recording.ID || lessons[0].Status != "ready" {
		t.Fatalf("lessons after the drain = %+v, %v; want %s ready", lessons, err, started.Recording.ID)
	}
	if rec, err := store.ActiveRecording(ctx, "hist"); err != nil || rec != nil {
		t.Fatalf("recording still active after the drain: %+v %v", rec, err)
	}
}
