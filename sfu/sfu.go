// Package sfu forwards WebRTC media between the participants of a room: each participant publishes
// over one peer connection and receives everyone else's tracks over another, all on one UDP port.
//
// The SFU holds media state only (peer connections, up-tracks, down-tracks). Who is in which room and
// what they publish is classroom state, owned by package rooms; the signaling layer derives the SFU's
// subscriptions from room events.
package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/sdp/v3"

	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"
)

// Config says where media flows and how candidates are advertised.
type Config struct {
	// UDPPort carries all ICE and media over UDP (one socket per address, demultiplexed by ICE
	// username). 0 picks a free port (tests).
	UDPPort int
	// TCPPort carries ICE-TCP, a fallback for networks that block UDP. 0 picks a free port; -1 disables.
	TCPPort int
	// BindIP limits media to one local address (e.g. 127.0.0.1 in tests). Empty: all interfaces.
	BindIP string
	// NAT1To1IPs are public addresses that map 1:1 to this host; they replace host candidates.
	NAT1To1IPs []string
	// IncludeLoopback advertises loopback candidates (a browser on the same machine, tests).
	IncludeLoopback bool
	// ICEServers (STUN/TURN) are used by the server's peer connections and handed to clients.
	ICEServers []webrtc.ICEServer
	// NoBatchWrites sends each forwarded packet with its own sendto instead of one sendmmsg per
	// fan-out loop (batchconn.go).
	NoBatchWrites bool
	Logger        *slog.Logger
	Metrics       *Metrics // nil: metrics are kept but not registered anywhere
	// RelayInterceptors run on relay connections between nodes (relay.go), both directions, nearest
	// the network (before SRTP's protection and the NACK generator): tests inject loss there.
	RelayInterceptors []interceptor.Factory
}

// SFU creates peers and owns the shared media sockets and the per-room track registry.
type SFU struct {
	cfg     Config
	api     *webrtc.API // participants' publish connections: they only receive (interceptors for receiving)
	sub     *webrtc.API // participants' subscribe connections: they only send (interceptors for sending)
	relay   *webrtc.API // for relays between nodes: own sockets (relaySettingEngine), Config.RelayInterceptors, both directions
	log     *slog.Logger
	metrics *Metrics
	closers []func() error
	ports   []int // the UDP ports media arrives on (a TURN relay may send to these only)

	batch *batchGroup // the media sockets' batched writes; nil when off

	mu    sync.Mutex
	rooms map[string]*room

	speakersOnce sync.Once // OnActiveSpeakers starts the detector once
}

// New opens the media sockets and prepares the WebRTC stack.
func New(cfg Config) (*SFU, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	s := &SFU{cfg: cfg, log: cfg.Logger.With("component", "sfu"), metrics: cfg.Metrics, rooms: map[string]*room{}}
	se, err := s.settingEngine()
	if err != nil {
		s.Close()
		return nil, err
	}
	if s.api, err = s.newAPI(se, receiving); err != nil {
		s.Close()
		return nil, err
	}
	// Subscribe connections get no interceptor: their sender reports come from the SFU's own loop
	// (senderreport.go), since most of their RTP bypasses Pion's write path (fastpath.go).
	if s.sub, err = s.newAPI(se, 0); err != nil {
		s.Close()
		return nil, err
	}
	if s.relay, err = s.newAPI(s.relaySettingEngine(), receiving|sending, cfg.RelayInterceptors...); err != nil {
		s.Close()
		return nil, err
	}
	stop := make(chan struct{})
	var stopOnce sync.Once
	go s.reportLoop(stop)
	s.closers = append(s.closers, func() error { stopOnce.Do(func() { close(stop) }); return nil })
	return s, nil
}

// ICEServers returns the ICE servers clients should use.
func (s *SFU) ICEServers() []webrtc.ICEServer { return s.cfg.ICEServers }

// UDPPorts are the local UDP ports media arrives on: the configured one, or those picked for 0.
func (s *SFU) UDPPorts() []int { return s.ports }

// Close releases the media sockets. Peers must be closed first.
func (s *SFU) Close() error {
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// direction says which of Pion's interceptors a connection needs. Each runs a goroutine and keeps
// buffers per connection, and a participant's two connections each carry media one way only: the
// receiving ones are wasted on a subscribe connection and the sending one on a publish connection.
type direction int

const (
	receiving direction = 1 << iota // NACK generator, receiver reports, TWCC feedback
	sending                         // sender reports (relays; subscribers get the SFU's own: senderreport.go)
)

func (s *SFU) newAPI(se webrtc.SettingEngine, dir direction, first ...interceptor.Factory) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	// Only the codecs every browser can both send and decode; forwarding never transcodes.
	videoFB := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFB},
		PayloadType:        96,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("sfu: register VP8: %w", err)
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType:        111,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("sfu: register Opus: %w", err)
	}

	ir := &interceptor.Registry{}
	for _, f := range first {
		ir.Add(f)
	}
	if dir&receiving != 0 {
		// NACK generator: ask publishers to resend what we lost. Subscribers' NACKs are answered by
		// DownTrack from the up-track's shared packet cache, not by Pion's responder, which copies
		// every packet once per subscriber.
		gen, err := nack.NewGeneratorInterceptor()
		if err != nil {
			return nil, fmt.Errorf("sfu: nack generator: %w", err)
		}
		ir.Add(gen)
		// Receiver reports to publishers: their congestion control and RTT need them.
		rr, err := report.NewReceiverInterceptor()
		if err != nil {
			return nil, fmt.Errorf("sfu: receiver reports: %w", err)
		}
		ir.Add(rr)
	}
	if dir&sending != 0 {
		// Sender reports on what the relay's far end receives: lip sync. Participants' subscribe
		// connections get the SFU's own (senderreport.go); their RTCP is read by DownTrack.readRTCP.
		sr, err := report.NewSenderInterceptor()
		if err != nil {
			return nil, fmt.Errorf("sfu: sender reports: %w", err)
		}
		ir.Add(sr)
	}
	// TWCC feedback on what publishers send, so browsers' congestion control can ramp their upload.
	// (Outbound TWCC needs a bandwidth estimator to consume it; Pion's header writer also allocates
	// per packet. Both come with simulcast layer selection.)
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, webrtc.RTPCodecTypeVideo)
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, webrtc.RTPCodecTypeAudio)
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: transportCCURI}, kind, webrtc.RTPTransceiverDirectionRecvonly); err != nil {
			return nil, fmt.Errorf("sfu: register transport-cc: %w", err)
		}
	}
	// Simulcast (RIDs, with the mid to find their transceiver) from publishers, and audio levels for
	// the active speaker.
	for _, uri := range []string{sdp.SDESMidURI, sdp.SDESRTPStreamIDURI} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverDirectionRecvonly); err != nil {
			return nil, fmt.Errorf("sfu: register %s: %w", uri, err)
		}
	}
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverDirectionRecvonly); err != nil {
		return nil, fmt.Errorf("sfu: register audio level: %w", err)
	}
	if dir&receiving != 0 {
		tw, err := twcc.NewSenderInterceptor()
		if err != nil {
			return nil, fmt.Errorf("sfu: twcc: %w", err)
		}
		ir.Add(tw)
	}

	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// mediaSocketBuffer is the receive and send buffer asked for each media socket. The kernel's
// default (about 208 KiB, some 90 full-size packets) overflows in a burst of a dozen publishers'
// frames arriving while the process is busy; the kernel caps the request at net.core.rmem_max and
// wmem_max (raise those on a media server).
const mediaSocketBuffer = 4 << 20

// srtpReplayWindow is how late (in packets) an SRTP packet may arrive and still be accepted.
const srtpReplayWindow = 1024

const transportCCURI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"

func (s *SFU) settingEngine() (webrtc.SettingEngine, error) {
	var se webrtc.SettingEngine
	se.LoggerFactory = PionLogger(s.log, false)
	// mDNS candidates would hide our address behind a .local name the browser cannot resolve.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(s.cfg.IncludeLoopback)
	// A publisher's retransmission answers our NACK after the packets sent since: accept it up to
	// 1024 packets late, as browsers do (libwebrtc and Firefox set libsrtp's window to 1024). With
	// Pion's default of 64 (half a second of 1.2 Mbps video) a packet recovered after a stall was
	// dropped as a replay.
	se.SetSRTPReplayProtectionWindow(srtpReplayWindow)
	if len(s.cfg.NAT1To1IPs) > 0 {
		se.SetNAT1To1IPs(s.cfg.NAT1To1IPs, webrtc.ICECandidateTypeHost)
	}
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4}

	bindIP := net.ParseIP(s.cfg.BindIP)
	if s.cfg.BindIP != "" && bindIP == nil {
		return se, fmt.Errorf("sfu: bind IP %q is not an IP address", s.cfg.BindIP)
	}
	if bindIP != nil {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: bindIP, Port: s.cfg.UDPPort})
		if err != nil {
			return se, fmt.Errorf("sfu: listen on UDP %s: %w", net.JoinHostPort(s.cfg.BindIP, strconv.Itoa(s.cfg.UDPPort)), err)
		}
		conn.SetReadBuffer(mediaSocketBuffer)
		conn.SetWriteBuffer(mediaSocketBuffer)
		s.ports = append(s.ports, conn.LocalAddr().(*net.UDPAddr).Port)
		var pc net.PacketConn = conn
		if !s.cfg.NoBatchWrites {
			bc := newBatchConn(conn)
			s.batch, pc = &batchGroup{conns: []*batchConn{bc}}, bc
		}
		mux := webrtc.NewICEUDPMux(se.LoggerFactory.NewLogger("udpmux"), pc)
		s.closers = append(s.closers, mux.Close)
		se.SetICEUDPMux(mux)
		se.SetIPFilter(func(ip net.IP) bool { return ip.Equal(bindIP) })
	} else {
		opts := []ice.UDPMuxFromPortOption{ice.UDPMuxFromPortWithNetworks(ice.NetworkTypeUDP4),
			ice.UDPMuxFromPortWithReadBufferSize(mediaSocketBuffer), ice.UDPMuxFromPortWithWriteBufferSize(mediaSocketBuffer)}
		if s.cfg.IncludeLoopback {
			opts = append(opts, ice.UDPMuxFromPortWithLoopback())
		}
		var group *batchGroup
		if !s.cfg.NoBatchWrites {
			std, err := stdnet.NewNet()
			if err != nil {
				return se, fmt.Errorf("sfu: network: %w", err)
			}
			group = &batchGroup{}
			opts = append(opts, ice.UDPMuxFromPortWithNet(&batchNet{Net: std, group: group}))
		}
		mux, err := ice.NewMultiUDPMuxFromPort(s.cfg.UDPPort, opts...)
		if err != nil {
			return se, fmt.Errorf("sfu: listen on UDP port %d: %w", s.cfg.UDPPort, err)
		}
		s.closers = append(s.closers, mux.Close)
		se.SetICEUDPMux(mux)
		for _, a := range mux.GetListenAddresses() {
			if p := a.(*net.UDPAddr).Port; !slices.Contains(s.ports, p) {
				s.ports = append(s.ports, p)
			}
		}
		if group != nil && len(group.conns) > 0 {
			s.batch = group
		}
	}

	if s.cfg.TCPPort >= 0 {
		ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: bindIP, Port: s.cfg.TCPPort})
		if err != nil {
			return se, fmt.Errorf("sfu: listen on TCP port %d: %w", s.cfg.TCPPort, err)
		}
		mux := webrtc.NewICETCPMux(se.LoggerFactory.NewLogger("tcpmux"), ln, 32)
		s.closers = append(s.closers, mux.Close)
		se.SetICETCPMux(mux)
		networks = append(networks, webrtc.NetworkTypeTCP4)
	}
	se.SetNetworkTypes(networks)
	return se, nil
}

// relaySettingEngine is for relay connections between nodes. Each gets a UDP socket of its own (an
// ephemeral port) instead of the shared media port: two nodes' shared ports form a single address
// pair, and the port's demultiplexer, which tells connections apart by the remote address once ICE
// is done, would mix up two relays between the same nodes (two rooms, or the two directions of one).
func (s *SFU) relaySettingEngine() webrtc.SettingEngine {
	var se webrtc.SettingEngine
	se.LoggerFactory = PionLogger(s.log, false)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(s.cfg.IncludeLoopback)
	if len(s.cfg.NAT1To1IPs) > 0 {
		se.SetNAT1To1IPs(s.cfg.NAT1To1IPs, webrtc.ICECandidateTypeHost)
	}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	if bindIP := net.ParseIP(s.cfg.BindIP); bindIP != nil {
		se.SetIPFilter(func(ip net.IP) bool { return ip.Equal(bindIP) })
	}
	return se
}

// room is the media side of a classroom room: the up-tracks published there, by participant.
type room struct {
	name   string
	tracks map[trackKey]*UpTrack
}

type trackKey struct{ participant, track string }

func (s *SFU) addUpTrack(t *UpTrack) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[t.room]
	if r == nil {
		r = &room{name: t.room, tracks: map[trackKey]*UpTrack{}}
		s.rooms[t.room] = r
	}
	r.tracks[trackKey{t.participant, t.id}] = t
	s.metrics.upTracks.Inc()
}

func (s *SFU) removeUpTrack(t *UpTrack) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[t.room]
	if r == nil || r.tracks[trackKey{t.participant, t.id}] != t {
		return
	}
	delete(r.tracks, trackKey{t.participant, t.id})
	if len(r.tracks) == 0 {
		delete(s.rooms, t.room)
	}
	s.metrics.upTracks.Dec()
}

// UpTracks returns the live up-tracks published in a room on this node.
func (s *SFU) UpTracks(roomName string) []*UpTrack {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[roomName]
	if r == nil {
		return nil
	}
	out := make([]*UpTrack, 0, len(r.tracks))
	for _, t := range r.tracks {
		out = append(out, t)
	}
	return out
}

// UpTrack returns the live up-track a participant publishes in a room, or nil.
func (s *SFU) UpTrack(roomName, participantID, trackID string) *UpTrack {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.rooms[roomName]; r != nil {
		return r.tracks[trackKey{participantID, trackID}]
	}
	return nil
}
