package sfu

// Active speaker detection from the RTP audio-level header extension (RFC 6464): the publisher's
// browser puts the level of every audio packet in its header, so the SFU learns who speaks without
// decoding audio. Each audio up-track's reader counts loud packets (no allocation); once per
// speakerTick the room's detector turns the counts into a smoothed score per track, with
// hysteresis in time, and reports changes of who is speaking. Speaking is media state: derived
// here, sent to clients by signaling, never stored.

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

const (
	speakerTick = 100 * time.Millisecond
	// loudLevel: a packet at or above -loudLevel dBov is voice. Speech into a laptop microphone is
	// about -20 to -40 dBov; a quiet room below -50.
	loudLevel = 45
	// startAfter and stopAfter are the hysteresis: a voice must be heard this long to count as
	// speaking, and be gone this long to stop; short pauses between words do not flicker the ring.
	startAfter = 300 * time.Millisecond
	stopAfter  = 500 * time.Millisecond
	// onScore and offScore bound the smoothed share of loud packets: above onScore is voice,
	// below offScore silence; in between keeps the current state.
	onScore  = 0.4
	offScore = 0.2
	// recentSpeakers is how many past speakers a room remembers, most recent first.
	recentSpeakers = 16
)

// audioLevel returns the level (0 loudest .. 127 silence, in -dBov) of a packet carrying the
// audio-level extension under id. It reads the parsed header in place: no allocation.
func audioLevel(h *rtp.Header, id uint8) (uint8, bool) {
	e := h.GetExtension(id)
	if len(e) < 1 {
		return 0, false
	}
	return e[0] & 0x7f, true
}

// voiceMeter counts an audio track's loud packets for the detector.
type voiceMeter struct {
	id          uint8
	loud, total atomic.Uint32
	state       speakerState // owned by the detector goroutine
}

// newVoiceMeter returns a meter if the audio-level extension was negotiated for recv, else nil.
func newVoiceMeter(recv *webrtc.RTPReceiver) *voiceMeter {
	for _, e := range recv.GetParameters().HeaderExtensions {
		if e.URI == sdp.AudioLevelURI && e.ID > 0 && e.ID < 256 {
			return &voiceMeter{id: uint8(e.ID)}
		}
	}
	return nil
}

func (v *voiceMeter) observe(h *rtp.Header) {
	level, ok := audioLevel(h, v.id)
	if !ok {
		return
	}
	v.total.Add(1)
	if level <= loudLevel {
		v.loud.Add(1)
	}
}

// speakerState is one track's detector state.
type speakerState struct {
	score    float64
	speaking bool
	run      time.Duration // how long the score has been on the other side of the current state
	since    time.Time     // when speaking last started
}

// step takes one window's share of loud packets (frac) lasting dt and reports whether speaking
// changed.
func (s *speakerState) step(frac float64, dt time.Duration, now time.Time) bool {
	s.score = 0.5*s.score + 0.5*frac
	against := s.score >= onScore
	if s.speaking {
		against = s.score < offScore
	}
	if !against {
		s.run = 0
		return false
	}
	s.run += dt
	if s.speaking && s.run >= stopAfter || !s.speaking && s.run >= startAfter {
		s.speaking, s.run = !s.speaking, 0
		if s.speaking {
			s.since = now
		}
		return true
	}
	return false
}

// SpeakersFunc receives a room's speakers whenever they change: who speaks now (latest to start
// first) and the recent speakers (most recent first, including the current ones).
type SpeakersFunc func(room string, speaking, recent []string)

// speakerDetector keeps each room's speakers.
type speakerDetector struct {
	rooms map[string]*roomVoices
}

type roomVoices struct {
	speaking []string
	recent   []string
	seen     bool
}

// OnActiveSpeakers starts reporting speaker changes to f (once; later calls are ignored). The
// detector runs until Close.
func (s *SFU) OnActiveSpeakers(f SpeakersFunc) {
	s.speakersOnce.Do(func() {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		s.closers = append(s.closers, func() error { close(stop); wg.Wait(); return nil })
		det := &speakerDetector{rooms: map[string]*roomVoices{}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(speakerTick)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case now := <-tick.C:
					det.step(s.audioTracks(), speakerTick, now, f)
				}
			}
		}()
	})
}

// audioTracks lists, per room, the audio up-tracks that carry levels.
func (s *SFU) audioTracks() map[string][]*UpTrack {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]*UpTrack, len(s.rooms))
	for name, r := range s.rooms {
		for _, t := range r.tracks {
			if t.voice != nil {
				out[name] = append(out[name], t)
			}
		}
	}
	return out
}

// step advances every room by one window and reports the rooms whose speakers changed.
func (det *speakerDetector) step(rooms map[string][]*UpTrack, dt time.Duration, now time.Time, f SpeakersFunc) {
	for _, r := range det.rooms {
		r.seen = false
	}
	for name, tracks := range rooms {
		r := det.rooms[name]
		if r == nil {
			r = &roomVoices{}
			det.rooms[name] = r
		}
		r.seen = true
		var speaking []*UpTrack
		for _, t := range tracks {
			v := t.voice
			loud, total := v.loud.Swap(0), v.total.Swap(0)
			frac := 0.0
			if total > 0 {
				frac = float64(loud) / float64(total)
			}
			if v.state.step(frac, dt, now) && v.state.speaking {
				r.recent = slices.DeleteFunc(r.recent, func(id string) bool { return id == t.participant })
				r.recent = slices.Insert(r.recent, 0, t.participant)
				if len(r.recent) > recentSpeakers {
					r.recent = r.recent[:recentSpeakers]
				}
			}
			if v.state.speaking {
				speaking = append(speaking, t)
			}
		}
		slices.SortFunc(speaking, func(a, b *UpTrack) int { return b.voice.state.since.Compare(a.voice.state.since) })
		ids := make([]string, len(speaking))
		for i, t := range speaking {
			ids[i] = t.participant
		}
		if !slices.Equal(ids, r.speaking) {
			r.speaking = ids
			f(name, slices.Clone(ids), slices.Clone(r.recent))
		}
	}
	for name, r := range det.rooms {
		if !r.seen {
			delete(det.rooms, name)
		}
	}
}
