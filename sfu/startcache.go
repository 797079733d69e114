package sfu

import (
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Starting a subscriber from the packet cache. A new video subscriber needs a keyframe. Asking the
// publisher for one costs a round trip and the encoder's next frame, and requests are throttled
// (keyframeInterval): when many subscribers join at once (a lecture starting) each waited for the
// next free slot, a quarter of a second on average, the largest part of joining. But the latest
// keyframe, and every packet since, is usually still in the up-track's packet cache, sent there for
// someone else's request moments ago. A subscriber whose connection comes up is sent those packets
// at once, and the publisher is asked for nothing; only when no recent keyframe is cached is it
// asked. Simulcast tracks are left to their layer switching, which asks the layer it wants.

// cachedFlag marks a stored sequence number (so that 0 means "none").
const cachedFlag = 1 << 16

// startMaxAge: an older keyframe is not replayed; the subscriber would receive a burst of old
// frames (and at most keyframeInterval is what it would otherwise wait). A variable so that tests
// on a loaded machine do not depend on how fast a connection comes up.
var startMaxAge atomic.Int64 // nanoseconds

func init() { startMaxAge.Store(int64(keyframeInterval)) }

// remember caches a packet for retransmission and notes it for startFromCache. Reader only.
func (t *UpTrack) remember(pkt *rtp.Packet, raw []byte) {
	if t.cache == nil || len(pkt.Payload) == 0 {
		return
	}
	t.cache.store(pkt.SequenceNumber, raw)
	if isVP8KeyframeStart(pkt.Payload) {
		t.keySeq.Store(uint32(pkt.SequenceNumber) | cachedFlag)
		t.keyAt.Store(time.Now().UnixNano())
	}
	t.newest.Store(uint32(pkt.SequenceNumber) | cachedFlag)
}

// startResult says what startFromCache did.
type startResult int

const (
	startNone     startResult = iota // no recent keyframe cached: ask the publisher
	startDone                        // sent (or the subscriber no longer waits)
	startNotReady                    // the transport took nothing yet (SRTP starts just after "connected")
)

// startOrRequest starts a waiting subscriber from the cache or asks the publisher for a keyframe.
// It runs when the subscribe connection comes up; Pion reports that a moment before SRTP can
// send, so a write that is not taken is retried for at most 100 ms.
func (d *DownTrack) startOrRequest() {
	for range 20 {
		switch d.startFromCache() {
		case startDone:
			return
		case startNone:
			d.requestKeyframe()
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	d.requestKeyframe()
}

// startFromCache sends a subscriber that waits for a keyframe the latest cached keyframe and the
// packets since.
func (d *DownTrack) startFromCache() startResult {
	up := d.up
	if up.kind != webrtc.RTPCodecTypeVideo || up.sc != nil || up.cache == nil {
		return startNone
	}
	b := d.bound.Load()
	key := up.keySeq.Load()
	if b == nil || key == 0 || time.Since(time.Unix(0, up.keyAt.Load())) > time.Duration(startMaxAge.Load()) {
		return startNone
	}
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	// Under d.mu the track's writers wait: every packet cached up to newest is sent here, in order,
	// and writeRTP skips those it is handed afterwards.
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.needKeyframe.Load() {
		return startDone
	}
	first, last := uint16(key), uint16(up.newest.Load())
	if last-first >= packetCacheSlots/2 { // the slots may have been reused
		return startNone
	}
	if n := up.cache.get(first, buf); n == 0 || pkt.Unmarshal(buf[:n]) != nil || !isVP8KeyframeStart(pkt.Payload) {
		return startNone
	}
	up.sfu.batch.begin() // the burst goes out in one sendmmsg where batching is on
	defer up.sfu.batch.end()
	for seq := first; ; seq++ {
		// A gap (padding the reader did not cache, a loss) stays a gap, as it was for the others.
		if n := up.cache.get(seq, buf); n > 0 && pkt.Unmarshal(buf[:n]) == nil && len(pkt.Payload) > 0 {
			if !d.send(b, &pkt, seq == first) {
				return startNotReady
			}
		}
		if seq == last {
			break
		}
	}
	d.needKeyframe.Store(false)
	d.replayedTo, d.replayed = last, true
	return startDone
}

// send writes one packet from the cache (its header extensions are the publisher's: dropped like
// writeRTP's). Called with d.mu held; false if the transport took nothing.
func (d *DownTrack) send(b *binding, pkt *rtp.Packet, keyframe bool) bool {
	if !d.admit(pkt, keyframe) {
		return true
	}
	n, err := d.sendLocked(b, pkt, time.Now())
	return err != nil || n > 0
}
