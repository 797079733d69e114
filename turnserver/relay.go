package turnserver

import (
	"errors"
	"net"
	"slices"

	"github.com/pion/turn/v5"
)

// relayGenerator opens each allocation's relay socket on a local address the SFU listens on, and
// wraps it so the relay talks to this node's media port only.
//
// Why only the media port: a TURN server relays to any address a client asks for, so inside a
// cluster it would let a student reach Redis, MinIO or the Kubernetes API from the outside. Chalk's
// clients need a relay to exactly one peer, the SFU, so every other destination is dropped.
//
// Why the address rewrite: with a 1:1 NAT (CHALK_PUBLIC_IP) the SFU advertises only its public
// address, and the relay, on the same host, would have to reach it through the NAT (hairpinning,
// which many clouds do not do). The relay sends datagrams for a public media address to the local
// one instead, and reports the replies as coming from the public address, so the client's TURN
// permissions (made for the public address) match.
type relayGenerator struct {
	ip         net.IP   // the relay sockets' local address; the SFU must listen on it
	mediaPorts []int    // the SFU's UDP media ports: the only peers relayed to
	public     []net.IP // the SFU's advertised public addresses, all reached at ip
	metrics    *Metrics
}

var errTCPRelay = errors.New("turnserver: TCP relay allocations (RFC 6062) are not offered")

func (g *relayGenerator) Validate() error {
	if g.ip == nil || g.ip.IsUnspecified() {
		return errors.New("turnserver: the relay IP must be a concrete local address")
	}
	if len(g.mediaPorts) == 0 {
		return errors.New("turnserver: no media port to relay to")
	}
	return nil
}

func (g *relayGenerator) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	network := "udp4"
	if g.ip.To4() == nil {
		network = "udp6"
	}
	conn, err := net.ListenUDP(network, &net.UDPAddr{IP: g.ip, Port: conf.RequestedPort})
	if err != nil {
		return nil, nil, err
	}
	return &relayConn{UDPConn: conn, g: g}, conn.LocalAddr(), nil
}

func (g *relayGenerator) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errTCPRelay
}

func (g *relayGenerator) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, errTCPRelay
}

func (g *relayGenerator) isPublic(ip net.IP) bool {
	return slices.ContainsFunc(g.public, ip.Equal)
}

// relayConn is one allocation's relay socket, limited to the media port (see relayGenerator).
type relayConn struct {
	*net.UDPConn
	g *relayGenerator
}

func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok || !slices.Contains(c.g.mediaPorts, ua.Port) {
		c.g.metrics.relayDropped.Inc()
		return len(p), nil // UDP semantics: a datagram may vanish; the client learns nothing more
	}
	if c.g.isPublic(ua.IP) {
		ua = &net.UDPAddr{IP: c.g.ip, Port: ua.Port}
	}
	return c.UDPConn.WriteTo(p, ua)
}

func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, ua, err := c.UDPConn.ReadFromUDP(p)
		if err != nil {
			return n, nil, err
		}
		if !slices.Contains(c.g.mediaPorts, ua.Port) {
			c.g.metrics.relayDropped.Inc()
			continue // each pass consumes a datagram; the loop ends when the socket closes
		}
		if len(c.g.public) > 0 && ua.IP.Equal(c.g.ip) {
			return n, &net.UDPAddr{IP: c.g.public[0], Port: ua.Port}, nil
		}
		return n, ua, nil
	}
}
