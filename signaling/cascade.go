package signaling

// Cascading, home side: the /relay endpoint. Another node that serves some of a room's participants
// (an edge) opens one relay per room; this node, the room's home, forwards every track published
// here to it once, whatever the number of the edge's subscribers ("down"). The edge sends the
// tracks its own participants publish the same way in the other direction ("up"), on a second peer
// connection of the same relay, so a student on an edge who unmutes is heard by everyone. A relay
// follows the room's events like a session but is not a participant: it is in neither the store,
// nor the roster, nor the attendance. Keyframe requests and NACKs come back over each direction's
// RTCP (sfu/relay.go).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/sfu"
)

// relayJoinTimeout bounds how long a relay may take to say which room it wants.
const relayJoinTimeout = 10 * time.Second

// Relay messages (docs/protocol.md, "Relay between nodes"). The envelope is the /ws one.
type (
	relayJoinMsg struct {
		Room  string `json:"room"`
		Token string `json:"token"`
	}
	relayJoinedMsg struct {
		Room string `json:"room"`
		Node string `json:"node"` // the home's node id
	}
	// relayOfferMsg: the sending side of a direction offers ("down": the home, "up": the edge).
	relayOfferMsg struct {
		PC     string                `json:"pc"`
		SDP    string                `json:"sdp"`
		Tracks []sfu.SubscribedTrack `json:"tracks"`
	}
	relayAnswerMsg struct {
		PC  string `json:"pc"`
		SDP string `json:"sdp"`
	}
	relayCandidateMsg struct {
		PC        string                  `json:"pc"`
		Candidate webrtc.ICECandidateInit `json:"candidate"`
	}
)

// The two directions of a relay, each its own peer connection with a fixed offerer (no glare).
const (
	relayDown = "down" // home → edge; the home offers
	relayUp   = "up"   // edge → home; the edge offers
)

// decodeRelay reads one relay frame into its type and raw body.
func decodeRelay(frame []byte) (string, json.RawMessage, error) {
	var env envelope
	if err := json.Unmarshal(frame, &env); err != nil {
		return "", nil, fmt.Errorf("not a JSON envelope: %v", err)
	}
	if env.V != Version {
		return "", nil, fmt.Errorf("protocol version %d is not %d", env.V, Version)
	}
	return env.Type, env.Data, nil
}

// ServeRelay serves /relay: the first frame must be relay_join with a relay token (auth.MintRelay)
// for the room; join tokens are refused here and relay tokens on /ws.
func (h *Hub) ServeRelay(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	c.SetReadLimit(-1) // conn.read enforces MaxFrameBytes
	conn := newWSConn(c)
	conn.startPings(h.cfg.PingInterval)
	defer conn.finish()

	refuse := func(code, format string, a ...any) {
		h.sendError(conn, protoErr(code, "relay_join", format, a...))
		conn.closeAfter(websocket.StatusPolicyViolation, code)
	}
	jctx, cancel := context.WithTimeout(r.Context(), relayJoinTimeout)
	_, frame, err := conn.read(jctx)
	cancel()
	if err != nil {
		return
	}
	typ, data, err := decodeRelay(frame)
	var j relayJoinMsg
	switch {
	case err != nil:
		refuse(CodeBadMessage, "%v", err)
		return
	case typ != "relay_join":
		refuse(CodeOutOfOrder, "send relay_join first")
		return
	case json.Unmarshal(data, &j) != nil || !relayRoomName(j.Room):
		refuse(CodeBadMessage, "relay_join needs a valid room and a token")
		return
	}
	edge, err := h.cfg.Tokens.CheckRelay(j.Token, j.Room)
	if err != nil {
		refuse(CodeUnauthorized, "%v", err)
		return
	}
	if edge == h.cfg.Node { // its relayed tracks would replace the originals under the same keys
		refuse(CodeBadMessage, "node %s cannot relay a room from itself", edge)
		return
	}
	if !h.edges.serve(conn) {
		refuse(CodeInternal, "the server is shutting down")
		return
	}
	defer h.edges.served(conn)

	ctx, stop := context.WithCancel(r.Context())
	defer stop()
	log := h.log.With("room", j.Room, "relay_to", edge)
	send := func(typ string, data any) { conn.send(encodeServer(typ, data)) }
	down, err := newRelayOut(h, j.Room, edge, relayDown, send, func(node string) bool { return node != edge })
	if err != nil {
		log.Error("create relay peer", "err", err)
		refuse(CodeInternal, "could not set up the relay")
		return
	}
	defer down.peer.Close()
	up, err := h.cfg.SFU.NewRelayIn(j.Room, relayInEvents{hub: h, room: j.Room, pc: relayUp,
		send: func(typ string, data any) error { send(typ, data); return nil }, fail: func(error) {}})
	if err != nil {
		log.Error("create relay receiver", "err", err)
		refuse(CodeInternal, "could not set up the relay")
		return
	}
	defer up.Close()
	send("relay_joined", relayJoinedMsg{Room: j.Room, Node: h.cfg.Node})
	log.Info("relay opened")
	done := make(chan struct{})
	go func() {
		defer close(done)
		down.run(ctx)
	}()
	for {
		_, frame, err := conn.read(ctx)
		if err != nil {
			break
		}
		typ, data, err := decodeRelay(frame)
		if err != nil {
			h.sendError(conn, protoErr(CodeBadMessage, "", "%v", err))
			continue
		}
		switch typ {
		case "answer":
			var m relayAnswerMsg
			if json.Unmarshal(data, &m) != nil || m.PC != relayDown || m.SDP == "" || len(m.SDP) > MaxSDPBytes {
				h.sendError(conn, protoErr(CodeBadMessage, typ, `answer needs pc "down" and an sdp of at most 32 KiB`))
				continue
			}
			down.mbox.post(func() { down.answer(m.SDP) })
		case "offer":
			var m relayOfferMsg
			if json.Unmarshal(data, &m) != nil || m.PC != relayUp || m.SDP == "" || len(m.SDP) > MaxSDPBytes {
				h.sendError(conn, protoErr(CodeBadMessage, typ, `offer needs pc "up" and an sdp of at most 32 KiB`))
				continue
			}
			if !validRelayTracks(m.Tracks) {
				h.sendError(conn, protoErr(CodeBadMessage, typ, "tracks need a participantId and a source each"))
				continue
			}
			answer, err := up.HandleOffer(m.SDP, m.Tracks)
			if err != nil {
				h.sendError(conn, protoErr(CodeBadSDP, typ, "%v", err))
				continue
			}
			send("answer", relayAnswerMsg{PC: relayUp, SDP: answer})
			up.ReleaseCandidates()
		case "candidate":
			var m relayCandidateMsg
			if json.Unmarshal(data, &m) != nil {
				h.sendError(conn, protoErr(CodeBadMessage, typ, "candidate is malformed"))
				continue
			}
			if m.PC == relayUp {
				if err := up.AddICECandidate(m.Candidate); err != nil {
					h.sendError(conn, protoErr(CodeBadMessage, typ, "candidate rejected: %v", err))
				}
				continue
			}
			down.mbox.post(func() { down.candidate(m.Candidate) }) // after the answer it follows
		default:
			h.sendError(conn, protoErr(CodeUnknownType, typ, "unknown relay message type %q", typ))
		}
	}
	stop()
	<-done
	log.Info("relay closed")
}

// relayRoomName: a class's room name, or one of its breakout rooms' (which clients never name).
func relayRoomName(room string) bool {
	main, _ := rooms.ParseBreakoutRoom(room)
	return roomNameRE.MatchString(main)
}

// validRelayTracks: what an edge says it sends names participants and sources as the protocol does
// (they become keys in this node's SFU).
func validRelayTracks(ts []sfu.SubscribedTrack) bool {
	for _, t := range ts {
		if !idRE.MatchString(t.Participant) || !rooms.Source(t.Track).Valid() || t.Mid == "" {
			return false
		}
	}
	return true
}

type relayKey struct{ participant, track string }

// relayOut sends a room's tracks one way over a relay: on the home, those published here to an
// edge ("down"); on an edge, those its own participants publish to the home ("up"). It follows the
// room's events; its state is owned by run's goroutine.
type relayOut struct {
	hub  *Hub
	room string
	pc   string                     // relayDown or relayUp
	send func(typ string, data any) // to the other node
	want func(node string) bool     // whether tracks of participants on node go this way
	fail func(error)                // the media connection failed (nil: the other side reconnects)
	peer *sfu.Peer
	mbox *mailbox
	log  *slog.Logger

	seq   uint64
	subs  map[relayKey]bool // tracks the room lists as published
	nodes map[string]string // participant id → node holding its media
}

func newRelayOut(h *Hub, room, peerNode, pc string, send func(string, any), want func(string) bool) (*relayOut, error) {
	ro := &relayOut{hub: h, room: room, pc: pc, send: send, want: want, mbox: newMailbox(),
		log:  h.log.With("room", room, "relay", pc, "peer_node", peerNode),
		subs: map[relayKey]bool{}, nodes: map[string]string{}}
	var err error
	if ro.peer, err = h.cfg.SFU.NewRelayPeer(room, peerNode, relayPeerEvents{ro}); err != nil {
		return nil, err
	}
	return ro, nil
}

// run follows the room's events until ctx ends. If the feed is interrupted it resubscribes (once a
// second, while the relay lasts) and starts over from a snapshot.
func (ro *relayOut) run(ctx context.Context) {
	ro.hub.edges.addOut(ro)
	defer ro.hub.edges.removeOut(ro)
	for ctx.Err() == nil {
		sub, err := ro.hub.cfg.Store.Subscribe(ctx, ro.room)
		if err == nil {
			err = ro.follow(ctx, sub)
			sub.Close()
		}
		if ctx.Err() != nil {
			return
		}
		ro.log.Warn("relay's room feed interrupted; resyncing", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (ro *relayOut) follow(ctx context.Context, sub *rooms.Subscription) error {
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	snap, err := ro.hub.cfg.Store.Snapshot(sctx, ro.room)
	cancel()
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	ro.applySnapshot(snap)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-sub.C:
			if !ok {
				return errors.Join(errors.New("subscription ended"), sub.Err())
			}
			ro.onEvent(ev)
		case <-ro.mbox.signal:
			for _, f := range ro.mbox.take() {
				f()
			}
		}
	}
}

func (ro *relayOut) applySnapshot(snap rooms.Snapshot) {
	ro.seq = snap.Seq
	want := map[relayKey]bool{}
	clear(ro.nodes)
	for _, p := range snap.Participants {
		ro.nodes[p.ID] = p.Node
		for _, t := range p.Tracks {
			want[relayKey{p.ID, t.ID}] = true
		}
	}
	for k := range ro.subs {
		if !want[k] {
			ro.drop(k)
		}
	}
	for k := range want {
		ro.add(k)
	}
}

func (ro *relayOut) onEvent(ev rooms.Event) {
	if ev.Room != ro.room || ev.Seq <= ro.seq {
		return
	}
	ro.seq = ev.Seq
	switch ev.Type {
	case rooms.EventParticipantJoined:
		if p := ev.Participant; p != nil {
			ro.nodes[p.ID] = p.Node
			for _, t := range p.Tracks {
				ro.add(relayKey{p.ID, t.ID})
			}
		}
	case rooms.EventParticipantLeft:
		delete(ro.nodes, ev.ParticipantID)
		for k := range ro.subs {
			if k.participant == ev.ParticipantID {
				ro.drop(k)
			}
		}
	case rooms.EventTrackPublished, rooms.EventTrackUpdated:
		if ev.Track != nil {
			ro.add(relayKey{ev.ParticipantID, ev.Track.ID})
		}
	case rooms.EventTrackUnpublished:
		if ev.Track != nil {
			ro.drop(relayKey{ev.ParticipantID, ev.Track.ID})
		}
	}
}

// add relays a published track if its media is on this node and goes this way: a track never goes
// back to the node it came from. A track whose media is not here yet is added by refresh when it
// arrives (relayed from another edge).
func (ro *relayOut) add(k relayKey) {
	ro.subs[k] = true
	if !ro.want(ro.nodes[k.participant]) {
		return
	}
	up := ro.hub.cfg.SFU.UpTrack(ro.room, k.participant, k.track)
	if up == nil {
		return
	}
	if err := ro.peer.Subscribe(up); err != nil && !errors.Is(err, sfu.ErrClosed) {
		ro.log.Error("relay subscribe", "participant", k.participant, "track", k.track, "err", err)
	}
}

// refresh: a relayed track appeared or ended on this node; relay what the SFU now holds.
func (ro *relayOut) refresh(k relayKey) {
	up := ro.hub.cfg.SFU.UpTrack(ro.room, k.participant, k.track)
	if d := ro.peer.Down(k.participant, k.track); d != nil {
		if d.UpTrack() == up {
			return
		}
		ro.peer.Unsubscribe(k.participant, k.track)
	}
	if ro.subs[k] {
		ro.add(k)
	}
}

func (ro *relayOut) drop(k relayKey) {
	delete(ro.subs, k)
	ro.peer.Unsubscribe(k.participant, k.track)
}

func (ro *relayOut) negotiate() {
	sdp, tracks, err := ro.peer.CreateSubscribeOffer()
	if err != nil {
		ro.log.Warn("relay offer", "err", err) // the relay is closing, usually: the other side reconnects
		return
	}
	if sdp == "" {
		return
	}
	ro.send("offer", relayOfferMsg{PC: ro.pc, SDP: sdp, Tracks: tracks})
	ro.peer.ReleaseCandidates(sfu.Subscribe)
}

// candidate applies the other node's candidate; posted like answers, so never before its answer.
func (ro *relayOut) candidate(c webrtc.ICECandidateInit) {
	if err := ro.peer.AddICECandidate(sfu.Subscribe, c); err != nil {
		ro.log.Warn("relay candidate refused", "err", err)
	}
}

func (ro *relayOut) answer(sdp string) {
	if err := ro.peer.HandleSubscribeAnswer(sdp); err != nil {
		code := CodeBadSDP
		if errors.Is(err, sfu.ErrNoOffer) {
			code = CodeOutOfOrder
		}
		ro.log.Warn("relay answer refused", "code", code, "err", err)
	}
}

// relayPeerEvents adapts the relay peer's callbacks (on Pion goroutines) into the relay's loop.
type relayPeerEvents struct{ ro *relayOut }

func (e relayPeerEvents) Candidate(_ sfu.PC, c webrtc.ICECandidateInit) {
	e.ro.send("candidate", relayCandidateMsg{PC: e.ro.pc, Candidate: c})
}
func (e relayPeerEvents) UpTrackStarted(*sfu.UpTrack) {}
func (e relayPeerEvents) UpTrackEnded(*sfu.UpTrack)   {}
func (e relayPeerEvents) NegotiationNeeded()          { e.ro.mbox.post(e.ro.negotiate) }
func (e relayPeerEvents) ConnectionState(_ sfu.PC, st webrtc.PeerConnectionState) {
	e.ro.log.Debug("relay connection state", "state", st.String())
	if st == webrtc.PeerConnectionStateFailed && e.ro.fail != nil {
		e.ro.fail(errors.New("relay media connection failed"))
	}
}
