package client

import (
	"encoding/binary"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Synthetic media: each payload carries a magic word, a packet number and the send time, so a
// receiver can count loss and duplicates and measure one-way delay. Video payloads start with a VP8
// payload descriptor and header so the SFU's keyframe detection treats them as real VP8.

var magic = [4]byte{'C', 'H', 'L', 'K'}

const markerLen = 4 + 4 + 8

// Marker is what a synthetic payload says about itself.
type Marker struct {
	N      uint32
	SentAt time.Time
}

// SyntheticVP8 builds a VP8 payload of size bytes (at least 2+markerLen) numbered n.
func SyntheticVP8(n uint32, keyframe bool, size int) []byte {
	p := make([]byte, max(size, 2+markerLen))
	p[0] = 0x10 // S=1, PID=0: start of a frame
	if !keyframe {
		p[1] = 0x01 // inverse key frame flag
	}
	putMarker(p[2:], n)
	return p
}

// SyntheticOpus builds an audio payload of size bytes numbered n.
func SyntheticOpus(n uint32, size int) []byte {
	p := make([]byte, max(size, markerLen))
	putMarker(p, n)
	return p
}

func putMarker(p []byte, n uint32) {
	copy(p, magic[:])
	binary.BigEndian.PutUint32(p[4:], n)
	binary.BigEndian.PutUint64(p[8:], uint64(time.Now().UnixNano()))
}

// ParseMarker finds the marker in a synthetic payload of the given kind.
func ParseMarker(kind webrtc.RTPCodecType, payload []byte) (Marker, bool) {
	if kind == webrtc.RTPCodecTypeVideo {
		if len(payload) < 2 {
			return Marker{}, false
		}
		payload = payload[2:]
	}
	if len(payload) < markerLen || [4]byte(payload[:4]) != magic {
		return Marker{}, false
	}
	return Marker{
		N:      binary.BigEndian.Uint32(payload[4:]),
		SentAt: time.Unix(0, int64(binary.BigEndian.Uint64(payload[8:]))),
	}, true
}

// WriteSynthetic sends packet n on t: video with a VP8 keyframe every keyEvery packets.
func WriteSynthetic(t *webrtc.TrackLocalStaticRTP, kind webrtc.RTPCodecType, n uint32, keyEvery uint32) error {
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(n), Marker: true}}
	if kind == webrtc.RTPCodecTypeVideo {
		pkt.PayloadType, pkt.Timestamp = 96, n*3000
		pkt.Payload = SyntheticVP8(n, keyEvery > 0 && n%keyEvery == 0, 1000)
	} else {
		pkt.PayloadType, pkt.Timestamp = 111, n*960
		pkt.Payload = SyntheticOpus(n, 120)
	}
	return t.WriteRTP(pkt)
}
