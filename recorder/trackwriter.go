package recorder

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"
)

// How long media may pause before the recording of a track counts it as a gap: the layout then
// hides the tile instead of freezing its last frame (a camera turned off, a paused screen share).
const (
	videoGap = 2 * time.Second
	audioGap = time.Second
)

// resyncAfter: when RTP time and arrival time disagree by more than this, the publisher's clock
// jumped (an encoder restart); the track re-anchors at the arrival time instead of leaving a hole.
const resyncAfter = 3 * time.Second

// keyframeRetry is how often a video track still waiting for a keyframe asks again.
const keyframeRetry = time.Second

// seekPointEvery is the longest a video track goes without a keyframe before the recorder asks
// for one. Browsers send keyframes only when asked, so a one-hour camera may hold a single one;
// the lesson video is composed in parallel parts, each starting with a seek into every track, and
// a seek decodes from the keyframe before it. One extra keyframe every 20 s costs the class a few
// percent of its video bitrate and bounds that waste to 20 s of decoding per part.
const seekPointEvery = 20 * time.Second

// seekLead is how long before each live part's bound a camera is asked for a keyframe (see
// trackWriter.seekGrid): a browser answers within a round trip and one frame, so the keyframe
// lands just before the bound and the next part's seek decodes under a second it does not need.
const seekLead = time.Second

// Span is a stretch of time, relative to the recording's start, during which a track had media.
type Span struct {
	Start Seconds `json:"start"`
	End   Seconds `json:"end"`
}

// trackWriter turns one track's RTP packets into a WebM file: it reorders packets and assembles
// frames (Pion's sample builder), waits for a keyframe (again after any loss), derives each frame's
// time from its RTP timestamp, and notes the spans with media. It is used by one goroutine.
type trackWriter struct {
	path      string
	video     bool
	clockRate uint32
	log       *slog.Logger
	keyframe  func()                     // asks the publisher for one; may be nil
	onFile    func(offset time.Duration) // told when the file is created; may be nil
	// seekGrid is the live composition's part length (0: none): a camera is asked for a keyframe
	// seekLead before each multiple of it, where a live part will seek.
	seekGrid  time.Duration
	gridAsked int64

	// mu guards what the live composition reads while the track is written: offset, spans, file.
	mu sync.Mutex

	sb      *samplebuilder.SampleBuilder
	pushed  bool
	lastSeq uint16 // newest packet pushed, for flush
	lastTS  uint32
	free    []*rtp.Packet // packets the sample builder released, reused for the next pushes
	clock   rtpClock

	file      *webmFile
	offset    time.Duration // recording time of the file's first frame
	lastMS    int64
	lastAt    time.Duration
	waitKey   bool
	lastAsk   time.Duration // arrival time of the last keyframe request
	lastKey   time.Duration // arrival time of the last keyframe
	spans     []Span
	frameDur  time.Duration
	frames    int64
	dropped   int64 // frames dropped while waiting for a keyframe
	width     int
	height    int
	err       error
	resyncs   int
	lastArriv time.Duration
}

func newTrackWriter(path string, mimeType string, clockRate uint32, keyframe func(), log *slog.Logger) (*trackWriter, error) {
	w := &trackWriter{path: path, clockRate: clockRate, log: log, keyframe: keyframe}
	switch strings.ToLower(mimeType) {
	case "video/vp8":
		w.video, w.waitKey, w.frameDur = true, true, 33*time.Millisecond
		// 200 packets is about a second of a 1.5 Mbps camera: room for retransmissions to arrive.
		w.sb = samplebuilder.New(200, &codecs.VP8Packet{}, clockRate,
			samplebuilder.WithMaxTimeDelay(time.Second), samplebuilder.WithPacketReleaseHandler(w.release))
	case "audio/opus":
		w.frameDur = 20 * time.Millisecond
		w.sb = samplebuilder.New(50, &codecs.OpusPacket{}, clockRate,
			samplebuilder.WithMaxTimeDelay(time.Second), samplebuilder.WithPacketReleaseHandler(w.release))
	default:
		return nil, fmt.Errorf("recorder: cannot record %s (only VP8 and Opus)", mimeType)
	}
	if clockRate == 0 {
		return nil, fmt.Errorf("recorder: %s track without a clock rate", mimeType)
	}
	w.clock.rate = float64(clockRate)
	return w, nil
}

func (w *trackWriter) release(p *rtp.Packet) {
	if len(w.free) < 256 {
		w.free = append(w.free, p)
	}
}

// push takes one packet (copied: the caller may reuse its memory) that arrived at recording time at.
func (w *trackWriter) push(h *rtp.Header, payload []byte, at time.Duration) {
	if w.err != nil {
		return
	}
	if w.clock.observe(h.Timestamp, at) {
		w.resyncs++
		w.log.Info("track clock re-anchored: RTP time jumped", "file", w.path)
	}
	w.lastArriv = at
	var p *rtp.Packet
	if n := len(w.free); n > 0 {
		p, w.free = w.free[n-1], w.free[:n-1]
	} else {
		p = &rtp.Packet{}
	}
	p.Header = *h
	p.Header.Extensions, p.Header.CSRC, p.Header.Extension = nil, nil, false
	if !w.pushed || int16(h.SequenceNumber-w.lastSeq) > 0 {
		w.pushed, w.lastSeq, w.lastTS = true, h.SequenceNumber, h.Timestamp
	}
	p.Payload = append(p.Payload[:0], payload...)
	w.sb.Push(p)
	w.drain()
}

// flush writes out the last complete frame. The sample builder releases a frame once the packet
// after it has arrived, so an empty packet is pushed after the last one. (SampleBuilder.Flush would
// do it too, but costs most of a second per track: it rescans its whole window for every packet.)
func (w *trackWriter) flush() {
	if !w.pushed {
		return
	}
	p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: w.lastSeq + 1, Timestamp: w.lastTS + 1}}
	w.sb.Push(p)
	w.drain()
}

func (w *trackWriter) drain() {
	for s := w.sb.Pop(); s != nil; s = w.sb.Pop() {
		if w.err != nil {
			return
		}
		w.sample(s.Data, s.PacketTimestamp, s.PrevDroppedPackets)
	}
}

func (w *trackWriter) sample(data []byte, ts uint32, droppedBefore uint16) {
	if len(data) == 0 {
		return
	}
	at := w.clock.time(ts)
	key := !w.video
	if w.video {
		var width, height int
		key, width, height = vp8Keyframe(data)
		if droppedBefore > 0 && !w.waitKey {
			// A lost packet broke the reference chain: later delta frames would decode as garbage.
			w.waitKey = true
		}
		if w.waitKey && !key {
			w.dropped++
			if w.keyframe != nil && (w.lastAsk == 0 || w.lastArriv-w.lastAsk >= keyframeRetry) {
				w.lastAsk = w.lastArriv
				w.keyframe()
			}
			return
		}
		if key {
			w.waitKey = false
			w.lastKey = w.lastArriv
			if w.width == 0 {
				w.width, w.height = width, height
			}
		} else if w.keyframe != nil && w.lastArriv-w.lastKey >= seekPointEvery && w.lastArriv-w.lastAsk >= seekPointEvery {
			w.lastAsk = w.lastArriv
			w.keyframe()
		}
		if w.seekGrid > 0 {
			if k := int64((w.lastArriv + seekLead) / w.seekGrid); k > w.gridAsked {
				w.gridAsked = k
				if !key && w.keyframe != nil {
					w.lastAsk = w.lastArriv
					w.keyframe()
				}
			}
		}
	}
	if w.file == nil {
		entry := opusEntry(2)
		if w.video {
			entry = vp8Entry(w.width, w.height)
		}
		f, err := createWebM(w.path, entry)
		if err != nil {
			w.err = err
			return
		}
		w.mu.Lock()
		w.file, w.offset, w.lastMS = f, at, -1
		w.spans = append(w.spans, Span{Start: Seconds(at), End: Seconds(at)})
		w.mu.Unlock()
		if w.onFile != nil {
			w.onFile(at)
		}
	}
	ms := (at - w.offset).Milliseconds()
	if ms <= w.lastMS { // arrival jitter or a resync: keep the file's timestamps strictly increasing
		ms = w.lastMS + 1
		at = w.offset + time.Duration(ms)*time.Millisecond
	}
	gap := videoGap
	if !w.video {
		gap = audioGap
	}
	w.mu.Lock()
	last := &w.spans[len(w.spans)-1]
	if at-w.lastAt > gap && w.frames > 0 {
		w.spans = append(w.spans, Span{Start: Seconds(at), End: Seconds(at + w.frameDur)})
	} else {
		last.End = Seconds(at + w.frameDur)
	}
	w.mu.Unlock()
	if err := w.file.write(key, ms, data); err != nil {
		w.err = err
		return
	}
	w.lastMS, w.lastAt = ms, at
	w.frames++
}

// state is what has been written so far: the file's offset and the spans (a copy), and whether
// the file exists. It may be called from another goroutine.
func (w *trackWriter) state() (offset time.Duration, spans []Span, started bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.offset, append([]Span(nil), w.spans...), w.file != nil
}

// close finishes the file (if any frame was written). It returns the first error the track had.
func (w *trackWriter) close() error {
	if w.err == nil {
		w.flush()
	}
	if w.file != nil {
		if err := w.file.close(); err != nil && w.err == nil {
			w.err = err
		}
	}
	return w.err
}

// rtpClock maps a track's RTP timestamps to recording time: anchored at the arrival of the first
// packet, then advancing with the RTP clock (arrival times jitter; RTP time is what the sender
// sampled). Timestamps are unwrapped to 64 bits.
type rtpClock struct {
	rate    float64
	started bool
	last    uint32
	ext     int64         // unwrapped value of last
	base    int64         // unwrapped timestamp at the anchor
	at      time.Duration // recording time at the anchor
}

// observe records a packet's timestamp and arrival; it reports whether the clock re-anchored.
func (c *rtpClock) observe(ts uint32, arrival time.Duration) bool {
	if !c.started {
		c.started, c.last, c.ext, c.base, c.at = true, ts, 0, 0, arrival
		return false
	}
	// Older (reordered) packets do not move the clock; one far older is a jump back, not a late packet.
	if d := int32(ts - c.last); d > 0 || float64(-d) > c.rate*resyncAfter.Seconds() {
		c.ext += int64(d)
		c.last = ts
	}
	drift := arrival - c.time(c.last)
	if drift > resyncAfter || drift < -resyncAfter {
		c.base, c.at = c.ext, arrival
		return true
	}
	return false
}

// time is the recording time of a timestamp near the last one observed.
func (c *rtpClock) time(ts uint32) time.Duration {
	ext := c.ext + int64(int32(ts-c.last))
	return c.at + time.Duration(float64(ext-c.base)/c.rate*float64(time.Second))
}
