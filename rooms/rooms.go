// Package rooms holds classroom state — rooms, participants, roles and published tracks — behind a
// Store with two implementations: an embedded in-process store and a Redis store shared by nodes.
//
// Every change is applied atomically by the store and published as an Event with a per-room sequence
// number. Consumers (each node's signaling hub) subscribe to a room's events, then read a Snapshot and
// ignore events whose Seq is not above the snapshot's: that gives a consistent view with no gap.
package rooms

import (
	"context"
	"errors"
	"time"
)

// Role is what a participant may do in a room.
type Role string

const (
	RoleInstructor Role = "instructor"
	RoleStudent    Role = "student"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleInstructor || r == RoleStudent || r == RoleCoInstructor }

// Source says what a published track carries.
type Source string

const (
	SourceMicrophone Source = "microphone"
	SourceCamera     Source = "camera"
	SourceScreen     Source = "screen"
)

// Valid reports whether s is a known source.
func (s Source) Valid() bool {
	return s == SourceMicrophone || s == SourceCamera || s == SourceScreen
}

// Kind is the media kind of the source: "audio" or "video".
func (s Source) Kind() string {
	if s == SourceMicrophone {
		return "audio"
	}
	return "video"
}

// Track is a published media track as the classroom sees it; the media itself lives in the SFU.
type Track struct {
	ID     string `json:"id"`
	Source Source `json:"source"`
	Muted  bool   `json:"muted"`
}

// Participant is one live session of a user in a room.
type Participant struct {
	ID       string    `json:"id"`       // unique per session, chosen by the joining node
	Identity string    `json:"identity"` // stable user id (token subject); unique within a room
	Name     string    `json:"name"`
	Role     Role      `json:"role"`
	Node     string    `json:"node"` // the node holding the participant's WebSocket and media
	JoinedAt time.Time `json:"joinedAt"`
	Tracks   []Track   `json:"tracks"`
	// ModeratorMuted lists the sources a moderator turned off (see ModerationStore.MuteByModerator).
	ModeratorMuted []Source `json:"moderatorMuted,omitempty"`
}

// Snapshot is a room's state as of event Seq.
type Snapshot struct {
	Room         string        `json:"room"`
	Seq          uint64        `json:"seq"`
	Participants []Participant `json:"participants"` // ordered by JoinedAt, then ID
	Hands        []string      `json:"hands"`        // participant ids with a raised hand, in raising order
	Settings     RoomSettings  `json:"settings"`
	Lobby        []Participant `json:"lobby"`   // waiting participants, in line order
	Removed      []Removal     `json:"removed"` // identities kept out, by Identity
}

// EventType names a change to a room.
type EventType string

const (
	EventParticipantJoined EventType = "participant_joined" // Participant set
	EventParticipantLeft   EventType = "participant_left"   // ParticipantID, Reason set
	EventTrackPublished    EventType = "track_published"    // ParticipantID, Track set
	EventTrackUnpublished  EventType = "track_unpublished"  // ParticipantID, Track (ID and Source) set
	EventTrackUpdated      EventType = "track_updated"      // ParticipantID, Track set (mute changed)
	EventChat              EventType = "chat"               // Chat set
	EventChatDeleted       EventType = "chat_deleted"       // ChatID, By set
	EventHandRaised        EventType = "hand_raised"        // ParticipantID set
	EventHandLowered       EventType = "hand_lowered"       // ParticipantID set; By: who lowered it
)

// Reasons a participant leaves.
const (
	ReasonLeft     = "left"     // the participant asked to leave
	ReasonTimeout  = "timeout"  // silent for too long
	ReasonReplaced = "replaced" // the same identity joined again
)

// Event is one applied change. Seq increases by exactly one per event within a room.
type Event struct {
	Room          string       `json:"room"`
	Seq           uint64       `json:"seq"`
	Type          EventType    `json:"type"`
	At            time.Time    `json:"at"`
	Participant   *Participant `json:"participant,omitempty"`
	ParticipantID string       `json:"participantId,omitempty"`
	Track         *Track       `json:"track,omitempty"`
	Reason        string       `json:"reason,omitempty"`
	Chat          *ChatMessage `json:"chat,omitempty"`
	ChatID        string       `json:"chatId,omitempty"`
	By            string       `json:"by,omitempty"` // participant id of who acted, when not the subject
	PollID        string       `json:"pollId,omitempty"`
	Poll          *Poll        `json:"poll,omitempty"`
	PollResults   *PollResults `json:"pollResults,omitempty"`

	Breakouts *BreakoutPlan `json:"breakouts,omitempty"` // breakout events: the plan after the change

	Hands []string `json:"hands,omitempty"` // EventHandRestored: the hand queue after the change (hands.go)

	// Moderation (moderation.go).
	Settings *RoomSettings `json:"settings,omitempty"`
	Removal  *Removal      `json:"removal,omitempty"`

	// Recording (recording.go).
	Recording *Recording `json:"recording,omitempty"`
	Lesson    *Lesson    `json:"lesson,omitempty"`
}

// ChatTo values: a message is for the whole room or only for its instructors.
const (
	ChatToRoom        = ""
	ChatToInstructors = "instructors"
)

// ChatMessage is one chat line. The store keeps every message of a room (for the lesson timeline);
// ChatHistory returns the most recent ones.
type ChatMessage struct {
	ID           string    `json:"id"`           // chosen by the caller, unique within the room
	From         string    `json:"from"`         // the sender's participant id (one session)
	FromIdentity string    `json:"fromIdentity"` // the sender's stable identity: still theirs after a rejoin
	FromName     string    `json:"fromName"`
	FromRole     Role      `json:"fromRole"`
	To           string    `json:"to,omitempty"` // ChatToRoom or ChatToInstructors
	Text         string    `json:"text"`
	At           time.Time `json:"at"`
	Deleted      bool      `json:"deleted,omitempty"` // deleted by an instructor: Text is emptied
}

// MaxChatKept is how many messages per room a store keeps (the lesson timeline needs them).
const MaxChatKept = 10000

var (
	// ErrNotFound: the participant or track is not in the room.
	ErrNotFound = errors.New("rooms: not found")
	// ErrLagged ends a Subscription whose consumer fell too far behind; resubscribe and re-read the Snapshot.
	ErrLagged = errors.New("rooms: subscriber lagged behind")
	// ErrClosed: the store or subscription was closed.
	ErrClosed = errors.New("rooms: closed")
)

// Store is the single source of truth for classroom state. All methods are safe for concurrent use,
// and each mutating method applies its change and publishes its event(s) atomically.
type Store interface {
	// Join adds p to room (creating the room on first join). A participant already in the room with
	// the same Identity is removed first (EventParticipantLeft, ReasonReplaced) and returned.
	Join(ctx context.Context, room string, p Participant) (snap Snapshot, replaced *Participant, err error)
	// Leave removes a participant and its tracks. ErrNotFound if absent.
	Leave(ctx context.Context, room, participantID, reason string) error
	// PublishTrack adds or replaces (same Track.ID) a track of a participant.
	PublishTrack(ctx context.Context, room, participantID string, t Track) error
	// UnpublishTrack removes a track. ErrNotFound if absent.
	UnpublishTrack(ctx context.Context, room, participantID, trackID string) error
	// SetTrackMuted changes a track's mute flag; no event if unchanged. ErrNotFound if absent.
	SetTrackMuted(ctx context.Context, room, participantID, trackID string, muted bool) error
	// Snapshot returns the room's current state (empty, Seq 0, for a room never joined).
	Snapshot(ctx context.Context, room string) (Snapshot, error)

	// PostChat stores m (m.ID must be new in the room) and publishes EventChat. The sender must be in
	// the room (ErrNotFound otherwise). The store keeps the last MaxChatKept messages of a
	// room, also after everyone has left.
	PostChat(ctx context.Context, room string, m ChatMessage) error
	// DeleteChat marks a message deleted (its text is dropped) and publishes EventChatDeleted with
	// By = by. ErrNotFound if the message is unknown; deleting twice is not an error and emits nothing.
	DeleteChat(ctx context.Context, room, id, by string) error
	// ChatHistory returns up to n of the room's latest messages, oldest first, deleted ones included.
	ChatHistory(ctx context.Context, room string, n int) ([]ChatMessage, error)
	// RaiseHand appends a participant to the room's hand queue (EventHandRaised); raising a raised
	// hand does nothing. ErrNotFound if the participant is not in the room.
	RaiseHand(ctx context.Context, room, participantID string) error
	// LowerHand removes a participant from the queue (EventHandLowered, By = by); lowering a lowered
	// hand does nothing. Leave lowers the leaver's hand without a separate event.
	LowerHand(ctx context.Context, room, participantID, by string) error
	PollStore // polls and quizzes: rooms/polls.go

	BreakoutStore
	RecordingStore // recording state and lessons: rooms/recording.go
	LibraryStore   // deleting lessons: rooms/library.go

	ModerationStore

	BreakoutVisitStore // instructors' breakout visits: rooms/breakout_visits.go

	// Subscribe delivers the room's events in Seq order, starting with the first event applied after
	// Subscribe returns, until ctx ends or Close is called.
	Subscribe(ctx context.Context, room string) (*Subscription, error)
	Close() error
}

// Subscription is a stream of one room's events.
type Subscription struct {
	C      <-chan Event // closed when the subscription ends; then Err says why
	err    func() error
	cancel func()
}

// NewSubscription is for Store implementations: c is closed when the subscription ends, after which
// errFn reports why (nil for a normal Close); cancel ends it early.
func NewSubscription(c <-chan Event, errFn func() error, cancel func()) *Subscription {
	return &Subscription{C: c, err: errFn, cancel: cancel}
}

// Err reports why C was closed: nil after Close, ErrLagged, ErrClosed or a context/store error.
func (s *Subscription) Err() error { return s.err() }

// Close ends the subscription and releases its resources; C is closed soon after.
func (s *Subscription) Close() { s.cancel() }
