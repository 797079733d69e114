package sfu

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// Fan-out: how an up-track's packet reaches its down-tracks.
//
// The track's reader goroutine writes the first inlineDowns subscribers itself: for a small room
// that is the cheapest path (no hand-off, no wake-up). Subscribers beyond those are spread over at
// most maxWriters writer goroutines owned by the track, each with its own list of down-tracks. The
// reader copies the packet once into a pooled, reference-counted buffer and hands it to every
// writer with subscribers; the last writer done returns the buffer. A down-track stays with the
// goroutine it was given for its whole life, so its packets are written in order by one goroutine,
// and its scratch header needs no lock. Nothing here allocates per packet: buffers are allocated
// while the pool grows (at most fanPoolSize per track) and reused after.
//
// Why not one goroutine per subscriber: a wake-up per packet per subscriber costs more than the write
// it schedules. Why not a shared pool across tracks: a track's writers keep its subscribers' order
// without locks, and a room's load stays with that room.
const (
	inlineDowns    = 16  // subscribers the reader writes itself
	downsPerWriter = 32  // a new writer starts when every existing one has this many
	maxWriters     = 4   // beyond that, writers share the load evenly
	writerQueue    = 128 // packets waiting per writer (about 1 s of a 1.2 Mbps camera)
	fanPoolSize    = 4 * writerQueue
)

// fanPacket is one packet on its way to the writers: a copy of the payload and the parsed header.
type fanPacket struct {
	pkt      rtp.Packet
	keyframe bool
	at       time.Time // read off the up-track (sender reports, forward delay metric)
	refs     atomic.Int32
	n        int
	buf      [1500]byte
	csrc     [15]uint32
}

// fanWriter is one writer goroutine and the down-tracks it owns.
type fanWriter struct {
	downs atomic.Pointer[[]*DownTrack]
	queue chan *fanPacket
}

// fanOut is an up-track's writers and its buffer pool. The zero value has no writers. Changes
// happen under the up-track's downMu; the forwarding path only loads.
type fanOut struct {
	inline  atomic.Pointer[[]*DownTrack] // written by the reader itself
	writers atomic.Pointer[[]*fanWriter]
	free    chan *fanPacket // the pool; nil until the first writer starts
	pooled  int             // buffers allocated (reader goroutine only)
	closed  bool            // under downMu: the track ended, no new writers
}

// assign gives d to the reader or a writer. Call with the up-track's downMu held.
func (f *fanOut) assign(d *DownTrack, batch *batchGroup, m *Metrics) {
	inline := f.loadInline()
	if len(inline) < inlineDowns || f.closed {
		f.inline.Store(appendDown(inline, d))
		return
	}
	ws := f.loadWriters()
	best := -1
	for i, w := range ws {
		if best < 0 || len(*w.downs.Load()) < len(*ws[best].downs.Load()) {
			best = i
		}
	}
	if len(ws) < maxWriters && (best < 0 || len(*ws[best].downs.Load()) >= downsPerWriter) {
		if f.free == nil {
			f.free = make(chan *fanPacket, fanPoolSize)
		}
		w := &fanWriter{queue: make(chan *fanPacket, writerQueue)}
		w.downs.Store(&[]*DownTrack{})
		next := append(append(make([]*fanWriter, 0, len(ws)+1), ws...), w)
		f.writers.Store(&next)
		go w.run(f, batch, m)
		ws, best = next, len(next)-1
	}
	w := ws[best]
	w.downs.Store(appendDown(*w.downs.Load(), d))
}

// unassign removes d from whoever writes it. Call with the up-track's downMu held. It looks in every
// list rather than remembering where d went: a simulcast subscriber is on two layers' up-tracks
// while it switches, so one place per down-track would not do, and this is not the packet path.
func (f *fanOut) unassign(d *DownTrack) {
	if inline := f.loadInline(); slices.Contains(inline, d) {
		f.inline.Store(removeDownFrom(inline, d))
		return
	}
	for _, w := range f.loadWriters() {
		if downs := *w.downs.Load(); slices.Contains(downs, d) {
			w.downs.Store(removeDownFrom(downs, d))
			return
		}
	}
}

func (f *fanOut) loadInline() []*DownTrack {
	if p := f.inline.Load(); p != nil {
		return *p
	}
	return nil
}

func (f *fanOut) loadWriters() []*fanWriter {
	if p := f.writers.Load(); p != nil {
		return *p
	}
	return nil
}

// hand gives the packet to every writer with subscribers. Reader goroutine only.
func (f *fanOut) hand(pkt *rtp.Packet, keyframe bool, at time.Time, m *Metrics) {
	ws := f.loadWriters()
	if len(ws) == 0 {
		return
	}
	busy := 0
	for _, w := range ws {
		if len(*w.downs.Load()) > 0 {
			busy++
		}
	}
	if busy == 0 {
		return
	}
	p := f.get()
	if p == nil || len(pkt.Payload) > len(p.buf) {
		m.fanoutDrops.Add(float64(busy))
		if p != nil {
			f.put(p)
		}
		return
	}
	// The header's slices belong to the reader, which reuses them for the next packet: take the
	// CSRCs into the buffer; extensions are not forwarded (see DownTrack.writeRTP).
	p.pkt.Header = pkt.Header
	p.pkt.Header.CSRC = p.csrc[:copy(p.csrc[:], pkt.CSRC)]
	p.pkt.Header.Extension, p.pkt.Header.Extensions = false, nil
	p.n = copy(p.buf[:], pkt.Payload)
	p.pkt.Payload = p.buf[:p.n]
	p.keyframe, p.at = keyframe, at
	p.refs.Store(int32(busy) + 1) // the writers, and this function until it has handed it to all
	for _, w := range ws {
		if len(*w.downs.Load()) == 0 {
			continue
		}
		select {
		case w.queue <- p:
		default: // the writer is stuck far behind: its subscribers lose this packet (NACK may recover it)
			m.fanoutDrops.Inc()
			f.release(p)
		}
	}
	f.release(p)
}

// get takes a buffer from the pool, allocating while the pool is below its size; nil when every
// buffer is in flight.
func (f *fanOut) get() *fanPacket {
	select {
	case p := <-f.free:
		return p
	default:
	}
	if f.pooled >= fanPoolSize {
		return nil
	}
	f.pooled++
	return &fanPacket{}
}

func (f *fanOut) put(p *fanPacket) {
	select {
	case f.free <- p:
	default:
	}
}

func (f *fanOut) release(p *fanPacket) {
	if p.refs.Add(-1) == 0 {
		f.put(p)
	}
}

// close ends the writers once they have written what is queued. Call with downMu held, after the
// reader has stopped forwarding.
func (f *fanOut) close() {
	if f.closed {
		return
	}
	f.closed = true
	for _, w := range f.loadWriters() {
		close(w.queue)
	}
}

func (w *fanWriter) run(f *fanOut, batch *batchGroup, m *Metrics) {
	for p := range w.queue {
		batch.begin()
		downs := *w.downs.Load()
		for _, d := range downs {
			d.writeRTP(&p.pkt, p.keyframe, p.at)
		}
		batch.end()
		if len(downs) > 0 {
			m.forwardDelay.Observe(time.Since(p.at).Seconds())
		}
		f.release(p)
	}
}

func appendDown(list []*DownTrack, d *DownTrack) *[]*DownTrack {
	next := make([]*DownTrack, len(list), len(list)+1)
	copy(next, list)
	next = append(next, d)
	return &next
}

func removeDownFrom(list []*DownTrack, d *DownTrack) *[]*DownTrack {
	next := make([]*DownTrack, 0, len(list))
	for _, x := range list {
		if x != d {
			next = append(next, x)
		}
	}
	return &next
}
