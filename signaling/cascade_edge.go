package signaling

// Cascading, edge side: when a session joins a room that Config.Edge says is hosted on another node,
// this node opens one relay per room to the home's /relay endpoint (cascade.go there) and keeps it
// while it has local sessions of the room. Relayed tracks become up-tracks of the local SFU under
// their original keys; local sessions subscribe to them as to local ones, including those that saw
// track_published before the relayed media arrived (relayedTrack).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/sfu"
)

const (
	relayDialTimeout = 10 * time.Second
	relayPingEvery   = 5 * time.Second
	relayBackoffMin  = 250 * time.Millisecond
	relayBackoffMax  = 8 * time.Second
	// relayHealthy: a relay that lasted this long starts its next reconnection from relayBackoffMin.
	relayHealthy = 30 * time.Second
)

// edgeRelays are this node's relays from rooms' home nodes, one per room, counted by local sessions,
// and (on either side) the relayOuts sending a room's tracks to another node.
type edgeRelays struct {
	mu    sync.Mutex
	rooms map[string]*edgeRelay
	of    map[*session]*edgeRelay
	outs  map[string]map[*relayOut]struct{} // by room
	conns map[*wsConn]struct{}              // relays this node serves as a home (/relay)
	shut  bool                              // the hub is closing: no new relays served
	wg    sync.WaitGroup
}

// serve registers a relay connection served by this node; false once the hub is closing.
func (e *edgeRelays) serve(c *wsConn) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.shut {
		return false
	}
	if e.conns == nil {
		e.conns = map[*wsConn]struct{}{}
	}
	e.conns[c] = struct{}{}
	return true
}

func (e *edgeRelays) served(c *wsConn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.conns, c)
}

// closeServed closes every relay this node serves (it is shutting down); edges reconnect elsewhere.
func (e *edgeRelays) closeServed() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.shut = true
	for c := range e.conns {
		c.closeAfter(websocket.StatusGoingAway, "shutdown")
	}
}

func (e *edgeRelays) addOut(ro *relayOut) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.outs == nil {
		e.outs = map[string]map[*relayOut]struct{}{}
	}
	if e.outs[ro.room] == nil {
		e.outs[ro.room] = map[*relayOut]struct{}{}
	}
	e.outs[ro.room][ro] = struct{}{}
}

func (e *edgeRelays) removeOut(ro *relayOut) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.outs[ro.room], ro)
	if len(e.outs[ro.room]) == 0 {
		delete(e.outs, ro.room)
	}
}

func (e *edgeRelays) outsIn(room string) []*relayOut {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*relayOut, 0, len(e.outs[room]))
	for ro := range e.outs[room] {
		out = append(out, ro)
	}
	return out
}

type edgeRelay struct {
	hub    *Hub
	room   string
	home   string
	users  int
	cancel context.CancelFunc
}

// ensureEdgeRelay consults Config.Edge for s's room and, if the room is hosted elsewhere, makes sure
// its relay runs while s is here. An error from the hook refuses the join. A session that moved to
// another room (breakouts) calls it again: it lets go of the old room's relay and takes the new
// room's, if that one is hosted elsewhere.
func (h *Hub) ensureEdgeRelay(s *session) error {
	if h.cfg.Edge == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	home, ok, err := h.cfg.Edge(ctx, s.room)
	cancel()
	if err != nil {
		return fmt.Errorf("find the room's home node: %w", err)
	}
	if ok && h.cfg.Node == "" {
		return errors.New("serving a room as an edge needs this node's id (Config.Node)")
	}
	e := &h.edges
	e.mu.Lock()
	defer e.mu.Unlock()
	if cur := e.of[s]; cur != nil {
		if ok && cur.room == s.room {
			return nil
		}
		e.releaseLocked(s)
	}
	if !ok {
		return nil
	}
	r := e.rooms[s.room]
	if r == nil {
		ctx, cancel := context.WithCancel(context.Background())
		r = &edgeRelay{hub: h, room: s.room, home: home, cancel: cancel}
		if e.rooms == nil {
			e.rooms, e.of = map[string]*edgeRelay{}, map[*session]*edgeRelay{}
		}
		e.rooms[s.room] = r
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			r.run(ctx)
		}()
	}
	r.users++
	e.of[s] = r
	return nil
}

// servesAsEdge reports whether this node relays room from its home node for local sessions.
func (h *Hub) servesAsEdge(room string) bool {
	h.edges.mu.Lock()
	defer h.edges.mu.Unlock()
	return h.edges.rooms[room] != nil
}

// releaseEdgeRelay: s left; the relay stops with the room's last local session.
func (h *Hub) releaseEdgeRelay(s *session) {
	h.edges.mu.Lock()
	defer h.edges.mu.Unlock()
	h.edges.releaseLocked(s)
}

func (e *edgeRelays) releaseLocked(s *session) {
	r := e.of[s]
	if r == nil {
		return
	}
	delete(e.of, s)
	if r.users--; r.users == 0 {
		r.cancel() // run closes the connection within its own timeouts
		delete(e.rooms, r.room)
	}
}

// waitEdgeRelays closes the relays this node serves and waits for its own stopped relays to finish
// closing, or for ctx.
func (h *Hub) waitEdgeRelays(ctx context.Context) error {
	h.edges.closeServed()
	done := make(chan struct{})
	go func() { h.edges.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// relayedTrack: a relayed track appeared or ended on this node. Every local session of the room,
// every relay sending the room's tracks on to another node, and the room's recording, if this node
// records it, bring their subscription in line with what the SFU now holds under that key.
func (h *Hub) relayedTrack(room, participant, track string) {
	for _, s := range h.sessionsIn(room) {
		s.mbox.post(func() { s.relayedTrack(participant, track) })
	}
	for _, ro := range h.edges.outsIn(room) {
		ro.mbox.post(func() { ro.refresh(relayKey{participant, track}) })
	}
	go h.recs.relayedTrack(room, participant, track) // may create a file: not on a media goroutine
}

func (s *session) relayedTrack(participant, track string) {
	if !s.joined || s.ended || participant == s.me.ID {
		return
	}
	up := s.hub.cfg.SFU.UpTrack(s.room, participant, track)
	if d := s.peer.Down(participant, track); d != nil {
		if d.UpTrack() == up {
			return
		}
		s.peer.Unsubscribe(participant, track) // the relay reconnected: the old track has ended
	}
	if up != nil && s.media.published(participant, track) {
		s.subscribe(participant, track)
	}
}

// run keeps the relay connected until ctx ends (the room's last local session left), reconnecting
// with exponential backoff. Before each reconnection it asks Config.Edge again: the room may have
// moved, or may now be hosted here (then the relay ends).
func (r *edgeRelay) run(ctx context.Context) {
	log := r.hub.log.With("room", r.room, "relay_from", r.home)
	backoff := relayBackoffMin
	for ctx.Err() == nil {
		start := time.Now()
		err := r.connect(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > relayHealthy {
			backoff = relayBackoffMin
		}
		log.Warn("relay from the room's home dropped; reconnecting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, relayBackoffMax)
		hctx, cancel := context.WithTimeout(ctx, storeTimeout)
		home, ok, err := r.hub.cfg.Edge(hctx, r.room)
		cancel()
		switch {
		case err != nil:
			log.Warn("find the room's home node", "err", err)
		case !ok:
			log.Info("the room is no longer hosted elsewhere; relay ends")
			return
		default:
			r.home = home
		}
	}
}

// relayURL is the home's /relay endpoint from its base URL (http, https, ws or wss).
func relayURL(home string) (string, error) {
	u, err := url.Parse(home)
	if err != nil {
		return "", fmt.Errorf("home node URL %q: %w", home, err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("home node URL %q: scheme must be http(s) or ws(s)", home)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/relay"
	return u.String(), nil
}

// connect runs one relay connection until it fails or ctx ends.
func (r *edgeRelay) connect(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	target, err := relayURL(r.home)
	if err != nil {
		return err
	}
	token, err := r.hub.cfg.Tokens.MintRelay(r.hub.cfg.Node, r.room, auth.RelayTTL)
	if err != nil {
		return err
	}
	dctx, dcancel := context.WithTimeout(ctx, relayDialTimeout)
	ws, _, err := websocket.Dial(dctx, target, nil)
	dcancel()
	if err != nil {
		return fmt.Errorf("dial %s: %w", target, err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 20)
	var wmu sync.Mutex
	send := func(typ string, data any) error {
		wmu.Lock()
		defer wmu.Unlock()
		wctx, c := context.WithTimeout(ctx, writeTimeout)
		defer c()
		return ws.Write(wctx, websocket.MessageText, encodeServer(typ, data))
	}
	if err := send("relay_join", relayJoinMsg{Room: r.room, Token: token}); err != nil {
		return fmt.Errorf("send relay_join: %w", err)
	}
	in, err := r.hub.cfg.SFU.NewRelayIn(r.room, relayInEvents{hub: r.hub, room: r.room, pc: relayDown, send: send, fail: cancel})
	if err != nil {
		return err
	}
	defer in.Close() // its tracks end; local sessions drop them (relayedTrack)
	// Up: what this node's own participants publish goes to the home, and from there everywhere.
	local := r.hub.cfg.Node
	up, err := newRelayOut(r.hub, r.room, "home", relayUp, func(typ string, data any) {
		if err := send(typ, data); err != nil {
			cancel(fmt.Errorf("send %s: %w", typ, err))
		}
	}, func(node string) bool { return node == local })
	if err != nil {
		return err
	}
	up.fail = func(err error) { cancel(fmt.Errorf("up: %w", err)) }
	upDone := make(chan struct{})
	go func() {
		defer close(upDone)
		up.run(ctx)
	}()
	defer func() {
		cancel(nil)
		<-upDone
		up.peer.Close()
	}()
	go func() {
		t := time.NewTicker(relayPingEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				pctx, c := context.WithTimeout(ctx, relayPingEvery)
				err := ws.Ping(pctx)
				c()
				if err != nil && ctx.Err() == nil {
					cancel(fmt.Errorf("ping: %w", err))
					return
				}
			}
		}
	}()
	for {
		_, frame, err := ws.Read(ctx)
		if err != nil {
			if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
				return c
			}
			return err
		}
		typ, data, err := decodeRelay(frame)
		if err != nil {
			return err
		}
		switch typ {
		case "relay_joined":
		case "offer":
			var m relayOfferMsg
			if err := json.Unmarshal(data, &m); err != nil {
				return fmt.Errorf("offer: %w", err)
			}
			if !validRelayTracks(m.Tracks) {
				return errors.New("the home's offer names malformed tracks")
			}
			answer, err := in.HandleOffer(m.SDP, m.Tracks)
			if err != nil {
				return err
			}
			if err := send("answer", relayAnswerMsg{PC: relayDown, SDP: answer}); err != nil {
				return err
			}
			in.ReleaseCandidates()
		case "answer":
			var m relayAnswerMsg
			if err := json.Unmarshal(data, &m); err != nil {
				return fmt.Errorf("answer: %w", err)
			}
			up.mbox.post(func() { up.answer(m.SDP) })
		case "candidate":
			var m relayCandidateMsg
			if err := json.Unmarshal(data, &m); err != nil {
				return fmt.Errorf("candidate: %w", err)
			}
			if m.PC == relayUp {
				up.mbox.post(func() { up.candidate(m.Candidate) }) // after the answer it follows
			} else if err := in.AddICECandidate(m.Candidate); err != nil {
				return err
			}
		case "error":
			var m errorMsg
			json.Unmarshal(data, &m)
			return fmt.Errorf("home refused the relay: %s: %s", m.Code, m.Message)
		}
	}
}

// relayInEvents adapts a RelayIn's callbacks (Pion goroutines), on either side of a relay.
type relayInEvents struct {
	hub  *Hub
	room string
	pc   string
	send func(string, any) error
	fail func(error)
}

func (e relayInEvents) Candidate(c webrtc.ICECandidateInit) {
	if err := e.send("candidate", relayCandidateMsg{PC: e.pc, Candidate: c}); err != nil {
		e.fail(fmt.Errorf("send candidate: %w", err))
	}
}
func (e relayInEvents) TrackStarted(t *sfu.UpTrack) {
	e.hub.relayedTrack(e.room, t.Participant(), t.ID())
}
func (e relayInEvents) TrackEnded(t *sfu.UpTrack) {
	e.hub.relayedTrack(e.room, t.Participant(), t.ID())
}
func (e relayInEvents) ConnectionState(st webrtc.PeerConnectionState) {
	if st == webrtc.PeerConnectionStateFailed {
		e.fail(errors.New("relay media connection failed"))
	}
}
