package sfu

import (
	"time"

	"github.com/pion/rtp"
)

// munger keeps what one subscriber receives a single continuous stream while the SFU changes what
// feeds it (a simulcast layer switch, video held back and let through again). Each stretch of one
// source stream (a segment) maps into the subscriber's stream by fixed offsets, chosen when the
// segment starts so that its first packet follows the last one sent: sequence number +1, timestamp
// advanced by the wall time between them, VP8 picture id and TL0PICIDX +1. The first segment keeps
// the source's numbers (offsets 0), so a track that never switches is forwarded unchanged.
// Owned by the DownTrack, under its lock.
type munger struct {
	started  bool
	seqOff   uint16
	tsOff    uint32
	picOff   uint16
	tl0Off   uint8
	segStart uint16 // the first sequence number (as sent) of the current segment

	lastSeq uint16 // the newest packet sent
	lastTS  uint32
	lastAt  time.Time // when a frame (marker packet) was last sent
	lastPic uint16
	lastTl0 uint8
	hasPic  bool
}

// rebase starts a new segment at pkt. Called before rewrite for the segment's first packet.
func (m *munger) rebase(h *rtp.Header, payload []byte, clockRate uint32, vp8 bool) {
	if !m.started {
		return
	}
	next := m.lastSeq + 1
	m.seqOff = next - h.SequenceNumber
	m.segStart = next
	step := uint32(1)
	if !m.lastAt.IsZero() && clockRate > 0 {
		if ticks := uint64(time.Since(m.lastAt)) * uint64(clockRate) / uint64(time.Second); ticks > 0 {
			step = uint32(ticks)
		}
	}
	m.tsOff = m.lastTS + step - h.Timestamp
	if !vp8 {
		return
	}
	picAt, picLen, tl0At, _, ok := vp8Descriptor(payload)
	if !ok {
		return
	}
	if picLen > 0 && m.hasPic {
		m.picOff = m.lastPic + 1 - readPic(payload, picAt, picLen)
	}
	if tl0At > 0 {
		m.tl0Off = m.lastTl0 + 1 - payload[tl0At]
	}
}

// rewrite applies the offsets to h and returns the payload to send: the original, or a copy in
// scratch when the VP8 descriptor changes. It records what was sent for the next rebase.
func (m *munger) rewrite(h *rtp.Header, payload, scratch []byte, vp8 bool) []byte {
	if !m.started {
		m.started = true
		m.segStart = h.SequenceNumber
		m.lastSeq = h.SequenceNumber - 1
	}
	h.SequenceNumber += m.seqOff
	h.Timestamp += m.tsOff
	if d := h.SequenceNumber - m.lastSeq; d != 0 && d < 0x8000 {
		m.lastSeq, m.lastTS = h.SequenceNumber, h.Timestamp
	}
	if h.Marker {
		m.lastAt = time.Now()
	}
	if !vp8 {
		return payload
	}
	picAt, picLen, tl0At, _, ok := vp8Descriptor(payload)
	if !ok || picLen == 0 && tl0At == 0 {
		return payload
	}
	out := payload
	if (m.picOff != 0 && picLen > 0 || m.tl0Off != 0 && tl0At > 0) && len(payload) <= len(scratch) {
		out = scratch[:copy(scratch, payload)]
		m.patch(out, picAt, picLen, tl0At)
	}
	if picLen > 0 {
		m.lastPic, m.hasPic = readPic(out, picAt, picLen), true
	}
	if tl0At > 0 {
		m.lastTl0 = out[tl0At]
	}
	return out
}

// replay applies the current offsets to a retransmitted packet (its payload is the caller's copy)
// without recording it as sent.
func (m *munger) replay(h *rtp.Header, payload []byte, vp8 bool) []byte {
	h.SequenceNumber += m.seqOff
	h.Timestamp += m.tsOff
	if vp8 {
		if picAt, picLen, tl0At, _, ok := vp8Descriptor(payload); ok {
			m.patch(payload, picAt, picLen, tl0At)
		}
	}
	return payload
}

func (m *munger) patch(p []byte, picAt, picLen, tl0At int) {
	if picLen > 0 && m.picOff != 0 {
		writePic(p, picAt, picLen, readPic(p, picAt, picLen)+m.picOff)
	}
	if tl0At > 0 {
		p[tl0At] += m.tl0Off
	}
}

func readPic(p []byte, at, n int) uint16 {
	if n == 1 {
		return uint16(p[at] & 0x7f)
	}
	return uint16(p[at]&0x7f)<<8 | uint16(p[at+1])
}

func writePic(p []byte, at, n int, v uint16) {
	if n == 1 {
		p[at] = byte(v & 0x7f)
		return
	}
	p[at] = 0x80 | byte(v>>8)&0x7f
	p[at+1] = byte(v)
}
