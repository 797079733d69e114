// Package turnserver is Chalk's embedded TURN server (RFC 8656, on Pion's turn package), for
// students behind firewalls that allow only TCP or TLS to a few ports: clients reach it over UDP,
// TCP or TLS, and it relays their media to this node's SFU and nowhere else. Credentials are
// short-lived and stateless (TURN REST, see Credentials), so an external coturn with the same
// shared secret accepts the same credentials.
package turnserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"

	"github.com/chalk-edu/chalk/sfu"
)

// Config says where the server listens and what it relays to.
type Config struct {
	// UDPAddr, TCPAddr and TLSAddr are listen addresses (":3478", "127.0.0.1:0"); empty: off.
	UDPAddr, TCPAddr, TLSAddr string
	TLS                       *tls.Config // the certificate for TLSAddr
	Realm                     string
	Credentials               Credentials
	// RelayIP is the local address relay sockets use; the SFU must listen on it (see relayGenerator).
	RelayIP net.IP
	// MediaPorts are the SFU's UDP media ports, the only peers relayed to.
	MediaPorts []int
	// PublicIPs are the SFU's advertised 1:1 NAT addresses; the relay reaches them at RelayIP.
	PublicIPs []net.IP
	// MaxAllocations bounds the open allocations per identity (default 16: two peer connections,
	// three transports, ICE restarts).
	MaxAllocations int
	Logger         *slog.Logger
	Metrics        *Metrics
	Now            func() time.Time // tests; default time.Now
}

// Server is a running TURN server.
type Server struct {
	cfg  Config
	log  *slog.Logger
	turn *turn.Server
	udp  net.PacketConn
	tcp  net.Listener
	tls  net.Listener

	mu    sync.Mutex
	perID map[string]int // open allocations per identity
}

// New opens the listeners and starts serving.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Realm == "" {
		cfg.Realm = "chalk"
	}
	if cfg.MaxAllocations == 0 {
		cfg.MaxAllocations = 16
	}
	if len(cfg.Credentials.Secret) == 0 {
		return nil, errors.New("turnserver: a shared secret is required")
	}
	if cfg.UDPAddr == "" && cfg.TCPAddr == "" && cfg.TLSAddr == "" {
		return nil, errors.New("turnserver: no listen address")
	}
	if cfg.TLSAddr != "" && cfg.TLS == nil {
		return nil, errors.New("turnserver: a TLS listener needs a certificate")
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "turn"), perID: map[string]int{}}
	gen := &relayGenerator{ip: cfg.RelayIP, mediaPorts: cfg.MediaPorts, public: cfg.PublicIPs, metrics: cfg.Metrics}
	if err := gen.Validate(); err != nil {
		return nil, err
	}
	sc := turn.ServerConfig{
		Realm:         cfg.Realm,
		AuthHandler:   s.auth,
		QuotaHandler:  s.quota,
		LoggerFactory: sfu.PionLogger(s.log, true), // Pion's TURN warnings are per-packet chatter
		EventHandler: turn.EventHandler{
			OnAuth:              s.onAuth,
			OnAllocationCreated: s.onAllocationCreated,
			OnAllocationDeleted: s.onAllocationDeleted,
		},
	}
	var err error
	if cfg.UDPAddr != "" {
		if s.udp, err = net.ListenPacket("udp", cfg.UDPAddr); err != nil {
			s.Close()
			return nil, fmt.Errorf("turnserver: listen on UDP %s: %w", cfg.UDPAddr, err)
		}
		sc.PacketConnConfigs = append(sc.PacketConnConfigs, turn.PacketConnConfig{PacketConn: s.udp, RelayAddressGenerator: gen})
	}
	if cfg.TCPAddr != "" {
		if s.tcp, err = net.Listen("tcp", cfg.TCPAddr); err != nil {
			s.Close()
			return nil, fmt.Errorf("turnserver: listen on TCP %s: %w", cfg.TCPAddr, err)
		}
		sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{Listener: s.tcp, RelayAddressGenerator: gen})
	}
	if cfg.TLSAddr != "" {
		if s.tls, err = tls.Listen("tcp", cfg.TLSAddr, cfg.TLS); err != nil {
			s.Close()
			return nil, fmt.Errorf("turnserver: listen on TLS %s: %w", cfg.TLSAddr, err)
		}
		sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{Listener: s.tls, RelayAddressGenerator: gen})
	}
	if s.turn, err = turn.NewServer(sc); err != nil {
		s.Close()
		return nil, fmt.Errorf("turnserver: %w", err)
	}
	return s, nil
}

// UDPAddr, TCPAddr and TLSAddr are the bound listen addresses (nil when off).
func (s *Server) UDPAddr() net.Addr { return addrOf(s.udp) }
func (s *Server) TCPAddr() net.Addr { return listenerAddr(s.tcp) }
func (s *Server) TLSAddr() net.Addr { return listenerAddr(s.tls) }

func addrOf(c net.PacketConn) net.Addr {
	if c == nil {
		return nil
	}
	return c.LocalAddr()
}

func listenerAddr(l net.Listener) net.Addr {
	if l == nil {
		return nil
	}
	return l.Addr()
}

// Allocations is the number of relay allocations open now.
func (s *Server) Allocations() int { return s.turn.AllocationCount() }

// Close stops the server and closes every allocation.
func (s *Server) Close() error {
	if s.turn != nil {
		return s.turn.Close() // closes the listeners too
	}
	var errs []error // New failed half-way: close what it opened
	for _, c := range []interface{ Close() error }{s.udp, s.tcp, s.tls} {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// auth returns the key for a request's username. Pion then checks the request's MESSAGE-INTEGRITY
// with it, which is where a wrong password is refused.
func (s *Server) auth(ra *turn.RequestAttributes) (string, []byte, bool) {
	identity, err := s.cfg.Credentials.Check(ra.Username, s.cfg.Now(), ra.Method == stun.MethodAllocate)
	if err != nil {
		s.log.Info("TURN credential refused", "username", ra.Username, "from", ra.SrcAddr, "err", err)
		s.cfg.Metrics.authFailures.Inc() // Pion reports only integrity failures to onAuth
		return "", nil, false
	}
	return identity, turn.GenerateAuthKey(ra.Username, s.cfg.Realm, s.cfg.Credentials.Password(ra.Username)), true
}

// quota is asked with the identity auth returned.
func (s *Server) quota(identity, _ string, _ net.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perID[identity] < s.cfg.MaxAllocations
}

// onAuth sees requests whose username auth accepted; !ok is a wrong password.
func (s *Server) onAuth(_, _ net.Addr, _, _, _, _ string, ok bool) {
	if !ok {
		s.cfg.Metrics.authFailures.Inc()
	}
}

func (s *Server) onAllocationCreated(src, _ net.Addr, protocol, identity, _ string, relay net.Addr, _ int) {
	s.mu.Lock()
	s.perID[identity]++
	s.mu.Unlock()
	s.cfg.Metrics.allocations.Inc()
	s.cfg.Metrics.allocationsTotal.Inc()
	s.log.Debug("TURN allocation", "identity", identity, "from", src, "transport", protocol, "relay", relay)
}

func (s *Server) onAllocationDeleted(src, _ net.Addr, _, identity, _ string) {
	s.mu.Lock()
	if s.perID[identity]--; s.perID[identity] <= 0 {
		delete(s.perID, identity)
	}
	s.mu.Unlock()
	s.cfg.Metrics.allocations.Dec()
}
