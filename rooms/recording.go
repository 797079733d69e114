package rooms

// Recording state and lessons: whether a room is being recorded (every participant sees the
// indicator, on every node) and the lessons its recordings became. The media and the files are the
// recorder's; the store holds only what the classroom shows, like everything else here.

import (
	"context"
	"errors"
	"time"
)

const (
	EventRecordingStarted EventType = "recording_started" // Recording set
	EventRecordingStopped EventType = "recording_stopped" // Recording, By, Reason set
	EventLessonUpdated    EventType = "lesson_updated"    // Lesson set
)

// ErrRecordingActive: the room is already being recorded.
var ErrRecordingActive = errors.New("rooms: the room is already being recorded")

// Recording says that a room is being recorded, by which node (the one holding the room's media).
type Recording struct {
	ID        string    `json:"id"`   // the lesson it becomes
	Node      string    `json:"node"` // the node whose recorder captures the media
	StartedAt time.Time `json:"startedAt"`
	By        string    `json:"by"` // participant id of the instructor who started it; "" if automatic
}

// Lesson is what a room's recording became, as the classroom sees it; its files are in storage.
type Lesson struct {
	ID        string    `json:"id"`
	Room      string    `json:"room"`
	Status    string    `json:"status"` // recording, processing, ready, failed
	Error     string    `json:"error,omitempty"`
	StartedAt time.Time `json:"startedAt"`
	Duration  float64   `json:"duration"` // seconds
	Preview   bool      `json:"preview"`  // a quick playable version is stored
	Video     bool      `json:"video"`    // the composed lesson video is stored
	UpdatedAt time.Time `json:"updatedAt"`
}

// MaxLessonsKept bounds the lessons a store lists per room (the newest).
const MaxLessonsKept = 1000

// RecordingStore is embedded in Store.
type RecordingStore interface {
	// StartRecording marks the room recorded (EventRecordingStarted). ErrRecordingActive if it is.
	StartRecording(ctx context.Context, room string, r Recording) error
	// StopRecording ends it (EventRecordingStopped with By and Reason) and returns what ended.
	// ErrNotFound if the room is not being recorded.
	StopRecording(ctx context.Context, room, by, reason string) (Recording, error)
	// ActiveRecording returns the room's recording, or nil.
	ActiveRecording(ctx context.Context, room string) (*Recording, error)
	// UpdateLesson adds or replaces (same ID) a lesson of the room and publishes EventLessonUpdated.
	UpdateLesson(ctx context.Context, room string, l Lesson) error
	// Lessons returns the room's lessons, oldest first (at most MaxLessonsKept).
	Lessons(ctx context.Context, room string) ([]Lesson, error)
}

func checkRecording(ctx context.Context, room string, r Recording) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if room == "" || r.ID == "" || r.Node == "" {
		return invalid("a recording needs a room, an id and a node")
	}
	return nil
}

func checkLesson(ctx context.Context, room string, l Lesson) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if room == "" || l.ID == "" {
		return invalid("a lesson needs a room and an id")
	}
	return nil
}
