package sfu

import (
	"log/slog"
	"os"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The fast path reads two unexported fields of Pion's DTLSTransport (dtlsInternals). If a Pion
// upgrade renames or retypes them the fast path turns itself off; this test makes that upgrade fail
// instead of silently costing the server twice the CPU per packet.
func TestDTLSInternalsStillThere(t *testing.T) {
	typ := reflect.TypeOf(webrtc.DTLSTransport{})
	for name, want := range map[string]reflect.Type{
		"conn":             reflect.TypeOf((*dtls.Conn)(nil)),
		"remoteParameters": reflect.TypeOf(webrtc.DTLSParameters{}),
	} {
		f, ok := typ.FieldByName(name)
		if !ok || f.Type != want {
			t.Errorf("webrtc.DTLSTransport.%s: found %v of type %v, want %v: update dtlsInternals (sfu/fastpath.go)", name, ok, f.Type, want)
		}
	}

	// And on a live connection it yields the DTLS connection and a context.
	s := newTestSFU(t)
	f := subscribeCamera(t, s)
	p := f.peer
	conn, _, err := dtlsInternals(p.sub.SCTP().Transport())
	if err != nil || conn == nil {
		t.Fatalf("dtlsInternals on a connected transport: %v, %v", conn, err)
	}
	ctx, gcm, _, err := srtpSenderFor(p.sub.SCTP().Transport())
	if err != nil {
		t.Fatalf("srtpSenderFor: %v", err)
	}
	// Pion negotiates AEAD_AES_256_GCM first, so the fast path uses our GCM sender.
	if gcm == nil || ctx != nil {
		t.Errorf("srtpSenderFor: Pion context %v, GCM sender %v: want the GCM sender", ctx != nil, gcm != nil)
	}
}

// A subscriber on the SFU's batched UDP socket gets its media through Chalk's own SRTP path, and
// decrypts it (the Pion client counts only packets it could decrypt): packets, NACK answers.
func TestFastPathCarriesSubscriberMedia(t *testing.T) {
	s := newTestSFU(t)
	f := subscribeCamera(t, s)
	up, p, client, got := f.up, f.peer, f.client, &f.got
	waitFor(t, "the fast path to be on", func() bool { return p.fast.on.Load() && p.fast.pionUp.Load() })
	// Pion offers AEAD_AES_256_GCM first: our own GCM sender encrypts (srtpgcm.go).
	if n := testutil.ToFloat64(s.metrics.fastConns.WithLabelValues("SRTP_AEAD_AES_256_GCM")); n != 1 {
		t.Errorf("%v fast-path connections with SRTP_AEAD_AES_256_GCM, want 1", n)
	}

	fast0, pion0, got0 := testutil.ToFloat64(s.metrics.fastPackets), testutil.ToFloat64(s.metrics.pionPackets), got.Load()
	const lost = 5090 // cached but not forwarded: the client's NACK below asks for it
	for i := uint16(5000); i < 5100; i++ {
		pkt := vp8Packet(i, i == 5000)
		raw, err := pkt.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		up.remember(pkt, raw)
		if i != lost {
			up.forward(pkt)
		}
		time.Sleep(2 * time.Millisecond) // paced: a burst may overflow the client's socket on a busy machine
	}
	waitFor(t, "99 packets at the client", func() bool { return got.Load()-got0 >= 99 })
	if n := testutil.ToFloat64(s.metrics.fastPackets) - fast0; n < 99 {
		t.Errorf("%v packets through the fast path, want 99", n)
	}
	if n := testutil.ToFloat64(s.metrics.pionPackets) - pion0; n != 0 {
		t.Errorf("%v packets through Pion's path once the fast path is on, want 0", n)
	}

	// A NACK is answered through the fast path too, and decrypted.
	ssrc := uint32(client.GetReceivers()[0].Track().SSRC())
	fast1, got1 := testutil.ToFloat64(s.metrics.fastPackets), got.Load()
	if err := client.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: []rtcp.NackPair{{PacketID: lost}}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the retransmission at the client", func() bool { return got.Load() > got1 })
	if n := testutil.ToFloat64(s.metrics.fastPackets) - fast1; n != 1 {
		t.Errorf("%v packets through the fast path for one NACK, want 1", n)
	}
}

// Without batched sockets (and so for anything not on them: TURN allocations of the server,
// ICE-TCP, relays) media goes through Pion's path and still arrives.
func TestFastPathFallsBackToPion(t *testing.T) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	s, err := New(Config{BindIP: "127.0.0.1", TCPPort: -1, IncludeLoopback: true, Logger: log, NoBatchWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := subscribeCamera(t, s)
	up, p, got := f.up, f.peer, &f.got
	got0 := got.Load()
	for i := uint16(5000); i < 5050; i++ {
		up.forward(vp8Packet(i, i == 5000))
	}
	waitFor(t, "50 packets at the client", func() bool { return got.Load()-got0 >= 50 })
	if p.fast.on.Load() || testutil.ToFloat64(s.metrics.fastPackets) != 0 {
		t.Errorf("fast path on without batched sockets (%v packets)", testutil.ToFloat64(s.metrics.fastPackets))
	}
	if n := testutil.ToFloat64(s.metrics.pionPackets); n < 50 {
		t.Errorf("%v packets through Pion's path, want at least 50", n)
	}
}

// A subscriber reaching the SFU over ICE-TCP only keeps Pion's path, and gets its media.
func TestFastPathNotOverICETCP(t *testing.T) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	s, err := New(Config{BindIP: "127.0.0.1", TCPPort: 0, IncludeLoopback: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tcpAPI := clientAPI(func(se *webrtc.SettingEngine) { se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4}) })

	var plis atomic.Int32
	up := fakeUpTrack(s, webrtc.RTPCodecTypeVideo, &plis)
	var got atomic.Int64
	p, client := negotiateWith(t, tcpAPI, s, up, "tcp", &got)
	defer client.Close()
	defer p.Close()
	pair, err := p.sub.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local.Protocol != webrtc.ICEProtocolTCP {
		t.Fatalf("selected pair %v (%v): want ICE-TCP", pair, err)
	}
	if p.fast.on.Load() || testutil.ToFloat64(s.metrics.fastPackets) != 0 {
		t.Errorf("fast path on over ICE-TCP (%v packets)", testutil.ToFloat64(s.metrics.fastPackets))
	}
	if testutil.ToFloat64(s.metrics.pionPackets) == 0 {
		t.Error("no packets through Pion's path")
	}
}

func TestFastTarget(t *testing.T) {
	s := newTestSFU(t)
	if s.batch == nil || len(s.batch.conns) != 1 {
		t.Fatalf("test SFU has %v batched sockets, want 1", s.batch)
	}
	port := uint16(s.UDPPorts()[0])
	host := func(proto webrtc.ICEProtocol, typ webrtc.ICECandidateType, addr string, port uint16) *webrtc.ICECandidate {
		return &webrtc.ICECandidate{Protocol: proto, Typ: typ, Address: addr, Port: port}
	}
	udp, tcp := webrtc.ICEProtocolUDP, webrtc.ICEProtocolTCP
	for _, tc := range []struct {
		name          string
		local, remote *webrtc.ICECandidate
		want          bool
	}{
		{"host to host", host(udp, webrtc.ICECandidateTypeHost, "127.0.0.1", port), host(udp, webrtc.ICECandidateTypeHost, "127.0.0.1", 4000), true},
		{"host to the client's TURN relay", host(udp, webrtc.ICECandidateTypeHost, "127.0.0.1", port), host(udp, webrtc.ICECandidateTypeRelay, "127.0.0.1", 4000), true},
		{"host to prflx", host(udp, webrtc.ICECandidateTypeHost, "127.0.0.1", port), host(udp, webrtc.ICECandidateTypePrflx, "127.0.0.1", 4000), true},
		{"the server's TURN relay", host(udp, webrtc.ICECandidateTypeRelay, "127.0.0.1", port), host(udp, webrtc.ICECandidateTypeHost, "127.0.0.1", 4000), false},
		{"ICE-TCP", host(tcp, webrtc.ICECandidateTypeHost, "127.0.0.1", port), host(tcp, webrtc.ICECandidateTypeHost, "127.0.0.1", 4000), false},
		{"another socket", host(udp, webrtc.ICECandidateTypeHost, "127.0.0.1", port+1), host(udp, webrtc.ICECandidateTypeHost, "127.0.0.1", 4000), false},
		{"IPv6 remote", host(udp, webrtc.ICECandidateTypeHost, "127.0.0.1", port), host(udp, webrtc.ICECandidateTypeHost, "::1", 4000), false},
		{"mDNS remote", host(udp, webrtc.ICECandidateTypeHost, "127.0.0.1", port), host(udp, webrtc.ICECandidateTypeHost, "x.local", 4000), false},
		{"NAT 1:1 address on the one socket", host(udp, webrtc.ICECandidateTypeHost, "203.0.113.7", port), host(udp, webrtc.ICECandidateTypeHost, "127.0.0.1", 4000), true},
	} {
		c, _ := fastTarget(&webrtc.ICECandidatePair{Local: tc.local, Remote: tc.remote}, s.batch)
		if (c != nil) != tc.want {
			t.Errorf("%s: fast path %v, want %v", tc.name, c != nil, tc.want)
		}
	}
	if c, _ := fastTarget(nil, s.batch); c != nil {
		t.Error("nil pair: fast path on")
	}
}

// dtlsIsClient follows Pion's DTLSTransport.role.
func TestDTLSIsClient(t *testing.T) {
	for _, tc := range []struct {
		remote webrtc.DTLSRole
		ice    webrtc.ICERole
		want   bool
	}{
		{webrtc.DTLSRoleClient, webrtc.ICERoleControlling, false},
		{webrtc.DTLSRoleServer, webrtc.ICERoleControlling, true},
		{webrtc.DTLSRoleAuto, webrtc.ICERoleControlling, false},
		{webrtc.DTLSRoleAuto, webrtc.ICERoleControlled, true},
	} {
		if got := dtlsIsClient(tc.remote, tc.ice); got != tc.want {
			t.Errorf("dtlsIsClient(%v, %v) = %v, want %v", tc.remote, tc.ice, got, tc.want)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s in 10 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
