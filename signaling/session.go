package signaling

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/sfu"
)

const storeTimeout = 5 * time.Second

// session is one participant in one room on this node. It outlives a WebSocket: after a network
// blip the client resumes it on a new socket, within the silence timeout. All fields are owned by
// the goroutine running run(); everything else posts to mbox.
type session struct {
	hub         *Hub
	room        string
	me          rooms.Participant
	resumeToken string
	log         *slog.Logger
	mbox        *mailbox

	conn    *wsConn // nil while detached
	peer    *sfu.Peer
	seq     uint64 // last room event applied
	joined  bool
	ended   bool
	silence time.Time // when the last socket went quiet, while detached

	wanted    map[rooms.Source]bool // the client says it sends this source
	muted     map[rooms.Source]bool
	published map[rooms.Source]bool // what the store has for us
	chatLimit chatLimiter
	polls     sessionPolls
	mod       modState
	bo        boState   // breakouts: the main room, its plan, where we should be
	media     mediaView // derived media state: tile sizes, speakers, last-N (speakers.go)
}

func newSession(h *Hub, room string, me rooms.Participant) *session {
	return &session{
		hub: h, room: room, me: me, resumeToken: newID("", 26),
		log:    h.log.With("room", room, "participant", me.ID),
		mbox:   newMailbox(),
		wanted: map[rooms.Source]bool{}, muted: map[rooms.Source]bool{}, published: map[rooms.Source]bool{},
	}
}

// run starts the session's loop: posted work runs in order on a goroutine that exists only while
// there is work (mailbox.serve), and a timer checks for silence once a second. done is called when
// the session has ended.
func (s *session) run(done func()) {
	s.mbox.serve(func(f func()) bool {
		if s.ended {
			return false
		}
		f()
		return !s.ended
	}, done)
	var tick func()
	tick = func() {
		s.mbox.post(func() {
			s.checkSilence()
			if !s.ended {
				time.AfterFunc(time.Second, tick)
			}
		})
	}
	time.AfterFunc(time.Second, tick)
}

func (s *session) checkSilence() {
	last := s.silence
	if s.conn != nil {
		last = s.conn.seen()
	}
	if !s.joined && !s.mod.waiting || time.Since(last) < s.hub.cfg.SilenceTimeout {
		return
	}
	s.log.Info("participant silent; removing", "silent_for", time.Since(last).Round(time.Second))
	s.end(rooms.ReasonTimeout, true)
}

func (s *session) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), storeTimeout)
}

func (s *session) send(typ string, data any) {
	if s.conn != nil {
		s.conn.send(encodeServer(typ, data))
	}
}

func (s *session) fail(conn *wsConn, pe *ProtocolError) {
	s.hub.sendError(conn, pe)
}

// join runs the first join of this session on conn.
func (s *session) join(conn *wsConn) {
	s.conn = conn
	if err := s.enterBreakouts(); err != nil {
		s.log.Error("subscribe to main room events", "err", err)
		s.hub.refuse(conn, protoErr(CodeInternal, "join", "the classroom state store is unavailable; try again"))
		s.end("", false)
		return
	}
	peer, err := s.hub.cfg.SFU.NewPeer(s.room, s.me.ID, peerEvents{s})
	if err != nil {
		s.log.Error("create media peer", "err", err)
		s.hub.refuse(conn, protoErr(CodeInternal, "join", "could not set up media; try again"))
		s.end("", false)
		return
	}
	s.peer = peer
	if err := s.hub.ensureEdgeRelay(s); err != nil {
		s.log.Error("cascade", "err", err)
		s.hub.refuse(conn, protoErr(CodeInternal, "join", "the room's media server is unavailable; try again"))
		s.end("", false)
		return
	}
	if err := s.hub.attach(s); err != nil {
		s.log.Error("subscribe to room events", "err", err)
		s.hub.refuse(conn, protoErr(CodeInternal, "join", "the classroom state store is unavailable; try again"))
		s.end("", false)
		return
	}
	ctx, cancel := s.ctx()
	entry, err := s.hub.cfg.Store.Enter(ctx, s.room, s.me)
	cancel()
	if err != nil {
		s.hub.refuse(conn, s.entryError(err))
		s.end("", false)
		return
	}
	snap, replaced := entry.Snapshot, entry.Replaced
	if entry.Waiting {
		s.wait(snap)
		return
	}
	s.joined = true
	s.hub.m.sessions.Inc()
	if replaced != nil {
		s.log.Info("replaced an earlier session of the same identity", "old", replaced.ID)
	}
	s.log.Info("joined", "name", s.me.Name, "role", s.me.Role)
	s.applySnapshot(snap)
	s.send("joined", s.joinedMsg(snap, s.chatHistory(), false))
	s.autoRecord()
	s.reconcile(moveAssigned) // assigned to a breakout before arriving: go there now
}

// resume moves the session onto a new socket after a blip.
func (s *session) resume(conn *wsConn) {
	if !s.joined && !s.mod.waiting {
		s.hub.refuse(conn, protoErr(CodeResumeFailed, "join", "the session has ended; join again"))
		return
	}
	if s.conn != nil && s.conn != conn {
		s.conn.abort()
	}
	s.conn = conn
	if s.mod.waiting {
		s.sendWaiting(true)
		return
	}
	ctx, cancel := s.ctx()
	snap, err := s.hub.cfg.Store.Snapshot(ctx, s.room)
	cancel()
	if err != nil {
		s.hub.refuse(conn, protoErr(CodeInternal, "join", "could not read the room; try again"))
		return
	}
	// An offer sent into the dead socket may never have arrived; start subscribe negotiation over.
	s.peer.ResetSubscribeNegotiation()
	s.log.Info("resumed")
	s.applySnapshot(snap)
	s.send("joined", s.joinedMsg(snap, s.chatHistory(), true))
	s.refreshBreakouts() // events reached us while detached; a fresh read costs little and is certain
}

func (s *session) joinedMsg(snap rooms.Snapshot, chat []rooms.ChatMessage, resumed bool) joinedMsg {
	ice := s.hub.cfg.SFU.ICEServers()
	if s.hub.cfg.ICEServers != nil { // fresh TURN credentials with every joined, resumes included
		ice = s.hub.cfg.ICEServers(s.me.Identity)
	}
	if ice == nil {
		ice = []webrtc.ICEServer{}
	}
	lobby, removed := s.moderatorView(snap)
	return joinedMsg{Participant: s.me, Room: s.room, Seq: snap.Seq, Participants: snap.Participants,
		Hands: snap.Hands, Chat: chat, Polls: s.pollList(), ResumeToken: s.resumeToken, Resumed: resumed, ICEServers: ice,
		Breakouts: s.breakoutView(), Settings: snap.Settings, Lobby: lobby, Removed: removed, Recording: s.activeRecording()}
}

// connLost: the socket died without a close frame. Wait for a resume until silence ends the session.
func (s *session) connLost(conn *wsConn) {
	if s.conn != conn {
		return
	}
	s.silence = conn.seen()
	s.conn = nil
	s.log.Info("connection lost; waiting for the client to resume")
}

// endIfConn ends the session only if conn is still its socket (a stale socket closing says nothing).
func (s *session) endIfConn(conn *wsConn, reason string) {
	if s.conn == conn {
		s.end(reason, true)
	}
}

// end removes the participant: from the store (when leave is set; not when the store already did,
// e.g. a replaced identity), from the SFU and from the hub. reason "" means the join never completed.
func (s *session) end(reason string, leave bool) {
	if s.ended {
		return
	}
	s.ended = true
	s.hub.detach(s)
	if s.peer != nil {
		s.peer.Close()
	}
	if s.joined {
		s.hub.m.sessions.Dec()
		if leave {
			ctx, cancel := s.ctx()
			if err := s.hub.cfg.Store.Leave(ctx, s.room, s.me.ID, reason); err != nil && !errors.Is(err, rooms.ErrNotFound) {
				s.log.Error("leave room", "err", err)
			}
			cancel()
		}
		s.log.Info("left", "reason", reason)
	}
	s.leaveLobby(leave)
	if s.conn != nil {
		switch reason {
		case rooms.ReasonReplaced, "shutdown", rooms.ReasonRemoved, rooms.ReasonDenied:
			s.send("bye", byeMsg{Reason: reason})
		}
		s.conn.closeAfter(websocket.StatusNormalClosure, reason)
		s.conn = nil
	}
}

// handle applies one client message arriving on conn.
func (s *session) handle(conn *wsConn, m clientMsg) {
	if conn != s.conn {
		return // a stale socket that a resume replaced
	}
	if s.handleModeration(conn, m) {
		return
	}
	switch b := m.Body.(type) {
	case *offerMsg:
		sources := map[string]string{}
		for _, t := range b.Tracks {
			sources[t.Mid] = string(t.Source)
			if t.Source != rooms.SourceScreen {
				s.wanted[t.Source] = true // mic and camera publish as soon as media flows
			}
		}
		answer, err := s.peer.HandlePublishOffer(b.SDP, sources)
		if err != nil {
			s.sdpError(conn, "offer", err)
			return
		}
		s.send("answer", answerMsg{SDP: answer})
		s.peer.ReleaseCandidates(sfu.Publish)
		for _, t := range b.Tracks {
			s.syncPublished(t.Source)
		}
	case *answerMsg:
		if err := s.peer.HandleSubscribeAnswer(b.SDP); err != nil {
			s.sdpError(conn, "answer", err)
		}
	case *candidateMsg:
		if err := s.peer.AddICECandidate(b.PC, b.Candidate); err != nil {
			s.fail(conn, protoErr(CodeBadMessage, "candidate", "candidate rejected: %v", err))
		}
	case *sourceMsg:
		s.wanted[b.Source] = m.Type == "publish"
		s.syncPublished(b.Source)
		if up := s.peer.UpTrack(string(b.Source)); up != nil && s.wanted[b.Source] {
			up.RequestKeyframe()
		}
	case *muteMsg:
		s.muted[b.Source] = b.Muted
		if s.published[b.Source] {
			ctx, cancel := s.ctx()
			err := s.hub.cfg.Store.SetTrackMuted(ctx, s.room, s.me.ID, string(b.Source), b.Muted)
			cancel()
			if err != nil {
				s.log.Error("set mute", "err", err)
				s.fail(conn, protoErr(CodeInternal, "mute", "could not change mute state; try again"))
			}
		}
	case *chatMsg:
		s.handleChat(conn, b)
	case *chatDeleteMsg:
		s.handleChatDelete(conn, b)
	case *lowerHandMsg:
		s.handleLowerHand(conn, b)
	case *videoQualityMsg:
		s.handleVideoQuality(b)
	case *pollCreateMsg:
		s.handlePollCreate(conn, b)
	case *pollVoteMsg:
		s.handlePollVote(conn, b)
	case *pollCloseMsg:
		s.handlePollClose(conn, b)

	case breakoutRequest:
		s.handleBreakout(conn, m.Type, b)
	case *emptyMsg:
		switch m.Type {
		case "raise_hand":
			s.handleRaiseHand(conn)
		case "start_recording":
			s.handleStartRecording(conn)
		case "stop_recording":
			s.handleStopRecording(conn)
		case "restart_ice":
			s.peer.RestartICE()
		case "leave":
			s.end(rooms.ReasonLeft, true)
		case "ping":
			s.send("pong", struct{}{})
		}
	}
}

func (s *session) sdpError(conn *wsConn, ref string, err error) {
	switch {
	case errors.Is(err, sfu.ErrNoOffer):
		s.fail(conn, protoErr(CodeOutOfOrder, ref, "no offer is waiting for an answer"))
	case errors.Is(err, sfu.ErrBadSDP):
		s.fail(conn, protoErr(CodeBadSDP, ref, "%v", err))
	default:
		s.log.Error("negotiation failed", "ref", ref, "err", err)
		s.fail(conn, protoErr(CodeInternal, ref, "negotiation failed; try again"))
	}
}

// syncPublished makes the store's view of one of our sources match reality: published while the
// client wants it and its media is arriving.
func (s *session) syncPublished(src rooms.Source) {
	want := s.wanted[src] && s.peer.UpTrack(string(src)) != nil
	if want == s.published[src] {
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	var err error
	if want {
		err = s.hub.cfg.Store.PublishTrack(ctx, s.room, s.me.ID, rooms.Track{ID: string(src), Source: src, Muted: s.muted[src]})
	} else {
		err = s.hub.cfg.Store.UnpublishTrack(ctx, s.room, s.me.ID, string(src))
		if errors.Is(err, rooms.ErrNotFound) {
			err = nil
		}
	}
	if err != nil {
		s.log.Error("update published track", "source", src, "publish", want, "err", err)
		return
	}
	s.published[src] = want
}

// onEvent applies one room event: tell the client, and derive media subscriptions from it.
func (s *session) onEvent(ev rooms.Event) {
	if s.onBreakoutEvent(ev) || ev.Room != s.room {
		return // a breakout plan change, or an event of the main room while in a breakout, or of a room left
	}
	if !s.joined && !s.mod.waiting || ev.Seq <= s.seq {
		return
	}
	s.seq = ev.Seq
	if s.media.note(ev) {
		s.mbox.post(s.applyLastN) // once the event's subscriptions are in place
	}
	if s.onModerationEvent(ev) || s.onClassroomEvent(ev) || s.onPollEvent(ev) || s.onRecordingEvent(ev) {
		return
	}
	switch ev.Type {
	case rooms.EventParticipantJoined:
		for _, t := range ev.Participant.Tracks { // someone moving in from another room brings their tracks
			if ev.Participant.ID != s.me.ID {
				s.subscribe(ev.Participant.ID, t.ID)
			}
		}
		s.send(string(ev.Type), participantJoinedMsg{Seq: ev.Seq, Participant: *ev.Participant})
	case rooms.EventParticipantLeft:
		if ev.ParticipantID == s.me.ID {
			s.end(ev.Reason, false) // the store already removed us (e.g. replaced by a new session)
			return
		}
		s.peer.UnsubscribeParticipant(ev.ParticipantID)
		s.send(string(ev.Type), participantLeftMsg{Seq: ev.Seq, ParticipantID: ev.ParticipantID, Reason: ev.Reason})
	case rooms.EventTrackPublished, rooms.EventTrackUnpublished, rooms.EventTrackUpdated:
		if ev.ParticipantID != s.me.ID {
			if ev.Type == rooms.EventTrackUnpublished {
				s.peer.Unsubscribe(ev.ParticipantID, ev.Track.ID)
			} else {
				s.subscribe(ev.ParticipantID, ev.Track.ID)
			}
		}
		s.send(string(ev.Type), trackEventMsg{Seq: ev.Seq, ParticipantID: ev.ParticipantID, Track: *ev.Track})
	}
}

// resync replaces the session's view after the room feed was interrupted.
func (s *session) resync(snap rooms.Snapshot) {
	if s.mod.waiting {
		s.resyncWaiting(snap)
		return
	}
	if !s.joined || s.breakoutResync(snap) {
		return
	}
	for _, p := range snap.Participants {
		if p.ID == s.me.ID {
			s.applySnapshot(snap)
			lobby, removed := s.moderatorView(snap)
			s.send("resync", resyncMsg{Seq: snap.Seq, Participants: snap.Participants, Hands: snap.Hands, Chat: s.chatHistory(),
				Polls: s.pollList(), Settings: snap.Settings, Lobby: lobby, Removed: removed, Recording: s.activeRecording()})
			return
		}
	}
	s.end(rooms.ReasonLeft, false) // we are no longer in the room
}

// applySnapshot sets the event cursor and subscribes to every track the snapshot lists; tracks not
// listed stay subscribed only if still published (events after the snapshot will remove them).
func (s *session) applySnapshot(snap rooms.Snapshot) {
	s.seq = snap.Seq
	s.applyModSnapshot(snap)
	s.media.fromSnapshot(snap)
	for _, p := range snap.Participants {
		if p.ID == s.me.ID {
			continue
		}
		for _, t := range p.Tracks {
			s.subscribe(p.ID, t.ID)
		}
	}
}

// subscribe forwards a published track to this participant, if its media is on this node.
func (s *session) subscribe(participant, track string) {
	up := s.hub.cfg.SFU.UpTrack(s.room, participant, track)
	if up == nil {
		return
	}
	if err := s.peer.Subscribe(up); err != nil && !errors.Is(err, sfu.ErrClosed) {
		s.log.Error("subscribe", "to", participant, "track", track, "err", err)
		return
	}
	s.afterSubscribe(participant, track)
}

func (s *session) negotiate() {
	if s.conn == nil || s.ended {
		return // on resume the client asks for an ICE restart, which renegotiates
	}
	sdp, tracks, err := s.peer.CreateSubscribeOffer()
	if err != nil {
		s.log.Error("subscribe offer", "err", err)
		return
	}
	if sdp == "" {
		return
	}
	s.send("offer", serverOfferMsg{SDP: sdp, Tracks: tracks})
	s.peer.ReleaseCandidates(sfu.Subscribe)
}

// peerEvents adapts the SFU's callbacks (on Pion goroutines) into posts to the session's loop.
type peerEvents struct{ s *session }

func (e peerEvents) Candidate(pc sfu.PC, c webrtc.ICECandidateInit) {
	e.s.mbox.post(func() { e.s.send("candidate", candidateMsg{PC: pc, Candidate: c}) })
}
func (e peerEvents) UpTrackStarted(t *sfu.UpTrack) {
	e.s.mbox.post(func() {
		e.s.applyHolds() // before anyone can subscribe to it
		e.s.syncPublished(rooms.Source(t.ID()))
	})
}
func (e peerEvents) UpTrackEnded(t *sfu.UpTrack) {
	e.s.mbox.post(func() { e.s.syncPublished(rooms.Source(t.ID())) })
}
func (e peerEvents) NegotiationNeeded() { e.s.mbox.post(e.s.negotiate) }
func (e peerEvents) ConnectionState(pc sfu.PC, st webrtc.PeerConnectionState) {
	e.s.mbox.post(func() { e.s.log.Debug("peer connection state", "pc", pc, "state", st.String()) })
}
