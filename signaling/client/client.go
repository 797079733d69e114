// Package client is a Go participant for Chalk's signaling protocol with Pion peer connections:
// integration tests and the load generator use it to publish synthetic media and count what arrives.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// Options describe how to join.
type Options struct {
	URL      string // ws://host:port/ws
	Room     string
	Name     string
	Token    string
	Identity string
	// Audio and Video create microphone and camera tracks the caller writes RTP to.
	Audio, Video bool
	// Simulcast makes the camera (Video) send three layers (SimulcastRIDs), written to Layers.
	Simulcast bool
	// Screen creates a screen-share track (VP8), declared in the publish offer; send "publish"
	// {source: "screen"} to share it.
	Screen bool
	// OnTrack is called for each track received on the subscribe connection, with what it carries.
	OnTrack func(info TrackInfo, t *webrtc.TrackRemote)
	// OnMessage sees every server message (after the client has handled it).
	OnMessage func(typ string, data json.RawMessage)
	// SocketBuffer, if set, gives each of the client's connections its own UDP socket (on
	// 127.0.0.1) with this receive buffer: a client receiving a dozen streams overflows the kernel's
	// default in a burst (the load generator sets it).
	SocketBuffer int
	// ICE: relay-only and network restrictions (ice.go); zero: UDP, every candidate type.
	ICE ICE
	// Visit is an instructor's breakout visit carried over a redirect (join.visit).
	Visit int

	// OnKeyframeRequest is called (from an RTCP goroutine) when the server asks for a keyframe
	// (PLI or FIR) on a published source: a synthetic publisher answers it as a browser would.
	OnKeyframeRequest func(source string)
}

// TrackInfo is what the server's offer says a subscribe transceiver carries.
type TrackInfo struct {
	Mid         string `json:"mid"`
	Participant string `json:"participantId"`
	Track       string `json:"trackId"`
	Source      string `json:"source"`
}

// Client is one joined participant.
type Client struct {
	opts   Options
	ws     *websocket.Conn
	api    *webrtc.API
	pcCfg  webrtc.Configuration // from joined: iceServers (TURN credentials), transport policy
	pub    *webrtc.PeerConnection
	sub    *webrtc.PeerConnection
	Audio  *webrtc.TrackLocalStaticRTP
	Video  *webrtc.TrackLocalStaticRTP
	Screen *webrtc.TrackLocalStaticRTP
	Layers []*webrtc.TrackLocalStaticRTP // the camera's simulcast layers, lowest first (Options.Simulcast)
	Joined json.RawMessage               // the joined message's data
	ID     string                        // our participant id

	writeMu  sync.Mutex
	mu       sync.Mutex
	mids     map[string]TrackInfo
	decls    any                       // the publish offer's tracks, sent again with every new offer
	pending  []webrtc.ICECandidateInit // subscribe candidates that arrived before the offer
	errs     chan error
	done     chan struct{}
	muxes    []io.Closer // the client's own UDP sockets (Options.SocketBuffer), one per connection
	where    whereabouts // the room we are in, which the server may change (breakouts)
	redirect *Redirect   // the server sent us to another node (redirect.go)

	simTr          *webrtc.RTPTransceiver // the simulcast camera (Options.Simulcast)
	midExt, ridExt uint8                  // their negotiated header extension ids
}

// Dial connects, joins, and (if Audio or Video) negotiates the publish connection. It returns once
// joined; media negotiation continues in the background. A redirect to the node that serves the
// room is followed (redirect.go).
func Dial(ctx context.Context, o Options) (*Client, error) {
	for hop := 0; ; hop++ {
		c, red, err := dial(ctx, o)
		if err != nil && hop > 0 {
			return nil, fmt.Errorf("%w: %s: %w", ErrNodeUnreachable, o.URL, err)
		}
		if red == nil {
			return c, err
		}
		if hop == MaxRedirects {
			return nil, fmt.Errorf("client: still redirected after %d hops (last to %s)", MaxRedirects, red.URL)
		}
		o = red.Options(o)
	}
}

func dial(ctx context.Context, o Options) (*Client, *Redirect, error) {
	c, err := dialJoin(ctx, o)
	var red *Redirect
	if errors.As(err, &red) {
		return nil, red, nil
	}
	return c, nil, err
}

func dialJoin(ctx context.Context, o Options) (*Client, error) {
	ws, _, err := websocket.Dial(ctx, o.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", o.URL, err)
	}
	ws.SetReadLimit(1 << 20)
	c := &Client{opts: o, ws: ws, mids: map[string]TrackInfo{}, errs: make(chan error, 16), done: make(chan struct{})}
	if c.api, err = c.newAPI(); err != nil {
		ws.CloseNow()
		return nil, err
	}
	fail := func(err error) (*Client, error) {
		ws.CloseNow()
		for _, m := range c.muxes {
			m.Close()
		}
		return nil, err
	}
	join := map[string]any{"room": o.Room, "name": o.Name, "token": o.Token, "identity": o.Identity}
	if o.Visit > 0 {
		join["visit"] = o.Visit
	}
	if err := c.Send(ctx, "join", join); err != nil {
		return fail(err)
	}
	typ, data, err := c.read(ctx)
	if err != nil {
		return fail(err)
	}
	if typ == "redirect" {
		return fail(parseRedirect(data))
	}
	if typ != "joined" {
		return fail(fmt.Errorf("client: join refused: %s %s", typ, data))
	}
	c.Joined = data
	c.where.update(data)
	var j struct {
		Participant struct{ ID string } `json:"participant"`
	}
	json.Unmarshal(data, &j)
	c.ID = j.Participant.ID
	if c.pcCfg, err = o.ICE.peerConfig(data); err != nil {
		c.Close()
		return nil, err
	}

	if c.sub, err = c.api.NewPeerConnection(c.pcCfg); err != nil {
		c.Close()
		return nil, err
	}
	c.sub.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand != nil {
			c.Send(context.Background(), "candidate", map[string]any{"pc": "subscribe", "candidate": cand.ToJSON()})
		}
	})
	c.sub.OnTrack(c.onTrack)
	go c.readLoop()
	if o.Audio || o.Video || o.Screen {
		if err := c.publish(ctx); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// newAPI returns the Pion API for one of the client's connections. With Options.SocketBuffer each
// connection gets its own socket: the server tells connections apart by the client's address.
func (c *Client) newAPI() (*webrtc.API, error) {
	api, mux, err := newAPI(c.opts.ICE, c.opts.SocketBuffer)
	if mux != nil {
		c.muxes = append(c.muxes, mux)
	}
	return api, err
}

func newAPI(o ICE, socketBuffer int) (*webrtc.API, io.Closer, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, nil, err
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, nil, err
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		return nil, nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(m, ir); err != nil {
		return nil, nil, err
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, nil, err
	}
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() }) // tests talk to 127.0.0.1 only
	// Accept retransmissions up to 1024 packets late, as browsers do (libwebrtc and Firefox set
	// libsrtp's window to 1024); Pion's default of 64 rejected as replays the packets a
	// subscriber NACKed after a stall of half a second, so it NACKed them again and again.
	se.SetSRTPReplayProtectionWindow(1024)
	o.apply(&se)
	var mux io.Closer
	if socketBuffer > 0 {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, nil, err
		}
		conn.SetReadBuffer(socketBuffer)
		var pc net.PacketConn = conn
		if o.WrapSocket != nil {
			pc = o.WrapSocket(conn)
		}
		um := webrtc.NewICEUDPMux(nil, pc)
		se.SetICEUDPMux(um)
		mux = um
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), mux, nil
}

func (c *Client) publish(ctx context.Context) error {
	api := c.api
	if c.opts.SocketBuffer > 0 {
		var err error
		if api, err = c.newAPI(); err != nil {
			return err
		}
	}
	var err error
	if c.pub, err = api.NewPeerConnection(c.pcCfg); err != nil {
		return err
	}
	c.pub.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand != nil {
			c.Send(context.Background(), "candidate", map[string]any{"pc": "publish", "candidate": cand.ToJSON()})
		}
	})
	stream := "chalk-client"
	type decl struct {
		Mid    string `json:"mid"`
		Source string `json:"source"`
	}
	var tracks []decl
	var trs []*webrtc.RTPTransceiver
	var sources []string
	if c.opts.Audio {
		c.Audio, _ = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic", stream)
		tr, err := c.pub.AddTransceiverFromTrack(c.Audio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return err
		}
		trs, sources = append(trs, tr), append(sources, "microphone")
	}
	if c.opts.Video && c.opts.Simulcast {
		tr, err := c.addSimulcastCamera(stream)
		if err != nil {
			return err
		}
		trs, sources = append(trs, tr), append(sources, "camera")
	} else if c.opts.Video {
		c.Video, _ = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "cam", stream)
		tr, err := c.pub.AddTransceiverFromTrack(c.Video, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return err
		}
		trs, sources = append(trs, tr), append(sources, "camera")
	}
	if c.opts.Screen {
		c.Screen, _ = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "screen", stream+"-screen")
		tr, err := c.pub.AddTransceiverFromTrack(c.Screen, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return err
		}
		trs, sources = append(trs, tr), append(sources, "screen")
	}
	for i, tr := range trs {
		go drain(tr.Sender(), sources[i], c.opts.OnKeyframeRequest)
	}
	offer, err := c.pub.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := c.pub.SetLocalDescription(offer); err != nil {
		return err
	}
	for i, tr := range trs {
		tracks = append(tracks, decl{Mid: tr.Mid(), Source: sources[i]})
	}
	c.decls = tracks
	return c.Send(ctx, "offer", map[string]any{"sdp": offer.SDP, "tracks": tracks})
}

// RestartICE restarts ICE on both connections, as the web client does after a network change: a
// new publish offer with fresh credentials, and restart_ice so the server re-offers the subscribe
// connection.
func (c *Client) RestartICE(ctx context.Context) error {
	if c.pub != nil {
		offer, err := c.pub.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
		if err != nil {
			return err
		}
		if err := c.pub.SetLocalDescription(offer); err != nil {
			return err
		}
		if err := c.Send(ctx, "offer", map[string]any{"sdp": offer.SDP, "tracks": c.decls}); err != nil {
			return err
		}
	}
	return c.Send(ctx, "restart_ice", struct{}{})
}

// drain reads a sender's RTCP (so the interceptors see it) and reports keyframe requests.
func drain(s *webrtc.RTPSender, source string, onKeyframe func(string)) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		if onKeyframe == nil {
			continue
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				onKeyframe(source)
			}
		}
	}
}

func (c *Client) onTrack(t *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	var info TrackInfo
	for _, tr := range c.sub.GetTransceivers() {
		if tr.Receiver() == recv {
			c.mu.Lock()
			info = c.mids[tr.Mid()]
			c.mu.Unlock()
		}
	}
	if c.opts.OnTrack != nil {
		c.opts.OnTrack(info, t)
	}
}

// Send writes one protocol message.
func (c *Client) Send(ctx context.Context, typ string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	return c.SendRaw(ctx, []byte(fmt.Sprintf(`{"v":1,"type":%q,"data":%s}`, typ, raw)))
}

// SendRaw writes a frame as is (for bad-input tests).
func (c *Client) SendRaw(ctx context.Context, frame []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, frame)
}

func (c *Client) read(ctx context.Context) (string, json.RawMessage, error) {
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return "", nil, err
	}
	var env struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return "", nil, fmt.Errorf("client: bad server frame: %w", err)
	}
	return env.Type, env.Data, nil
}

func (c *Client) readLoop() {
	defer close(c.done)
	for {
		typ, data, err := c.read(context.Background())
		if err != nil {
			return
		}
		if err := c.handle(typ, data); err != nil {
			select {
			case c.errs <- fmt.Errorf("client: handling %s: %w", typ, err):
			default:
			}
		}
		if c.opts.OnMessage != nil {
			c.opts.OnMessage(typ, data)
		}
	}
}

func (c *Client) handle(typ string, data json.RawMessage) error {
	ctx := context.Background()
	switch typ {
	case "redirect":
		c.mu.Lock()
		c.redirect = parseRedirect(data)
		c.mu.Unlock()
	case "moved", "breakouts":
		c.where.update(data)
	case "answer":
		var m struct{ SDP string }
		json.Unmarshal(data, &m)
		return c.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP})
	case "offer":
		var m struct {
			SDP    string      `json:"sdp"`
			Tracks []TrackInfo `json:"tracks"`
		}
		json.Unmarshal(data, &m)
		c.mu.Lock()
		c.mids = map[string]TrackInfo{}
		for _, t := range m.Tracks {
			c.mids[t.Mid] = t
		}
		c.mu.Unlock()
		if err := c.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
			return err
		}
		ans, err := c.sub.CreateAnswer(nil)
		if err != nil {
			return err
		}
		if err := c.sub.SetLocalDescription(ans); err != nil {
			return err
		}
		if err := c.Send(ctx, "answer", map[string]any{"sdp": ans.SDP}); err != nil {
			return err
		}
		c.mu.Lock()
		held := c.pending
		c.pending = nil
		c.mu.Unlock()
		for _, cand := range held {
			c.sub.AddICECandidate(cand)
		}
	case "candidate":
		var m struct {
			PC        string                  `json:"pc"`
			Candidate webrtc.ICECandidateInit `json:"candidate"`
		}
		json.Unmarshal(data, &m)
		if m.PC == "publish" {
			return c.pub.AddICECandidate(m.Candidate)
		}
		c.mu.Lock()
		if c.sub.RemoteDescription() == nil {
			c.pending = append(c.pending, m.Candidate)
			c.mu.Unlock()
			return errors.New("subscribe candidate before offer")
		}
		c.mu.Unlock()
		return c.sub.AddICECandidate(m.Candidate)
	}
	return nil
}

// Errors reports protocol handling failures seen by the client (e.g. a candidate before its offer).
func (c *Client) Errors() <-chan error { return c.errs }

// Done is closed when the server closes the socket.
func (c *Client) Done() <-chan struct{} { return c.done }

// PublishConnection and SubscribeConnection expose the peer connections (for stats in tests).
func (c *Client) PublishConnection() *webrtc.PeerConnection   { return c.pub }
func (c *Client) SubscribeConnection() *webrtc.PeerConnection { return c.sub }

// Close leaves the room and tears everything down.
func (c *Client) Close() {
	c.Send(context.Background(), "leave", struct{}{})
	c.ws.Close(websocket.StatusNormalClosure, "bye")
	if c.pub != nil {
		c.pub.Close()
	}
	if c.sub != nil {
		c.sub.Close()
	}
	for _, m := range c.muxes {
		m.Close()
	}
}
