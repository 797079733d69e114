package signaling

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/recorder"
	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/sfu"
)

// Config wires a Hub to the rest of the node.
type Config struct {
	Store   rooms.Store
	SFU     *sfu.SFU
	Tokens  *auth.Issuer
	DevMode bool   // allow joining with a name only, as a student
	Node    string // this node's id, recorded on its participants
	Logger  *slog.Logger
	Metrics *Metrics // nil: kept but not registered

	// SilenceTimeout removes a participant whose socket showed no sign of life for this long
	// (default 15 s). PingInterval is how often the server pings (default 5 s).
	SilenceTimeout time.Duration
	PingInterval   time.Duration

	// Recorder captures the rooms whose recording names this node; nil: this node does not record.
	Recorder *recorder.Service
	// AutoRecord starts recording a room when an instructor joins it and it is not being recorded.
	AutoRecord bool
	// VideoLastN: in a room with more than VideoLastNAbove cameras, a student receives only the
	// cameras of the VideoLastN most recent speakers (and every moderator's camera and screen share).
	// 0 turns the rule off.
	VideoLastN, VideoLastNAbove int

	// ICEServers returns the STUN/TURN servers for one participant, with short-lived TURN
	// credentials minted for their identity; sent in every joined. Nil: the SFU's static list.
	ICEServers func(identity string) []webrtc.ICEServer

	// Edge says, when a session joins, whether this node serves room as an edge of another node
	// (ok): the room's media is published at homeURL (the home's base URL, e.g. http://10.0.0.2:8080)
	// and arrives here over one relay per room (cascade_edge.go). Nil: every room's media is local.
	Edge func(ctx context.Context, room string) (homeURL string, ok bool, err error)

	// Router places rooms on the nodes of a cluster (cluster.go); nil: this node serves every room.
	Router Router
	// OriginPatterns, if set, lists the hosts (besides this one) whose pages may open /ws: in a
	// cluster a page served by one node opens its socket on the node a redirect names.
	OriginPatterns func() []string
}

// Hub serves the /ws endpoint of one node: it holds the node's sessions, subscribes to the events
// of every room that has a local participant, and hands each event to those participants.
type Hub struct {
	cfg Config
	log *slog.Logger
	m   *Metrics

	bo    breakoutTimers // one timer per main room with timed breakouts
	recs  *recordings    // this node's recorder, following the rooms it records
	edges edgeRelays     // relays from the home nodes of rooms this node serves as an edge

	mu       sync.Mutex
	closed   bool
	draining atomic.Bool   // moving rooms to other nodes before shutting down (cluster.go)
	stopLoop chan struct{} // ends the placement check
	rooms    map[string]*hubRoom
	byResume map[string]*session
	all      map[*session]struct{}
	wg       sync.WaitGroup
}

type hubRoom struct {
	sessions map[string]*session // by participant id
	cancel   context.CancelFunc
}

// NewHub returns a Hub; serve it at /ws.
func NewHub(cfg Config) *Hub {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.SilenceTimeout == 0 {
		cfg.SilenceTimeout = 15 * time.Second
	}
	if cfg.PingInterval == 0 || cfg.PingInterval > cfg.SilenceTimeout/3 {
		cfg.PingInterval = min(5*time.Second, cfg.SilenceTimeout/3) // a live client answers several pings per window
	}
	h := &Hub{
		cfg: cfg, log: cfg.Logger.With("component", "signaling"), m: cfg.Metrics,
		rooms: map[string]*hubRoom{}, byResume: map[string]*session{}, all: map[*session]struct{}{},
		stopLoop: make(chan struct{}),
	}
	if cfg.Router != nil {
		go h.runPlacement(h.stopLoop)
	}
	h.recs = newRecordings(h, cfg.Recorder)
	if cfg.SFU != nil {
		cfg.SFU.OnActiveSpeakers(h.speakersChanged)
	}
	return h
}

// ServeHTTP upgrades to a WebSocket and runs the connection until it ends.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var opts *websocket.AcceptOptions // nil: same-origin only, the Origin header must match Host
	if h.cfg.OriginPatterns != nil {
		opts = &websocket.AcceptOptions{OriginPatterns: h.cfg.OriginPatterns()}
	}
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		return // Accept has written the HTTP error
	}
	c.SetReadLimit(-1) // conn.read enforces MaxFrameBytes itself, so it can say why before closing
	conn := newWSConn(c)
	conn.startPings(h.cfg.PingInterval)
	h.readLoop(r.Context(), conn)
	conn.finish()
}

// readLoop decodes frames and routes them: the first must be join; the rest go to the session.
func (h *Hub) readLoop(ctx context.Context, conn *wsConn) {
	var s *session
	defer func() {
		if s != nil {
			s.mbox.post(func() { s.connLost(conn) })
		}
	}()
	for {
		typ, frame, err := conn.read(ctx)
		if errors.Is(err, errTooLarge) {
			h.m.errors.WithLabelValues(CodeTooLarge).Inc()
			conn.send(encodeServer("error", errorMsg{Code: CodeTooLarge, Message: "message larger than 64 KiB"}))
			conn.closeAfter(websocket.StatusMessageTooBig, "message too large")
			return
		}
		if err != nil {
			// A close frame means the tab closed or navigated away: leave at once. Anything else may
			// be a network blip, and the session waits for a resume until it falls silent too long.
			if st := websocket.CloseStatus(err); s != nil && (st == websocket.StatusNormalClosure || st == websocket.StatusGoingAway) {
				s.mbox.post(func() { s.endIfConn(conn, rooms.ReasonLeft) })
			}
			return
		}
		if typ != websocket.MessageText {
			h.sendError(conn, protoErr(CodeBadMessage, "", "binary frames are not part of the protocol"))
			continue
		}
		msg, err := decodeClient(frame)
		if err != nil {
			var pe *ProtocolError
			errors.As(err, &pe)
			h.m.messages.WithLabelValues("invalid").Inc()
			h.sendError(conn, pe)
			if s == nil && pe.Ref == "join" {
				conn.closeAfter(websocket.StatusPolicyViolation, "invalid join")
				return
			}
			continue
		}
		h.m.messages.WithLabelValues(msg.Type).Inc()
		switch {
		case s == nil && msg.Type != "join":
			h.sendError(conn, protoErr(CodeOutOfOrder, msg.Type, "send join first"))
		case s == nil:
			if s = h.startSession(conn, msg.Body.(*joinMsg)); s == nil {
				return
			}
		case msg.Type == "join":
			h.sendError(conn, protoErr(CodeOutOfOrder, "join", "already joined on this connection"))
		default:
			s.mbox.post(func() { s.handle(conn, msg) })
		}
	}
}

// startSession authorises a join (or finds the session a resume names) and hands it the connection.
// It returns nil, after telling the client why, if the join is refused.
func (h *Hub) startSession(conn *wsConn, j *joinMsg) *session {
	if j.Resume != "" {
		h.mu.Lock()
		s := h.byResume[j.Resume]
		h.mu.Unlock()
		if s == nil {
			h.refuse(conn, protoErr(CodeResumeFailed, "join", "the session has ended; join again"))
			return nil
		}
		s.mbox.post(func() { s.resume(conn) })
		return s
	}
	me, err := h.authorize(j)
	if err != nil {
		h.refuse(conn, err.(*ProtocolError))
		return nil
	}
	if red, pe := h.routeJoin(j, me); pe != nil || red != nil {
		if pe != nil {
			h.refuse(conn, pe)
		} else {
			h.sendRedirect(conn, *red)
		}
		return nil
	}
	s := newSession(h, j.Room, me)
	if j.Visit > 0 && me.Role.Moderator() {
		s.bo.visit = j.Visit // an instructor redirected while visiting a breakout (enterBreakouts)
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		h.refuse(conn, protoErr(CodeInternal, "join", "the server is shutting down"))
		return nil
	}
	h.all[s] = struct{}{}
	h.byResume[s.resumeToken] = s
	h.wg.Add(1)
	h.mu.Unlock()
	s.run(h.wg.Done)
	s.mbox.post(func() { s.join(conn) })
	return s
}

func (h *Hub) refuse(conn *wsConn, pe *ProtocolError) {
	h.sendError(conn, pe)
	conn.closeAfter(websocket.StatusPolicyViolation, pe.Code)
}

func (h *Hub) sendError(conn *wsConn, pe *ProtocolError) {
	h.m.errors.WithLabelValues(pe.Code).Inc()
	conn.send(encodeServer("error", errorMsg{Code: pe.Code, Message: pe.Message, Ref: pe.Ref}))
}

// authorize turns a join into a participant: from the token's grant, or in dev mode from a name.
func (h *Hub) authorize(j *joinMsg) (rooms.Participant, error) {
	p := rooms.Participant{ID: newID("P", 10), Node: h.cfg.Node, JoinedAt: time.Now().UTC(), Name: j.Name, Tracks: []rooms.Track{}}
	switch {
	case j.Token != "":
		g, err := h.cfg.Tokens.Check(j.Token, j.Room)
		if err != nil {
			return p, protoErr(CodeUnauthorized, "join", "%v", err)
		}
		p.Identity, p.Role = g.Identity, g.Role
		if g.Name != "" {
			p.Name = g.Name
		}
		if p.Name == "" {
			return p, protoErr(CodeBadMessage, "join", "name is required")
		}
	case h.cfg.DevMode:
		p.Role = rooms.RoleStudent
		p.Identity = j.Identity
		if p.Identity == "" {
			p.Identity = newID("guest-", 8)
		} else {
			// Guests choose their own identity in dev mode; keep it apart from token identities.
			p.Identity = "guest-" + p.Identity
		}
	default:
		return p, protoErr(CodeUnauthorized, "join", "%v", auth.ErrMissing)
	}
	return p, nil
}

// attach registers s in its room, subscribing to the room's events first if s is the room's first
// local participant: subscribing before the join is what guarantees s sees every later event.
func (h *Hub) attach(s *session) error { return h.attachRoom(s, s.room) }

// attachRoom delivers room's events to s (its current room, or its main room while in a breakout).
func (h *Hub) attachRoom(s *session, room string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[room]
	if r == nil {
		ctx, cancel := context.WithCancel(context.Background())
		sub, err := h.cfg.Store.Subscribe(ctx, room)
		if err != nil {
			cancel()
			return err
		}
		r = &hubRoom{sessions: map[string]*session{}, cancel: cancel}
		h.rooms[room] = r
		go h.feed(ctx, room, sub)
	}
	r.sessions[s.me.ID] = s
	return nil
}

// detach removes s from its rooms and from the node; a room's event feed stops with its last session.
func (h *Hub) detach(s *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.all, s)
	delete(h.byResume, s.resumeToken)
	h.detachLocked(s, s.room)
	h.detachLocked(s, s.bo.main)
	h.releaseEdgeRelay(s)
}

// detachRoom stops delivering room's events to s.
func (h *Hub) detachRoom(s *session, room string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.detachLocked(s, room)
}

func (h *Hub) detachLocked(s *session, room string) {
	r := h.rooms[room]
	if r == nil || r.sessions[s.me.ID] != s {
		return
	}
	delete(r.sessions, s.me.ID)
	if len(r.sessions) == 0 {
		r.cancel()
		delete(h.rooms, room)
	}
}

// feed delivers a room's events to its local sessions. If the subscription ends early (a lagging
// consumer, a lost Redis connection) it resubscribes and tells every session to resync from a snapshot.
func (h *Hub) feed(ctx context.Context, room string, sub *rooms.Subscription) {
	tally := h.startPollTally(ctx, room)
	defer func() {
		h.mu.Lock()
		again := h.rooms[room] != nil // a session arrived since and a new feed took over
		h.mu.Unlock()
		if !again {
			h.recs.feedEnded(room)
			h.released(room)
		}
	}()
	for {
		for ev := range sub.C {
			h.recs.onEvent(room, ev)
			if tally.take(ev) {
				continue // votes reach instructors as throttled poll_results, not one by one
			}
			for _, s := range h.sessionsIn(room) {
				s.mbox.post(func() { s.onEvent(ev) })
			}
		}
		if ctx.Err() != nil {
			return
		}
		h.log.Warn("room event feed interrupted; resyncing", "room", room, "err", sub.Err())
		for {
			var err error
			if sub, err = h.cfg.Store.Subscribe(ctx, room); err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
		snap, err := h.cfg.Store.Snapshot(ctx, room)
		if err != nil {
			sub.Close()
			continue
		}
		for _, s := range h.sessionsIn(room) {
			s.mbox.post(func() { s.resync(snap) })
		}
	}
}

func (h *Hub) sessionsIn(room string) []*session {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[room]
	if r == nil {
		return nil
	}
	out := make([]*session, 0, len(r.sessions))
	for _, s := range r.sessions {
		out = append(out, s)
	}
	return out
}

// Close says goodbye to every session (reason "shutdown"), removes them from their rooms and waits
// for them to finish, or for ctx.
func (h *Hub) Close(ctx context.Context) error {
	h.mu.Lock()
	if !h.closed {
		close(h.stopLoop)
	}
	h.closed = true
	var all []*session
	for s := range h.all {
		all = append(all, s)
	}
	h.mu.Unlock()
	h.bo.stop()
	for _, s := range all {
		s.mbox.post(func() { s.end("shutdown", false) })
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	h.recs.stopAll() // feeds stop recording as their rooms empty; this catches any still ending
	return h.waitEdgeRelays(ctx)
}

var idEncoding = base32.NewEncoding("abcdefghijkmnpqrstuvwxyz23456789").WithPadding(base32.NoPadding)

// newID returns prefix + n random characters (5 bits each) from an unambiguous alphabet.
func newID(prefix string, n int) string {
	b := make([]byte, (n*5+7)/8)
	rand.Read(b)
	return prefix + idEncoding.EncodeToString(b)[:n]
}

// Metrics are signaling's Prometheus series.
type Metrics struct {
	sessions prometheus.Gauge
	messages *prometheus.CounterVec
	errors   *prometheus.CounterVec

	redirects *prometheus.CounterVec // clients sent to another node (cluster.go)
}

// NewMetrics returns unregistered metrics.
func NewMetrics() *Metrics {
	m := &Metrics{
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "chalk_signaling_sessions", Help: "Participants connected to this node."}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chalk_signaling_messages_total", Help: "Client messages received, by type."}, []string{"type"}),
		errors:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chalk_signaling_errors_total", Help: "Error messages sent to clients, by code."}, []string{"code"}),

		redirects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chalk_signaling_redirects_total", Help: "Clients sent to another node, by reason."}, []string{"reason"}),
	}
	m.redirectReasons()
	return m
}

// Register adds the metrics to r.
func (m *Metrics) Register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.sessions, m.redirects, m.messages, m.errors} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
