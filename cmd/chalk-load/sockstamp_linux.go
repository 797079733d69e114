//go:build linux

package main

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"unsafe"
)

// stampConn is a client's UDP socket with kernel receive timestamps (SO_TIMESTAMPNS): each RTP
// datagram's arrival goes into the receiver's ring. Only Pion's mux goroutine reads it, so one oob
// buffer serves every read. It implements Pion ICE's AddrPortReaderWriter, so the mux keeps its
// allocation-free path.
type stampConn struct {
	*net.UDPConn
	ring *arrivals
	oob  [64]byte
}

// stampSocket wraps c to record arrivals into ring; c unchanged if the kernel refuses timestamps.
func stampSocket(c *net.UDPConn, ring *arrivals) net.PacketConn {
	raw, err := c.SyscallConn()
	if err != nil {
		return c
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return c
	}
	return &stampConn{UDPConn: c, ring: ring}
}

func (s *stampConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	n, oobn, _, addr, err := s.UDPConn.ReadMsgUDPAddrPort(p, s.oob[:])
	if err != nil {
		return n, addr, err
	}
	if ssrc, seq, ok := rtpKey(p[:n]); ok {
		if at, ok := kernelStamp(s.oob[:oobn]); ok {
			s.ring.put(ssrc, seq, at-wallOffset)
		}
	}
	return n, addr, nil
}

func (s *stampConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := s.ReadFromAddrPort(p)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(addr), nil
}

func (s *stampConn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	return s.UDPConn.WriteToUDPAddrPort(p, addr)
}

// kernelStamp finds the SCM_TIMESTAMPNS control message in oob and returns its time (unix ns).
// Parsed in place, by bytes (the buffer need not be aligned): syscall.ParseSocketControlMessage
// allocates per call.
func kernelStamp(oob []byte) (int64, bool) {
	const hdr = syscall.SizeofCmsghdr
	word := int(unsafe.Sizeof(uintptr(0))) // cmsg_len and the timespec's fields are this wide
	for len(oob) >= hdr {
		l := int(nativeUint(oob[:word]))
		level := int32(binary.NativeEndian.Uint32(oob[word:]))
		typ := int32(binary.NativeEndian.Uint32(oob[word+4:]))
		if l < hdr || l > len(oob) {
			return 0, false
		}
		if level == syscall.SOL_SOCKET && typ == syscall.SCM_TIMESTAMPNS && l >= hdr+2*word {
			sec := int64(nativeUint(oob[hdr : hdr+word]))
			nsec := int64(nativeUint(oob[hdr+word : hdr+2*word]))
			return sec*1e9 + nsec, true
		}
		oob = oob[min((l+word-1)&^(word-1), len(oob)):]
	}
	return 0, false
}

func nativeUint(b []byte) uint64 {
	if len(b) == 8 {
		return binary.NativeEndian.Uint64(b)
	}
	return uint64(int64(int32(binary.NativeEndian.Uint32(b))))
}
