// Package recorder records a class from inside the server and turns it into a lesson: each
// published track is written to its own WebM file while the class runs (the recorder is an
// in-process subscriber of the SFU's up-tracks), a timeline keeps what happened when, and when the
// recording stops ffmpeg makes a quick preview and then the lesson video, which go to object storage
// with the original tracks, the timeline, a poster image and a manifest.
package recorder

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/chalk-edu/chalk/recorder/ffmpeg"
	"github.com/chalk-edu/chalk/recorder/storage"
)

// Config sets up a node's recorder.
type Config struct {
	// Dir holds recordings in progress and lessons not yet fully stored, one directory each.
	Dir string
	// Store receives the lessons' objects.
	Store storage.Store
	// FFmpeg runs ffmpeg and ffprobe; nil finds both on PATH.
	FFmpeg *ffmpeg.Tool
	Layout Layout
	Logger *slog.Logger
	// OnUpdate is told each time a lesson's manifest changes (preview there, ready, failed). It runs
	// on the processing goroutine and must not block.
	OnUpdate func(Manifest)
	// UploadRetryFor bounds how long one object's upload is retried before the lesson is left for
	// the next start of the server (default 24 h). Retries back off from 0.5 s to 30 s.
	UploadRetryFor time.Duration
	// MaxComposeAttempts bounds how often a crashing composition is retried, across restarts
	// (default 3). A missing ffmpeg does not count: installing it and restarting retries.
	MaxComposeAttempts int
	// KeepLocal keeps each lesson's working directory after everything is stored.
	KeepLocal bool
	// LivePart is the length of the parts of the lesson video composed while the class runs, in
	// whole seconds (default 10 s; negative: none, all of it is composed after the stop). See live.go.
	LivePart time.Duration
}

// Service records rooms and processes the recordings into lessons, one at a time.
type Service struct {
	cfg Config
	ff  *ffmpeg.Tool
	log *slog.Logger

	now func() time.Time // time.Now; tests drive a simulated clock to record faster than real time

	mu      sync.Mutex
	active  map[string]*Recording // by room
	queue   []string              // lesson ids waiting to be processed
	current string                // the lesson being processed, "" when idle (Pending)
	stopped map[string]time.Time  // lesson id → when Stop was called (real time), for ReadyAfterStop
	wake    chan struct{}

	live       map[string]*liveComposer // by lesson id, until its processing takes the parts
	liveCtx    context.Context          // ends when Run returns: live parts under way are dropped
	liveCancel context.CancelFunc
}

// ErrRecording: the room is already being recorded.
var ErrRecording = errors.New("recorder: the room is already being recorded")

// New prepares the recorder; call Run to process lessons.
func New(cfg Config) (*Service, error) {
	if cfg.Dir == "" || cfg.Store == nil {
		return nil, errors.New("recorder: Config.Dir and Config.Store are required")
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("recorder: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.FFmpeg == nil {
		cfg.FFmpeg = &ffmpeg.Tool{}
	}
	if cfg.UploadRetryFor == 0 {
		cfg.UploadRetryFor = 24 * time.Hour
	}
	if cfg.MaxComposeAttempts == 0 {
		cfg.MaxComposeAttempts = 3
	}
	cfg.Layout = cfg.Layout.withDefaults()
	switch {
	case cfg.LivePart == 0:
		cfg.LivePart = 10 * time.Second
	case cfg.LivePart > 0:
		// Whole seconds: parts then hold whole frames at any integer rate, so the joined video
		// has exactly one run's frames.
		cfg.LivePart = max(time.Second, cfg.LivePart.Truncate(time.Second))
	}
	liveCtx, liveCancel := context.WithCancel(context.Background())
	return &Service{
		cfg: cfg, ff: cfg.FFmpeg, log: cfg.Logger.With("component", "recorder"),
		now: time.Now, active: map[string]*Recording{}, stopped: map[string]time.Time{}, wake: make(chan struct{}, 1),
		live: map[string]*liveComposer{}, liveCtx: liveCtx, liveCancel: liveCancel,
	}, nil
}

// Recording is one room being recorded.
type Recording struct {
	svc     *Service
	id      string
	room    string
	dir     string
	started time.Time
	log     *slog.Logger
	tl      *Timeline

	mu      sync.Mutex
	job     *job
	tracks  []*Track
	names   map[string]int // file base name → uses, for a track published again
	stopped bool
	live    *liveComposer // nil when nothing is composed during the class
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// Start begins recording room under a new lesson id. Add its tracks with AddTrack and its events
// with Event.
func (s *Service) Start(room string) (*Recording, error) {
	return s.StartLesson(room, NewLessonID(room, s.now()))
}

// NewLessonID names a lesson of room recorded from t: readable, sortable by time, and unguessable
// enough that two starts in one second do not collide.
func NewLessonID(room string, t time.Time) string {
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	return fmt.Sprintf("%s-%s-%s", unsafeName.ReplaceAllString(room, "_"), t.UTC().Format("20060102-150405"), hex.EncodeToString(rnd[:]))
}

var lessonIDRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,160}$`)

// StartLesson is Start with the lesson id chosen by the caller (the classroom store names it before
// the recording node starts), e.g. from NewLessonID.
func (s *Service) StartLesson(room, id string) (*Recording, error) {
	if !lessonIDRE.MatchString(id) || id == "." || id == ".." {
		return nil, fmt.Errorf("recorder: lesson id %q is not a safe name", id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active[room] != nil {
		return nil, ErrRecording
	}
	now := s.now()
	dir := filepath.Join(s.cfg.Dir, id)
	if _, err := os.Stat(dir); err == nil {
		return nil, fmt.Errorf("recorder: lesson %s exists already", id)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tracks"), 0o755); err != nil {
		return nil, fmt.Errorf("recorder: %w", err)
	}
	tl, err := openTimeline(filepath.Join(dir, timelineJournal), now)
	if err != nil {
		return nil, err
	}
	r := &Recording{
		svc: s, id: id, room: room, dir: dir, started: now, tl: tl,
		log:   s.log.With("room", room, "lesson", id),
		names: map[string]int{},
		job: &job{Manifest: Manifest{
			Lesson: id, Room: room, StartedAt: now.UTC(), Status: StatusRecording, Tracks: []TrackResult{},
		}, Uploaded: map[string]bool{}},
	}
	if err := r.job.save(dir); err != nil {
		tl.close()
		return nil, err
	}
	tl.Add(now, EventRecordingStarted, "", nil)
	s.active[room] = r
	s.startLive(r)
	r.log.Info("recording started")
	return r, nil
}

// Active returns the room's recording in progress, or nil.
func (s *Service) Active(room string) *Recording {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active[room]
}

// ID is the lesson id.
func (r *Recording) ID() string { return r.id }

// Room is the room being recorded.
func (r *Recording) Room() string { return r.room }

// StartedAt is when the recording began.
func (r *Recording) StartedAt() time.Time { return r.started }

// Event adds a classroom event to the timeline (chat, hands, polls, breakouts, tracks published,
// screen share on/off…): typ and participant as the event names them, data as it serialises.
func (r *Recording) Event(at time.Time, typ, participant string, data any) {
	r.tl.Add(at, typ, participant, data)
}

// Timeline is the recording's timeline.
func (r *Recording) Timeline() *Timeline { return r.tl }

// AddTrack starts recording a track; hand the returned Track to the up-track as a sink
// (sfu.UpTrack.AddSink). requestKeyframe asks the publisher for a keyframe (UpTrack.RequestKeyframe);
// it may be nil. A participant publishing the same source again gets a new file.
func (r *Recording) AddTrack(info TrackInfo, requestKeyframe func()) (*Track, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return nil, errors.New("recorder: recording stopped")
	}
	base := unsafeName.ReplaceAllString(info.Participant, "_") + "-" + unsafeName.ReplaceAllString(info.Source, "_")
	r.names[base]++
	name := fmt.Sprintf("%s-%d.webm", base, r.names[base])
	w, err := newTrackWriter(filepath.Join(r.dir, "tracks", name), info.MimeType, info.ClockRate, requestKeyframe, r.log)
	if err != nil {
		return nil, err
	}
	slots := audioRingSlots
	if w.video {
		slots = videoRingSlots
		if r.live != nil {
			w.seekGrid = r.svc.cfg.LivePart
		}
	}
	t := &Track{
		info: info, file: name, w: w, rec: r,
		ring: ring{slots: make([]slot, slots)},
		wake: make(chan struct{}, 1), closed: make(chan struct{}), done: make(chan struct{}),
	}
	idx := len(r.job.Manifest.Tracks)
	r.job.Manifest.Tracks = append(r.job.Manifest.Tracks, TrackResult{TrackInfo: info})
	// The file's offset is known at its first frame: journal it then, so a crash keeps it.
	w.onFile = func(offset time.Duration) {
		r.mu.Lock()
		defer r.mu.Unlock()
		tr := &r.job.Manifest.Tracks[idx]
		tr.File, tr.Offset = "tracks/"+name, Seconds(offset)
		if err := r.job.save(r.dir); err != nil {
			r.log.Error("recorder journal", "err", err)
		}
	}
	t.onDone = func(res TrackResult) {
		r.mu.Lock()
		r.job.Manifest.Tracks[idx] = res
		r.mu.Unlock()
		r.tl.Add(r.svc.now(), EventTrackEnded, info.Participant, res)
	}
	r.tracks = append(r.tracks, t)
	r.tl.Add(r.svc.now(), EventTrackStarted, info.Participant, info)
	go t.run()
	return t, nil
}

// Stop ends the recording: every track is closed and its file completed, the timeline written, and
// the lesson queued for processing (Run does it). It returns the lesson's manifest as it stands.
func (r *Recording) Stop() (Manifest, error) {
	r.mu.Lock()
	if r.stopped {
		m := r.job.Manifest
		r.mu.Unlock()
		return m, errors.New("recorder: recording already stopped")
	}
	r.stopped = true
	tracks := r.tracks
	r.mu.Unlock()
	if r.live != nil {
		r.live.finish() // the part under way is finished; the processing waits for it
	}

	// The recording ends when Stop is called: closing the tracks flushes their files, which can take a
	// while on a busy machine, and must not lengthen the lesson.
	stoppedAt, stop := time.Now(), r.svc.now()
	for _, t := range tracks {
		t.Close()
	}
	r.tl.Add(stop, EventRecordingStopped, "", nil)
	tlErr := r.tl.close()

	r.mu.Lock()
	m := &r.job.Manifest
	m.StoppedAt, m.Duration, m.Status = stop.UTC(), Seconds(stop.Sub(r.started)), StatusProcessing
	r.job.Recorded = true
	err := errors.Join(tlErr, r.job.save(r.dir))
	manifest := *m
	r.mu.Unlock()

	r.svc.mu.Lock()
	delete(r.svc.active, r.room)
	r.svc.stopped[r.id] = stoppedAt
	r.svc.mu.Unlock()
	r.log.Info("recording stopped", "duration", stop.Sub(r.started).Round(time.Millisecond), "tracks", len(tracks))
	if err != nil {
		// The files are on disk; processing on the next start will still find them.
		return manifest, fmt.Errorf("recorder: stop: %w", err)
	}
	r.svc.enqueue(r.id)
	return manifest, nil
}

func (s *Service) enqueue(id string) {
	s.mu.Lock()
	s.queue = append(s.queue, id)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
