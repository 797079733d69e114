package turnserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var secret = []byte("turn-test-secret-0123456789abcdef")

// echo is a stand-in for the SFU's media socket: it answers every datagram with "echo:" + payload.
func echo(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			c.WriteToUDP(append([]byte("echo:"), buf[:n]...), from)
		}
	}()
	return c
}

// clock is a settable Now for the server.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func startServer(t *testing.T, media *net.UDPConn, mutate func(*Config)) *Server {
	t.Helper()
	cfg := Config{
		UDPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0", TLS: selfSigned(t),
		Credentials: Credentials{Secret: secret, TTL: time.Hour},
		RelayIP:     net.IPv4(127, 0, 0, 1), MediaPorts: []int{media.LocalAddr().(*net.UDPAddr).Port},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// dial opens the client side of one transport to the server: a UDP socket, a TCP or a TLS stream.
func dial(t *testing.T, s *Server, transport string) (net.PacketConn, string) {
	t.Helper()
	switch transport {
	case "udp":
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return c, s.UDPAddr().String()
	case "tcp":
		c, err := net.Dial("tcp", s.TCPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		return turn.NewSTUNConn(c), s.TCPAddr().String()
	case "tls":
		c, err := tls.Dial("tcp", s.TLSAddr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		return turn.NewSTUNConn(c), s.TLSAddr().String()
	}
	t.Fatalf("unknown transport %q", transport)
	return nil, ""
}

func newClient(t *testing.T, s *Server, transport, user, pass string) *turn.Client {
	t.Helper()
	conn, addr := dial(t, s, transport)
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn, Username: user, Password: pass, Realm: "chalk",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); conn.Close() })
	return c
}

// roundTrip sends through the relay to peer and returns what comes back and from where.
func roundTrip(t *testing.T, relay net.PacketConn, peer net.Addr, msg string) (string, net.Addr) {
	t.Helper()
	buf := make([]byte, 1500)
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ { // the first datagrams may race the permission
		if _, err := relay.WriteTo([]byte(msg), peer); err != nil {
			t.Fatal(err)
		}
		relay.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, from, err := relay.ReadFrom(buf)
		if err == nil {
			return string(buf[:n]), from
		}
	}
	t.Fatalf("no answer through the relay from %v", peer)
	return "", nil
}

func TestRelayToMediaPort(t *testing.T) {
	media := echo(t)
	s := startServer(t, media, nil)
	for _, transport := range []string{"udp", "tcp", "tls"} {
		t.Run(transport, func(t *testing.T) {
			user, pass := s.cfg.Credentials.Mint("s1234", time.Now())
			relay, err := newClient(t, s, transport, user, pass).Allocate()
			if err != nil {
				t.Fatalf("allocate over %s: %v", transport, err)
			}
			defer relay.Close()
			got, from := roundTrip(t, relay, media.LocalAddr(), "hello")
			if got != "echo:hello" || from.String() != media.LocalAddr().String() {
				t.Fatalf("got %q from %v, want echo:hello from %v", got, from, media.LocalAddr())
			}
		})
	}
	if n := testutil.ToFloat64(s.cfg.Metrics.allocationsTotal); n != 3 {
		t.Errorf("chalk_turn_allocations_total = %v, want 3", n)
	}
}

func TestCredentialsRefused(t *testing.T) {
	media := echo(t)
	clk := &clock{t: time.Now()}
	s := startServer(t, media, func(c *Config) { c.Now = clk.now })
	good, goodPass := s.cfg.Credentials.Mint("s1", clk.now())
	expired, expiredPass := Credentials{Secret: secret, TTL: time.Minute}.Mint("s1", clk.now().Add(-2*time.Minute))
	other, otherPass := Credentials{Secret: []byte("another-secret-0123456789abcdef")}.Mint("s1", clk.now())
	for _, tc := range []struct{ name, user, pass string }{
		{"wrong password", good, goodPass + "x"},
		{"expired", expired, expiredPass},
		{"other secret", other, otherPass},
		{"no expiry", "s1", Credentials{Secret: secret}.Password("s1")},
		{"expiry not a number", "soon:s1", Credentials{Secret: secret}.Password("soon:s1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := testutil.ToFloat64(s.cfg.Metrics.authFailures)
			if relay, err := newClient(t, s, "tcp", tc.user, tc.pass).Allocate(); err == nil {
				relay.Close()
				t.Fatal("allocation succeeded")
			}
			if after := testutil.ToFloat64(s.cfg.Metrics.authFailures); after <= before {
				t.Errorf("auth failures %v → %v, want an increase", before, after)
			}
		})
	}
	if n := s.turn.AllocationCount(); n != 0 {
		t.Fatalf("%d allocations open", n)
	}
}

// A credential that expires during a class keeps its allocation alive (permissions, refreshes), but
// cannot open a new one.
func TestExpiredCredentialKeepsItsAllocation(t *testing.T) {
	media := echo(t)
	clk := &clock{t: time.Now()}
	s := startServer(t, media, func(c *Config) { c.Now = clk.now })
	user, pass := s.cfg.Credentials.Mint("s1", clk.now())
	c := newClient(t, s, "udp", user, pass)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	clk.add(2 * time.Hour)
	// A new permission is an authenticated request made after expiry.
	if err := c.CreatePermission(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 9}); err != nil {
		t.Fatalf("permission on an allocation opened in time: %v", err)
	}
	if got, _ := roundTrip(t, relay, media.LocalAddr(), "still"); got != "echo:still" {
		t.Fatalf("got %q", got)
	}
	if relay2, err := newClient(t, s, "udp", user, pass).Allocate(); err == nil {
		relay2.Close()
		t.Fatal("an expired credential opened a new allocation")
	}
}

// The relay reaches this node's media port only: a datagram for any other port is dropped.
func TestRelayRefusesOtherPeers(t *testing.T) {
	media := echo(t)
	other := echo(t) // e.g. Redis or MinIO in the cluster
	s := startServer(t, media, nil)
	user, pass := s.cfg.Credentials.Mint("s1", time.Now())
	relay, err := newClient(t, s, "udp", user, pass).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	roundTrip(t, relay, media.LocalAddr(), "ok") // the relay works
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(s.cfg.Metrics.relayDropped) == 0 && time.Now().Before(deadline) {
		relay.WriteTo([]byte("probe"), other.LocalAddr())
		time.Sleep(20 * time.Millisecond)
	}
	if testutil.ToFloat64(s.cfg.Metrics.relayDropped) == 0 {
		t.Fatal("a datagram to another port was not dropped")
	}
	relay.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, from, err := relay.ReadFrom(make([]byte, 1500)); err == nil {
		t.Fatalf("got %d bytes from %v through the relay", n, from)
	}
}

// With a 1:1 NAT the client addresses the SFU's public IP; the relay reaches it locally and the
// replies carry the public address, so the client's permission for it matches.
func TestRelayMapsPublicAddress(t *testing.T) {
	media := echo(t)
	public := net.IPv4(203, 0, 113, 7) // TEST-NET-3: never routed
	s := startServer(t, media, func(c *Config) { c.PublicIPs = []net.IP{public} })
	user, pass := s.cfg.Credentials.Mint("s1", time.Now())
	relay, err := newClient(t, s, "tcp", user, pass).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	peer := &net.UDPAddr{IP: public, Port: media.LocalAddr().(*net.UDPAddr).Port}
	got, from := roundTrip(t, relay, peer, "nat")
	if got != "echo:nat" || from.String() != peer.String() {
		t.Fatalf("got %q from %v, want echo:nat from %v", got, from, peer)
	}
}

func TestAllocationQuota(t *testing.T) {
	media := echo(t)
	s := startServer(t, media, func(c *Config) { c.MaxAllocations = 2 })
	user, pass := s.cfg.Credentials.Mint("s1", time.Now())
	for i := 0; i < 2; i++ {
		relay, err := newClient(t, s, "udp", user, pass).Allocate()
		if err != nil {
			t.Fatalf("allocation %d: %v", i+1, err)
		}
		defer relay.Close()
	}
	if relay, err := newClient(t, s, "udp", user, pass).Allocate(); err == nil {
		relay.Close()
		t.Fatal("a third allocation for one identity was allowed")
	}
	other, otherPass := s.cfg.Credentials.Mint("s2", time.Now())
	relay, err := newClient(t, s, "udp", other, otherPass).Allocate()
	if err != nil {
		t.Fatalf("another identity: %v", err)
	}
	relay.Close()
}

func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "turn.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}
