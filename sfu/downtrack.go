package sfu

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// DownTrack forwards one UpTrack to one subscriber. It implements webrtc.TrackLocal so Pion
// negotiates it like any local track; the UpTrack's goroutine writes to it directly.
type DownTrack struct {
	up       *UpTrack
	id       string
	streamID string
	metrics  *Metrics

	bound        atomic.Pointer[binding]
	needKeyframe atomic.Bool // video: drop packets until a keyframe starts, so decoding can begin
	est          *estimate   // the subscriber's bandwidth estimate, shared by its down-tracks; nil: none
	transportUp  func() bool // whether the subscriber's connection is up (DTLS done); nil: assume so
	vp8          bool        // payloads carry a VP8 descriptor whose picture id is kept continuous
	relay        bool        // the subscriber is another node (relay.go): counted apart

	// mu serialises writes: a simulcast subscriber is attached to two layers while it switches, and
	// each layer has its own reader (or fan-out writer, fanout.go) goroutine. Uncontended otherwise.
	mu  sync.Mutex
	sel selection  // which layer is sent and which is wanted (simulcast.go)
	mun munger     // continuous sequence numbers, timestamps and VP8 picture ids across layers
	hdr rtp.Header // scratch header
	buf [1500]byte // scratch payload, when a VP8 picture id must be rewritten
	rtx rtxMemory  // recently resent sequence numbers, touched only by readRTCP's goroutine

	fast    *fastConn                 // the subscriber's connection's own SRTP write path; nil: Pion's only
	stats   senderStats               // for sender reports (senderreport.go)
	rtcpOut func([]rtcp.Packet) error // writes RTCP to the subscriber; nil: no sender reports

	// replayedTo: the subscriber was started from the packet cache up to this sequence number
	// (startcache.go); the writers skip what they are handed up to it. Under mu.
	replayedTo uint16
	replayed   bool
}

// binding is what Pion negotiated for this track on the subscriber's connection.
type binding struct {
	ssrc uint32
	pt   uint8
	w    webrtc.TrackLocalWriter
}

func newDownTrack(up *UpTrack, m *Metrics) *DownTrack {
	d := &DownTrack{up: up, id: up.id, streamID: streamIDFor(up), metrics: m}
	d.needKeyframe.Store(up.kind == webrtc.RTPCodecTypeVideo)
	d.sel = newSelection()
	if up.sc != nil {
		d.sel.target = -1 // placed on a layer by reselect when attached
	}
	d.vp8 = strings.EqualFold(up.codec.MimeType, webrtc.MimeTypeVP8)
	return d
}

// streamIDFor groups a participant's microphone and camera in one msid stream, which is what browsers
// synchronise for lip sync; a screen share is a stream of its own.
func streamIDFor(up *UpTrack) string {
	if up.id == "screen" {
		return up.participant + "-screen"
	}
	return up.participant
}

// Bind is called by Pion when the subscriber's connection negotiated this track.
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, d.up.codec.MimeType) {
			d.bound.Store(&binding{ssrc: uint32(ctx.SSRC()), pt: uint8(c.PayloadType), w: ctx.WriteStream()})
			d.needKeyframe.Store(d.up.kind == webrtc.RTPCodecTypeVideo)
			if d.transportUp == nil || d.transportUp() {
				// Otherwise the keyframe would arrive before DTLS is up and be dropped, and its
				// request would hold back the next one (RequestKeyframe's interval): the
				// connection coming up asks instead (Peer).
				d.requestKeyframe()
			}
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, fmt.Errorf("sfu: subscriber cannot receive %s", d.up.codec.MimeType)
}

// Unbind is called by Pion when the track is no longer sent.
func (d *DownTrack) Unbind(webrtc.TrackLocalContext) error {
	d.bound.Store(nil)
	return nil
}

func (d *DownTrack) ID() string                { return d.id }
func (d *DownTrack) RID() string               { return "" }
func (d *DownTrack) StreamID() string          { return d.streamID }
func (d *DownTrack) Kind() webrtc.RTPCodecType { return d.up.kind }

// writeRTP rewrites the packet for this subscriber (SSRC and payload type as negotiated here;
// sequence number, timestamp and VP8 picture id continuous across layer switches; header
// extensions dropped, since their ids were negotiated on the publisher's connection) and sends it.
// The header copy lives in d.hdr and a rewritten payload in d.buf, so nothing is allocated. at is
// when the packet was read off its up-track (sender reports map RTP time to it).
func (d *DownTrack) writeRTP(pkt *rtp.Packet, keyframe bool, at time.Time) {
	b := d.bound.Load()
	if b == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.replayed {
		if int16(pkt.SequenceNumber-d.replayedTo) <= 0 {
			return // already sent from the cache
		}
		d.replayed = false
	}
	if !d.admit(pkt, keyframe) {
		return
	}
	opened := false
	if d.needKeyframe.Load() {
		if !keyframe {
			return
		}
		d.needKeyframe.Store(false)
		opened = true
	}
	if n, err := d.sendLocked(b, pkt, at); err == nil && n == 0 && opened {
		// Pion drops a packet silently (0 bytes, no error) until the subscriber's DTLS is up. A
		// keyframe dropped that way must not open the gate: the subscriber would start on frames
		// it cannot decode. Its connection coming up asks for a keyframe again (Peer).
		d.needKeyframe.Store(true)
	}
}

// sendLocked rewrites pkt into d.hdr (and d.buf) for this subscriber and writes it, counting what
// was sent; n is 0, with no error, when the transport took nothing (not up yet). Called with d.mu
// held, by writeRTP and by the start from the cache.
func (d *DownTrack) sendLocked(b *binding, pkt *rtp.Packet, at time.Time) (int, error) {
	d.hdr = pkt.Header
	d.hdr.SSRC = b.ssrc
	d.hdr.PayloadType = b.pt
	d.hdr.Padding = false
	d.hdr.Extension = false
	d.hdr.Extensions = nil
	payload := d.mun.rewrite(&d.hdr, pkt.Payload, d.buf[:], d.vp8)
	n, err := d.write(b, &d.hdr, payload)
	if err != nil {
		d.metrics.writeErrors.Inc()
		return 0, err
	}
	if n > 0 {
		d.stats.sent(&d.hdr, len(payload), at)
		d.metrics.packetsForwarded.Inc()
		d.metrics.bytesForwarded.Add(float64(len(pkt.Payload)))
		if d.relay {
			d.metrics.relay.sent(len(pkt.Payload))
		}
	}
	return n, nil
}

// write sends one rewritten packet to the subscriber: through the connection's own SRTP path when
// it is on (fastpath.go), else through Pion's track writer. Like Pion's, it returns 0 bytes and no
// error for a packet dropped because the transport is not up yet.
func (d *DownTrack) write(b *binding, h *rtp.Header, payload []byte) (int, error) {
	if n, ok, err := d.fast.writeRTP(h, payload); ok {
		return n, err
	}
	n, err := b.w.WriteRTP(h, payload)
	if n > 0 && err == nil {
		d.metrics.pionPackets.Inc()
		if d.fast != nil {
			d.fast.pionUp.Store(true)
		}
	}
	return n, err
}

// readRTCP handles the subscriber's feedback until the sender stops: keyframe requests go to the
// publisher (throttled there), NACKs are answered from the up-track's packet cache. Reading also
// lets the interceptors (sender reports) see the subscriber's receiver reports. It reads into its
// own buffer (RTPSender.ReadRTCP allocates one per call) and retransmits through one scratch packet.
func (d *DownTrack) readRTCP(sender *webrtc.RTPSender) {
	buf := make([]byte, 1500)
	var rtx []byte
	var pkt rtp.Packet
	for {
		n, _, err := sender.Read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				if d.relay {
					d.metrics.relay.keyframeRequests.Inc()
				}
				d.requestKeyframe()
			case *rtcp.ReceiverEstimatedMaximumBitrate:
				if d.est != nil {
					d.est.set(uint64(p.Bitrate))
					d.metrics.rembReceived.Inc()
				}
			case *rtcp.TransportLayerNack:
				if d.up.kind != webrtc.RTPCodecTypeVideo {
					continue
				}
				if rtx == nil {
					rtx = make([]byte, 1500)
				}
				for _, pair := range p.Nacks {
					pair.Range(func(seq uint16) bool {
						if d.relay {
							d.metrics.relay.nacks.Inc()
						}
						d.retransmit(seq, rtx, &pkt)
						return true
					})
				}
			}
		}
	}
}

// retransmit resends one cached packet. It runs on the RTCP goroutine, so it rewrites its own
// scratch packet rather than d.hdr. The NACK names the sequence number this subscriber saw; only
// packets of the layer being sent now are resent (older ones belong to a layer left at a keyframe).
func (d *DownTrack) retransmit(seq uint16, buf []byte, pkt *rtp.Packet) {
	b := d.bound.Load()
	if b == nil || d.needKeyframe.Load() {
		return
	}
	if !d.rtx.allow(seq, time.Now()) {
		return
	}
	d.mu.Lock()
	layer, in, ok := d.sel.source(d.up, &d.mun, seq)
	m := d.mun
	d.mu.Unlock()
	if !ok || layer.cache == nil {
		return
	}
	n := layer.cache.get(in, buf)
	if n == 0 {
		return
	}
	if err := pkt.Unmarshal(buf[:n]); err != nil {
		return
	}
	pkt.Header.SSRC, pkt.Header.PayloadType = b.ssrc, b.pt
	pkt.Header.Padding, pkt.Header.Extension = false, false
	pkt.Header.Extensions = pkt.Header.Extensions[:0]
	payload := m.replay(&pkt.Header, pkt.Payload, d.vp8)
	if _, err := d.write(b, &pkt.Header, payload); err != nil {
		d.metrics.writeErrors.Inc()
		return
	}
	d.stats.sent(&pkt.Header, len(payload), time.Time{}) // out of order: counted, the mapping stays
	d.metrics.retransmitted.Inc()
}

// rtxMemory remembers the last 64 packets resent to one subscriber. A receiver whose NACK was
// answered keeps asking until the packet lands (Pion's generator every 100 ms, browsers about once
// per round trip); under overload those repeats multiplied the server's work (more resends than
// forwarded packets in one measured run). So a packet is resent to a subscriber at most once per
// rtxHoldoff and at most rtxMaxResends times: a receiver that still lacks it after that is not
// reading, and more copies would not help it.
type rtxMemory struct {
	seqs  [64]uint16
	count [64]uint8
	at    [64]int64 // unix nanoseconds; 0: empty
}

const (
	rtxHoldoff    = 100 * time.Millisecond
	rtxMaxResends = 3
)

func (m *rtxMemory) allow(seq uint16, now time.Time) bool {
	i, t := seq%64, now.UnixNano()
	if m.at[i] != 0 && m.seqs[i] == seq {
		if t-m.at[i] < int64(rtxHoldoff) || m.count[i] >= rtxMaxResends {
			return false
		}
		m.count[i]++
		m.at[i] = t
		return true
	}
	m.seqs[i], m.at[i], m.count[i] = seq, t, 1
	return true
}
