package sfu

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/transport/v5"
	"golang.org/x/net/ipv4"
)

// batchConn is the media socket with batched writes: while a fan-out loop runs (between begin and
// end), what Pion writes is queued and sent with one sendmmsg when the loop ends, instead of one
// sendto per subscriber. On loopback on this machine kind a sendto costs about 3.9 µs of CPU and a
// packet in a 32-packet sendmmsg about 1.3 µs (chalk-load floor), and the system call is half of the
// server's CPU at 200 subscribers (docs/performance.md). Outside a fan-out loop (RTCP, STUN, DTLS)
// writes go straight out. Queued packets are copies, so Pion may reuse its buffer at once.
//
// It implements Pion ICE's AddrPortReaderWriter, so the UDP mux keeps its allocation-free path.
type batchConn struct {
	*net.UDPConn
	pc *ipv4.PacketConn

	batches atomic.Int64 // sendmmsg calls made (tests)

	mu    sync.Mutex
	depth int // fan-out loops running
	n     int // queued
	msgs  []ipv4.Message
	addrs []net.UDPAddr
	ips   [][4]byte
	bufs  [][1500]byte
}

// batchSize is the most packets one sendmmsg carries; a fuller queue is sent early.
const batchSize = 64

func newBatchConn(c *net.UDPConn) *batchConn {
	b := &batchConn{UDPConn: c, pc: ipv4.NewPacketConn(c),
		msgs: make([]ipv4.Message, batchSize), addrs: make([]net.UDPAddr, batchSize),
		ips: make([][4]byte, batchSize), bufs: make([][1500]byte, batchSize)}
	for i := range b.msgs {
		b.msgs[i].Buffers = make([][]byte, 1)
		b.msgs[i].Addr = &b.addrs[i]
	}
	return b
}

// begin marks the start of a fan-out loop; every begin needs its end.
func (b *batchConn) begin() {
	b.mu.Lock()
	b.depth++
	b.mu.Unlock()
}

// end sends what is queued (this loop's packets and any others written meanwhile).
func (b *batchConn) end() {
	b.mu.Lock()
	b.depth--
	b.flushLocked()
	b.mu.Unlock()
}

// batchGroup is every media socket of the SFU (one per local address without BindIP); a fan-out
// loop batches on all of them, since a subscriber may be reached through any. Its list is fixed once
// New returns; nil means batching is off.
type batchGroup struct {
	conns []*batchConn
}

func (g *batchGroup) begin() {
	if g == nil {
		return
	}
	for _, c := range g.conns {
		c.begin()
	}
}

func (g *batchGroup) end() {
	if g == nil {
		return
	}
	for _, c := range g.conns {
		c.end()
	}
}

// batchNet is the network Pion's multi-socket mux opens its sockets with: standard sockets,
// wrapped for batching.
type batchNet struct {
	transport.Net
	group *batchGroup
}

func (n *batchNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	uc, ok := c.(*net.UDPConn)
	if !ok {
		return c, nil
	}
	b := newBatchConn(uc)
	n.group.conns = append(n.group.conns, b)
	return b, nil
}

// ReadFromAddrPort reads as the mux expects.
func (b *batchConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	return b.UDPConn.ReadFromUDPAddrPort(p)
}

// WriteToAddrPort queues p while a fan-out loop runs, else sends it.
func (b *batchConn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	b.mu.Lock()
	if b.depth == 0 || len(p) > len(b.bufs[0]) || !addr.Addr().Is4() {
		b.mu.Unlock()
		return b.UDPConn.WriteToUDPAddrPort(p, addr)
	}
	i := b.n
	b.ips[i] = addr.Addr().As4()
	b.addrs[i].IP, b.addrs[i].Port = b.ips[i][:], int(addr.Port())
	b.msgs[i].Buffers[0] = b.bufs[i][:copy(b.bufs[i][:], p)]
	b.n++
	if b.n == len(b.msgs) {
		b.flushLocked()
	}
	b.mu.Unlock()
	return len(p), nil
}

// filler writes a packet into a buffer it is given: the fast path's encryption (fastpath.go).
type filler interface {
	fill(dst []byte) ([]byte, error)
}

// writeFilled has f write its packet straight into the next batch slot while a fan-out loop runs,
// saving a copy; otherwise into spare (capacity 1500), sent at once.
func (b *batchConn) writeFilled(addr netip.AddrPort, f filler, spare []byte) (int, error) {
	b.mu.Lock()
	if b.depth == 0 || !addr.Addr().Is4() {
		b.mu.Unlock()
		out, err := f.fill(spare)
		if err != nil {
			return 0, err
		}
		return b.UDPConn.WriteToUDPAddrPort(out, addr)
	}
	i := b.n
	out, err := f.fill(b.bufs[i][:0])
	if err != nil {
		b.mu.Unlock()
		return 0, err
	}
	b.ips[i] = addr.Addr().As4()
	b.addrs[i].IP, b.addrs[i].Port = b.ips[i][:], int(addr.Port())
	b.msgs[i].Buffers[0] = out
	b.n++
	if b.n == len(b.msgs) {
		b.flushLocked()
	}
	b.mu.Unlock()
	return len(out), nil
}

// WriteTo is the net.PacketConn path (the mux uses WriteToAddrPort; this keeps the type complete).
func (b *batchConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if ua, ok := addr.(*net.UDPAddr); ok {
		return b.WriteToAddrPort(p, ua.AddrPort())
	}
	return b.UDPConn.WriteTo(p, addr)
}

// flushLocked sends the queue. A message the kernel refuses (its destination unreachable) is
// skipped, as a failed sendto would lose it; the rest still go.
func (b *batchConn) flushLocked() {
	if b.n > 0 {
		b.batches.Add(1)
	}
	for sent, tries := 0, 0; sent < b.n && tries < batchSize; tries++ {
		k, err := b.pc.WriteBatch(b.msgs[sent:b.n], 0)
		if k > 0 {
			sent += k
		}
		if err != nil {
			sent++ // the message at sent failed
		}
	}
	b.n = 0
}
