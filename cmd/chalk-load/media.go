package main

import (
	"context"
	"encoding/binary"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Synthetic media. Every payload carries a marker: a magic word, the stream it belongs to, its
// packet number in that stream and its send time on this process's monotonic clock (senders and
// receivers share the process, so one-way latency needs no clock sync). Video payloads start with a
// VP8 payload descriptor and a VP8 header byte, as real VP8 does: the SFU forwards a new subscriber
// nothing until a packet that starts a keyframe (S=1, PID=0, inverse key-frame bit 0).

var (
	magic = [4]byte{'C', 'L', 'O', 'D'}
	epoch = time.Now() // the process's monotonic clock origin
)

const (
	markerLen    = 4 + 4 + 4 + 8
	videoPrefix  = 2 // VP8 payload descriptor, VP8 header byte
	videoPayload = 1100
	audioPayload = 120
)

func now() int64 { return int64(time.Since(epoch)) }

type marker struct {
	stream uint32
	n      uint32
	sent   int64 // nanoseconds since epoch
}

func putMarker(p []byte, m marker) {
	copy(p, magic[:])
	binary.BigEndian.PutUint32(p[4:], m.stream)
	binary.BigEndian.PutUint32(p[8:], m.n)
	binary.BigEndian.PutUint64(p[12:], uint64(m.sent))
}

func parseMarker(kind webrtc.RTPCodecType, p []byte) (marker, bool) {
	if kind == webrtc.RTPCodecTypeVideo {
		if len(p) < videoPrefix {
			return marker{}, false
		}
		p = p[videoPrefix:]
	}
	if len(p) < markerLen || [4]byte(p[:4]) != magic {
		return marker{}, false
	}
	return marker{
		stream: binary.BigEndian.Uint32(p[4:]),
		n:      binary.BigEndian.Uint32(p[8:]),
		sent:   int64(binary.BigEndian.Uint64(p[12:])),
	}, true
}

// stream is one synthetic track a publisher sends: its packets are numbered from 0.
type stream struct {
	id    uint32
	kind  webrtc.RTPCodecType
	track *webrtc.TrackLocalStaticRTP
	next  atomic.Uint32 // number of the next packet
	limit uint32        // the sender stops here, so receivers' counters are bounded
}

// mediaPlan says what a publisher sends.
type mediaPlan struct {
	videoKbps  int
	fps        int
	keyEvery   time.Duration // a keyframe at least this often, besides those asked for
	maxPackets uint32        // per stream
	// pace spreads a frame's packets at this multiple of videoKbps, as a browser's pacer does
	// (libwebrtc paces at 2.5× the target bitrate), instead of sending them back to back; 0: no pacing.
	pace float64
}

// packetGap is the time between two paced video packets; 0 without pacing.
func (m mediaPlan) packetGap() time.Duration {
	if m.pace <= 0 || m.videoKbps <= 0 {
		return 0
	}
	return time.Duration(float64(videoPayload*8) / (m.pace * float64(m.videoKbps) * 1000) * float64(time.Second))
}

// publisher sends one participant's synthetic audio and video until ctx ends or a stream reaches
// its limit: Opus-like 20 ms packets, and VP8-like frames of videoPayload-byte packets at fps, each
// frame's packets paced (mediaPlan.pace). Audio and video have a goroutine each, as a browser's
// audio is not held behind a paced video frame.
type publisher struct {
	audio, video *stream
	plan         mediaPlan
	keyframe     atomic.Bool // the SFU asked for one (PLI)
	writeErrors  atomic.Int64
}

// Frames are sent on a schedule (frame k at start + k/fps): a tick that comes late sends what is
// due, at most maxCatchUp frames, so a busy load generator still offers the load it was asked for.
const maxCatchUp = 5

func (p *publisher) run(ctx context.Context) {
	p.keyframe.Store(true)
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer stop() // a stream at its limit ends the other too
		p.runAudio(ctx)
	}()
	p.runVideo(ctx)
	stop()
	<-done
}

func (p *publisher) runAudio(ctx context.Context) {
	aTick := time.NewTicker(20 * time.Millisecond)
	defer aTick.Stop()
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2}}
	abuf := make([]byte, audioPayload)
	var aseq uint16
	var audioFrame uint32
	start := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-aTick.C:
		}
		for due := 0; due < maxCatchUp && time.Duration(audioFrame)*20*time.Millisecond <= time.Since(start); due++ {
			n := p.audio.next.Load()
			if n >= p.audio.limit {
				return
			}
			putMarker(abuf, marker{stream: p.audio.id, n: n, sent: now()})
			pkt.SequenceNumber, pkt.Timestamp, pkt.Marker, pkt.PayloadType = aseq, audioFrame*960, true, 111
			pkt.Payload = abuf
			aseq++
			audioFrame++
			p.audio.next.Store(n + 1)
			if err := p.audio.track.WriteRTP(pkt); err != nil {
				p.writeErrors.Add(1)
			}
		}
	}
}

func (p *publisher) runVideo(ctx context.Context) {
	frameBytes := p.plan.videoKbps * 1000 / 8 / p.plan.fps
	perFrame := max(1, (frameBytes+videoPayload-1)/videoPayload)
	frameDur := time.Second / time.Duration(p.plan.fps)
	gap := p.plan.packetGap()
	vTick := time.NewTicker(frameDur)
	defer vTick.Stop()
	pace := time.NewTimer(time.Hour)
	defer pace.Stop()
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2}}
	vbuf := make([]byte, videoPayload)
	var vseq uint16
	var frame uint32
	lastKey := time.Time{}
	start := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-vTick.C:
		}
		for due := 0; due < maxCatchUp && time.Duration(frame)*frameDur <= time.Since(start); due++ {
			key := p.keyframe.Swap(false)
			if p.plan.keyEvery > 0 && time.Since(lastKey) >= p.plan.keyEvery {
				key = true
			}
			if key {
				lastKey = time.Now()
			}
			// A frame behind schedule goes out at once, as a pacer with a backlog drains it.
			paced := gap > 0 && time.Duration(frame+1)*frameDur > time.Since(start)
			first := time.Now()
			for i := range perFrame {
				if paced && i > 0 {
					pace.Reset(time.Until(first.Add(time.Duration(i) * gap)))
					select {
					case <-ctx.Done():
						return
					case <-pace.C:
					}
				}
				n := p.video.next.Load()
				if n >= p.video.limit {
					return
				}
				vbuf[0] = 0 // S=0: a continuation
				if i == 0 {
					vbuf[0] = 0x10 // S=1, PID=0: a frame starts
				}
				vbuf[1] = 0x01 // inverse key-frame bit: a delta frame
				if key {
					vbuf[1] = 0x00
				}
				putMarker(vbuf[videoPrefix:], marker{stream: p.video.id, n: n, sent: now()})
				pkt.SequenceNumber, pkt.Timestamp, pkt.Marker, pkt.PayloadType = vseq, frame*(90000/uint32(p.plan.fps)), i == perFrame-1, 96
				pkt.Payload = vbuf
				vseq++
				p.video.next.Store(n + 1)
				if err := p.video.track.WriteRTP(pkt); err != nil {
					p.writeErrors.Add(1)
				}
			}
			frame++
		}
	}
}

// packetsPerSecond is a stream's packet rate under plan.
func (m mediaPlan) packetsPerSecond(kind webrtc.RTPCodecType) int {
	if kind == webrtc.RTPCodecTypeAudio {
		return 50
	}
	frameBytes := m.videoKbps * 1000 / 8 / m.fps
	return m.fps * max(1, (frameBytes+videoPayload-1)/videoPayload)
}
