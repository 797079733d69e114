package main

import (
	"encoding/binary"
	"testing"
	"time"
)

func TestRTPKey(t *testing.T) {
	rtp := []byte{0x80, 96, 0x12, 0x34, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef}
	marked := append([]byte{0x80, 0x80 | 111}, rtp[2:]...)
	for _, tc := range []struct {
		name string
		b    []byte
		ssrc uint32
		seq  uint16
		ok   bool
	}{
		{"rtp", rtp, 0xdeadbeef, 0x1234, true},
		{"rtp with marker bit", marked, 0xdeadbeef, 0x1234, true},
		{"rtcp sender report", []byte{0x80, 200, 0, 6, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0}, 0, 0, false},
		{"rtcp receiver report", []byte{0x81, 201, 0, 7, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0}, 0, 0, false},
		{"stun", []byte{0x00, 0x01, 0, 0, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0}, 0, 0, false},
		{"dtls", []byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0, 0, false},
		{"short", rtp[:11], 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ssrc, seq, ok := rtpKey(tc.b)
			if ok != tc.ok || ssrc != tc.ssrc || seq != tc.seq {
				t.Errorf("rtpKey = %#x, %d, %v; want %#x, %d, %v", ssrc, seq, ok, tc.ssrc, tc.seq, tc.ok)
			}
		})
	}
}

func TestArrivalsRing(t *testing.T) {
	var a arrivals
	a.put(7, 100, 1000)
	a.put(8, 100, 2000) // another stream, same sequence number
	a.put(7, 65535, 3000)
	for _, tc := range []struct {
		name string
		ssrc uint32
		seq  uint16
		at   int64
		ok   bool
	}{
		{"found", 7, 100, 1000, true},
		{"other stream", 8, 100, 2000, true},
		{"wrapping sequence", 7, 65535, 3000, true},
		{"never put", 7, 101, 0, false},
		{"unknown stream", 9, 100, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, ok := a.get(tc.ssrc, tc.seq)
			if ok != tc.ok || (ok && at != tc.at) {
				t.Errorf("get(%d, %d) = %d, %v; want %d, %v", tc.ssrc, tc.seq, at, ok, tc.at, tc.ok)
			}
		})
	}
	// A full lap later the slot holds the newer packet: the old one is a miss, not a wrong time.
	a.put(7, 100+arrivalSlots, 4000)
	if _, ok := a.get(7, 100); ok {
		t.Error("a packet overwritten a lap later was still found")
	}
	if at, ok := a.get(7, 100+arrivalSlots); !ok || at != 4000 {
		t.Errorf("the newer packet: %d, %v", at, ok)
	}
	if n := testing.AllocsPerRun(100, func() { a.put(7, 5, 1); a.get(7, 5) }); n != 0 {
		t.Errorf("put+get allocate %v times", n)
	}
}

// cmsg builds one control message as Linux lays it out on a 64-bit machine.
func cmsg(level, typ int32, data []byte) []byte {
	b := make([]byte, 16, 16+len(data)+8)
	binary.NativeEndian.PutUint64(b, uint64(16+len(data)))
	binary.NativeEndian.PutUint32(b[8:], uint32(level))
	binary.NativeEndian.PutUint32(b[12:], uint32(typ))
	b = append(b, data...)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	return b
}

func timespec(sec, nsec int64) []byte {
	b := make([]byte, 16)
	binary.NativeEndian.PutUint64(b, uint64(sec))
	binary.NativeEndian.PutUint64(b[8:], uint64(nsec))
	return b
}

func TestPacketGap(t *testing.T) {
	for _, tc := range []struct {
		name string
		plan mediaPlan
		want time.Duration
	}{
		{"no pacing", mediaPlan{videoKbps: 1200, fps: 30}, 0},
		// 1100 bytes at 2.5 × 1.2 Mbps: 2.93 ms, so a 5-packet frame spans about 12 ms.
		{"browser pacing", mediaPlan{videoKbps: 1200, fps: 30, pace: 2.5}, 2933333 * time.Nanosecond},
		{"pacing at the bitrate", mediaPlan{videoKbps: 1000, fps: 30, pace: 1}, 8800 * time.Microsecond},
		{"no bitrate", mediaPlan{pace: 2.5}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.plan.packetGap(); got < tc.want-time.Microsecond || got > tc.want+time.Microsecond {
				t.Errorf("packetGap = %v, want %v", got, tc.want)
			}
		})
	}
}
