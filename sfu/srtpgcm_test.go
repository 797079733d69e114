package sfu

import (
	"bytes"
	"fmt"
	"math/rand"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A sent packet in the sequences below.
type gcmStep struct {
	ssrc uint32
	seq  uint16
	ext  bool // a one-byte header extension
	csrc int  // CSRCs
	size int  // payload bytes
}

func steps(ssrc uint32, seqs ...uint16) []gcmStep {
	out := make([]gcmStep, len(seqs))
	for i, s := range seqs {
		out[i] = gcmStep{ssrc: ssrc, seq: s, size: 100 + int(s)%900}
	}
	return out
}

func seqRange(from uint16, n int) []uint16 {
	out := make([]uint16, n)
	for i := range out {
		out[i] = from + uint16(i)
	}
	return out
}

func gcmHeader(st gcmStep) rtp.Header {
	h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: st.seq, Timestamp: 90000 + uint32(st.seq)*3000, SSRC: st.ssrc, Marker: st.seq%7 == 0}
	for i := 0; i < st.csrc; i++ {
		h.CSRC = append(h.CSRC, 0x1000+uint32(i))
	}
	if st.ext {
		if err := h.SetExtension(1, []byte{byte(st.seq), 0xab}); err != nil {
			panic(err)
		}
		if err := h.SetExtension(3, []byte{1, 2, 3, 4, 5}); err != nil {
			panic(err)
		}
	}
	return h
}

// Our GCM sender's packets are byte for byte what Pion's srtp.Context.EncryptRTP makes from the
// same master key and salt and the same packets, and Pion's DecryptRTP opens them: across sequence
// number wraps, retransmissions of packets from either side of a wrap, interleaved SSRCs, header
// extensions and CSRCs, with 128- and 256-bit keys.
func TestGCMSenderMatchesPion(t *testing.T) {
	var wrap []gcmStep
	wrap = append(wrap, steps(0x1111, seqRange(65500, 36)...)...) // 65500 .. 65535
	wrap = append(wrap, steps(0x1111, seqRange(0, 20)...)...)     // past the wrap: ROC 1
	wrap = append(wrap, steps(0x1111, 65510, 65535, 3, 65520)...) // resends from both sides
	wrap = append(wrap, steps(0x1111, seqRange(20, 5)...)...)

	var multi []gcmStep
	for i := 0; i < 40; i++ {
		for k, base := range []uint16{65530, 100, 40000} {
			st := gcmStep{ssrc: 0xa0000000 + uint32(k), seq: base + uint16(i), size: 50 + 37*i%1100, ext: (i+k)%3 == 0, csrc: (i + k) % 4}
			multi = append(multi, st)
			if i%9 == 8 { // a NACK answer from 8 packets ago
				st.seq -= 8
				multi = append(multi, st)
			}
		}
	}

	var long []gcmStep // three wraps in steps of 1000 and back
	for i := 0; i < 220; i++ {
		long = append(long, gcmStep{ssrc: 7, seq: uint16(1000 * i), size: 1100})
		if i%50 == 49 {
			long = append(long, gcmStep{ssrc: 7, seq: uint16(1000*i - 30000), size: 1100}) // older, maybe before a wrap
		}
	}

	// Starting low: no older ROC is guessed until the index is past 2^15, as Pion does.
	early := steps(9, 10, 11, 40000, 12, 5, 65535, 0, 1)

	big := []gcmStep{{ssrc: 5, seq: 1, size: 1200, ext: true, csrc: 15}, {ssrc: 5, seq: 2, size: 0}}

	for _, keyLen := range []int{16, 32} {
		profile := srtp.ProtectionProfileAeadAes128Gcm
		if keyLen == 32 {
			profile = srtp.ProtectionProfileAeadAes256Gcm
		}
		for _, tc := range []struct {
			name  string
			steps []gcmStep
		}{
			{"wrap and resends", wrap},
			{"three SSRCs, extensions, CSRCs", multi},
			{"three wraps", long},
			{"early", early},
			{"largest and empty", big},
		} {
			t.Run(fmt.Sprintf("%s/key=%d", tc.name, keyLen*8), func(t *testing.T) {
				rng := rand.New(rand.NewSource(int64(keyLen) + int64(len(tc.steps))))
				key, salt := make([]byte, keyLen), make([]byte, 12)
				rng.Read(key)
				rng.Read(salt)
				ours, err := newGCMSender(key, salt)
				if err != nil {
					t.Fatal(err)
				}
				pion, err := srtp.CreateContext(key, salt, profile)
				if err != nil {
					t.Fatal(err)
				}
				recv, err := srtp.CreateContext(key, salt, profile)
				if err != nil {
					t.Fatal(err)
				}
				var slot [1500]byte
				var parsed rtp.Header
				for i, st := range tc.steps {
					h := gcmHeader(st)
					payload := make([]byte, st.size)
					rng.Read(payload)
					plain, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
					if err != nil {
						t.Fatal(err)
					}
					want, err := pion.EncryptRTP(nil, plain, nil)
					if err != nil {
						t.Fatal(err)
					}
					got, err := ours.seal(slot[:0], &h, payload)
					if err != nil {
						t.Fatalf("step %d (ssrc %x seq %d): %v", i, st.ssrc, st.seq, err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("step %d (ssrc %x seq %d): ours differs from Pion's\nours %x\npion %x", i, st.ssrc, st.seq, got, want)
					}
					dec, err := recv.DecryptRTP(nil, got, &parsed)
					if err != nil {
						t.Fatalf("step %d (ssrc %x seq %d): Pion cannot decrypt ours: %v", i, st.ssrc, st.seq, err)
					}
					if !bytes.Equal(dec, plain) {
						t.Fatalf("step %d: decrypted packet differs from the plain one", i)
					}
				}
			})
		}
	}
}

// The ROC estimation on its own, with the ROC a receiver needs for each packet.
func TestGCMSenderRollover(t *testing.T) {
	for _, tc := range []struct {
		name string
		seqs []uint16
		rocs []uint32
	}{
		{"in order across a wrap", []uint16{65534, 65535, 0, 1}, []uint32{0, 0, 1, 1}},
		{"resend from before the wrap", []uint16{65534, 65535, 0, 1, 65535, 2}, []uint32{0, 0, 1, 1, 0, 1}},
		{"reordered across the wrap", []uint16{65000, 10, 65400, 20}, []uint32{0, 1, 0, 1}},
		{"two wraps", []uint16{40000, 60000, 10000, 30000, 50000, 5000}, []uint32{0, 0, 1, 1, 1, 2}},
		// Below index 2^15 nothing is taken as older (ROC -1): 65535 counts as newer, as in Pion.
		{"early jump", []uint16{10, 65535, 11}, []uint32{0, 0, 1}},
	} {
		g, err := newGCMSender(make([]byte, 16), make([]byte, 12))
		if err != nil {
			t.Fatal(err)
		}
		for i, seq := range tc.seqs {
			roc, err := g.rollover(42, seq)
			if err != nil || roc != tc.rocs[i] {
				t.Errorf("%s: packet %d (seq %d): ROC %d (%v), want %d", tc.name, i, seq, roc, err, tc.rocs[i])
			}
		}
	}
}

func TestGCMSenderRejects(t *testing.T) {
	for _, tc := range []struct {
		name      string
		key, salt int
	}{{"short key", 24, 12}, {"long salt", 16, 14}, {"no key", 0, 12}} {
		if _, err := newGCMSender(make([]byte, tc.key), make([]byte, tc.salt)); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	g, err := newGCMSender(make([]byte, 16), make([]byte, 12))
	if err != nil {
		t.Fatal(err)
	}
	h := gcmHeader(gcmStep{ssrc: 1, seq: 1})
	if _, err := g.seal(make([]byte, 0, 12+100+15), &h, make([]byte, 100)); err == nil {
		t.Error("sealed into a buffer one byte short")
	}
}

// Sealing allocates nothing (a fast-path copy per subscriber per packet).
func TestGCMSenderAllocs(t *testing.T) {
	g, err := newGCMSender(make([]byte, 32), make([]byte, 12))
	if err != nil {
		t.Fatal(err)
	}
	var slot [1500]byte
	payload := make([]byte, 1100)
	h := gcmHeader(gcmStep{ssrc: 3, seq: 1, ext: true, csrc: 2})
	if n := testing.AllocsPerRun(100, func() {
		h.SequenceNumber++
		if _, err := g.seal(slot[:0], &h, payload); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations per sealed packet, want 0", n)
	}
}

// BenchmarkSRTPSeal: one forwarded copy's encryption, ours against Pion's Context as fastConn.fill
// used it (marshal, copy the payload, EncryptRTP in place), for one connection and rotating over
// 200 (a lecture: each copy of a packet goes to another connection), and over 20,000, which do not
// fit in the CPU's caches: in the server, between two packets of one connection the other work
// (Pion, the kernel, 199 other copies) evicts its state, which 200 contexts alone do not.
func BenchmarkSRTPSeal(b *testing.B) {
	payload := make([]byte, 1100)
	key, salt := make([]byte, 16), make([]byte, 12)
	for _, conns := range []int{1, 200, 20000} {
		hdrs := make([]rtp.Header, conns)
		for i := range hdrs {
			hdrs[i] = rtp.Header{Version: 2, PayloadType: 96, SSRC: uint32(1000 + i), Timestamp: 1}
		}
		b.Run(fmt.Sprintf("chalk/contexts=%d", conns), func(b *testing.B) {
			gs := make([]*gcmSender, conns)
			for i := range gs {
				key[0], key[1] = byte(i), byte(i>>8)
				var err error
				if gs[i], err = newGCMSender(key, salt); err != nil {
					b.Fatal(err)
				}
			}
			var slot [1500]byte
			seal := func(c int) {
				hdrs[c].SequenceNumber++
				if _, err := gs[c].seal(slot[:0], &hdrs[c], payload); err != nil {
					b.Fatal(err)
				}
			}
			for c := range gs { // each context has sent before: the steady state is measured
				seal(c)
			}
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				seal(i % conns)
			}
		})
		b.Run(fmt.Sprintf("pion/contexts=%d", conns), func(b *testing.B) {
			cs := make([]*srtp.Context, conns)
			for i := range cs {
				key[0], key[1] = byte(i), byte(i>>8)
				var err error
				if cs[i], err = srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm); err != nil {
					b.Fatal(err)
				}
			}
			var slot [1500]byte
			var scratch rtp.Header
			seal := func(c int) {
				h := &hdrs[c]
				h.SequenceNumber++
				hl := h.MarshalSize()
				buf := slot[:hl+len(payload)]
				if _, err := h.MarshalTo(buf); err != nil {
					b.Fatal(err)
				}
				copy(buf[hl:], payload)
				if _, err := cs[c].EncryptRTP(slot[:0], buf, &scratch); err != nil {
					b.Fatal(err)
				}
			}
			for c := range cs {
				seal(c)
			}
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				seal(i % conns)
			}
		})
	}
}

// A client that offers only AES_CM_HMAC_SHA1_80 keeps a Pion context on the fast path, and
// decrypts what it sends; one that offers AEAD_AES_128_GCM only gets our sender with a 128-bit key.
func TestFastPathSRTPProfiles(t *testing.T) {
	for _, tc := range []struct {
		offer dtls.SRTPProtectionProfile
		label string
		gcm   bool
	}{
		{dtls.SRTP_AES128_CM_HMAC_SHA1_80, "SRTP_AES128_CM_HMAC_SHA1_80", false},
		{dtls.SRTP_AEAD_AES_128_GCM, "SRTP_AEAD_AES_128_GCM", true},
	} {
		t.Run(tc.label, func(t *testing.T) {
			s := newTestSFU(t)
			api := clientAPI(func(se *webrtc.SettingEngine) { se.SetSRTPProtectionProfiles(tc.offer) })

			var plis atomic.Int32
			up := fakeUpTrack(s, webrtc.RTPCodecTypeVideo, &plis)
			var got atomic.Int64
			p, client := negotiateWith(t, api, s, up, "sub", &got)
			defer client.Close()
			defer p.Close()
			waitFor(t, "the fast path to be on", func() bool { return p.fast.on.Load() && p.fast.pionUp.Load() })
			if n := testutil.ToFloat64(s.metrics.fastConns.WithLabelValues(tc.label)); n != 1 {
				t.Errorf("%v fast-path connections with %s, want 1", n, tc.label)
			}
			p.fast.mu.Lock()
			ours := p.fast.gcm != nil
			p.fast.mu.Unlock()
			if ours != tc.gcm {
				t.Errorf("our GCM sender in use: %v, want %v", ours, tc.gcm)
			}
			fast0, got0 := testutil.ToFloat64(s.metrics.fastPackets), got.Load()
			for i := uint16(5000); i < 5050; i++ {
				up.forward(vp8Packet(i, i == 5000))
				time.Sleep(2 * time.Millisecond)
			}
			waitFor(t, "50 packets at the client", func() bool { return got.Load()-got0 >= 50 })
			if n := testutil.ToFloat64(s.metrics.fastPackets) - fast0; n < 50 {
				t.Errorf("%v packets through the fast path, want 50", n)
			}
		})
	}
}
