package sfu

import (
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// keyframeInterval throttles keyframe requests to a publisher: every new subscriber and every lost
// frame asks for one, and a burst of them would make the encoder send nothing but keyframes.
const keyframeInterval = 500 * time.Millisecond

// UpTrack is one track received from a publisher. A single goroutine reads it and writes each packet
// to every subscribed DownTrack.
type UpTrack struct {
	id          string // the source: "microphone", "camera" or "screen"; unique per participant
	room        string
	participant string
	kind        webrtc.RTPCodecType
	codec       webrtc.RTPCodecParameters
	remote      *webrtc.TrackRemote
	sendPLI     func() error // asks the publisher for a keyframe
	cache       *packetCache // recent packets for retransmission; nil for audio (browsers do not NACK it)
	sfu         *SFU
	log         *slog.Logger

	// downs is every subscriber; it is replaced, never mutated, so it is read without a lock. Who
	// writes to each is in fan (fanout.go).
	downs  atomic.Pointer[[]*DownTrack]
	fan    fanOut
	sinks  atomic.Pointer[[]Sink] // in-process subscribers (the recorder), copy-on-write like downs
	downMu sync.Mutex             // serialises replacements of downs and sinks

	// The newest packet cached and the latest keyframe's first one (sequence number | cachedFlag;
	// 0: none) and its arrival (unix ns): a new subscriber starts from the cache (startcache.go).
	newest, keySeq atomic.Uint32
	keyAt          atomic.Int64

	kfMu    sync.Mutex
	kfLast  time.Time
	kfTimer *time.Timer

	paused atomic.Bool // a moderator turned the source off: see SetPaused

	sc    *simulcast  // the published track of a simulcast source: its layers (simulcast.go)
	layer *layerInfo  // one layer of a simulcast source: which, and what arrives on it
	voice *voiceMeter // audio with the audio-level extension: the speaker detector's input (speaker.go)

	done chan struct{}
}

func newUpTrack(s *SFU, room, participant, source string, remote *webrtc.TrackRemote, pc *webrtc.PeerConnection) *UpTrack {
	t := &UpTrack{
		id: source, room: room, participant: participant,
		kind: remote.Kind(), codec: remote.Codec(), remote: remote, sfu: s,
		log:  s.log.With("room", room, "participant", participant, "track", source),
		done: make(chan struct{}),
	}
	t.sendPLI = func() error {
		return pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(remote.SSRC())}})
	}
	if t.kind == webrtc.RTPCodecTypeVideo {
		t.cache = newPacketCache(packetCacheSlots)
	}
	t.downs.Store(&[]*DownTrack{})
	t.sinks.Store(&[]Sink{})
	return t
}

// ID is the track's id within its participant (its source).
func (t *UpTrack) ID() string { return t.id }

// Participant is the publisher's participant id.
func (t *UpTrack) Participant() string { return t.participant }

// Kind is audio or video.
func (t *UpTrack) Kind() webrtc.RTPCodecType { return t.kind }

// Done is closed when the publisher's media has ended.
func (t *UpTrack) Done() <-chan struct{} { return t.done }

// run reads the remote track until it ends. The buffer and packet are reused: nothing on this path
// allocates per packet.
func (t *UpTrack) run() {
	defer t.end()
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, _, err := t.remote.Read(buf)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.log.Debug("up-track read ended", "err", err)
			}
			return
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil || t.paused.Load() {
			continue
		}
		t.observe(&pkt)
		t.remember(&pkt, buf[:n])
		t.forward(&pkt)
	}
}

// forward writes one packet to every subscriber. Padding-only packets (bandwidth probes) carry no
// media and are not forwarded.
func (t *UpTrack) forward(pkt *rtp.Packet) {
	if len(pkt.Payload) == 0 || t.paused.Load() {
		return
	}
	keyframe := t.kind == webrtc.RTPCodecTypeVideo && isVP8KeyframeStart(pkt.Payload)
	at := time.Now()                             // once for every copy (sender reports, forward delay)
	t.fan.hand(pkt, keyframe, at, t.sfu.metrics) // first, so the writers work while the reader does too
	t.sfu.batch.begin()
	inline := t.fan.loadInline()
	for _, d := range inline {
		d.writeRTP(pkt, keyframe, at)
	}
	t.sfu.batch.end()
	if len(inline) > 0 {
		t.sfu.metrics.forwardDelay.Observe(time.Since(at).Seconds())
	}
	for _, s := range *t.sinks.Load() {
		s.WriteRTP(pkt)
	}
}

// SetPaused stops (or resumes) forwarding the track. While paused, packets are neither forwarded nor
// cached, so a subscriber's NACK cannot fetch them either: signaling pauses a source a moderator turned
// off, whatever the publisher keeps sending. On resuming, video subscribers wait for a keyframe, which
// is requested at once.
func (t *UpTrack) SetPaused(paused bool) {
	if t.sc != nil {
		t.sc.setPaused(t, paused)
	}
	t.keySeq.Store(0) // what is cached from before must not start a new subscriber (startcache.go)
	if t.paused.Swap(paused) == paused || paused {
		return
	}
	if t.kind == webrtc.RTPCodecTypeVideo {
		for _, d := range *t.downs.Load() {
			d.needKeyframe.Store(true)
		}
		t.RequestKeyframe()
	}
}

// Paused reports whether SetPaused stopped the track.
func (t *UpTrack) Paused() bool { return t.paused.Load() }

func (t *UpTrack) addDown(d *DownTrack) {
	t.downMu.Lock()
	old := *t.downs.Load()
	next := make([]*DownTrack, len(old), len(old)+1)
	copy(next, old)
	next = append(next, d)
	t.downs.Store(&next)
	t.fan.assign(d, t.sfu.batch, t.sfu.metrics)
	t.downMu.Unlock()
	t.attached(d)
}

func (t *UpTrack) removeDown(d *DownTrack) {
	t.downMu.Lock()
	old := *t.downs.Load()
	next := make([]*DownTrack, 0, len(old))
	for _, x := range old {
		if x != d {
			next = append(next, x)
		}
	}
	t.downs.Store(&next)
	t.fan.unassign(d)
	t.downMu.Unlock()
	t.detached(d)
}

// RequestKeyframe asks the publisher for a keyframe, at most once per keyframeInterval; a request
// inside the interval is deferred to its end rather than dropped, so a new subscriber is never left
// waiting for the next natural keyframe.
func (t *UpTrack) RequestKeyframe() {
	if t.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	if t.sc != nil {
		t.sc.requestKeyframes()
		return
	}
	t.kfMu.Lock()
	wait := keyframeInterval - time.Since(t.kfLast)
	if wait > 0 {
		if t.kfTimer == nil {
			t.kfTimer = time.AfterFunc(wait, func() {
				t.kfMu.Lock()
				t.kfTimer = nil
				t.kfMu.Unlock()
				t.RequestKeyframe()
			})
		}
		t.kfMu.Unlock()
		return
	}
	t.kfLast = time.Now()
	t.kfMu.Unlock()
	select {
	case <-t.done:
		return
	default:
	}
	if err := t.sendPLI(); err != nil {
		t.log.Debug("keyframe request failed", "err", err)
		return
	}
	t.sfu.metrics.keyframeRequests.Inc()
}

func (t *UpTrack) end() {
	close(t.done)
	t.downMu.Lock()
	t.fan.close()
	t.downMu.Unlock()
	t.kfMu.Lock()
	if t.kfTimer != nil {
		t.kfTimer.Stop()
		t.kfTimer = nil
	}
	t.kfMu.Unlock()
	t.sfu.removeUpTrack(t)
}
