package main

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/chalk-edu/chalk/signaling/client"
)

// window is the measurement interval on the shared monotonic clock: only packets sent inside it
// count for latency. Zero bounds mean "not yet".
type window struct {
	start, end atomic.Int64
}

func (w *window) contains(sent int64) bool {
	s, e := w.start.Load(), w.end.Load()
	return s != 0 && sent >= s && (e == 0 || sent < e)
}

// receiver counts what one subscribing participant gets: per stream, how many times each packet
// number arrived; one latency histogram; when the first video packet came.
type receiver struct {
	win       *window
	joinStart time.Time

	mu         sync.Mutex
	counts     map[uint32][]uint8 // stream id → arrivals per packet number (saturating)
	latency    histogram          // send → the track read (after the load generator's own queues)
	socketLat  histogram          // send → the kernel's receive timestamp on the client's socket
	socketMiss int64              // packets in the window whose arrival was not in the ring
	firstSeen  map[uint32]bool
	firstAt    atomic.Int64 // first video packet, ns since epoch; 0 until then
	maxN       uint32
	phases     [numPhases]atomic.Int64 // when each step of joining happened, ns since epoch; 0: not yet

	arrived arrivals // kernel arrival times, filled by the client's sockets (sockstamp.go)
}

// Steps of joining, in order, for the join-to-first-media breakdown.
const (
	phaseJoined     = iota // the server's joined message (Dial returned)
	phaseAnswer            // the first subscribe offer applied and the answer sent
	phaseICE               // the subscribe connection's ICE connected
	phaseDTLS              // the subscribe connection connected (DTLS done)
	phaseFirstVideo        // the first video packet read (the SFU starts a subscriber at a keyframe)
	phaseFirstKey          // the first packet of a keyframe read: later than first_video if the SFU's gate opened on a keyframe the subscriber never got
	numPhases
)

var phaseNames = [numPhases]string{"joined", "answer_sent", "ice_connected", "dtls_connected", "first_video", "first_keyframe"}

// mark records when a step of joining first happened.
func (r *receiver) mark(phase int) { r.phases[phase].CompareAndSwap(0, now()) }

// watch follows the subscribe connection's states for the breakdown.
func (r *receiver) watch(pc *webrtc.PeerConnection) {
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		if s == webrtc.ICEConnectionStateConnected {
			r.mark(phaseICE)
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			r.mark(phaseDTLS)
		}
	})
}

func newReceiver(win *window, maxN uint32) *receiver {
	return &receiver{win: win, counts: map[uint32][]uint8{}, firstSeen: map[uint32]bool{}, maxN: maxN}
}

// onTrack reads one received track until it ends, reusing one buffer and one header.
func (r *receiver) onTrack(_ client.TrackInfo, t *webrtc.TrackRemote) {
	kind := t.Kind()
	go func() {
		buf := make([]byte, 1500)
		var h rtp.Header
		for {
			n, _, err := t.Read(buf)
			if err != nil {
				return
			}
			hn, err := h.Unmarshal(buf[:n])
			if err != nil {
				continue
			}
			end := n
			if h.Padding && n > hn {
				end -= int(buf[n-1])
			}
			if end < hn {
				continue
			}
			m, ok := parseMarker(kind, buf[hn:end])
			if !ok {
				continue
			}
			if kind == webrtc.RTPCodecTypeVideo && r.phases[phaseFirstKey].Load() == 0 && buf[hn]&0x10 != 0 && buf[hn+1]&0x01 == 0 {
				r.mark(phaseFirstKey)
			}
			sockAt, sockOK := r.arrived.get(h.SSRC, h.SequenceNumber)
			r.record(kind, m, now(), sockAt, sockOK)
		}
	}()
}

// record counts one packet read at at; sockAt is its arrival at the socket if sockOK.
func (r *receiver) record(kind webrtc.RTPCodecType, m marker, at, sockAt int64, sockOK bool) {
	if kind == webrtc.RTPCodecTypeVideo {
		r.firstAt.CompareAndSwap(0, at)
		r.phases[phaseFirstVideo].CompareAndSwap(0, at)
	}
	if m.n >= r.maxN {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.counts[m.stream]
	if c == nil {
		c = make([]uint8, r.maxN)
		r.counts[m.stream] = c
	}
	if c[m.n] < 255 {
		c[m.n]++
	}
	r.firstSeen[m.stream] = true
	if r.win.contains(m.sent) {
		r.latency.add(time.Duration(at - m.sent))
		if sockOK {
			r.socketLat.add(time.Duration(sockAt - m.sent))
		} else {
			r.socketMiss++
		}
	}
}

// has reports whether at least one packet of stream arrived.
func (r *receiver) has(stream uint32) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.firstSeen[stream]
}

// tally counts the distinct and duplicate arrivals of stream's packets numbered [from, to).
func (r *receiver) tally(stream, from, to uint32) (distinct, dups int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.counts[stream]
	if c == nil {
		return 0, 0
	}
	for n := from; n < to && n < uint32(len(c)); n++ {
		if c[n] > 0 {
			distinct++
			dups += int(c[n]) - 1
		}
	}
	return distinct, dups
}
