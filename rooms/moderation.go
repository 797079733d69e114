package rooms

// Roles beyond instructor and student, room settings, moderation, the lobby and attendance: the model
// and the ModerationStore interface. memory_moderation.go and redis_moderation.go implement it.

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RoleCoInstructor has an instructor's powers except changing roles: an instructor promotes a
// student to it (and back) for the rest of the participant's stay in the room.
const RoleCoInstructor Role = "co_instructor"

// Moderator reports whether r may moderate the room: instructors and co-instructors.
func (r Role) Moderator() bool { return r == RoleInstructor || r == RoleCoInstructor }

// rank orders roles for moderation: a moderator acts only on participants of a lower rank.
func (r Role) rank() int {
	switch r {
	case RoleInstructor:
		return 2
	case RoleCoInstructor:
		return 1
	}
	return 0
}

// LobbyMode says whether students wait before they enter.
type LobbyMode string

const (
	LobbyOff = LobbyMode("off") // students enter at once
	LobbyOn  = LobbyMode("on")  // students wait until a moderator admits them (one, all, or the next)
	// LobbyOfficeHours is the lobby as an ordered queue: the instructor admits the next student, and
	// every waiting student is told their place in line. The store treats it exactly like LobbyOn;
	// clients choose their controls by it.
	LobbyOfficeHours = LobbyMode("office_hours")
)

// Valid reports whether m is a known mode.
func (m LobbyMode) Valid() bool { return m == LobbyOff || m == LobbyOn || m == LobbyOfficeHours }

// RoomSettings are a room's moderation settings. They are kept with the room (also while it is empty)
// and change only through UpdateSettings, except Spotlight, which is cleared when its participant leaves.
type RoomSettings struct {
	Locked             bool      `json:"locked"`             // no new students may enter or wait
	Lobby              LobbyMode `json:"lobby"`              // students wait in the lobby
	StudentsMayUnmute  bool      `json:"studentsMayUnmute"`  // students may undo a moderator's mute
	StudentScreenShare bool      `json:"studentScreenShare"` // students may share their screen
	StudentChat        bool      `json:"studentChat"`        // students may chat to the room (to the instructors always)
	Spotlight          string    `json:"spotlight"`          // participant ID shown large on every grid, or ""
}

// DefaultSettings are a new room's settings: open, no lobby, students may do everything.
func DefaultSettings() RoomSettings {
	return RoomSettings{Lobby: LobbyOff, StudentsMayUnmute: true, StudentScreenShare: true, StudentChat: true}
}

// SettingsChange names the settings to change; nil fields stay as they are.
type SettingsChange struct {
	Locked             *bool      `json:"locked,omitempty"`
	Lobby              *LobbyMode `json:"lobby,omitempty"`
	StudentsMayUnmute  *bool      `json:"studentsMayUnmute,omitempty"`
	StudentScreenShare *bool      `json:"studentScreenShare,omitempty"`
	StudentChat        *bool      `json:"studentChat,omitempty"`
	Spotlight          *string    `json:"spotlight,omitempty"`
}

// apply changes s and reports whether anything changed.
func (c SettingsChange) apply(s *RoomSettings) bool {
	before := *s
	set := func(dst *bool, v *bool) {
		if v != nil {
			*dst = *v
		}
	}
	set(&s.Locked, c.Locked)
	set(&s.StudentsMayUnmute, c.StudentsMayUnmute)
	set(&s.StudentScreenShare, c.StudentScreenShare)
	set(&s.StudentChat, c.StudentChat)
	if c.Lobby != nil {
		s.Lobby = *c.Lobby
	}
	if c.Spotlight != nil {
		s.Spotlight = *c.Spotlight
	}
	return *s != before
}

func (c SettingsChange) check() error {
	if c.Lobby != nil && !c.Lobby.Valid() {
		return fmt.Errorf("rooms: unknown lobby mode %q", *c.Lobby)
	}
	return nil
}

// Removal is an identity a moderator removed from a room: it may not enter again until Until, unless a
// moderator allows it back first.
type Removal struct {
	Identity string    `json:"identity"`
	Name     string    `json:"name"`
	By       string    `json:"by"` // participant ID of the moderator
	At       time.Time `json:"at"`
	Until    time.Time `json:"until"`
}

// RemovalTTL is how long a removed identity stays out: the rest of a school day.
const RemovalTTL = 12 * time.Hour

// AttendanceRecord is one stay of an identity in a room: from entering (or being admitted from the
// lobby) to leaving. A reconnect that replaces the identity's own session continues the same stay.
type AttendanceRecord struct {
	Room     string    `json:"room"`
	Identity string    `json:"identity"`
	Name     string    `json:"name"`
	Role     Role      `json:"role"` // the role the participant entered with
	JoinedAt time.Time `json:"joinedAt"`
	LeftAt   time.Time `json:"leftAt"` // zero while still in the room
}

// breakoutRooms is how many breakout rooms of a main room Attendance looks at: all there can be.
const breakoutRooms = MaxBreakouts

// Entry is the outcome of Enter.
type Entry struct {
	Snapshot Snapshot
	// Replaced is the earlier session of the same identity that this one replaced, in the room or in
	// the lobby; nil if none.
	Replaced *Participant
	// Waiting: the participant waits in the lobby (it is listed in Snapshot.Lobby), not in the room.
	Waiting bool
}

// Event types of moderation and the lobby.
const (
	EventSettingsChanged    EventType = "settings_changed"    // Settings set (all of them); By
	EventParticipantUpdated EventType = "participant_updated" // Participant set (role or ModeratorMuted changed); By
	EventLobbyJoined        EventType = "lobby_joined"        // Participant set: now waiting, last in line
	EventLobbyLeft          EventType = "lobby_left"          // ParticipantID, Reason (ReasonAdmitted, ReasonDenied, ReasonLeft, ReasonReplaced, ReasonRemoved); By
	EventParticipantRemoved EventType = "participant_removed" // Removal set: its identity may not enter
	EventRejoinAllowed      EventType = "rejoin_allowed"      // Removal (Identity, By) set: the identity may enter again
)

// Reasons for moderation and the lobby.
const (
	ReasonRemoved  = "removed"  // a moderator removed the participant (it left the room or the lobby)
	ReasonAdmitted = "admitted" // left the lobby for the room
	ReasonDenied   = "denied"   // a moderator refused to admit the participant
)

var (
	// ErrForbidden: the acting participant's role may not do this (to this target).
	ErrForbidden = errors.New("rooms: forbidden")
	// ErrLocked: the room is locked; only moderators and participants already in it may enter.
	ErrLocked = errors.New("rooms: the room is locked")
	// ErrRemoved: a moderator removed this identity from the room.
	ErrRemoved = errors.New("rooms: removed from the room")
)

// ModerationStore is the part of Store for roles, room settings, moderation, the lobby and attendance.
// Methods that take "by" check the acting participant in the same atomic step as the change: by must
// be a moderator in the room (ErrForbidden otherwise) and, when the change has a target participant,
// of a higher rank than the target (instructor > co-instructor > student).
type ModerationStore interface {
	// Enter is Join under the room's policy, applied atomically. In order:
	//  1. A waiting session of p's identity leaves the lobby (EventLobbyLeft, ReasonReplaced).
	//  2. If p's identity is in the room, p replaces that session as Join does (a reload skips the
	//     lobby and the lock), keeping a co-instructor promotion.
	//  3. A removed identity is refused with ErrRemoved.
	//  4. Moderators join.
	//  5. A locked room refuses with ErrLocked.
	//  6. With the lobby on, p waits last in line (EventLobbyJoined) and Entry.Waiting is set.
	//  7. Otherwise p joins.
	// The join is recorded in the room's attendance, like every join.
	Enter(ctx context.Context, room string, p Participant) (Entry, error)
	// Admit lets a waiting participant in: EventLobbyLeft (ReasonAdmitted) then EventParticipantJoined
	// with JoinedAt set to now. ErrNotFound if it is not waiting.
	Admit(ctx context.Context, room, participantID, by string) error
	// AdmitFirst admits the first n waiting participants in line order (n <= 0: all) and returns
	// their IDs; none waiting is not an error.
	AdmitFirst(ctx context.Context, room string, n int, by string) ([]string, error)
	// LeaveLobby takes a waiting participant out of the lobby (EventLobbyLeft). With ReasonDenied, by is
	// checked as a moderator; with ReasonLeft, by must be the participant itself. ErrNotFound if it is
	// not waiting.
	LeaveLobby(ctx context.Context, room, participantID, reason, by string) error
	// Remove takes a participant out of the room (EventParticipantLeft, ReasonRemoved) or out of the
	// lobby (EventLobbyLeft, ReasonRemoved), then keeps its identity out for RemovalTTL
	// (EventParticipantRemoved). ErrNotFound if it is in neither.
	Remove(ctx context.Context, room, participantID, by string) error
	// AllowRejoin lifts a removal (EventRejoinAllowed). ErrNotFound if the identity is not removed.
	AllowRejoin(ctx context.Context, room, identity, by string) error
	// SetRole changes a participant's role between RoleStudent and RoleCoInstructor
	// (EventParticipantUpdated; nothing if unchanged). Only an instructor may, and an instructor's role
	// never changes (ErrForbidden).
	SetRole(ctx context.Context, room, participantID string, role Role, by string) error
	// UpdateSettings applies a change (EventSettingsChanged; nothing if nothing changed). A Spotlight
	// that is not "" must name a participant in the room (ErrNotFound). Turning the lobby off admits
	// everyone waiting, in line order, after the settings event.
	UpdateSettings(ctx context.Context, room string, change SettingsChange, by string) error
	// MuteByModerator turns a source off for a participant, or for every student when participantID
	// is "": the source joins the participant's ModeratorMuted (EventParticipantUpdated) and its
	// published tracks of that source are muted (EventTrackUpdated). Muting again changes nothing.
	MuteByModerator(ctx context.Context, room, participantID string, source Source, by string) error
	// ReleaseMute takes a source out of a participant's ModeratorMuted (EventParticipantUpdated); the
	// track stays muted until the participant unmutes it. by may be the participant itself, which a
	// student may do only while the room's StudentsMayUnmute is set (ErrForbidden otherwise). Releasing
	// a source that is not held changes nothing. ErrNotFound if the participant is not in the room.
	ReleaseMute(ctx context.Context, room, participantID string, source Source, by string) error
	// Attendance returns the attendance of a room and of its breakout rooms ("<room>.b1" …
	// "<room>.b100"): the room's records first, then each breakout's in number order, each in joining
	// order. Records are kept after the room empties.
	Attendance(ctx context.Context, room string) ([]AttendanceRecord, error)
}

// mayReleaseOwn reports whether a participant of role may release its own moderator mute.
func mayReleaseOwn(role Role, s RoomSettings) bool { return role.Moderator() || s.StudentsMayUnmute }

// checkMute validates a source for MuteByModerator and ReleaseMute: a microphone or a camera.
func checkMute(ctx context.Context, source Source) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if source != SourceMicrophone && source != SourceCamera {
		return fmt.Errorf("rooms: a moderator mutes a microphone or a camera, not %q", source)
	}
	return nil
}
