package signaling

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/chalk-edu/chalk/recorder"
	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/sfu"
)

// Recording. Whether a room is being recorded is classroom state (the store's Recording, shown to
// everyone as the indicator); the capture itself is this node's: the Recording names the node that
// holds the room's media, and that node's hub, seeing recording_started in the room's event feed,
// starts its recorder, attaches it as a sink to each up-track of the room and follows the feed —
// tracks coming and going, and every event into the lesson's timeline — until recording_stopped.
// The recorder is thereby just another in-process subscriber of the room, fed by the one event path.

// Error code for recording requests a node cannot serve.
const CodeRecordingUnavailable = "recording_unavailable"

// Reasons a recording stops.
const (
	RecordingStopped   = "stopped"    // an instructor stopped it
	RecordingRoomEmpty = "room_empty" // everyone left
)

// lessonUpdateTimeout bounds one store write of a lesson's state from the recorder's callback.
const lessonUpdateTimeout = 10 * time.Second

type (
	recordingMsg struct {
		Seq       uint64          `json:"seq"`
		Recording rooms.Recording `json:"recording"`
		By        string          `json:"by,omitempty"`
		Reason    string          `json:"reason,omitempty"`
	}
	lessonMsg struct {
		Seq    uint64       `json:"seq"`
		Lesson rooms.Lesson `json:"lesson"`
	}
)

// recordings runs this node's recorder for the rooms whose Recording names this node.
type recordings struct {
	h   *Hub
	svc *recorder.Service // nil: this node does not record

	mu     sync.Mutex
	active map[string]*roomRecording // by room
}

// roomRecording is one room being captured here: by the room's feed goroutine, and by relayed
// tracks arriving from another node (cascade_edge.go), under mu.
type roomRecording struct {
	mu      sync.Mutex
	waiting map[trackRef]bool // published, but the media was not on this node yet (relayed later)
	stopped bool              // stop has unhooked the sinks: attach nothing more
	id      string
	rec     *recorder.Recording
	people  map[string]rooms.Participant // by participant id: names and roles for the track files
	sinks   map[trackRef]*recordedTrack
}

type trackRef struct{ participant, track string }

type recordedTrack struct {
	up *sfu.UpTrack
	t  *recorder.Track
}

func newRecordings(h *Hub, svc *recorder.Service) *recordings {
	return &recordings{h: h, svc: svc, active: map[string]*roomRecording{}}
}

// LessonUpdated is the recorder's OnUpdate: it writes the lesson's state to the store, whose
// lesson_updated event tells the room. It must not block the recorder, so it writes in the background.
func (h *Hub) LessonUpdated(m recorder.Manifest) {
	l := rooms.Lesson{
		ID: m.Lesson, Room: m.Room, Status: m.Status, Error: m.Error, StartedAt: m.StartedAt,
		Duration: m.Duration.D().Seconds(), Preview: m.Preview != "", Video: m.Video != "", UpdatedAt: m.UpdatedAt,
	}
	if l.UpdatedAt.IsZero() {
		l.UpdatedAt = time.Now().UTC()
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), lessonUpdateTimeout)
		defer cancel()
		if err := h.cfg.Store.UpdateLesson(ctx, l.Room, l); err != nil {
			h.log.Error("store lesson state", "room", l.Room, "lesson", l.ID, "status", l.Status, "err", err)
		}
	}()
}

// onEvent follows one event of room; it runs on the room's feed goroutine, in Seq order.
func (rs *recordings) onEvent(room string, ev rooms.Event) {
	if rs.svc == nil {
		return
	}
	if ev.Type == rooms.EventRecordingStarted && ev.Recording.Node == rs.h.cfg.Node {
		rs.start(room, *ev.Recording)
	}
	rs.mu.Lock()
	rr := rs.active[room]
	rs.mu.Unlock()
	if rr == nil {
		return
	}
	rr.mu.Lock()
	stopping := false
	defer func() {
		rr.mu.Unlock()
		if stopping {
			rs.stop(room)
		}
	}()
	if ev.Type != rooms.EventPollVoted { // a vote names only its poll; the results come with the close
		rr.rec.Event(ev.At, string(ev.Type), ev.ParticipantID, ev)
	}
	switch ev.Type {
	case rooms.EventParticipantJoined:
		rr.people[ev.Participant.ID] = *ev.Participant
		for _, t := range ev.Participant.Tracks { // someone moving in from a breakout brings their tracks
			rs.attach(room, rr, ev.Participant.ID, t.ID)
		}
	case rooms.EventParticipantUpdated:
		rr.people[ev.Participant.ID] = *ev.Participant
	case rooms.EventTrackPublished:
		rs.attach(room, rr, ev.ParticipantID, ev.Track.ID)
	case rooms.EventTrackUnpublished:
		rr.detach(trackRef{ev.ParticipantID, ev.Track.ID})
	case rooms.EventParticipantLeft:
		for ref := range rr.sinks {
			if ref.participant == ev.ParticipantID {
				rr.detach(ref)
			}
		}
		for ref := range rr.waiting {
			if ref.participant == ev.ParticipantID {
				delete(rr.waiting, ref)
			}
		}
	case rooms.EventRecordingStopped:
		stopping = ev.Recording.ID == rr.id
	}
}

// start begins capturing room: every up-track it has here now, and later ones from the feed.
func (rs *recordings) start(room string, r rooms.Recording) {
	rec, err := rs.svc.StartLesson(room, r.ID)
	if err != nil {
		rs.h.log.Error("start recording", "room", room, "lesson", r.ID, "err", err)
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		// Take the indicator down: a recording that does not record must not say it does.
		if _, serr := rs.h.cfg.Store.StopRecording(ctx, room, "", "failed: "+err.Error()); serr != nil && !errors.Is(serr, rooms.ErrNotFound) {
			rs.h.log.Error("clear failed recording", "room", room, "err", serr)
		}
		return
	}
	rr := &roomRecording{id: r.ID, rec: rec, people: map[string]rooms.Participant{}, sinks: map[trackRef]*recordedTrack{}, waiting: map[trackRef]bool{}}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	snap, err := rs.h.cfg.Store.Snapshot(ctx, room)
	cancel()
	if err != nil {
		rs.h.log.Error("read room for recording; names will be missing", "room", room, "err", err)
	}
	for _, p := range snap.Participants {
		rr.people[p.ID] = p
	}
	rs.mu.Lock()
	rs.active[room] = rr
	rs.mu.Unlock()
	rr.mu.Lock()
	defer rr.mu.Unlock()
	for _, up := range rs.h.cfg.SFU.UpTracks(room) {
		rs.attach(room, rr, up.Participant(), up.ID())
	}
}

// attach records one up-track of room, if this node has it and it is not recorded yet. Call with
// rr.mu held.
func (rs *recordings) attach(room string, rr *roomRecording, participant, track string) {
	ref := trackRef{participant, track}
	if rr.sinks[ref] != nil {
		return
	}
	up := rs.h.cfg.SFU.UpTrack(room, participant, track)
	if up == nil {
		rr.waiting[ref] = true // published on another node (relayed here later, perhaps), or already gone
		return
	}
	delete(rr.waiting, ref)
	p := rr.people[participant]
	codec := up.Codec()
	t, err := rr.rec.AddTrack(recorder.TrackInfo{
		Participant: participant, Name: p.Name, Role: string(p.Role), Source: track,
		MimeType: codec.MimeType, ClockRate: codec.ClockRate,
	}, up.RequestKeyframe)
	if err != nil {
		rs.h.log.Error("record track", "room", room, "participant", participant, "track", track, "err", err)
		return
	}
	up.AddSink(t)
	rr.sinks[ref] = &recordedTrack{up: up, t: t}
}

// detach stops recording a track. Call with rr.mu held.
func (rr *roomRecording) detach(ref trackRef) {
	delete(rr.waiting, ref)
	if s := rr.sinks[ref]; s != nil {
		s.up.RemoveSink(s.t)
		s.t.Close()
		delete(rr.sinks, ref)
	}
}

// stop ends the capture; the recorder then makes the lesson in the background.
func (rs *recordings) stop(room string) {
	rs.mu.Lock()
	rr := rs.active[room]
	delete(rs.active, room)
	rs.mu.Unlock()
	if rr == nil {
		return
	}
	// Unhook the sinks first (cheap), then stop: Stop takes the end time before it closes the
	// tracks, whose files take a moment to flush.
	rr.mu.Lock()
	for _, t := range rr.sinks {
		t.up.RemoveSink(t.t)
	}
	clear(rr.sinks)
	clear(rr.waiting)
	rr.stopped = true
	rr.mu.Unlock()
	if _, err := rr.rec.Stop(); err != nil {
		rs.h.log.Error("stop recording", "room", room, "lesson", rr.id, "err", err)
	}
}

// relayedTrack: a relayed track appeared or ended on this node. A published track whose media was
// not here when it was published is recorded now; one whose relay reconnected continues in a new
// file of the same track.
func (rs *recordings) relayedTrack(room, participant, track string) {
	rs.mu.Lock()
	rr := rs.active[room]
	rs.mu.Unlock()
	if rr == nil {
		return
	}
	ref := trackRef{participant, track}
	rr.mu.Lock()
	defer rr.mu.Unlock()
	s := rr.sinks[ref]
	if rr.stopped || s == nil && !rr.waiting[ref] || s != nil && s.up == rs.h.cfg.SFU.UpTrack(room, participant, track) {
		return
	}
	if s != nil {
		rr.detach(ref)
	}
	rs.attach(room, rr, participant, track)
}

// feedEnded: this node has nobody left in room, so nothing here to record: stop, in the store too.
func (rs *recordings) feedEnded(room string) {
	rs.mu.Lock()
	rr := rs.active[room]
	rs.mu.Unlock()
	if rr == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if _, err := rs.h.cfg.Store.StopRecording(ctx, room, "", RecordingRoomEmpty); err != nil && !errors.Is(err, rooms.ErrNotFound) {
		rs.h.log.Error("stop recording of an empty room", "room", room, "err", err)
	}
	rs.stop(room)
}

// stopAll ends every capture (the node is shutting down); the recorder finishes the lessons on its
// next start if it cannot now.
func (rs *recordings) stopAll() {
	rs.mu.Lock()
	var all []string
	for room := range rs.active {
		all = append(all, room)
	}
	rs.mu.Unlock()
	for _, room := range all {
		rs.feedEnded(room)
	}
}

func (s *session) handleStartRecording(conn *wsConn) {
	if !s.isInstructor() {
		s.fail(conn, protoErr(CodeForbidden, "start_recording", "only an instructor can start recording"))
		return
	}
	if s.hub.recs.svc == nil {
		s.fail(conn, protoErr(CodeRecordingUnavailable, "start_recording", "this server is not set up to record"))
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	switch err := s.hub.cfg.Store.StartRecording(ctx, s.room, s.newRecording(s.me.ID)); {
	case errors.Is(err, rooms.ErrRecordingActive):
		s.fail(conn, protoErr(CodeConflict, "start_recording", "the room is already being recorded"))
	case err != nil:
		s.storeError(conn, "start_recording", err)
	}
}

func (s *session) handleStopRecording(conn *wsConn) {
	if !s.isInstructor() {
		s.fail(conn, protoErr(CodeForbidden, "stop_recording", "only an instructor can stop recording"))
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	switch _, err := s.hub.cfg.Store.StopRecording(ctx, s.room, s.me.ID, RecordingStopped); {
	case errors.Is(err, rooms.ErrNotFound):
		s.fail(conn, protoErr(CodeConflict, "stop_recording", "the room is not being recorded"))
	case err != nil:
		s.storeError(conn, "stop_recording", err)
	}
}

// activeRecording is the room's recording for joined and resync (nil: not recording). A failed
// read is logged and shows no indicator until the next event.
func (s *session) activeRecording() *rooms.Recording {
	ctx, cancel := s.ctx()
	defer cancel()
	r, err := s.hub.cfg.Store.ActiveRecording(ctx, s.room)
	if err != nil {
		s.log.Error("read recording state", "err", err)
	}
	return r
}

// onRecordingEvent tells the client about recording and lesson events; false for other types.
func (s *session) onRecordingEvent(ev rooms.Event) bool {
	switch ev.Type {
	case rooms.EventRecordingStarted, rooms.EventRecordingStopped:
		s.send(string(ev.Type), recordingMsg{Seq: ev.Seq, Recording: *ev.Recording, By: ev.By, Reason: ev.Reason})
	case rooms.EventLessonUpdated:
		s.send(string(ev.Type), lessonMsg{Seq: ev.Seq, Lesson: *ev.Lesson})
	default:
		return false
	}
	return true
}

// autoRecord starts recording the room when the node records automatically and an instructor has
// just joined; a recording already running is fine.
func (s *session) autoRecord() {
	if !s.hub.cfg.AutoRecord || s.hub.recs.svc == nil || !s.isInstructor() {
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	err := s.hub.cfg.Store.StartRecording(ctx, s.room, s.newRecording(""))
	if err != nil && !errors.Is(err, rooms.ErrRecordingActive) {
		s.log.Error("start recording automatically", "err", err)
	}
}

// newRecording names a recording of the session's room, captured by this node (which holds the
// room's media); by is who started it, "" when automatic.
func (s *session) newRecording(by string) rooms.Recording {
	now := time.Now().UTC()
	return rooms.Recording{ID: recorder.NewLessonID(s.room, now), Node: s.hub.cfg.Node, StartedAt: now, By: by}
}
