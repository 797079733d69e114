package sfu

// Simulcast: a browser publishes its camera as up to three layers of one track (RIDs q, h and f:
// quarter, half and full resolution). Pion fires OnTrack once per layer. The participant's camera
// stays one UpTrack (what signaling subscribes to and the recorder records); each layer is an
// UpTrack of its own underneath it, with its own reader goroutine, packet cache and list of
// DownTracks. A DownTrack is on the list of the layer it receives, plus, while it switches, the
// layer it switches to: it keeps sending the old layer until a keyframe of the new one arrives
// (requested with a PLI at once), then leaves the old layer's list. A layer nobody receives has an
// empty list and costs only its read; the publisher keeps sending it (see docs/architecture.md).
//
// Which layer: the largest the subscriber's tile needs (set_video_quality), lowered while the
// subscriber's bandwidth estimate (REMB from its browser) says the layer does not fit.

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// maxLayers is how many simulcast layers a track may have.
const maxLayers = 3

const (
	selectEvery = 250 * time.Millisecond // how often layers are measured and subscribers re-placed
	// idleAfter: a layer that sent nothing for this long is inactive (the publisher's encoder
	// dropped it, or the camera is off) and is not chosen.
	idleAfter = time.Second
	// probeGrace: after moving a subscriber up without the estimate's consent, its estimate gets
	// this long to grow (a receiver's REMB follows what it receives, slowly) before it counts.
	probeGrace = 5 * time.Second
	// probeHold: after the estimate pushed a subscriber down, no move up on trial for this long.
	probeHold = 15 * time.Second
	// upHeadroomDiv: moving up without a trial needs the estimate to exceed the layer's rate by
	// 1/upHeadroomDiv of it (25%), so a subscriber at the edge does not switch back and forth.
	upHeadroomDiv = 4
)

// layerIndex maps a RID to a layer, lowest first. Chalk's web client sends q, h and f.
func layerIndex(rid string) int {
	switch rid {
	case "q", "l", "0":
		return 0
	case "h", "m", "1":
		return 1
	case "f", "2":
		return 2
	}
	return -1
}

// layerInfo is what one layer's reader learns per packet; the selection ticker reads it.
type layerInfo struct {
	index  int
	ssrc   uint32
	bytes  atomic.Uint64 // payload bytes received
	width  atomic.Uint32 // of the last keyframe, 0 until one arrives
	height atomic.Uint32
}

// layerState is one layer as layer selection sees it.
type layerState struct {
	active        bool
	width, height int
	bps           uint64 // measured bitrate; 0: not known yet
}

// simulcast is the layer set of a published simulcast track.
type simulcast struct {
	layers [maxLayers]atomic.Pointer[UpTrack]

	mu      sync.Mutex
	states  [maxLayers]layerState
	seen    [maxLayers]time.Time // when the layer last grew
	last    [maxLayers]uint64    // bytes at the last measurement
	running int                  // layers whose reader runs
	sinks   map[Sink]*DownTrack  // in-process subscribers, each fed the highest layer by a DownTrack
}

// observe is the reader's per-packet bookkeeping beside forwarding: a layer's byte count and frame
// size, an audio track's level. It allocates nothing.
func (t *UpTrack) observe(pkt *rtp.Packet) {
	if l := t.layer; l != nil {
		l.bytes.Add(uint64(len(pkt.Payload)))
		if isVP8KeyframeStart(pkt.Payload) {
			if w, h, ok := vp8KeyframeSize(pkt.Payload); ok {
				l.width.Store(uint32(w))
				l.height.Store(uint32(h))
			}
		}
	}
	if v := t.voice; v != nil {
		v.observe(&pkt.Header)
	}
}

// layerOf is the layer a packet of this track came from: by SSRC for simulcast, else 0.
func (t *UpTrack) layerOf(ssrc uint32) int {
	if t.sc == nil {
		return 0
	}
	for i := range t.sc.layers {
		if l := t.sc.layers[i].Load(); l != nil && l.layer.ssrc == ssrc {
			return i
		}
	}
	return -1
}

// layerAt is the UpTrack that carries layer i: the track itself when it has one layer.
func (t *UpTrack) layerAt(i int) *UpTrack {
	if t.sc == nil {
		if i == 0 {
			return t
		}
		return nil
	}
	if i < 0 || i >= maxLayers {
		return nil
	}
	return t.sc.layers[i].Load()
}

// Layers reports how many simulcast layers of the track have arrived and are still read (1 for a
// track without simulcast), and each one's frame width at its last keyframe (0: none seen yet).
// A layer the publisher paused (its encoder short of bandwidth or CPU) still counts here; layer
// selection skips it while it is idle.
func (t *UpTrack) Layers() (n int, widths [maxLayers]int) {
	if t.sc == nil {
		return 1, widths
	}
	for i := range t.sc.layers {
		if l := t.sc.layers[i].Load(); l != nil {
			select {
			case <-l.done:
				continue
			default:
			}
			n++
			widths[i] = int(l.layer.width.Load())
		}
	}
	return n, widths
}

// layerStates copies what selection needs; a single-layer track always has its one layer.
func (t *UpTrack) layerStates(out *[maxLayers]layerState) {
	if t.sc == nil {
		*out = [maxLayers]layerState{{active: true}}
		return
	}
	t.sc.mu.Lock()
	*out = t.sc.states
	t.sc.mu.Unlock()
}

// newSimulcastUpTrack is the published track of a simulcast source; its layers come with addLayer.
func newSimulcastUpTrack(s *SFU, room, participant, source string, remote *webrtc.TrackRemote) *UpTrack {
	t := &UpTrack{
		id: source, room: room, participant: participant,
		kind: remote.Kind(), codec: remote.Codec(), sfu: s,
		log:  s.log.With("room", room, "participant", participant, "track", source),
		done: make(chan struct{}),
		sc:   &simulcast{sinks: map[Sink]*DownTrack{}},
	}
	t.sendPLI = func() error { return nil } // never used: RequestKeyframe asks the layers
	t.downs.Store(&[]*DownTrack{})
	t.sinks.Store(&[]Sink{})
	return t
}

// addLayer makes l layer i of t. The layer counts as active from now until it falls idle.
func (sc *simulcast) addLayer(i int, l *UpTrack) {
	sc.mu.Lock()
	sc.running++
	sc.states[i] = layerState{active: true}
	sc.seen[i] = time.Now()
	sc.last[i] = 0
	sc.mu.Unlock()
	sc.layers[i].Store(l)
}

// layerEnded: one layer's reader stopped. When the last one stops, the track has ended.
func (sc *simulcast) layerEnded(t, l *UpTrack) {
	sc.mu.Lock()
	sc.running--
	sc.states[l.layer.index] = layerState{}
	last := sc.running == 0
	sc.mu.Unlock()
	if last {
		t.end()
	}
}

// run measures the layers and re-places every subscriber, until the track ends.
func (sc *simulcast) run(t *UpTrack) {
	tick := time.NewTicker(selectEvery)
	defer tick.Stop()
	for {
		select {
		case <-t.done:
			return
		case now := <-tick.C:
			sc.measure(now)
			sc.reselectAll(t)
		}
	}
}

func (sc *simulcast) measure(now time.Time) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for i := range sc.layers {
		l := sc.layers[i].Load()
		if l == nil || sc.seen[i].IsZero() {
			continue
		}
		n := l.layer.bytes.Load()
		st := &sc.states[i]
		if delta := n - sc.last[i]; delta > 0 {
			sc.seen[i] = now
			bps := delta * 8 * uint64(time.Second/selectEvery)
			if st.bps == 0 {
				st.bps = bps
			} else {
				st.bps = (st.bps*3 + bps) / 4 // a second's smoothing: frames are bursty
			}
		}
		sc.last[i] = n
		st.active = now.Sub(sc.seen[i]) < idleAfter
		st.width, st.height = int(l.layer.width.Load()), int(l.layer.height.Load())
	}
}

func (sc *simulcast) reselectAll(t *UpTrack) {
	for _, d := range *t.downs.Load() {
		d.reselect()
	}
	sc.mu.Lock()
	sinks := make([]*DownTrack, 0, len(sc.sinks))
	for _, d := range sc.sinks {
		sinks = append(sinks, d)
	}
	sc.mu.Unlock()
	for _, d := range sinks {
		d.reselect()
	}
}

// requestKeyframes asks every layer for a keyframe (a new sink, a resumed source).
func (sc *simulcast) requestKeyframes() {
	for i := range sc.layers {
		if l := sc.layers[i].Load(); l != nil {
			l.RequestKeyframe()
		}
	}
}

func (sc *simulcast) setPaused(t *UpTrack, paused bool) {
	for i := range sc.layers {
		if l := sc.layers[i].Load(); l != nil {
			l.SetPaused(paused)
		}
	}
	if !paused {
		for _, d := range sc.sinkList() {
			d.needKeyframe.Store(true)
		}
	}
}

func (sc *simulcast) sinkList() []*DownTrack {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	out := make([]*DownTrack, 0, len(sc.sinks))
	for _, d := range sc.sinks {
		out = append(out, d)
	}
	return out
}

// attached: a subscriber was added to the track's list. For simulcast that list is only the
// registry; the subscriber is placed on a layer at once.
func (t *UpTrack) attached(d *DownTrack) {
	if t.sc != nil {
		d.reselect()
	}
}

// detached: a subscriber was removed from the track; take it off every layer too.
func (t *UpTrack) detached(d *DownTrack) {
	if t.sc == nil {
		return
	}
	for i := range t.sc.layers {
		if l := t.sc.layers[i].Load(); l != nil {
			l.removeDown(d)
		}
	}
}

// addSimulcastSink feeds s the highest layer through a DownTrack of its own, which switches layers
// at keyframes and keeps the stream continuous like a subscriber's.
func (sc *simulcast) addSink(t *UpTrack, s Sink) {
	sc.mu.Lock()
	if sc.sinks[s] != nil {
		sc.mu.Unlock()
		return
	}
	d := newDownTrack(t, NewMetrics()) // not counted as forwarded to subscribers
	d.bound.Store(&binding{ssrc: sinkSSRC, pt: uint8(t.codec.PayloadType), w: &sinkWriter{s: s}})
	sc.sinks[s] = d
	sc.mu.Unlock()
	d.reselect()
}

func (sc *simulcast) removeSink(t *UpTrack, s Sink) {
	sc.mu.Lock()
	d := sc.sinks[s]
	delete(sc.sinks, s)
	sc.mu.Unlock()
	if d != nil {
		d.bound.Store(nil)
		t.detached(d)
	}
}

// sinkSSRC is the SSRC a sink sees on a simulcast track, whichever layer it is fed.
const sinkSSRC = 0x43484c4b

// sinkWriter hands a DownTrack's rewritten packets to a Sink. Writes are serialised by the
// DownTrack's lock, so one scratch packet serves.
type sinkWriter struct {
	s   Sink
	pkt rtp.Packet
}

func (w *sinkWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.pkt.Header = *h
	w.pkt.Payload = payload
	w.s.WriteRTP(&w.pkt)
	return len(payload), nil
}

func (w *sinkWriter) Write(b []byte) (int, error) { return len(b), nil }

// selection is which layer a DownTrack sends (current) and which it wants (target); -1: none.
// Guarded by the DownTrack's mu.
type selection struct {
	current, target int
	maxW, maxH      int  // the subscriber's tile in pixels; -1: no limit; 0: not shown
	off             bool // the SFU holds this video back (last-N speakers in a large room)
	graceUntil      time.Time
	holdUntil       time.Time
}

func newSelection() selection { return selection{current: -1, target: 0, maxW: -1, maxH: -1} }

// admit decides whether a packet from the track's layer with this SSRC goes to the subscriber,
// switching layers at a keyframe of the target. It runs under d.mu on the forwarding path and
// allocates only when it switches (the old layer's list is copied without this subscriber).
func (d *DownTrack) admit(pkt *rtp.Packet, keyframe bool) bool {
	layer := d.up.layerOf(pkt.SSRC)
	s := &d.sel
	if layer == s.current && layer == s.target {
		return true
	}
	if s.target < 0 || layer != s.target {
		return layer == s.current && s.target >= 0
	}
	if !keyframe && d.up.kind == webrtc.RTPCodecTypeVideo {
		return false
	}
	old := s.current
	s.current = layer
	d.up.log.Debug("simulcast switched", "from", old, "to", layer)
	d.metrics.layerSwitches.Inc()
	d.mun.rebase(&pkt.Header, pkt.Payload, d.up.codec.ClockRate, d.vp8)
	if old >= 0 && d.up.sc != nil {
		if l := d.up.layerAt(old); l != nil {
			l.removeDown(d)
		}
	}
	return true
}

// setTargetLocked moves the target to layer l (-1: nothing) and returns the layer to ask for a
// keyframe, if any. The caller holds d.mu and asks after unlocking.
func (d *DownTrack) setTargetLocked(l int) *UpTrack {
	s := &d.sel
	if l == s.target {
		return nil
	}
	prev := s.target
	s.target = l
	if d.up.sc != nil {
		if prev >= 0 && prev != s.current {
			if x := d.up.layerAt(prev); x != nil {
				x.removeDown(d)
			}
		}
		if l >= 0 && l != s.current {
			if x := d.up.layerAt(l); x != nil {
				x.addDown(d)
			}
		}
	}
	if l < 0 {
		if s.current >= 0 && d.up.sc != nil {
			if x := d.up.layerAt(s.current); x != nil {
				x.removeDown(d)
			}
		}
		s.current = -1
		return nil
	}
	if l != s.current {
		return d.up.layerAt(l)
	}
	return nil
}

// reselect places the subscriber on the layer its tile and bandwidth call for.
func (d *DownTrack) reselect() {
	if d.up.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	var ls [maxLayers]layerState
	d.up.layerStates(&ls)
	share := d.est.share()
	now := time.Now()
	d.mu.Lock()
	s := &d.sel
	from := s.target
	if from < 0 {
		from = s.current
	}
	if now.Before(s.graceUntil) && from >= 0 && ls[from].bps > share {
		share = ls[from].bps // a move up on trial: the estimate has not caught up yet
	}
	l := selectLayer(&ls, from, s.maxW, s.maxH, share, !now.Before(s.holdUntil))
	if s.off {
		l = -1
	}
	if l >= 0 && from >= 0 && share > 0 {
		if l > from && !fits(&ls[l], true, share) {
			s.graceUntil = now.Add(probeGrace) // probing up
		} else if l < from && !now.Before(s.graceUntil) && ls[from].bps > share {
			s.holdUntil = now.Add(probeHold) // the estimate pushed us down
		}
	}
	prevTarget, cur, maxW, maxH := s.target, s.current, s.maxW, s.maxH
	req := d.setTargetLocked(l)
	d.mu.Unlock()
	if l != prevTarget && l >= 0 && share > 0 && l < selectLayer(&ls, from, maxW, maxH, 0, true) {
		d.metrics.layerByEstimate.Inc()
	}
	if l != prevTarget {
		d.up.log.Debug("simulcast target", "from", prevTarget, "to", l, "current", cur, "maxW", maxW, "maxH", maxH, "share", share,
			"w0", ls[0].width, "w1", ls[1].width, "w2", ls[2].width, "a0", ls[0].active, "a1", ls[1].active, "a2", ls[2].active)
	}
	if req != nil {
		req.RequestKeyframe()
	}
}

// selectLayer is the layer policy, a pure function (no allocation, no clock):
//   - want: the lowest active layer that covers the tile (within 3/4 of its size), else the
//     highest active layer; no tile limit means the highest;
//   - with a bandwidth share (0: unknown), the highest active layer up to want that fits it (a
//     layer above cur fits only with 25% to spare: see fits); moving up while the share does not
//     show room yet (a receiver's estimate follows what it receives) is done one layer at a time
//     and only when probe is allowed;
//   - nothing active (the camera is off): keep cur.
//
// cur is the layer wanted until now (-1: none).
func selectLayer(ls *[maxLayers]layerState, cur, maxW, maxH int, share uint64, probe bool) int {
	if maxW == 0 || maxH == 0 {
		return -1
	}
	want, lowest := -1, -1
	for i := range ls {
		if !ls[i].active {
			continue
		}
		if lowest < 0 {
			lowest = i
		}
		want = i
		if covers(&ls[i], maxW, maxH) {
			break
		}
	}
	if want < 0 {
		return cur
	}
	if share == 0 {
		return want
	}
	fit := want
	for fit > lowest && !fits(&ls[fit], fit > cur && cur >= 0, share) {
		fit = lowerActive(ls, fit)
	}
	if cur < 0 || fit != cur || want <= cur || !ls[cur].active || !probe {
		return fit
	}
	for i := cur + 1; i <= want; i++ { // fit == cur < want: try the next layer up
		if ls[i].active {
			return i
		}
	}
	return fit
}

// fits reports whether a layer's bitrate fits the bandwidth share. A layer above the one sent
// needs a quarter more (upHeadroomDiv): a layer's measured rate swings with its frames, and without the margin a
// subscriber the estimate just pushed down went straight back up at the next measurement (Chromium
// subscribers switched every 0.25-2 s at the edge, each switch a keyframe from the publisher).
func fits(l *layerState, up bool, share uint64) bool {
	if up {
		return l.bps+l.bps/upHeadroomDiv <= share
	}
	return l.bps <= share
}

func covers(l *layerState, maxW, maxH int) bool {
	if maxW < 0 || maxH < 0 || l.width == 0 {
		return false
	}
	return 4*l.width >= 3*maxW && 4*l.height >= 3*maxH
}

func lowerActive(ls *[maxLayers]layerState, i int) int {
	for j := i - 1; j >= 0; j-- {
		if ls[j].active {
			return j
		}
	}
	return i
}

// SetMaxSize sets the largest picture the subscriber shows this video at, in pixels: 0 means it is
// not shown (nothing is sent), -1 no limit. The layer follows at once.
func (d *DownTrack) SetMaxSize(w, h int) {
	d.mu.Lock()
	d.sel.maxW, d.sel.maxH = w, h
	d.mu.Unlock()
	d.reselect()
}

// SetSuppressed holds the video back from this subscriber (off) or lets it through again, where
// the SFU, not the subscriber, decides (the last speakers' video in a large room).
func (d *DownTrack) SetSuppressed(off bool) {
	d.mu.Lock()
	d.sel.off = off
	d.mu.Unlock()
	d.reselect()
}

// CurrentLayer is the layer being sent (-1: none), for tests and diagnostics.
func (d *DownTrack) CurrentLayer() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sel.current
}

// requestKeyframe asks the layer the subscriber is switching to (or receives) for a keyframe.
func (d *DownTrack) requestKeyframe() {
	d.mu.Lock()
	l := d.sel.target
	if l < 0 {
		l = d.sel.current
	}
	layer := d.up.layerAt(l)
	d.mu.Unlock()
	if layer != nil {
		layer.RequestKeyframe()
	}
}

// source maps a sequence number the subscriber saw back to the layer and sequence number it came
// from, for a retransmission; only the segment being sent now can be mapped.
func (s *selection) source(up *UpTrack, m *munger, out uint16) (*UpTrack, uint16, bool) {
	if s.current < 0 || !m.started || out-m.segStart >= 0x8000 {
		return nil, 0, false
	}
	l := up.layerAt(s.current)
	if l == nil {
		return nil, 0, false
	}
	return l, out - m.seqOff, true
}

// estimate is a subscriber's bandwidth estimate (bits per second, from its REMB), shared equally by
// its video down-tracks.
type estimate struct {
	bps    atomic.Uint64
	videos atomic.Int32
}

func (e *estimate) set(bps uint64) { e.bps.Store(bps) }

func (e *estimate) share() uint64 {
	if e == nil {
		return 0
	}
	n := e.videos.Load()
	if n < 1 {
		n = 1
	}
	return e.bps.Load() / uint64(n)
}

// addLayerLocked takes one simulcast layer of source: the first creates the published track (and
// reports it started), later ones join it. Called with p.mu held; unlocks it.
func (p *Peer) addLayerLocked(source string, remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	idx := layerIndex(remote.RID())
	up := p.ups[source]
	if idx < 0 || up != nil && (up.sc == nil || up.sc.layers[idx].Load() != nil) {
		p.mu.Unlock()
		p.log.Warn("ignoring unexpected simulcast layer", "source", source, "rid", remote.RID())
		return
	}
	isNew := up == nil
	if isNew {
		up = newSimulcastUpTrack(p.sfu, p.room, p.id, source, remote)
		p.ups[source] = up
	}
	layer := newUpTrack(p.sfu, up.room, p.id, source, remote, p.pub)
	layer.layer = &layerInfo{index: idx, ssrc: uint32(remote.SSRC())}
	layer.paused.Store(up.paused.Load())
	up.sc.addLayer(idx, layer)
	p.mu.Unlock()

	rid := remote.RID()
	go func() { // the publisher's RTCP for this layer, so the interceptors see it
		buf := make([]byte, 1500)
		for {
			if _, _, err := recv.ReadSimulcast(buf, rid); err != nil {
				return
			}
		}
	}()
	go func() {
		layer.run()
		up.sc.layerEnded(up, layer)
	}()
	if isNew {
		p.sfu.addUpTrack(up)
		go up.sc.run(up)
		go func() {
			<-up.done
			p.mu.Lock()
			if p.ups[source] == up {
				delete(p.ups, source)
			}
			p.mu.Unlock()
			p.h.UpTrackEnded(up)
		}()
		p.h.UpTrackStarted(up)
	}
	up.sc.reselectAll(up) // a layer some subscriber wants may just have arrived
}

// SetVideoQuality tells the SFU the largest size (pixels) at which this participant shows a track
// it receives: 0 means not shown. Unknown tracks are ignored.
func (p *Peer) SetVideoQuality(participant, track string, width, height int) {
	if d := p.down(participant, track); d != nil && d.up.kind == webrtc.RTPCodecTypeVideo {
		d.SetMaxSize(width, height)
	}
}

// SuppressVideo holds a video track back from this participant, or lets it through again.
func (p *Peer) SuppressVideo(participant, track string, off bool) {
	if d := p.down(participant, track); d != nil && d.up.kind == webrtc.RTPCodecTypeVideo {
		d.SetSuppressed(off)
	}
}

// Down is the DownTrack forwarding a participant's track to this peer, or nil.
func (p *Peer) Down(participant, track string) *DownTrack { return p.down(participant, track) }

func (p *Peer) down(participant, track string) *DownTrack {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.downs[trackKey{participant, track}]; s != nil {
		return s.down
	}
	return nil
}
