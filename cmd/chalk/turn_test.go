package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"

	"github.com/chalk-edu/chalk/signaling/client"
)

// firewall is a student's network that lets out TCP to one address and nothing else: no UDP
// socket can even be opened. Pion's ICE agent does all its networking through it.
type firewall struct {
	transport.Net
	allow string // host:port of the one TCP destination

	mu      sync.Mutex
	refused []string
	dialed  atomic.Int32
}

var errBlocked = errors.New("blocked by the school firewall")

func (f *firewall) refuse(what string) error {
	f.mu.Lock()
	f.refused = append(f.refused, what)
	f.mu.Unlock()
	return fmt.Errorf("%s: %w", what, errBlocked)
}

func (f *firewall) ListenPacket(network, address string) (net.PacketConn, error) {
	return nil, f.refuse("listen " + network + " " + address)
}
func (f *firewall) ListenUDP(network string, a *net.UDPAddr) (transport.UDPConn, error) {
	return nil, f.refuse(fmt.Sprintf("listen %s %v", network, a))
}
func (f *firewall) ListenTCP(network string, a *net.TCPAddr) (transport.TCPListener, error) {
	return nil, f.refuse(fmt.Sprintf("listen %s %v", network, a))
}
func (f *firewall) DialUDP(network string, _, r *net.UDPAddr) (transport.UDPConn, error) {
	return nil, f.refuse(fmt.Sprintf("dial %s %v", network, r))
}
func (f *firewall) Dial(network, address string) (net.Conn, error) {
	if strings.HasPrefix(network, "tcp") && address == f.allow {
		f.dialed.Add(1)
		return f.Net.Dial(network, address)
	}
	return nil, f.refuse("dial " + network + " " + address)
}
func (f *firewall) DialTCP(network string, l, r *net.TCPAddr) (transport.TCPConn, error) {
	if r.String() == f.allow {
		f.dialed.Add(1)
		return f.Net.DialTCP(network, l, r)
	}
	return nil, f.refuse(fmt.Sprintf("dial %s %v", network, r))
}
func (f *firewall) CreateDialer(*net.Dialer) transport.Dialer { return firewallDialer{f} }
func (f *firewall) CreateListenConfig(*net.ListenConfig) transport.ListenConfig {
	return firewallListen{f}
}

type firewallDialer struct{ f *firewall }

func (d firewallDialer) Dial(network, address string) (net.Conn, error) {
	return d.f.Dial(network, address)
}

type firewallListen struct{ f *firewall }

func (l firewallListen) Listen(_ context.Context, network, address string) (net.Listener, error) {
	return nil, l.f.refuse("listen " + network + " " + address)
}
func (l firewallListen) ListenPacket(_ context.Context, network, address string) (net.PacketConn, error) {
	return nil, l.f.refuse("listen " + network + " " + address)
}

// A student whose network allows only TCP to one port (the TURN server's) still joins, gets media
// from the instructor and is heard: both peer connections run through the embedded TURN server.
func TestStudentBehindTCPOnlyFirewall(t *testing.T) {
	turnPort := freeTCPPort(t)
	srv := startTestServer(t, func(c *serveConfig) {
		c.TURN = turnConfig{TCPPort: turnPort, TTL: time.Hour, Realm: "chalk"}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	teacherGot := newReceiver()
	teacher, err := client.Dial(ctx, client.Options{URL: srv.wsURL(), Room: "physics", Name: "Teacher",
		Audio: true, Video: true, OnTrack: teacherGot.onTrack})
	if err != nil {
		t.Fatal(err)
	}
	defer teacher.Close()

	std, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	fw := &firewall{Net: std, allow: fmt.Sprintf("127.0.0.1:%d", turnPort)}
	studentGot := newReceiver()
	var videoPT atomic.Uint32
	student, err := client.Dial(ctx, client.Options{URL: srv.wsURL(), Room: "physics", Name: "Student", Audio: true,
		OnTrack: func(info client.TrackInfo, tr *webrtc.TrackRemote) {
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				videoPT.Store(uint32(tr.PayloadType()))
			}
			studentGot.onTrack(info, tr)
		},
		// Candidate network types stay UDP4 (relayed candidates are UDP): adding TCP4 would make Pion
		// answer the SFU's ICE-TCP candidates with active TCP candidates despite the relay policy,
		// dialled outside the firewall's Net. The selected-pair check below catches that.
		ICE: client.ICE{RelayOnly: true, Net: fw},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer student.Close()

	// The joined message hands out the TCP TURN URL with a TURN REST credential for this identity.
	var joined struct {
		Participant struct{ Identity string } `json:"participant"`
		ICEServers  []webrtc.ICEServer        `json:"iceServers"`
	}
	if err := json.Unmarshal(student.Joined, &joined); err != nil {
		t.Fatal(err)
	}
	wantURL := fmt.Sprintf("turn:127.0.0.1:%d?transport=tcp", turnPort)
	if len(joined.ICEServers) != 1 || len(joined.ICEServers[0].URLs) != 1 || joined.ICEServers[0].URLs[0] != wantURL {
		t.Fatalf("iceServers = %+v, want one server %s", joined.ICEServers, wantURL)
	}
	user := joined.ICEServers[0].Username
	if exp, id, ok := strings.Cut(user, ":"); !ok || id != joined.Participant.Identity || exp <= fmt.Sprint(time.Now().Unix()) {
		t.Fatalf("TURN username %q: want <future expiry>:%s", user, joined.Participant.Identity)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // 50 packets/s of each kind, a keyframe every 25 video packets
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for n := uint32(0); n < 3000; n++ { // at most a minute
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			client.WriteSynthetic(teacher.Audio, webrtc.RTPCodecTypeAudio, n, 0)
			client.WriteSynthetic(teacher.Video, webrtc.RTPCodecTypeVideo, n, 25)
			client.WriteSynthetic(student.Audio, webrtc.RTPCodecTypeAudio, n, 0)
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && (studentGot.distinct(webrtc.RTPCodecTypeVideo) < 50 ||
		studentGot.distinct(webrtc.RTPCodecTypeAudio) < 50 || teacherGot.distinct(webrtc.RTPCodecTypeAudio) < 50) {
		time.Sleep(100 * time.Millisecond)
	}
	if v, a, back := studentGot.distinct(webrtc.RTPCodecTypeVideo), studentGot.distinct(webrtc.RTPCodecTypeAudio),
		teacherGot.distinct(webrtc.RTPCodecTypeAudio); v < 50 || a < 50 || back < 50 {
		t.Fatalf("through the relay: student got %d video and %d audio packets, teacher got %d of the student's audio", v, a, back)
	}
	if pt := videoPT.Load(); pt != 96 {
		t.Errorf("video payload type %d, want 96 (VP8)", pt)
	}

	// Both of the student's connections use a relayed candidate, and nothing but the one TCP
	// destination was ever reached.
	for name, pc := range map[string]*webrtc.PeerConnection{"publish": student.PublishConnection(), "subscribe": student.SubscribeConnection()} {
		if typ := selectedLocalType(pc); typ != webrtc.ICECandidateTypeRelay {
			t.Errorf("%s connection: selected local candidate is %v, want relay", name, typ)
		}
	}
	if fw.dialed.Load() == 0 {
		t.Error("the student never dialled the TURN server")
	}
	if n := srv.turn.Allocations(); n < 2 {
		t.Errorf("%d TURN allocations open, want at least 2 (one per peer connection)", n)
	}
	fw.mu.Lock()
	t.Logf("firewall refused %d attempts (e.g. %v); TURN dials: %d", len(fw.refused), first(fw.refused), fw.dialed.Load())
	fw.mu.Unlock()
}

func first(s []string) []string { return s[:min(len(s), 3)] }

func selectedLocalType(pc *webrtc.PeerConnection) webrtc.ICECandidateType {
	stats := pc.GetStats()
	for _, s := range stats {
		if p, ok := s.(webrtc.ICECandidatePairStats); ok && p.Nominated && p.State == webrtc.StatsICECandidatePairStateSucceeded {
			if l, ok := stats[p.LocalCandidateID].(webrtc.ICECandidateStats); ok {
				return l.CandidateType
			}
		}
	}
	return webrtc.ICECandidateTypeUnknown
}

func TestTURNConfig(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		want  string // error text; empty: parses
		check func(*testing.T, turnConfig)
	}{
		{"off by default", nil, nil, "", func(t *testing.T, c turnConfig) {
			if c.embedded() || len(c.URLs) > 0 || c.TTL != time.Hour || c.Realm != "chalk" {
				t.Fatalf("%+v", c)
			}
		}},
		{"from the environment", nil, map[string]string{"CHALK_TURN_TCP_PORT": "443", "CHALK_TURN_TTL": "30m", "CHALK_TURN_HOST": "turn.school.example"}, "", func(t *testing.T, c turnConfig) {
			if !c.embedded() || c.TCPPort != 443 || c.TTL != 30*time.Minute || c.Host != "turn.school.example" {
				t.Fatalf("%+v", c)
			}
		}},
		{"coturn", []string{"-turn-url", "turn:turn.example.org:3478?transport=udp, turns:turn.example.org:443?transport=tcp", "-turn-secret", "s3cret"}, nil, "", func(t *testing.T, c turnConfig) {
			if len(c.URLs) != 2 || c.URLs[1] != "turns:turn.example.org:443?transport=tcp" || c.embedded() {
				t.Fatalf("%+v", c)
			}
		}},
		{"coturn needs the secret", []string{"-turn-url", "turn:turn.example.org:3478"}, nil, "-turn-secret", nil},
		{"bad URL", []string{"-turn-url", "http://turn.example.org", "-turn-secret", "s"}, nil, "-turn-url", nil},
		{"TLS needs a certificate", []string{"-turn-tls-port", "5349"}, nil, "-turn-cert", nil},
		{"bad TTL", nil, map[string]string{"CHALK_TURN_TTL": "an hour"}, "CHALK_TURN_TTL", nil},
		{"bad port", []string{"-turn-udp-port", "70000"}, nil, "not a port", nil},
		{"bad relay IP", []string{"-turn-udp-port", "3478", "-turn-relay-ip", "relay.local"}, nil, "-turn-relay-ip", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c, err := parseServeConfig(append([]string{"-dev"}, tt.args...))
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want one mentioning %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c.TURN)
		})
	}
}

// With an external coturn (use-auth-secret) the joined message carries its URLs and a credential
// that coturn, knowing the same secret, accepts.
func TestJoinedHandsOutCoturnCredentials(t *testing.T) {
	const secret = "coturn-shared-secret"
	urls := []string{"turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:443?transport=tcp"}
	srv := startTestServer(t, func(c *serveConfig) { c.TURN = turnConfig{URLs: urls, Secret: secret, TTL: 10 * time.Minute} })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{URL: srv.wsURL(), Room: "physics", Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var joined struct {
		Participant struct{ Identity string } `json:"participant"`
		ICEServers  []struct {
			URLs       []string `json:"urls"`
			Username   string   `json:"username"`
			Credential string   `json:"credential"`
		} `json:"iceServers"`
	}
	if err := json.Unmarshal(c.Joined, &joined); err != nil {
		t.Fatal(err)
	}
	if len(joined.ICEServers) != 1 || strings.Join(joined.ICEServers[0].URLs, " ") != strings.Join(urls, " ") {
		t.Fatalf("iceServers %+v", joined.ICEServers)
	}
	s := joined.ICEServers[0]
	exp, id, _ := strings.Cut(s.Username, ":")
	expiry, _ := strconv.ParseInt(exp, 10, 64)
	if id != joined.Participant.Identity || time.Until(time.Unix(expiry, 0)) > 10*time.Minute || time.Until(time.Unix(expiry, 0)) < 9*time.Minute {
		t.Fatalf("username %q: want <now+10m>:%s", s.Username, joined.Participant.Identity)
	}
	mac := hmac.New(sha1.New, []byte(secret)) // coturn's check, written out
	mac.Write([]byte(s.Username))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); s.Credential != want {
		t.Fatalf("credential %q, coturn expects %q", s.Credential, want)
	}
}
