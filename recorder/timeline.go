package recorder

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"
)

// Timeline event types the recorder adds itself. Classroom events keep the type their source gave
// them (the rooms package's event types: "chat", "hand_raised", "track_published", …).
const (
	EventRecordingStarted = "recording_started"
	EventRecordingStopped = "recording_stopped"
	EventTrackStarted     = "track_recording_started" // Data: TrackInfo
	EventTrackEnded       = "track_recording_ended"   // Data: TrackResult
)

// TimelineEvent is one thing that happened during a recording.
type TimelineEvent struct {
	// T is the time since the recording started (negative values are clamped to 0).
	T           Seconds         `json:"t"`
	At          time.Time       `json:"at"` // wall clock
	Type        string          `json:"type"`
	Participant string          `json:"participantId,omitempty"`
	Data        json.RawMessage `json:"data,omitempty"` // the event as its source serialised it
}

// Timeline collects a recording's events. Each event is appended to a JSON-lines journal on disk as
// it comes, so a crash loses none; Close writes the final sorted timeline.json.
type Timeline struct {
	start time.Time

	mu     sync.Mutex
	events []TimelineEvent
	f      *os.File
	bw     *bufio.Writer
	err    error
}

// Timeline file names inside a recording's directory.
const (
	timelineJournal = "timeline.jsonl"
	timelineFile    = "timeline.json"
)

func openTimeline(path string, start time.Time) (*Timeline, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("recorder: timeline: %w", err)
	}
	return &Timeline{start: start, f: f, bw: bufio.NewWriter(f)}, nil
}

// Add records an event that happened at wall-clock time at. data is serialised with encoding/json
// (the signaling layer passes the rooms.Event as it is); a value that cannot be serialised is
// recorded without data. Events after Close are ignored.
func (tl *Timeline) Add(at time.Time, typ, participant string, data any) {
	ev := TimelineEvent{T: Seconds(max(0, at.Sub(tl.start))), At: at.UTC(), Type: typ, Participant: participant}
	if data != nil {
		if raw, err := json.Marshal(data); err == nil {
			ev.Data = raw
		}
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if tl.f == nil {
		return
	}
	tl.events = append(tl.events, ev)
	line, _ := json.Marshal(ev)
	if _, err := tl.bw.Write(append(line, '\n')); err != nil && tl.err == nil {
		tl.err = err
	}
	// Flush per event: events are few (people, not packets) and each must survive a crash.
	if err := tl.bw.Flush(); err != nil && tl.err == nil {
		tl.err = err
	}
}

// Events returns a copy of the events so far, in time order.
func (tl *Timeline) Events() []TimelineEvent {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	out := append([]TimelineEvent(nil), tl.events...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].T < out[j].T })
	return out
}

// close stops the journal and returns the first write error it had.
func (tl *Timeline) close() error {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if tl.f == nil {
		return tl.err
	}
	err := errors.Join(tl.err, tl.bw.Flush(), tl.f.Close())
	tl.f = nil
	return err
}

// TimelineDoc is timeline.json: the lesson player's index of what happened when.
type TimelineDoc struct {
	Lesson    string          `json:"lesson"`
	Room      string          `json:"room"`
	StartedAt time.Time       `json:"startedAt"`
	Duration  Seconds         `json:"duration"`
	Events    []TimelineEvent `json:"events"`
}

// readJournal reads the events of a timeline journal; a torn last line (a crash mid-write) is
// skipped.
func readJournal(path string) ([]TimelineEvent, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []TimelineEvent
	dec := json.NewDecoder(f)
	for {
		var ev TimelineEvent
		if err := dec.Decode(&ev); err != nil {
			break // the end, or a torn last line: keep what came before
		}
		out = append(out, ev)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].T < out[j].T })
	return out, nil
}
