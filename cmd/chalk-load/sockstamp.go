package main

import (
	"sync"
	"time"
)

// Socket latency: when each packet reached the subscriber's socket, by the kernel's receive
// timestamp, so one-way latency can be read without the load generator's own user-space queueing
// (ICE read goroutine → DTLS/SRTP mux → SRTP session → track read, on one core shared by every
// subscriber). The RTP header is clear text in SRTP: the socket wrapper (sockstamp_linux.go) notes
// (SSRC, sequence number) → arrival in the receiver's arrivals ring, and the receiver, after
// decrypting the packet and reading its send time, looks the arrival up.

// wallOffset converts a CLOCK_REALTIME time (unix ns, what the kernel stamps) to the process's
// monotonic clock (now()): one offset taken at start, so a wall-clock step during a run would show;
// a slew over a run of minutes is far below the histogram's resolution.
var wallOffset = func() int64 {
	t := time.Now()
	return t.UnixNano() - int64(t.Sub(epoch))
}()

// arrivalSlots is the ring's size: about 5 s of a 1.2 Mbps camera and its microphone, far more than
// a packet spends between the socket and the track read.
const arrivalSlots = 1024

// arrivals maps a received packet's (SSRC, sequence number) to its kernel arrival time in a fixed
// ring: a newer packet that hashes to the same slot replaces an older one, so memory is bounded and
// nothing is allocated per packet. A lookup that finds another packet in the slot is a miss.
type arrivals struct {
	mu    sync.Mutex
	slots [arrivalSlots]arrival
}

type arrival struct {
	key uint64 // 1<<48 | ssrc<<16 | seq; 0: empty
	at  int64  // ns on the monotonic clock (now())
}

func arrivalKey(ssrc uint32, seq uint16) (uint64, int) {
	// Consecutive sequence numbers of one stream take consecutive slots; streams start apart.
	i := (uint32(seq) + ssrc*2654435761) % arrivalSlots
	return 1<<48 | uint64(ssrc)<<16 | uint64(seq), int(i)
}

func (a *arrivals) put(ssrc uint32, seq uint16, at int64) {
	k, i := arrivalKey(ssrc, seq)
	a.mu.Lock()
	a.slots[i] = arrival{key: k, at: at}
	a.mu.Unlock()
}

// get returns when the packet arrived, if it is still in the ring.
func (a *arrivals) get(ssrc uint32, seq uint16) (int64, bool) {
	k, i := arrivalKey(ssrc, seq)
	a.mu.Lock()
	s := a.slots[i]
	a.mu.Unlock()
	return s.at, s.key == k
}

// rtpKey returns the SSRC and sequence number of an RTP (or SRTP) datagram; ok is false for
// anything else on the socket: STUN, DTLS, RTCP (RFC 7983 and RFC 5761 demultiplexing).
func rtpKey(b []byte) (ssrc uint32, seq uint16, ok bool) {
	if len(b) < 12 || b[0] < 128 || b[0] > 191 || (b[1] >= 192 && b[1] <= 223) {
		return 0, 0, false
	}
	return uint32(b[8])<<24 | uint32(b[9])<<16 | uint32(b[10])<<8 | uint32(b[11]), uint16(b[2])<<8 | uint16(b[3]), true
}
