package signaling

// Media state a session derives for its own participant, beside the classroom state it follows:
// the tile sizes its client asked for (set_video_quality → the SFU's simulcast layer choice), who is
// speaking (from the SFU's audio-level detector → active_speakers), and, in a large room, which
// cameras a student receives (the last speakers', instructors' and every screen share). None of it
// goes through the store: it is derived from media on the node that holds the room's media, and a
// reconnecting client simply gets the next change.

import (
	"errors"
	"slices"

	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/sfu"
)

// Defaults for the last-N rule (cmd/chalk flags -video-last-n and -video-last-n-above).
const (
	DefaultVideoLastN      = 6
	DefaultVideoLastNAbove = 12
	maxTilePixels          = 8192
)

type (
	videoQualityMsg struct {
		ParticipantID string       `json:"participantId"`
		TrackID       rooms.Source `json:"trackId"`
		Width         int          `json:"width"`
		Height        int          `json:"height"`
	}
	activeSpeakersMsg struct {
		Speakers []string `json:"speakers"`
	}
)

func (m *videoQualityMsg) validate() error {
	if !idRE.MatchString(m.ParticipantID) {
		return errors.New("participantId is malformed")
	}
	if m.TrackID != rooms.SourceCamera && m.TrackID != rooms.SourceScreen {
		return errors.New(`trackId must be "camera" or "screen"`)
	}
	if m.Width < 0 || m.Height < 0 || m.Width > maxTilePixels || m.Height > maxTilePixels {
		return errors.New("width and height must be 0 to 8192 pixels")
	}
	if (m.Width == 0) != (m.Height == 0) {
		return errors.New("width and height must both be 0 (not shown) or both positive")
	}
	return nil
}

// mediaView is the session's derived media state.
type mediaView struct {
	roster     map[string]rosterEntry      // the room's moderators and camera senders, for the last-N rule
	recent     []string                    // the room's recent speakers, most recent first
	quality    map[mediaRef][2]int         // tile sizes the client asked for, re-applied on resubscribe
	suppressed map[string]bool             // cameras held back from this student
	downs      map[mediaRef]*sfu.DownTrack // the down-tracks the above were applied to
	tracks     map[mediaRef]bool           // others' published tracks, for media that arrives later (cascade_edge.go)
}

type rosterEntry struct {
	role   rooms.Role
	camera bool
}

// keep reports whether the last-N rule needs the entry. The roster holds only moderators and
// participants with a camera, so a lecture's sessions do not each hold every student (200 × 200
// entries); anyone not in it is a student without a camera.
func (e rosterEntry) keep() bool { return e.camera || e.role.Moderator() }

// set records p's entry, or forgets p if the last-N rule does not need it.
func (v *mediaView) set(id string, e rosterEntry) {
	if e.keep() {
		v.roster[id] = e
	} else {
		delete(v.roster, id)
	}
}

type mediaRef struct{ participant, track string }

func (v *mediaView) init() {
	if v.roster == nil {
		v.roster, v.quality, v.suppressed = map[string]rosterEntry{}, map[mediaRef][2]int{}, map[string]bool{}
		v.downs = map[mediaRef]*sfu.DownTrack{}
		v.tracks = map[mediaRef]bool{}
	}
}

// fromSnapshot replaces the roster.
func (v *mediaView) fromSnapshot(snap rooms.Snapshot) {
	v.init()
	clear(v.roster)
	clear(v.tracks)
	for _, p := range snap.Participants {
		v.set(p.ID, rosterEntry{role: p.Role, camera: hasCamera(p.Tracks)})
		for _, t := range p.Tracks {
			v.tracks[mediaRef{p.ID, t.ID}] = true
		}
	}
}

// note follows one room event and reports whether it changed who has a camera or a role.
func (v *mediaView) note(ev rooms.Event) bool {
	v.init()
	switch ev.Type {
	case rooms.EventParticipantJoined, rooms.EventParticipantUpdated:
		if p := ev.Participant; p != nil {
			v.set(p.ID, rosterEntry{role: p.Role, camera: hasCamera(p.Tracks)})
			for _, t := range p.Tracks {
				v.tracks[mediaRef{p.ID, t.ID}] = true
			}
		}
	case rooms.EventParticipantLeft:
		delete(v.roster, ev.ParticipantID)
		for ref := range v.tracks {
			if ref.participant == ev.ParticipantID {
				delete(v.tracks, ref)
			}
		}
		delete(v.suppressed, ev.ParticipantID)
		for ref := range v.downs {
			if ref.participant == ev.ParticipantID {
				delete(v.downs, ref)
				delete(v.quality, ref)
			}
		}
	case rooms.EventTrackPublished, rooms.EventTrackUnpublished:
		if ev.Track != nil {
			v.tracks[mediaRef{ev.ParticipantID, ev.Track.ID}] = ev.Type == rooms.EventTrackPublished
		}
		if ev.Track != nil && ev.Track.Source == rooms.SourceCamera {
			e, ok := v.roster[ev.ParticipantID]
			if !ok {
				e.role = rooms.RoleStudent // not in the roster: a student without a camera
			}
			e.camera = ev.Type == rooms.EventTrackPublished
			v.set(ev.ParticipantID, e)
		}
	default:
		return false
	}
	return true
}

// published reports whether the room lists participant's track as published.
func (v *mediaView) published(participant, track string) bool {
	return v.tracks[mediaRef{participant, track}]
}

func hasCamera(ts []rooms.Track) bool {
	return slices.ContainsFunc(ts, func(t rooms.Track) bool { return t.Source == rooms.SourceCamera })
}

func (v *mediaView) cameras() int {
	n := 0
	for _, e := range v.roster {
		if e.camera {
			n++
		}
	}
	return n
}

// lastNOff decides whether a student receives a participant's camera: in a room with more than
// above cameras, only the n most recent speakers' and the moderators' are forwarded.
func lastNOff(v *mediaView, id string, student bool, n, above int) bool {
	e := v.roster[id]
	if n <= 0 || !student || e.role.Moderator() || v.cameras() <= above {
		return false
	}
	return !slices.Contains(v.recent[:min(n, len(v.recent))], id)
}

func (s *session) handleVideoQuality(b *videoQualityMsg) {
	s.media.init()
	s.media.quality[mediaRef{b.ParticipantID, string(b.TrackID)}] = [2]int{b.Width, b.Height}
	s.peer.SetVideoQuality(b.ParticipantID, string(b.TrackID), b.Width, b.Height)
}

// afterSubscribe gives a new down-track what the client and the last-N rule asked of the old one.
func (s *session) afterSubscribe(participant, track string) {
	s.media.init()
	ref := mediaRef{participant, track}
	d := s.peer.Down(participant, track)
	if d == nil || s.media.downs[ref] == d {
		return // already subscribed: nothing new
	}
	s.media.downs[ref] = d
	if q, ok := s.media.quality[mediaRef{participant, track}]; ok {
		s.peer.SetVideoQuality(participant, track, q[0], q[1])
	}
	if track == string(rooms.SourceCamera) {
		delete(s.media.suppressed, participant) // a fresh down-track forwards
		s.applyLastN()
	}
}

// applyLastN holds back or lets through each camera this participant receives.
func (s *session) applyLastN() {
	cfg := s.hub.cfg
	if cfg.VideoLastN <= 0 || s.peer == nil || !s.joined {
		return
	}
	s.media.init()
	for id, e := range s.media.roster {
		if id == s.me.ID || !e.camera {
			continue
		}
		off := lastNOff(&s.media, id, s.isStudent(), cfg.VideoLastN, cfg.VideoLastNAbove)
		if s.media.suppressed[id] == off {
			continue
		}
		s.media.suppressed[id] = off
		s.peer.SuppressVideo(id, string(rooms.SourceCamera), off)
	}
}

// onSpeakers: the SFU's detector reports the room's speakers changed.
func (s *session) onSpeakers(room string, speaking, recent []string) {
	if room != s.room || !s.joined {
		return
	}
	s.media.recent = recent
	s.send("active_speakers", activeSpeakersMsg{Speakers: speaking})
	s.applyLastN()
}

// speakersChanged hands a room's speaker change to its sessions on this node (from the SFU's
// detector goroutine; must not block).
func (h *Hub) speakersChanged(room string, speaking, recent []string) {
	h.mu.Lock()
	var ss []*session
	if r := h.rooms[room]; r != nil {
		for _, s := range r.sessions {
			ss = append(ss, s)
		}
	}
	h.mu.Unlock()
	for _, s := range ss {
		s.mbox.post(func() { s.onSpeakers(room, speaking, recent) })
	}
}
