package sfu

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pion/rtp"
)

// gcmSender is the fast path's SRTP sender for AEAD_AES_128_GCM and AEAD_AES_256_GCM (RFC 7714),
// the profiles browsers negotiate with Pion. It does what Pion's srtp.Context.EncryptRTP does for
// those profiles (same bytes: TestGCMSenderMatchesPion) without its per-packet overhead, which was
// most of the cost of a copy in a lecture of 200: the header parsed again from the bytes just
// marshalled, a map lookup per SSRC in a per-connection map (a cache miss when each forwarded
// packet touches 200 connections), and the payload copied before sealing. Here the header is
// marshalled into the batch slot and the payload sealed from where it is straight after it.
//
// Only what the SFU sends: no MKI, no RCC (ROC in the tag), no cryptex, no SRTCP (Pion's context
// keeps RTCP), KDR 0. Not goroutine-safe: fastConn.mu serialises it.
type gcmSender struct {
	aead cipher.AEAD
	salt [12]byte // session salt
	iv   [12]byte // scratch: a field, so passing it to the AEAD does not allocate
	// rollover state per outgoing SSRC: a connection sends few SSRCs, so a slice scanned linearly
	// rather than a map; last is where the previous hit was. Its first entries are in the sender
	// itself (inline), next to what the packet touches anyway: in a lecture, the state was a
	// cache miss of its own (3 % of the server's CPU in a profile) when it had its own allocation.
	ssrcs  []ssrcIndex
	last   int
	inline [4]ssrcIndex
}

// ssrcIndex is one SSRC's highest packet index sent (RFC 3711 §3.3.1: ROC<<16 | SEQ).
type ssrcIndex struct {
	ssrc    uint32
	started bool
	index   uint64
}

const gcmTagLen = 16

var errSRTPExhausted = errors.New("sfu: SRTP: 2^48 packets sent with one key")

// newGCMSender derives the SRTP session key and salt from the master key and salt (RFC 3711 §4.3,
// AES-CM PRF, KDR 0) and makes the cipher. keyLen 16 is AEAD_AES_128_GCM, 32 AEAD_AES_256_GCM;
// the master salt is 12 bytes (RFC 7714 §12).
func newGCMSender(masterKey, masterSalt []byte) (*gcmSender, error) {
	if n := len(masterKey); n != 16 && n != 32 {
		return nil, fmt.Errorf("sfu: SRTP GCM: master key of %d bytes", n)
	}
	if len(masterSalt) != 12 {
		return nil, fmt.Errorf("sfu: SRTP GCM: master salt of %d bytes", len(masterSalt))
	}
	key, err := srtpKDF(masterKey, masterSalt, labelSRTPKey, len(masterKey))
	if err != nil {
		return nil, err
	}
	salt, err := srtpKDF(masterKey, masterSalt, labelSRTPSalt, 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sfu: SRTP GCM: %w", err)
	}
	aead, err := cipher.NewGCM(block) // 12-byte nonce, 16-byte tag: RFC 7714's
	if err != nil {
		return nil, fmt.Errorf("sfu: SRTP GCM: %w", err)
	}
	g := &gcmSender{aead: aead}
	g.ssrcs = g.inline[:0]
	copy(g.salt[:], salt)
	return g, nil
}

// SRTP KDF labels (RFC 3711 §4.3.2).
const (
	labelSRTPKey  = 0x00
	labelSRTPSalt = 0x02
)

// srtpKDF is the AES-CM PRF of RFC 3711 §4.3.3 with KDR 0: x = label<<48 XOR master salt, and the
// output the AES-CM key stream of the master key from IV x*2^16. The label sits in byte 7 of the
// salt (the salt is 112 bits in RFC 3711; RFC 7714's 96-bit salts are placed the same way, as
// Pion and libsrtp do).
func srtpKDF(masterKey, masterSalt []byte, label byte, n int) ([]byte, error) {
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, fmt.Errorf("sfu: SRTP KDF: %w", err)
	}
	var in [16]byte
	copy(in[:14], masterSalt)
	in[7] ^= label
	out := make([]byte, (n+15)/16*16)
	for i := 0; i*16 < n; i++ {
		binary.BigEndian.PutUint16(in[14:], uint16(i))
		block.Encrypt(out[i*16:], in[:])
	}
	return out[:n], nil
}

// seal writes h and payload as an SRTP packet into dst (appended from dst[:0], capacity needed:
// h.MarshalSize()+len(payload)+16): the header in clear, which is also the AEAD's additional data,
// then the payload sealed straight from where it is, then the tag. payload must not overlap dst.
// Nothing is allocated.
func (g *gcmSender) seal(dst []byte, h *rtp.Header, payload []byte) ([]byte, error) {
	hl := h.MarshalSize()
	if cap(dst) < hl+len(payload)+gcmTagLen {
		return nil, errTooLarge
	}
	hdr := dst[:hl]
	if _, err := h.MarshalTo(hdr); err != nil {
		return nil, err
	}
	roc, err := g.rollover(h.SSRC, h.SequenceNumber)
	if err != nil {
		return nil, err
	}
	// IV = salt XOR (00 00 || SSRC || ROC || SEQ), RFC 7714 §8.1.
	g.iv = g.salt
	iv := g.iv[:]
	binary.BigEndian.PutUint32(iv[2:6], binary.BigEndian.Uint32(iv[2:6])^h.SSRC)
	binary.BigEndian.PutUint32(iv[6:10], binary.BigEndian.Uint32(iv[6:10])^roc)
	binary.BigEndian.PutUint16(iv[10:12], binary.BigEndian.Uint16(iv[10:12])^h.SequenceNumber)
	return g.aead.Seal(hdr, iv, payload, hdr), nil
}

// rollover is the ROC to send seq of ssrc with, and records the packet: the index estimation of
// RFC 3711 §3.3.1 as Pion's Context does it (srtpSSRCState.nextRolloverCount and
// updateRolloverCount), so that a retransmission of a packet from before a sequence-number wrap
// gets the old ROC, and our packets carry the same ROC Pion's would (a receiver estimates it the
// same way). Like Pion's, until the first packet is past 2^15 no older ROC is guessed.
func (g *gcmSender) rollover(ssrc uint32, sequenceNumber uint16) (uint32, error) {
	s := g.state(ssrc)
	if !s.started {
		s.index |= uint64(sequenceNumber)
		s.started = true
		return uint32(s.index >> 16), nil
	}
	const median, span = 1 << 15, 1 << 16
	seq := int32(sequenceNumber)
	localRoc := uint32(s.index >> 16)
	localSeq := int32(s.index & (span - 1))
	roc, diff := localRoc, seq-localSeq
	if s.index > median {
		switch {
		case localSeq < median && seq-localSeq > median:
			roc, diff = localRoc-1, seq-localSeq-span // older, from before the last wrap
		case localSeq >= median && localSeq-median > seq:
			roc, diff = localRoc+1, seq-localSeq+span // newer, past a wrap
		}
	}
	if roc == 0 && localRoc == 1<<32-1 {
		return 0, errSRTPExhausted // RFC 3711 §9.2: rekey or stop
	}
	if diff > 0 {
		s.index += uint64(diff)
	}
	return roc, nil
}

// state is ssrc's entry, added on first use.
func (g *gcmSender) state(ssrc uint32) *ssrcIndex {
	if g.last < len(g.ssrcs) && g.ssrcs[g.last].ssrc == ssrc {
		return &g.ssrcs[g.last]
	}
	for i := range g.ssrcs {
		if g.ssrcs[i].ssrc == ssrc {
			g.last = i
			return &g.ssrcs[i]
		}
	}
	g.ssrcs = append(g.ssrcs, ssrcIndex{ssrc: ssrc})
	g.last = len(g.ssrcs) - 1
	return &g.ssrcs[g.last]
}
