package recorder

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// TrackInfo says whose track a recording is and what it carries.
type TrackInfo struct {
	Participant string `json:"participantId"`
	Name        string `json:"name,omitempty"` // display name
	Role        string `json:"role,omitempty"` // "instructor" or "student"
	Source      string `json:"source"`         // "microphone", "camera" or "screen"
	MimeType    string `json:"mimeType"`       // "video/VP8" or "audio/opus"
	ClockRate   uint32 `json:"clockRate"`
}

// Video reports whether the track carries video.
func (i TrackInfo) Video() bool { return i.Source != "microphone" }

// Ring sizes: how many packets a track buffers between the forwarding goroutine and its writer.
// Two to three seconds of a 1.5 Mbps camera or of Opus: a disk that stalls longer costs packets
// (counted, then a keyframe request), never the class's forwarding.
const (
	videoRingSlots = 512
	audioRingSlots = 128
)

// Track records one up-track. It is an sfu.Sink: WriteRTP copies the packet into a fixed ring and
// returns; the track's own goroutine writes the file. It never blocks and never allocates on the
// forwarding path.
type Track struct {
	info TrackInfo
	file string // base name inside the recording's tracks/ directory
	w    *trackWriter
	rec  *Recording

	ring   ring
	wake   chan struct{}
	closed chan struct{}
	done   chan struct{}
	once   sync.Once

	received  atomic.Int64
	dropped   atomic.Int64
	processed atomic.Int64 // packets the writer has taken from the ring and written
	idleAt    atomic.Int64 // recording time before the writer last emptied the ring

	result TrackResult
	onDone func(TrackResult) // told once the file is complete
}

// TrackResult is what a finished track left behind.
type TrackResult struct {
	TrackInfo
	File     string  `json:"file"`   // path relative to the recording's directory; "" if no media came
	Offset   Seconds `json:"offset"` // recording time of the file's first frame
	Duration Seconds `json:"duration"`
	Spans    []Span  `json:"spans"` // when the track had media, in recording time
	Width    int     `json:"width,omitempty"`
	Height   int     `json:"height,omitempty"`
	Frames   int64   `json:"frames"`
	Packets  int64   `json:"packets"`
	Dropped  int64   `json:"droppedPackets,omitempty"` // lost in the ring: the writer fell behind
	Error    string  `json:"error,omitempty"`
}

type slot struct {
	at      time.Duration
	hdr     rtp.Header
	n       int
	payload [1500]byte
}

// ring is a fixed queue of packet copies. The producer (the forwarding goroutine) holds the lock
// only to copy one packet in; the consumer takes one packet out at a time.
type ring struct {
	mu     sync.Mutex
	slots  []slot
	head   int
	n      int
	closed bool
}

// WriteRTP copies pkt into the ring. When the ring is full the packet is dropped and counted: the
// writer will see the gap, drop the broken frames and ask for a keyframe.
func (t *Track) WriteRTP(pkt *rtp.Packet) {
	at := t.rec.svc.now().Sub(t.rec.started)
	r := &t.ring
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	if r.n == len(r.slots) || len(pkt.Payload) > len(r.slots[0].payload) {
		r.mu.Unlock()
		t.dropped.Add(1)
		return
	}
	s := &r.slots[(r.head+r.n)%len(r.slots)]
	s.at = at
	s.hdr = pkt.Header
	s.hdr.Extensions, s.hdr.CSRC = nil, nil // they point into the reader's buffer
	s.n = copy(s.payload[:], pkt.Payload)
	r.n++
	r.mu.Unlock()
	t.received.Add(1)
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// run writes packets from the ring to the file until the track is closed and the ring is empty.
func (t *Track) run() {
	defer close(t.done)
	var (
		hdr     rtp.Header
		payload = make([]byte, 1500)
		at      time.Duration
	)
	for {
		// Everything that arrived before mark is in the ring by now: once it is empty, it is written.
		mark := t.rec.svc.now().Sub(t.rec.started)
		for t.take(&hdr, &payload, &at) {
			t.w.push(&hdr, payload, at)
			t.processed.Add(1)
		}
		t.idleAt.Store(int64(mark))
		select {
		case <-t.wake:
		case <-t.closed:
			for t.take(&hdr, &payload, &at) {
				t.w.push(&hdr, payload, at)
			}
			t.finish()
			return
		}
	}
}

// take moves the oldest packet out of the ring into the caller's buffers.
func (t *Track) take(hdr *rtp.Header, payload *[]byte, at *time.Duration) bool {
	r := &t.ring
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == 0 {
		return false
	}
	s := &r.slots[r.head]
	*hdr, *at = s.hdr, s.at
	*payload = append((*payload)[:0], s.payload[:s.n]...)
	r.head = (r.head + 1) % len(r.slots)
	r.n--
	return true
}

func (t *Track) finish() {
	err := t.w.close()
	res := TrackResult{
		TrackInfo: t.info, Packets: t.received.Load(), Dropped: t.dropped.Load(),
		Frames: t.w.frames, Width: t.w.width, Height: t.w.height, Spans: t.w.spans,
	}
	if t.w.file != nil {
		res.File = "tracks/" + t.file
		res.Offset = Seconds(t.w.offset)
		if n := len(t.w.spans); n > 0 {
			res.Duration = t.w.spans[n-1].End - res.Offset
		}
	}
	if err != nil {
		res.Error = err.Error()
		t.rec.log.Error("recording a track failed; what was written is kept", "participant", t.info.Participant, "source", t.info.Source, "err", err)
	}
	if d := res.Dropped; d > 0 {
		t.rec.log.Warn("recorder fell behind and dropped packets", "participant", t.info.Participant, "source", t.info.Source, "dropped", d)
	}
	t.result = res
	if t.onDone != nil {
		t.onDone(res)
	}
}

// Close stops recording the track and waits until its file is complete. Remove the sink from the
// up-track first; packets written after Close are ignored.
func (t *Track) Close() TrackResult {
	t.once.Do(func() {
		t.ring.mu.Lock()
		t.ring.closed = true
		t.ring.mu.Unlock()
		close(t.closed)
	})
	<-t.done
	return t.result
}

// writtenUpTo reports up to which recording time everything that arrived is in the writer: now
// if every packet received has been processed (a quiet track is up to date too), else when the
// writer last emptied its ring. A finished track is up to date for ever. What is "in the writer" may still wait in
// the sample builder for reordering (at most a second) before it is on disk.
func (t *Track) writtenUpTo(now time.Duration) time.Duration {
	select {
	case <-t.done:
		return 1<<63 - 1
	default:
	}
	if t.processed.Load() >= t.received.Load() {
		return now
	}
	return time.Duration(t.idleAt.Load())
}

// Stats reports packets received and dropped so far (for metrics and the recording indicator).
func (t *Track) Stats() (received, dropped int64) { return t.received.Load(), t.dropped.Load() }
