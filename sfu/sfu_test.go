package sfu

import (
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

func newTestSFU(tb testing.TB) *SFU {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	s, err := New(Config{BindIP: "127.0.0.1", TCPPort: -1, IncludeLoopback: true, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// fakeUpTrack is an up-track with no publisher connection: tests feed it packets directly.
func fakeUpTrack(s *SFU, kind webrtc.RTPCodecType, plis *atomic.Int32) *UpTrack {
	codec := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}
	id := "camera"
	if kind == webrtc.RTPCodecTypeAudio {
		codec = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}
		id = "microphone"
	}
	t := &UpTrack{id: id, room: "r", participant: "pub", kind: kind, codec: codec, sfu: s, log: s.log, done: make(chan struct{})}
	t.sendPLI = func() error { plis.Add(1); return nil }
	if kind == webrtc.RTPCodecTypeVideo {
		t.cache = newPacketCache(packetCacheSlots)
	}
	t.downs.Store(&[]*DownTrack{})
	t.sinks.Store(&[]Sink{})
	return t
}

// handler wires a Peer to an in-process Pion client: candidates go straight across.
type handler struct {
	client *webrtc.PeerConnection
	mu     sync.Mutex
	held   []webrtc.ICECandidateInit
	ready  bool
}

func (h *handler) Candidate(pc PC, c webrtc.ICECandidateInit) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.ready {
		h.held = append(h.held, c)
		return
	}
	h.client.AddICECandidate(c)
}
func (h *handler) UpTrackStarted(*UpTrack)                        {}
func (h *handler) UpTrackEnded(*UpTrack)                          {}
func (h *handler) NegotiationNeeded()                             {}
func (h *handler) ConnectionState(PC, webrtc.PeerConnectionState) {}

// clientAPI makes the test clients' Pion API: loopback UDP, no mDNS, then each of adjust (another
// network type, other SRTP profiles).
func clientAPI(adjust ...func(*webrtc.SettingEngine)) *webrtc.API {
	m := &webrtc.MediaEngine{}
	m.RegisterDefaultCodecs()
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	for _, f := range adjust {
		f(&se)
	}
	// No interceptors: the clients' own receive-side allocations would otherwise count in the
	// forwarding benchmarks, which run in the same process.
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(&interceptor.Registry{}))
}

// connectSubscriber creates a Peer subscribed to up and a Pion client that answers its offer, and
// returns once the client receives packets. got counts the packets the client reads.
func connectSubscriber(tb testing.TB, s *SFU, up *UpTrack, name string, got *atomic.Int64) (*Peer, *webrtc.PeerConnection) {
	tb.Helper()
	return negotiateSubscriber(tb, s, up, name, got, true)
}

// cameraSubscriber is a fake camera track on s and one Pion subscriber of it, connected; both are
// closed when the test ends.
type cameraSubscriber struct {
	up     *UpTrack
	plis   atomic.Int32 // keyframe requests the fake publisher got
	got    atomic.Int64 // packets the subscriber decrypted
	peer   *Peer
	client *webrtc.PeerConnection
}

func subscribeCamera(tb testing.TB, s *SFU) *cameraSubscriber {
	tb.Helper()
	return newCameraSubscriber(tb, s, true)
}

// negotiateCamera is subscribeCamera returning once the answer is applied, before any media.
func negotiateCamera(tb testing.TB, s *SFU) *cameraSubscriber {
	tb.Helper()
	return newCameraSubscriber(tb, s, false)
}

func newCameraSubscriber(tb testing.TB, s *SFU, feed bool) *cameraSubscriber {
	tb.Helper()
	f := &cameraSubscriber{}
	f.up = fakeUpTrack(s, webrtc.RTPCodecTypeVideo, &f.plis)
	f.peer, f.client = negotiateSubscriber(tb, s, f.up, "sub", &f.got, feed)
	tb.Cleanup(func() {
		f.peer.Close()
		f.client.Close()
	})
	return f
}

// negotiateSubscriber is connectSubscriber; without feed it returns once the answer is applied,
// without sending media.
func negotiateSubscriber(tb testing.TB, s *SFU, up *UpTrack, name string, got *atomic.Int64, feed bool) (*Peer, *webrtc.PeerConnection) {
	tb.Helper()
	return negotiateOn(tb, clientAPI(), s, up, name, got, feed)
}

// negotiateWith is connectSubscriber with a client made by api.
func negotiateWith(tb testing.TB, api *webrtc.API, s *SFU, up *UpTrack, name string, got *atomic.Int64) (*Peer, *webrtc.PeerConnection) {
	tb.Helper()
	return negotiateOn(tb, api, s, up, name, got, true)
}

func negotiateOn(tb testing.TB, api *webrtc.API, s *SFU, up *UpTrack, name string, got *atomic.Int64, feed bool) (*Peer, *webrtc.PeerConnection) {
	tb.Helper()
	client, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	h := &handler{client: client}
	p, err := s.NewPeer("r", name, h)
	if err != nil {
		tb.Fatal(err)
	}
	first := make(chan struct{})
	var once sync.Once
	client.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		buf := make([]byte, 1500)
		for {
			if _, _, err := t.Read(buf); err != nil {
				return
			}
			got.Add(1)
			once.Do(func() { close(first) })
		}
	})
	client.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			p.AddICECandidate(Subscribe, c.ToJSON())
		}
	})
	if err := p.Subscribe(up); err != nil {
		tb.Fatal(err)
	}
	offer, _, err := p.CreateSubscribeOffer()
	if err != nil || offer == "" {
		tb.Fatalf("offer %q: %v", offer, err)
	}
	if err := client.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		tb.Fatal(err)
	}
	answer, _ := client.CreateAnswer(nil)
	client.SetLocalDescription(answer)
	if err := p.HandleSubscribeAnswer(answer.SDP); err != nil {
		tb.Fatal(err)
	}
	h.mu.Lock()
	h.ready = true
	for _, c := range h.held {
		client.AddICECandidate(c)
	}
	h.mu.Unlock()
	p.ReleaseCandidates(Subscribe)
	if !feed {
		return p, client
	}

	// Feed packets (keyframes) until the client has one.
	deadline := time.After(10 * time.Second)
	for n := uint16(0); ; n++ {
		up.forward(vp8Packet(n, true))
		select {
		case <-first:
			return p, client
		case <-deadline:
			tb.Fatalf("%s received nothing in 10 s", name)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func vp8Packet(seq uint16, keyframe bool) *rtp.Packet {
	payload := make([]byte, 1100)
	payload[0] = 0x10
	if !keyframe {
		payload[1] = 0x01
	}
	return &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 100, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, SSRC: 1234, Marker: true}, Payload: payload}
}

func TestDownTrackWaitsForKeyframe(t *testing.T) {
	s := newTestSFU(t)
	f := subscribeCamera(t, s)
	up := f.up

	// A second subscriber: delta frames alone never reach it; the keyframe after them does.
	var got2 atomic.Int64
	p2, client2 := connectSubscriber(t, s, up, "sub2", &got2)
	defer client2.Close()
	defer p2.Close()
	before := got2.Load()
	up.downs.Load()
	for _, d := range *up.downs.Load() {
		d.needKeyframe.Store(true)
	}
	for i := uint16(1000); i < 1010; i++ {
		up.forward(vp8Packet(i, false))
	}
	time.Sleep(200 * time.Millisecond)
	if n := got2.Load() - before; n != 0 {
		t.Fatalf("a subscriber waiting for a keyframe received %d delta packets", n)
	}
	up.forward(vp8Packet(1010, true))
	up.forward(vp8Packet(1011, false))
	deadline := time.Now().Add(5 * time.Second)
	for got2.Load()-before < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("after a keyframe the subscriber received %d packets, want 2", got2.Load()-before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestKeyframeRequestsAreThrottled(t *testing.T) {
	s := newTestSFU(t)
	var plis atomic.Int32
	up := fakeUpTrack(s, webrtc.RTPCodecTypeVideo, &plis)
	for range 50 {
		up.RequestKeyframe()
	}
	if n := plis.Load(); n != 1 {
		t.Fatalf("50 requests in a burst sent %d PLIs, want 1", n)
	}
	time.Sleep(keyframeInterval + 200*time.Millisecond)
	if n := plis.Load(); n != 2 {
		t.Fatalf("the deferred request was not sent: %d PLIs, want 2", n)
	}
	audio := fakeUpTrack(s, webrtc.RTPCodecTypeAudio, &plis)
	audio.RequestKeyframe()
	if n := plis.Load(); n != 2 {
		t.Fatal("audio tracks must not send PLIs")
	}
}

func TestPaddingOnlyPacketsAreNotForwarded(t *testing.T) {
	s := newTestSFU(t)
	f := subscribeCamera(t, s)
	up, got := f.up, &f.got
	// connectSubscriber feeds keyframes until the first arrives; let the rest of them land first.
	before := got.Load()
	for settle := time.Now().Add(2 * time.Second); time.Now().Before(settle); {
		time.Sleep(100 * time.Millisecond)
		if n := got.Load(); n == before {
			break
		} else {
			before = n
		}
	}
	for i := uint16(2000); i < 2010; i++ {
		up.forward(&rtp.Packet{Header: rtp.Header{Version: 2, Padding: true, SequenceNumber: i, SSRC: 1}, PaddingSize: 200})
	}
	time.Sleep(200 * time.Millisecond)
	if n := got.Load() - before; n != 0 {
		t.Fatalf("%d padding-only packets were forwarded", n)
	}
}

func TestNoLeaksWhenParticipantsLeave(t *testing.T) {
	s := newTestSFU(t)
	var plis atomic.Int32
	up := fakeUpTrack(s, webrtc.RTPCodecTypeVideo, &plis)
	baseGoroutines := runtime.NumGoroutine()
	baseFDs := openFDs(t)

	for round := range 3 {
		var peers []*Peer
		var clients []*webrtc.PeerConnection
		for i := range 5 {
			var got atomic.Int64
			p, c := connectSubscriber(t, s, up, "sub", &got)
			_ = i
			peers = append(peers, p)
			clients = append(clients, c)
		}
		for i := range peers {
			peers[i].Close()
			clients[i].Close()
		}
		if n := len(*up.downs.Load()); n != 0 {
			t.Fatalf("round %d: %d down-tracks still attached after every subscriber left", round, n)
		}
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		g, fds := runtime.NumGoroutine(), openFDs(t)
		if g <= baseGoroutines+2 && fds <= baseFDs {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("leak: goroutines %d → %d, fds %d → %d\n%s", baseGoroutines, g, baseFDs, fds, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func openFDs(t testing.TB) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// BenchmarkDownTrackRewrite isolates Chalk's own per-packet work (no network): must be 0 allocs/op.
func BenchmarkDownTrackRewrite(b *testing.B) {
	s := newTestSFU(b)
	var plis atomic.Int32
	up := fakeUpTrack(s, webrtc.RTPCodecTypeVideo, &plis)
	d := newDownTrack(up, s.metrics)
	d.bound.Store(&binding{ssrc: 5, pt: 96, w: discardWriter{}})
	d.needKeyframe.Store(false)
	up.addDown(d)
	pkt := vp8Packet(0, false)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pkt.SequenceNumber++
		up.forward(pkt)
	}
}

type discardWriter struct{}

func (discardWriter) WriteRTP(h *rtp.Header, p []byte) (int, error) { return len(p), nil }
func (discardWriter) Write(b []byte) (int, error)                   { return len(b), nil }

func itoa(i int) string {
	return string(rune('0'+i/10%10)) + string(rune('0'+i%10))
}

func TestNACKIsAnsweredFromTheCache(t *testing.T) {
	s := newTestSFU(t)
	f := subscribeCamera(t, s)
	up, client, got := f.up, f.client, &f.got

	// Emulate the reader for packets 3000..3009, losing 3003-3005 on the way to the subscriber: they
	// are cached but not forwarded. (Resending a packet that did arrive would be an SRTP replay,
	// which the receiver rightly drops.)
	before := got.Load()
	for i := uint16(3000); i < 3010; i++ {
		pkt := vp8Packet(i, i == 3000)
		raw, _ := pkt.Marshal()
		up.cache.store(i, raw)
		if i < 3003 || i > 3005 {
			up.forward(pkt)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for got.Load()-before < 7 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	before = got.Load()
	ssrc := uint32(client.GetTransceivers()[0].Receiver().Track().SSRC())
	// Ask again for 3003-3005 and for 1, which was never sent: three packets must come back.
	nack := &rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: []rtcp.NackPair{{PacketID: 3003, LostPackets: 0b11}, {PacketID: 1}}}
	if err := client.WriteRTCP([]rtcp.Packet{nack}); err != nil {
		t.Fatal(err)
	}
	for got.Load()-before < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("NACK for 3 cached packets brought back %d", got.Load()-before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if n := got.Load() - before; n != 3 {
		t.Fatalf("NACK brought back %d packets, want exactly 3", n)
	}
}

func TestRepeatedNACKsAreResentOncePerHoldoff(t *testing.T) {
	var m rtxMemory
	t0 := time.Now()
	if !m.allow(7, t0) {
		t.Fatal("a first request was refused")
	}
	if m.allow(7, t0.Add(rtxHoldoff/2)) {
		t.Fatal("a repeat within the holdoff was resent")
	}
	if !m.allow(8, t0) || !m.allow(7+64, t0) {
		t.Fatal("other packets were refused")
	}
	if !m.allow(7, t0.Add(rtxHoldoff/2)) {
		t.Fatal("a packet whose slot was reused was refused")
	}
	if !m.allow(7, t0.Add(2*rtxHoldoff)) {
		t.Fatal("a repeat after the holdoff was refused")
	}
	if !m.allow(7, t0.Add(4*rtxHoldoff)) {
		t.Fatal("a third resend was refused")
	}
	if m.allow(7, t0.Add(6*rtxHoldoff)) {
		t.Fatalf("a packet was resent more than %d times", rtxMaxResends)
	}
}

func TestPacketCache(t *testing.T) {
	c := newPacketCache(4)
	buf := make([]byte, 1500)
	c.store(10, []byte{1, 2, 3})
	if n := c.get(10, buf); n != 3 || buf[2] != 3 {
		t.Fatalf("get(10) = %d", n)
	}
	if n := c.get(11, buf); n != 0 {
		t.Fatal("a packet never stored was found")
	}
	c.store(14, []byte{9}) // same slot as 10: 10 is gone
	if n := c.get(10, buf); n != 0 {
		t.Fatal("an overwritten packet was still returned")
	}
	c.store(65535, []byte{7})
	if n := c.get(65535, buf); n != 1 || buf[0] != 7 {
		t.Fatal("sequence number wrap-around")
	}
}
