package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/pion/webrtc/v4"
)

// PC names one of a participant's two peer connections.
type PC string

const (
	// Publish carries the participant's own tracks; the client offers.
	Publish PC = "publish"
	// Subscribe carries everyone else's tracks; the server offers.
	Subscribe PC = "subscribe"
)

var (
	// ErrBadSDP: a description from the client could not be applied.
	ErrBadSDP = errors.New("sfu: bad session description")
	// ErrNoOffer: an answer arrived while no subscribe offer was outstanding.
	ErrNoOffer = errors.New("sfu: no offer outstanding")
	// ErrClosed: the peer was closed.
	ErrClosed = errors.New("sfu: peer closed")
)

// PeerHandler receives a Peer's events. Methods are called from Pion's goroutines and must not block.
type PeerHandler interface {
	// Candidate is a local ICE candidate to send to the client, already in order after its description.
	Candidate(pc PC, c webrtc.ICECandidateInit)
	// UpTrackStarted: media for a declared source began arriving.
	UpTrackStarted(t *UpTrack)
	// UpTrackEnded: the publisher's media for t stopped for good.
	UpTrackEnded(t *UpTrack)
	// NegotiationNeeded: call CreateSubscribeOffer and send the result.
	NegotiationNeeded()
	// ConnectionState reports a peer connection's state changes.
	ConnectionState(pc PC, s webrtc.PeerConnectionState)
}

// SubscribedTrack says which transceiver of the subscribe connection carries which up-track.
type SubscribedTrack struct {
	Mid         string `json:"mid"`
	Participant string `json:"participantId"`
	Track       string `json:"trackId"`
	Source      string `json:"source"`
}

// Peer is one participant's media: a subscribe peer connection, and a publish one once the client
// offers to publish.
type Peer struct {
	sfu  *SFU
	room string
	id   string
	h    PeerHandler
	log  *slog.Logger

	pubAPI           *webrtc.API
	pub              *webrtc.PeerConnection // nil until the client's first publish offer; set under mu
	sub              *webrtc.PeerConnection
	pubGate, subGate candidateGate

	mu        sync.Mutex
	closed    bool
	sources   map[string]string // publish transceiver mid → declared source
	ups       map[string]*UpTrack
	downs     map[trackKey]*subscription
	dirty     bool // the subscribe connection differs from what was last offered
	outstand  bool // a subscribe offer awaits its answer
	restartIC bool // the next subscribe offer restarts ICE
	relay     bool // a subscribe-only relay of the room to another node (relay.go), not a participant

	est estimate // the subscriber's bandwidth estimate, for simulcast layer choice

	fast *fastConn // the subscribe connection's own SRTP write path (fastpath.go)
}

type subscription struct {
	down   *DownTrack
	sender *webrtc.RTPSender
}

// NewPeer creates a participant's subscribe connection; its publish connection is created by the
// client's first publish offer (most students of a lecture never publish, and an idle connection
// still costs goroutines and buffers). Nothing is sent until the client offers.
func (s *SFU) NewPeer(room, participant string, h PeerHandler) (*Peer, error) {
	return s.newPeer(s.api, s.sub, room, participant, h)
}

func (s *SFU) newPeer(pubAPI, subAPI *webrtc.API, room, participant string, h PeerHandler) (*Peer, error) {
	p := &Peer{
		sfu: s, room: room, id: participant, h: h, pubAPI: pubAPI,
		log:     s.log.With("room", room, "participant", participant),
		sources: map[string]string{}, ups: map[string]*UpTrack{}, downs: map[trackKey]*subscription{},
	}
	p.fast = &fastConn{metrics: s.metrics, log: p.log}
	var err error
	if p.sub, err = subAPI.NewPeerConnection(p.config()); err != nil {
		return nil, fmt.Errorf("sfu: new subscribe connection: %w", err)
	}
	p.pubGate.emit = func(c webrtc.ICECandidateInit) { h.Candidate(Publish, c) }
	p.subGate.emit = func(c webrtc.ICECandidateInit) { h.Candidate(Subscribe, c) }
	p.watch(p.sub, &p.subGate, Subscribe)
	s.metrics.peers.Inc()
	return p, nil
}

func (p *Peer) config() webrtc.Configuration {
	return webrtc.Configuration{ICEServers: p.sfu.cfg.ICEServers, BundlePolicy: webrtc.BundlePolicyMaxBundle}
}

// watch sends pc's local candidates through gate and reports its state changes.
func (p *Peer) watch(pc *webrtc.PeerConnection, gate *candidateGate, kind PC) {
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			gate.offer(c.ToJSON())
		}
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if kind == Subscribe {
			switch st {
			case webrtc.PeerConnectionStateConnected:
				p.startFastPath()
				p.requestWaitingKeyframes()
			case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
				p.fast.off()
			}
		}
		p.h.ConnectionState(kind, st)
	})
}

// publishPCLocked returns the publish connection, creating it on first use. Called with p.mu held.
func (p *Peer) publishPCLocked() (*webrtc.PeerConnection, error) {
	if p.pub != nil {
		return p.pub, nil
	}
	pc, err := p.pubAPI.NewPeerConnection(p.config())
	if err != nil {
		return nil, fmt.Errorf("sfu: new publish connection: %w", err)
	}
	p.watch(pc, &p.pubGate, Publish)
	pc.OnTrack(p.onTrack)
	p.pub = pc
	return pc, nil
}

// ID is the participant id.
func (p *Peer) ID() string { return p.id }

// HandlePublishOffer applies the client's offer for the publish connection and returns the answer.
// sources maps the offer's transceiver mids to "microphone", "camera" or "screen". Call
// ReleaseCandidates(Publish) once the answer is on its way to the client.
func (p *Peer) HandlePublishOffer(sdp string, sources map[string]string) (string, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return "", ErrClosed
	}
	for mid, src := range sources {
		p.sources[mid] = src
	}
	pub, err := p.publishPCLocked()
	p.mu.Unlock()
	if err != nil {
		return "", err
	}

	p.pubGate.shut()
	if err := pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	answer, err := pub.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: create answer: %v", ErrBadSDP, err)
	}
	if err := pub.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("sfu: set publish answer: %w", err)
	}
	return answer.SDP, nil
}

// ReleaseCandidates lets pc's local candidates flow to the client, once the description they belong
// to has been sent.
func (p *Peer) ReleaseCandidates(pc PC) {
	if pc == Publish {
		p.pubGate.release()
	} else {
		p.subGate.release()
	}
}

// AddICECandidate applies a client candidate to pc. A publish candidate before the first publish
// offer is an error: the client offers before it trickles.
func (p *Peer) AddICECandidate(pc PC, c webrtc.ICECandidateInit) error {
	conn := p.sub
	if pc == Publish {
		p.mu.Lock()
		conn = p.pub
		p.mu.Unlock()
		if conn == nil {
			return fmt.Errorf("sfu: publish candidate before the publish offer")
		}
	}
	if err := conn.AddICECandidate(c); err != nil {
		return fmt.Errorf("sfu: add %s candidate: %w", pc, err)
	}
	return nil
}

func (p *Peer) onTrack(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	p.mu.Lock()
	pub := p.pub // set before OnTrack could fire
	p.mu.Unlock()
	mid := ""
	for _, tr := range pub.GetTransceivers() {
		if tr.Receiver() == recv {
			mid = tr.Mid()
			break
		}
	}
	p.mu.Lock()
	source := p.sources[mid]
	if !p.closed && source != "" && remote.RID() != "" {
		p.addLayerLocked(source, remote, recv) // unlocks
		return
	}
	if p.closed || source == "" || p.ups[source] != nil {
		p.mu.Unlock()
		p.log.Warn("ignoring undeclared track", "mid", mid, "kind", remote.Kind())
		return
	}
	up := newUpTrack(p.sfu, p.room, p.id, source, remote, pub)
	if up.kind == webrtc.RTPCodecTypeAudio {
		up.voice = newVoiceMeter(recv)
	}
	p.ups[source] = up
	p.mu.Unlock()

	p.sfu.addUpTrack(up)
	go drainRTCP(recv)
	go func() {
		up.run()
		p.mu.Lock()
		if p.ups[source] == up {
			delete(p.ups, source)
		}
		p.mu.Unlock()
		p.h.UpTrackEnded(up)
	}()
	p.h.UpTrackStarted(up)
}

// drainRTCP reads the publisher's RTCP so the interceptors (receiver reports, NACK) see it.
func drainRTCP(recv *webrtc.RTPReceiver) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := recv.Read(buf); err != nil {
			return
		}
	}
}

// UpTrack returns the live up-track this participant publishes for source, or nil.
func (p *Peer) UpTrack(source string) *UpTrack {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ups[source]
}

// Subscribe starts forwarding up to this participant. It is idempotent.
func (p *Peer) Subscribe(up *UpTrack) error {
	key := trackKey{up.participant, up.id}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	if p.downs[key] != nil {
		p.mu.Unlock()
		return nil
	}
	down := newDownTrack(up, p.sfu.metrics)
	down.est = &p.est
	down.relay = p.relay

	down.transportUp = p.subscribeUp
	down.fast = p.fast
	down.rtcpOut = p.sub.WriteRTCP
	sender, err := p.sub.AddTrack(down)
	if err != nil {
		p.mu.Unlock()
		return fmt.Errorf("sfu: subscribe to %s/%s: %w", up.participant, up.id, err)
	}
	p.downs[key] = &subscription{down: down, sender: sender}
	notify := p.markDirtyLocked()
	p.mu.Unlock()

	p.sfu.metrics.downTracks.Inc()
	p.sfu.metrics.relay.trackOut(p.relay, 1)
	if up.kind == webrtc.RTPCodecTypeVideo {
		p.est.videos.Add(1)
	}
	up.addDown(down)
	go down.readRTCP(sender)
	if notify {
		p.h.NegotiationNeeded()
	}
	return nil
}

// startFastPath turns on the subscribe connection's own SRTP write path where it applies
// (fastpath.go). Relays between nodes keep Pion's path: their connections keep Pion's sender reports.
func (p *Peer) startFastPath() {
	p.mu.Lock()
	relay, closed := p.relay, p.closed
	p.mu.Unlock()
	if relay || closed {
		return
	}
	p.fast.setup(p.sub, p.sfu.batch)
}

// subscribeUp reports whether the subscribe connection is up: packets written before are dropped.
func (p *Peer) subscribeUp() bool {
	return p.sub.ConnectionState() == webrtc.PeerConnectionStateConnected
}

// requestWaitingKeyframes starts every video this participant waits to start, from the packet
// cache or with a keyframe request: the subscribe connection just came up, and what was sent
// before it did was dropped.
func (p *Peer) requestWaitingKeyframes() {
	p.mu.Lock()
	var waiting []*DownTrack
	for _, s := range p.downs {
		if s.down.up.kind == webrtc.RTPCodecTypeVideo && s.down.needKeyframe.Load() {
			waiting = append(waiting, s.down)
		}
	}
	p.mu.Unlock()
	for _, d := range waiting {
		d.startOrRequest()
	}
}

// Unsubscribe stops forwarding a participant's track to this participant. Unknown tracks are ignored.
func (p *Peer) Unsubscribe(participant, track string) {
	key := trackKey{participant, track}
	p.mu.Lock()
	s := p.downs[key]
	if s == nil || p.closed {
		p.mu.Unlock()
		return
	}
	delete(p.downs, key)
	s.down.up.removeDown(s.down)
	if s.down.up.kind == webrtc.RTPCodecTypeVideo {
		p.est.videos.Add(-1)
	}
	if err := p.sub.RemoveTrack(s.sender); err != nil {
		p.log.Debug("remove track", "err", err)
	}
	notify := p.markDirtyLocked()
	p.mu.Unlock()
	p.sfu.metrics.downTracks.Dec()
	p.sfu.metrics.relay.trackOut(p.relay, -1)
	if notify {
		p.h.NegotiationNeeded()
	}
}

// UnsubscribeParticipant stops forwarding every track of a participant.
func (p *Peer) UnsubscribeParticipant(participant string) {
	p.mu.Lock()
	var tracks []string
	for k := range p.downs {
		if k.participant == participant {
			tracks = append(tracks, k.track)
		}
	}
	p.mu.Unlock()
	for _, t := range tracks {
		p.Unsubscribe(participant, t)
	}
}

// RestartICE makes the next subscribe offer restart ICE (the client changed networks).
func (p *Peer) RestartICE() {
	p.mu.Lock()
	p.restartIC = true
	notify := p.markDirtyLocked()
	p.mu.Unlock()
	if notify {
		p.h.NegotiationNeeded()
	}
}

// markDirtyLocked records a change to the subscribe connection and reports whether the handler must
// be told: not while an offer is outstanding (its answer triggers the next offer), so offers never
// overlap. A redundant notification is harmless: CreateSubscribeOffer then finds nothing to do.
func (p *Peer) markDirtyLocked() bool {
	p.dirty = true
	return !p.outstand
}

// CreateSubscribeOffer returns the next offer for the subscribe connection and what each transceiver
// carries, or an empty sdp when there is nothing to offer. Call ReleaseCandidates(Subscribe) once the
// offer is on its way.
func (p *Peer) CreateSubscribeOffer() (string, []SubscribedTrack, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return "", nil, ErrClosed
	}
	if !p.dirty || p.outstand || len(p.sub.GetTransceivers()) == 0 {
		return "", nil, nil
	}
	p.subGate.shut()
	offer, err := p.sub.CreateOffer(&webrtc.OfferOptions{ICERestart: p.restartIC})
	if err != nil {
		return "", nil, fmt.Errorf("sfu: create subscribe offer: %w", err)
	}
	if err := p.sub.SetLocalDescription(offer); err != nil {
		return "", nil, fmt.Errorf("sfu: set subscribe offer: %w", err)
	}
	p.dirty, p.outstand, p.restartIC = false, true, false

	tracks := make([]SubscribedTrack, 0, len(p.downs))
	for _, tr := range p.sub.GetTransceivers() {
		for _, s := range p.downs {
			if tr.Sender() == s.sender {
				tracks = append(tracks, SubscribedTrack{Mid: tr.Mid(), Participant: s.down.up.participant, Track: s.down.up.id, Source: s.down.up.id})
			}
		}
	}
	return offer.SDP, tracks, nil
}

// HandleSubscribeAnswer applies the client's answer to the last subscribe offer.
func (p *Peer) HandleSubscribeAnswer(sdp string) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	if !p.outstand {
		p.mu.Unlock()
		return ErrNoOffer
	}
	p.mu.Unlock()
	if err := p.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	p.mu.Lock()
	p.outstand = false
	notify := p.dirty
	p.mu.Unlock()
	if notify {
		p.h.NegotiationNeeded()
	}
	return nil
}

// Close tears down the connections, stops forwarding to and from this participant, and waits for
// nothing: the up-track readers end when the publish connection closes.
func (p *Peer) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	downs := p.downs
	p.downs = map[trackKey]*subscription{}
	pub := p.pub
	p.mu.Unlock()

	for _, s := range downs {
		s.down.up.removeDown(s.down)
		p.sfu.metrics.downTracks.Dec()
		p.sfu.metrics.relay.trackOut(p.relay, -1)
	}
	if err := p.sub.Close(); err != nil {
		p.log.Debug("close subscribe connection", "err", err)
	}
	if pub != nil {
		if err := pub.Close(); err != nil {
			p.log.Debug("close publish connection", "err", err)
		}
	}
	if p.relay {
		p.sfu.metrics.relay.connsOut.Dec()
	} else {
		p.sfu.metrics.peers.Dec()
	}
}

// candidateGate holds local candidates until the description they belong to has been sent: Pion can
// gather a candidate before SetLocalDescription returns, and a browser rejects a candidate that
// arrives before its remote description.
type candidateGate struct {
	mu   sync.Mutex
	open bool
	held []webrtc.ICECandidateInit
	emit func(webrtc.ICECandidateInit)
}

func (g *candidateGate) offer(c webrtc.ICECandidateInit) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.open {
		g.held = append(g.held, c)
		return
	}
	g.emit(c)
}

func (g *candidateGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = true
	for _, c := range g.held {
		g.emit(c)
	}
	g.held = nil
}

func (g *candidateGate) shut() {
	g.mu.Lock()
	g.open = false
	g.mu.Unlock()
}

// ResetSubscribeNegotiation forgets an outstanding subscribe offer that may have been lost with a
// socket: it rolls the offer back so the next one starts clean, and makes that next one restart ICE.
func (p *Peer) ResetSubscribeNegotiation() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if p.outstand && p.sub.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
		if err := p.sub.SetLocalDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeRollback}); err != nil {
			p.log.Debug("roll back subscribe offer", "err", err)
		}
	}
	p.outstand = false
	p.dirty = true
	p.restartIC = true
}
