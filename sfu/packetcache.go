package sfu

import "sync"

// packetCacheSlots is how many recent packets a video up-track keeps for retransmission: about two
// seconds of a 1.5 Mbps camera, far more than a round trip, in 384 KiB per track.
const packetCacheSlots = 256

// packetCache keeps the last packets of one up-track, indexed by sequence number, so a subscriber's
// NACK is answered from one shared copy. (Pion's NACK responder copies every packet once per
// subscriber, into a fresh allocation.) Slots are fixed arrays: storing allocates nothing.
type packetCache struct {
	mu    sync.Mutex
	slots []cacheSlot
}

type cacheSlot struct {
	seq   uint16
	valid bool
	n     int
	buf   [1500]byte
}

func newPacketCache(slots int) *packetCache {
	return &packetCache{slots: make([]cacheSlot, slots)}
}

// store keeps a copy of the raw packet with sequence number seq, replacing whatever was in its slot.
func (c *packetCache) store(seq uint16, raw []byte) {
	c.mu.Lock()
	s := &c.slots[int(seq)%len(c.slots)]
	s.seq, s.valid, s.n = seq, true, copy(s.buf[:], raw)
	c.mu.Unlock()
}

// get copies the packet with sequence number seq into dst and returns its length, or 0 if it is no
// longer (or never was) in the cache.
func (c *packetCache) get(seq uint16, dst []byte) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.slots[int(seq)%len(c.slots)]
	if !s.valid || s.seq != seq {
		return 0
	}
	return copy(dst, s.buf[:s.n])
}
