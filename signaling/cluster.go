package signaling

import (
	"context"
	"errors"
	"time"

	"github.com/coder/websocket"

	"github.com/chalk-edu/chalk/cluster"
	"github.com/chalk-edu/chalk/rooms"
)

// Multi-node routing, the signaling side. A room is served by one node (cluster placement); a
// WebSocket that joins a room served elsewhere is told where to go (`redirect`) and closed, so media
// always goes straight to the hosting node. Sessions keep to their room's node level-triggered, like
// breakout moves: every second the hub looks up where each of its rooms is placed, and the sessions
// of a room placed elsewhere (a drain re-placed it, or a split after a failure) are redirected.

// Router is cluster placement as the hub needs it (*cluster.Registry). Nil: one node, every room local.
type Router interface {
	// Route places room if needed and says which node serves it.
	Route(ctx context.Context, room string) (cluster.Route, error)
	// Lookup says where room is placed without placing it; ok false: not placed on a live node.
	Lookup(ctx context.Context, room string) (rt cluster.Route, ok bool, err error)
	// Release drops room's placement if this node holds it.
	Release(ctx context.Context, room string) error
}

// Why a client is redirected (redirect.reason).
const (
	RedirectPlacement = "placement" // the room is served by another node
	RedirectBreakout  = "breakout"  // the room the breakout plan gives is served by another node
	RedirectDrain     = "drain"     // this node is shutting down; the room moved
)

// ReasonNodeFailed is the participant_left reason for participants of a node that died; the store
// holds their raised hands for their return (rooms/hands.go).
const ReasonNodeFailed = rooms.ReasonNodeFailed

// placementCheck is how often the hub checks that its rooms are still placed on it.
const placementCheck = time.Second

// redirectMsg tells the client to join again at another node (docs/protocol.md "Nodes").
type redirectMsg struct {
	URL    string `json:"url"`  // the node's base URL; the socket is <url>/ws
	Room   string `json:"room"` // the room to join (the main room: what the client's token grants)
	Reason string `json:"reason"`
	Visit  int    `json:"visit,omitempty"` // an instructor's breakout visit, to send back in join
}

// routeJoin decides where a new join is served. It returns nil when this node serves it; otherwise
// the redirect to send. A student assigned to a breakout goes to the breakout's node, an instructor
// to the room they were visiting.
func (h *Hub) routeJoin(j *joinMsg, me rooms.Participant) (*redirectMsg, *ProtocolError) {
	if h.cfg.Router == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	target := j.Room
	if p, err := h.cfg.Store.Breakouts(ctx, j.Room); err == nil && p.Open {
		n := p.AssignedTo(me.Identity)
		if me.Role.Moderator() {
			n = j.Visit
			if n == 0 {
				n = p.VisitOf(me.Identity) // a fresh join goes back to the breakout being visited
			}
		}
		if n >= 1 && n <= len(p.Rooms) {
			target = p.Rooms[n-1].Room
		}
	}
	rt, err := h.cfg.Router.Route(ctx, target)
	switch {
	case errors.Is(err, cluster.ErrNoNode):
		return nil, protoErr(CodeInternal, "join", "no class server is accepting rooms right now; try again in a minute")
	case err != nil:
		h.log.Error("route a join", "room", target, "err", err)
		return nil, protoErr(CodeInternal, "join", "could not find the server for this room; try again")
	case rt.Local, rt.Edge: // an edge serves the join here; its media comes over a relay (cascade_edge.go)
		return nil, nil
	}
	reason := RedirectPlacement
	if target != j.Room {
		reason = RedirectBreakout
	}
	return &redirectMsg{URL: rt.URL, Room: j.Room, Reason: reason, Visit: j.Visit}, nil
}

// redirectReasons starts every reason's series at zero, so dashboards show a rate, not a gap.
func (m *Metrics) redirectReasons() {
	for _, r := range []string{RedirectPlacement, RedirectBreakout, RedirectDrain} {
		m.redirects.WithLabelValues(r)
	}
}

// sendRedirect tells a client where to go and closes its socket.
func (h *Hub) sendRedirect(conn *wsConn, m redirectMsg) {
	h.m.redirects.WithLabelValues(m.Reason).Inc()
	conn.send(encodeServer("redirect", m))
	conn.closeAfter(websocket.StatusNormalClosure, "redirect")
}

// elsewhere reports the node that serves room when it is not this one (placing the room if needed).
func (s *session) elsewhere(room string) (cluster.Route, bool) {
	if s.hub.cfg.Router == nil {
		return cluster.Route{}, false
	}
	ctx, cancel := s.ctx()
	defer cancel()
	rt, err := s.hub.cfg.Router.Route(ctx, room)
	if err != nil {
		s.log.Error("route a room; staying on this node", "to", room, "err", err)
		return cluster.Route{}, false
	}
	return rt, !rt.Local && !rt.Edge
}

// redirect sends the client to another node and ends the session here (the participant leaves with
// reason moved for a breakout, relocated when its room moved); the client joins there afresh with the
// same token and name.
func (s *session) redirect(rt cluster.Route, reason string) {
	if s.ended {
		return
	}
	m := redirectMsg{URL: rt.URL, Room: s.bo.main, Reason: reason}
	if s.isInstructor() && s.bo.visitGen == s.bo.plan.Generation && s.bo.plan.Open {
		m.Visit = s.bo.visit
	}
	s.log.Info("redirecting to another node", "node", rt.Node, "reason", reason)
	if s.conn != nil {
		s.hub.sendRedirect(s.conn, m)
		s.conn = nil // closed by sendRedirect: end must not close it again
	}
	leave := rooms.ReasonRelocated // the same room, elsewhere: the store holds a raised hand for the rejoin
	if reason == RedirectBreakout {
		leave = rooms.ReasonMoved
	}
	s.end(leave, true)
}

// roomNames lists the rooms this node has sessions in.
func (h *Hub) roomNames() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	names := make([]string, 0, len(h.rooms))
	for room := range h.rooms {
		names = append(names, room)
	}
	return names
}

// checkPlacement redirects the sessions of rooms that are now placed on another live node.
func (h *Hub) checkPlacement(ctx context.Context, reason string) {
	names := h.roomNames()
	for _, room := range names {
		lctx, cancel := context.WithTimeout(ctx, storeTimeout)
		rt, ok, err := h.cfg.Router.Lookup(lctx, room)
		cancel()
		if err != nil || !ok || rt.Local {
			continue
		}
		if reason != RedirectDrain && h.servesAsEdge(room) {
			continue // placed elsewhere on purpose: this node is one of the room's edges
		}
		for _, s := range h.sessionsIn(room) {
			s.mbox.post(func() {
				if s.room == room && (s.joined || s.mod.waiting) {
					s.redirect(rt, reason)
				}
			})
		}
	}
}

// runPlacement checks placement every second until the hub closes.
func (h *Hub) runPlacement(stop <-chan struct{}) {
	t := time.NewTicker(placementCheck)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			reason := RedirectPlacement
			if h.draining.Load() {
				reason = RedirectDrain
			}
			h.checkPlacement(ctx, reason)
		}
	}
}

// released drops this node's placement of a room that no longer has a session here.
func (h *Hub) released(room string) {
	if h.cfg.Router == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := h.cfg.Router.Release(ctx, room); err != nil {
		h.log.Warn("release a room's placement", "room", room, "err", err)
	}
}

// Drain moves this node's rooms away: the registry must already say the node is draining, so each
// room's next Route places it elsewhere. Every room with a session here is re-placed and its
// sessions redirected (a room moves as a whole). It returns when no session is left, or at ctx's end.
func (h *Hub) Drain(ctx context.Context) error {
	if h.cfg.Router == nil {
		return nil
	}
	h.draining.Store(true)
	names := h.roomNames()
	for _, room := range names {
		rctx, cancel := context.WithTimeout(ctx, storeTimeout)
		_, err := h.cfg.Router.Route(rctx, room) // re-place it now, not at the next join
		cancel()
		if err != nil {
			return err // no other node: the rooms finish here instead
		}
	}
	h.checkPlacement(ctx, RedirectDrain)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		h.mu.Lock()
		n := len(h.all)
		h.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Load is what this node reports to the registry: its sessions and the tracks published here.
func (h *Hub) Load() (participants, tracks int) {
	h.mu.Lock()
	participants = len(h.all)
	h.mu.Unlock()
	for _, room := range h.roomNames() {
		tracks += len(h.cfg.SFU.UpTracks(room))
	}
	return participants, tracks
}

// RemoveNode cleans up after a dead node: its participants leave the rooms that were placed on it
// (reason node_failed), its lobby entries go, and recordings it captured stop. Other nodes' records
// are left alone: a client that already rejoined elsewhere has replaced its old record.
func (h *Hub) RemoveNode(ctx context.Context, node string, roomNames []string) error {
	var errs []error
	for _, room := range roomNames {
		snap, err := h.cfg.Store.Snapshot(ctx, room)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, p := range snap.Participants {
			if p.Node != node {
				continue
			}
			if err := h.cfg.Store.Leave(ctx, room, p.ID, ReasonNodeFailed); err != nil && !errors.Is(err, rooms.ErrNotFound) {
				errs = append(errs, err)
			}
		}
		for _, p := range snap.Lobby {
			if p.Node != node {
				continue
			}
			if err := h.cfg.Store.LeaveLobby(ctx, room, p.ID, rooms.ReasonLeft, p.ID); err != nil && !errors.Is(err, rooms.ErrNotFound) {
				errs = append(errs, err)
			}
		}
		rec, err := h.cfg.Store.ActiveRecording(ctx, room)
		if err == nil && rec != nil && rec.Node == node {
			// The media it captured so far is on the dead node's disk; its recorder's journal
			// finishes that lesson when the node (with its storage) starts again.
			if _, err := h.cfg.Store.StopRecording(ctx, room, "", ReasonNodeFailed); err != nil && !errors.Is(err, rooms.ErrNotFound) {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		h.log.Error("clean up after a dead node", "node", node, "errors", len(errs))
	}
	return errors.Join(errs...)
}
