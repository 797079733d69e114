package sfu

// Cascading: a room's media enters the SFU on its home node; another node with subscribers of the
// room (an edge) receives each published track once from the home, over one peer connection per
// (room, edge), and forwards it to its own subscribers as if it had been published there.
//
// On the home the relay is a Peer made by NewRelayPeer: subscribe-only, negotiated like a
// participant's subscribe connection (the home offers), each track forwarded by an ordinary
// DownTrack, so the keyframe throttle, the packet cache's answers to NACKs and the simulcast layer
// choice (no tile limit and no REMB: the top active layer) are the participant path's. On the edge a
// RelayIn answers that offer; each track it receives becomes an UpTrack under the track's original
// (room, participant, track) key, so local sessions find it with SFU.UpTrack. The edge's UpTrack
// caches and answers its subscribers' NACKs itself, and asks the home for keyframes (PLI) with the
// usual throttle; loss on the home→edge link is NACKed by the edge's NACK generator and answered
// from the home's cache.

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
)

type relayMetrics struct {
	connsOut, tracksOut, tracksIn prometheus.Gauge
	packetsOut, bytesOut          prometheus.Counter
	nacks, keyframeRequests       prometheus.Counter
}

func newRelayMetrics() relayMetrics {
	return relayMetrics{
		connsOut:         prometheus.NewGauge(prometheus.GaugeOpts{Name: "chalk_sfu_relay_connections_out", Help: "Relay connections from this node (a room's home) to edge nodes, one per (room, edge)."}),
		tracksOut:        prometheus.NewGauge(prometheus.GaugeOpts{Name: "chalk_sfu_relay_tracks_out", Help: "Tracks this node relays to edge nodes."}),
		tracksIn:         prometheus.NewGauge(prometheus.GaugeOpts{Name: "chalk_sfu_relay_tracks_in", Help: "Tracks this node receives from rooms' home nodes."}),
		packetsOut:       prometheus.NewCounter(prometheus.CounterOpts{Name: "chalk_sfu_relay_rtp_packets_sent_total", Help: "RTP packets relayed to edge nodes (included in chalk_sfu_rtp_packets_forwarded_total)."}),
		bytesOut:         prometheus.NewCounter(prometheus.CounterOpts{Name: "chalk_sfu_relay_rtp_payload_bytes_sent_total", Help: "RTP payload bytes relayed to edge nodes."}),
		nacks:            prometheus.NewCounter(prometheus.CounterOpts{Name: "chalk_sfu_relay_nacks_total", Help: "Packets edge nodes asked this node to resend (NACK) on relay links."}),
		keyframeRequests: prometheus.NewCounter(prometheus.CounterOpts{Name: "chalk_sfu_relay_keyframe_requests_total", Help: "Keyframe requests (PLI/FIR) edge nodes sent up relay links, before throttling."}),
	}
}

func (m *relayMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.connsOut, m.tracksOut, m.tracksIn, m.packetsOut, m.bytesOut, m.nacks, m.keyframeRequests}
}

func (m *relayMetrics) trackOut(relay bool, n float64) {
	if relay {
		m.tracksOut.Add(n)
	}
}

func (m *relayMetrics) sent(payload int) {
	m.packetsOut.Inc()
	m.bytesOut.Add(float64(payload))
}

// NewRelayPeer creates the home side of a relay of room to the node edge: a Peer whose subscribe
// connection carries the room's tracks (Subscribe, CreateSubscribeOffer, HandleSubscribeAnswer as
// for a participant). It never has a publish connection.
func (s *SFU) NewRelayPeer(room, edge string, h PeerHandler) (*Peer, error) {
	p, err := s.newPeer(s.relay, s.relay, room, "relay:"+edge, h)
	if err != nil {
		return nil, err
	}
	p.relay = true
	s.metrics.peers.Dec() // not a participant
	s.metrics.relay.connsOut.Inc()
	return p, nil
}

// UpTrack is the track this DownTrack forwards.
func (d *DownTrack) UpTrack() *UpTrack { return d.up }

// RelayHandler receives a RelayIn's events, from Pion's goroutines; methods must not block.
type RelayHandler interface {
	// Candidate is a local ICE candidate for the home, released after the answer (ReleaseCandidates).
	Candidate(c webrtc.ICECandidateInit)
	// TrackStarted: a relayed track's media began arriving; it is registered under its original key.
	TrackStarted(t *UpTrack)
	// TrackEnded: a relayed track stopped (the home dropped it, or the relay closed).
	TrackEnded(t *UpTrack)
	// ConnectionState reports the relay connection's state changes.
	ConnectionState(s webrtc.PeerConnectionState)
}

// RelayIn is the edge side of a relay: one peer connection receiving a room's tracks from its home.
type RelayIn struct {
	sfu  *SFU
	room string
	h    RelayHandler
	log  *slog.Logger
	pc   *webrtc.PeerConnection
	gate candidateGate

	mu     sync.Mutex
	closed bool
	mids   map[string]SubscribedTrack // what the home's last offer says each mid carries
	ups    map[*UpTrack]struct{}
}

// NewRelayIn creates the edge side of room's relay. Nothing flows until HandleOffer.
func (s *SFU) NewRelayIn(room string, h RelayHandler) (*RelayIn, error) {
	pc, err := s.relay.NewPeerConnection(webrtc.Configuration{ICEServers: s.cfg.ICEServers, BundlePolicy: webrtc.BundlePolicyMaxBundle})
	if err != nil {
		return nil, fmt.Errorf("sfu: new relay connection: %w", err)
	}
	r := &RelayIn{sfu: s, room: room, h: h, pc: pc, log: s.log.With("room", room, "relay", "in"),
		mids: map[string]SubscribedTrack{}, ups: map[*UpTrack]struct{}{}}
	r.gate.emit = h.Candidate
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			r.gate.offer(c.ToJSON())
		}
	})
	pc.OnConnectionStateChange(h.ConnectionState)
	pc.OnTrack(r.onTrack)
	return r, nil
}

// HandleOffer applies the home's offer, with what each of its mids carries, and returns the answer.
// Call ReleaseCandidates once the answer is on its way.
func (r *RelayIn) HandleOffer(sdp string, tracks []SubscribedTrack) (string, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return "", ErrClosed
	}
	for _, t := range tracks { // before the description: OnTrack may fire as soon as it is applied
		r.mids[t.Mid] = t
	}
	r.mu.Unlock()
	r.gate.shut()
	if err := r.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	answer, err := r.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: create answer: %v", ErrBadSDP, err)
	}
	if err := r.pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("sfu: set relay answer: %w", err)
	}
	return answer.SDP, nil
}

// ReleaseCandidates lets local candidates flow to the home once the answer has been sent.
func (r *RelayIn) ReleaseCandidates() { r.gate.release() }

// AddICECandidate applies one of the home's candidates.
func (r *RelayIn) AddICECandidate(c webrtc.ICECandidateInit) error {
	if err := r.pc.AddICECandidate(c); err != nil {
		return fmt.Errorf("sfu: add relay candidate: %w", err)
	}
	return nil
}

func (r *RelayIn) onTrack(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	mid := ""
	for _, tr := range r.pc.GetTransceivers() {
		if tr.Receiver() == recv {
			mid = tr.Mid()
			break
		}
	}
	r.mu.Lock()
	info, ok := r.mids[mid]
	if r.closed || !ok {
		r.mu.Unlock()
		r.log.Warn("ignoring relayed track the offer did not name", "mid", mid)
		return
	}
	up := newUpTrack(r.sfu, r.room, info.Participant, info.Track, remote, r.pc)
	r.ups[up] = struct{}{}
	r.mu.Unlock()

	r.sfu.addUpTrack(up)
	r.sfu.metrics.relay.tracksIn.Inc()
	go drainRTCP(recv)
	go func() {
		up.run()
		r.mu.Lock()
		delete(r.ups, up)
		r.mu.Unlock()
		r.sfu.metrics.relay.tracksIn.Dec()
		r.h.TrackEnded(up)
	}()
	r.h.TrackStarted(up)
}

// Close ends the relay: its tracks end (TrackEnded follows for each) and the connection closes.
func (r *RelayIn) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	r.mu.Unlock()
	if err := r.pc.Close(); err != nil {
		r.log.Debug("close relay connection", "err", err)
	}
}
