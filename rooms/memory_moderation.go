package rooms

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Moderation, the lobby and attendance in the MemoryStore. Like every other change, each is checked,
// applied and emitted under the room's lock.

// memMod is a room's moderation state.
type memMod struct {
	settings *RoomSettings          // nil until first changed: DefaultSettings
	lobby    []*Participant         // waiting, in line order
	removed  map[string]Removal     // by identity; expired entries are ignored, then dropped on the next Remove
	attend   []AttendanceRecord     // every stay, in joining order
	open     map[string]int         // identity → index in attend of its stay in progress
	dopen    map[string]durableStay // with a durable store (attend and open unused): identity → stay in progress
}

func (r *memRoom) settings() RoomSettings {
	if r.mod.settings == nil {
		return DefaultSettings()
	}
	return *r.mod.settings
}

func (r *memRoom) saveSettings(st RoomSettings, by string) {
	r.mod.settings = &st
	r.emit(Event{Type: EventSettingsChanged, Settings: &st, By: by})
}

// moderator returns the participant by if it may moderate, else nil.
func (r *memRoom) moderator(by string) *Participant {
	if p := r.parts[by]; p != nil && p.Role.Moderator() {
		return p
	}
	return nil
}

func outranks(a, b *Participant) bool { return a.Role.rank() > b.Role.rank() }

func (r *memRoom) lobbyIndex(match func(*Participant) bool) int {
	return slices.IndexFunc(r.mod.lobby, match)
}

func (r *memRoom) waitingID(id string) int {
	return r.lobbyIndex(func(p *Participant) bool { return p.ID == id })
}

// leaveLobby takes lobby entry i out and emits EventLobbyLeft; r.mu must be held.
func (r *memRoom) leaveLobby(i int, reason, by string) *Participant {
	p := r.mod.lobby[i]
	r.mod.lobby = slices.Delete(r.mod.lobby, i, i+1)
	r.emit(Event{Type: EventLobbyLeft, ParticipantID: p.ID, Reason: reason, By: by})
	return p
}

// admit moves lobby entry i into the room; r.mu must be held.
func (r *memRoom) admit(i int, by string) error {
	p := r.leaveLobby(i, ReasonAdmitted, by)
	p.JoinedAt = time.Now().UTC()
	_, err := r.join(*p)
	return err
}

// banned reports whether identity is kept out at now.
func (r *memRoom) banned(identity string, now time.Time) bool {
	rm, ok := r.mod.removed[identity]
	return ok && now.Before(rm.Until)
}

// attendJoin opens a stay for p's identity unless one is in progress (a reconnect replacing its own
// session continues it); r.mu must be held.
func (r *memRoom) attendJoin(p *Participant) {
	if r.durable != nil {
		return // durableJoin recorded it
	}
	if _, ok := r.mod.open[p.Identity]; ok {
		return
	}
	if r.mod.open == nil {
		r.mod.open = make(map[string]int)
	}
	r.mod.open[p.Identity] = len(r.mod.attend)
	r.mod.attend = append(r.mod.attend, AttendanceRecord{Room: r.name, Identity: p.Identity, Name: p.Name,
		Role: p.Role, JoinedAt: time.Now().UTC()})
}

// afterRemove runs after a participant's left event: the stay ends (unless the identity's new session
// replaced it) and a spotlight on the participant goes out; r.mu must be held.
func (r *memRoom) afterRemove(p *Participant, reason string) {
	if st, ok := r.mod.dopen[p.Identity]; ok && reason != ReasonReplaced {
		r.durable.closeStay(r.name, st)
		delete(r.mod.dopen, p.Identity)
	}
	if i, ok := r.mod.open[p.Identity]; ok && reason != ReasonReplaced {
		r.mod.attend[i].LeftAt = time.Now().UTC()
		delete(r.mod.open, p.Identity)
	}
	if st := r.settings(); st.Spotlight == p.ID {
		st.Spotlight = ""
		r.saveSettings(st, "")
	}
}

// modSnapshot fills the moderation part of a snapshot; r.mu must be held.
func (r *memRoom) modSnapshot(snap *Snapshot) {
	snap.Settings = r.settings()
	snap.Lobby = make([]Participant, 0, len(r.mod.lobby))
	for _, p := range r.mod.lobby {
		snap.Lobby = append(snap.Lobby, *cloneParticipant(p))
	}
	snap.Removed = make([]Removal, 0, len(r.mod.removed))
	now := time.Now()
	for _, rm := range r.mod.removed {
		if now.Before(rm.Until) {
			snap.Removed = append(snap.Removed, rm)
		}
	}
	sortRemovals(snap.Removed)
}

// sortRemovals puts removals in Snapshot order: by time, then identity.
func sortRemovals(rs []Removal) {
	slices.SortFunc(rs, func(a, b Removal) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.Identity, b.Identity)
	})
}

// Enter implements Store.
func (s *MemoryStore) Enter(ctx context.Context, room string, p Participant) (Entry, error) {
	if err := checkJoin(ctx, room, p); err != nil {
		return Entry{}, err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return Entry{}, err
	}
	defer r.mu.Unlock()
	curID, inRoom := r.byUser[p.Identity]
	_, taken := r.parts[p.ID]
	if taken && curID != p.ID || r.lobbyIndex(func(w *Participant) bool { return w.ID == p.ID && w.Identity != p.Identity }) >= 0 {
		return Entry{}, fmt.Errorf("rooms: enter %s: participant id %q is in use by another identity", room, p.ID)
	}
	var waited *Participant
	if i := r.lobbyIndex(func(w *Participant) bool { return w.Identity == p.Identity }); i >= 0 {
		waited = cloneParticipant(r.leaveLobby(i, ReasonReplaced, ""))
	}
	join := func() (Entry, error) {
		replaced, err := r.join(p)
		if err != nil {
			return Entry{}, err
		}
		if replaced == nil {
			replaced = waited
		}
		return Entry{Snapshot: r.snapshot(), Replaced: replaced}, nil
	}
	switch st := r.settings(); {
	case inRoom:
		if r.parts[curID].Role == RoleCoInstructor && p.Role == RoleStudent {
			p.Role = RoleCoInstructor // a reload keeps a promotion
		}
		return join()
	case r.banned(p.Identity, time.Now()):
		return Entry{}, fmt.Errorf("rooms: enter %s as %s: %w", room, p.Identity, ErrRemoved)
	case p.Role.Moderator():
		return join()
	case st.Locked && waited == nil: // a waiting student who reconnects keeps waiting
		return Entry{}, fmt.Errorf("rooms: enter %s: %w", room, ErrLocked)
	case st.Lobby != LobbyOff:
		w := cloneParticipant(&p)
		w.Tracks = w.Tracks[:0] // waiting participants publish nothing
		r.mod.lobby = append(r.mod.lobby, w)
		r.emit(Event{Type: EventLobbyJoined, Participant: cloneParticipant(w)})
		return Entry{Snapshot: r.snapshot(), Replaced: waited, Waiting: true}, nil
	}
	return join()
}

// Admit implements Store.
func (s *MemoryStore) Admit(ctx context.Context, room, participantID, by string) error {
	return s.moderate(ctx, room, func(r *memRoom) error {
		if r.moderator(by) == nil {
			return fmt.Errorf("rooms: admit in %s: %w", room, ErrForbidden)
		}
		i := r.waitingID(participantID)
		if i < 0 {
			return fmt.Errorf("rooms: admit %s/%s: %w", room, participantID, ErrNotFound)
		}
		return r.admit(i, by)
	})
}

// AdmitFirst implements Store.
func (s *MemoryStore) AdmitFirst(ctx context.Context, room string, n int, by string) ([]string, error) {
	var ids []string
	err := s.moderate(ctx, room, func(r *memRoom) error {
		if r.moderator(by) == nil {
			return fmt.Errorf("rooms: admit in %s: %w", room, ErrForbidden)
		}
		if n <= 0 || n > len(r.mod.lobby) {
			n = len(r.mod.lobby)
		}
		ids = make([]string, 0, n)
		for range n {
			ids = append(ids, r.mod.lobby[0].ID)
			if err := r.admit(0, by); err != nil {
				return err
			}
		}
		return nil
	})
	return ids, err
}

// LeaveLobby implements Store.
func (s *MemoryStore) LeaveLobby(ctx context.Context, room, participantID, reason, by string) error {
	if err := checkLeaveLobby(reason); err != nil {
		return err
	}
	return s.moderate(ctx, room, func(r *memRoom) error {
		if reason == ReasonDenied && r.moderator(by) == nil || reason == ReasonLeft && by != participantID {
			return fmt.Errorf("rooms: take %s out of the lobby of %s: %w", participantID, room, ErrForbidden)
		}
		i := r.waitingID(participantID)
		if i < 0 {
			return fmt.Errorf("rooms: leave lobby %s/%s: %w", room, participantID, ErrNotFound)
		}
		r.leaveLobby(i, reason, by)
		return nil
	})
}

func checkLeaveLobby(reason string) error {
	if reason != ReasonDenied && reason != ReasonLeft {
		return fmt.Errorf("rooms: leave lobby: reason must be %q or %q, not %q", ReasonDenied, ReasonLeft, reason)
	}
	return nil
}

// Remove implements Store.
func (s *MemoryStore) Remove(ctx context.Context, room, participantID, by string) error {
	return s.moderate(ctx, room, func(r *memRoom) error {
		actor := r.moderator(by)
		if actor == nil {
			return fmt.Errorf("rooms: remove in %s: %w", room, ErrForbidden)
		}
		target := r.parts[participantID]
		i := r.waitingID(participantID)
		if i >= 0 {
			target = r.mod.lobby[i]
		}
		switch {
		case target == nil:
			return fmt.Errorf("rooms: remove %s/%s: %w", room, participantID, ErrNotFound)
		case !outranks(actor, target):
			return fmt.Errorf("rooms: remove %s/%s: %w", room, participantID, ErrForbidden)
		}
		target = cloneParticipant(target)
		if i >= 0 {
			r.leaveLobby(i, ReasonRemoved, by)
		} else {
			r.remove(participantID, ReasonRemoved)
		}
		now := time.Now().UTC()
		rm := Removal{Identity: target.Identity, Name: target.Name, By: by, At: now, Until: now.Add(RemovalTTL)}
		if r.mod.removed == nil {
			r.mod.removed = make(map[string]Removal)
		}
		deleteExpired(r.mod.removed, now)
		r.mod.removed[rm.Identity] = rm
		r.emit(Event{Type: EventParticipantRemoved, Removal: &rm})
		return nil
	})
}

func deleteExpired(m map[string]Removal, now time.Time) {
	for id, rm := range m {
		if !now.Before(rm.Until) {
			delete(m, id)
		}
	}
}

// AllowRejoin implements Store.
func (s *MemoryStore) AllowRejoin(ctx context.Context, room, identity, by string) error {
	return s.moderate(ctx, room, func(r *memRoom) error {
		if r.moderator(by) == nil {
			return fmt.Errorf("rooms: allow rejoin in %s: %w", room, ErrForbidden)
		}
		if !r.banned(identity, time.Now()) {
			return fmt.Errorf("rooms: allow %s back into %s: %w", identity, room, ErrNotFound)
		}
		delete(r.mod.removed, identity)
		r.emit(Event{Type: EventRejoinAllowed, Removal: &Removal{Identity: identity, By: by}})
		return nil
	})
}

// SetRole implements Store.
func (s *MemoryStore) SetRole(ctx context.Context, room, participantID string, role Role, by string) error {
	if role != RoleStudent && role != RoleCoInstructor {
		return fmt.Errorf("rooms: set role: a participant can be made %s or %s, not %q", RoleStudent, RoleCoInstructor, role)
	}
	return s.moderate(ctx, room, func(r *memRoom) error {
		if actor := r.parts[by]; actor == nil || actor.Role != RoleInstructor {
			return fmt.Errorf("rooms: set role in %s: only an instructor may: %w", room, ErrForbidden)
		}
		p := r.parts[participantID]
		switch {
		case p == nil:
			return fmt.Errorf("rooms: set role %s/%s: %w", room, participantID, ErrNotFound)
		case p.Role == RoleInstructor:
			return fmt.Errorf("rooms: set role %s/%s: an instructor's role does not change: %w", room, participantID, ErrForbidden)
		case p.Role == role:
			return nil
		}
		p.Role = role
		r.emit(Event{Type: EventParticipantUpdated, Participant: cloneParticipant(p), By: by})
		return nil
	})
}

// UpdateSettings implements Store.
func (s *MemoryStore) UpdateSettings(ctx context.Context, room string, change SettingsChange, by string) error {
	if err := change.check(); err != nil {
		return err
	}
	return s.moderate(ctx, room, func(r *memRoom) error {
		if r.moderator(by) == nil {
			return fmt.Errorf("rooms: update settings of %s: %w", room, ErrForbidden)
		}
		if sp := change.Spotlight; sp != nil && *sp != "" && r.parts[*sp] == nil {
			return fmt.Errorf("rooms: spotlight %s/%s: %w", room, *sp, ErrNotFound)
		}
		st := r.settings()
		if !change.apply(&st) {
			return nil
		}
		r.saveSettings(st, by)
		for st.Lobby == LobbyOff && len(r.mod.lobby) > 0 {
			if err := r.admit(0, by); err != nil {
				return err
			}
		}
		return nil
	})
}

// MuteByModerator implements Store.
func (s *MemoryStore) MuteByModerator(ctx context.Context, room, participantID string, source Source, by string) error {
	if err := checkMute(ctx, source); err != nil {
		return err
	}
	return s.moderate(ctx, room, func(r *memRoom) error {
		actor := r.moderator(by)
		if actor == nil {
			return fmt.Errorf("rooms: mute in %s: %w", room, ErrForbidden)
		}
		if participantID == "" {
			var ids []string
			for id, p := range r.parts {
				if p.Role == RoleStudent {
					ids = append(ids, id)
				}
			}
			slices.Sort(ids) // both stores mute in ID order, so events come in one order
			for _, id := range ids {
				r.hold(r.parts[id], source, by)
			}
			return nil
		}
		p := r.parts[participantID]
		switch {
		case p == nil:
			return fmt.Errorf("rooms: mute %s/%s: %w", room, participantID, ErrNotFound)
		case !outranks(actor, p):
			return fmt.Errorf("rooms: mute %s/%s: %w", room, participantID, ErrForbidden)
		}
		r.hold(p, source, by)
		return nil
	})
}

// hold adds source to p's ModeratorMuted and mutes p's tracks of that source; r.mu must be held.
func (r *memRoom) hold(p *Participant, source Source, by string) {
	if !slices.Contains(p.ModeratorMuted, source) {
		p.ModeratorMuted = append(slices.Clone(p.ModeratorMuted), source)
		r.emit(Event{Type: EventParticipantUpdated, Participant: cloneParticipant(p), By: by})
	}
	for i, t := range p.Tracks {
		if t.Source == source && !t.Muted {
			p.Tracks[i].Muted = true
			t.Muted = true
			r.emit(Event{Type: EventTrackUpdated, ParticipantID: p.ID, Track: &t})
		}
	}
}

// ReleaseMute implements Store.
func (s *MemoryStore) ReleaseMute(ctx context.Context, room, participantID string, source Source, by string) error {
	if err := checkMute(ctx, source); err != nil {
		return err
	}
	return s.moderate(ctx, room, func(r *memRoom) error {
		self := by == participantID
		actor := r.moderator(by)
		if !self && actor == nil {
			return fmt.Errorf("rooms: release mute in %s: %w", room, ErrForbidden)
		}
		p := r.parts[participantID]
		switch {
		case p == nil:
			return fmt.Errorf("rooms: release mute %s/%s: %w", room, participantID, ErrNotFound)
		case !self && !outranks(actor, p):
			return fmt.Errorf("rooms: release mute %s/%s: %w", room, participantID, ErrForbidden)
		case !slices.Contains(p.ModeratorMuted, source):
			return nil
		case self && !mayReleaseOwn(p.Role, r.settings()):
			return fmt.Errorf("rooms: unmute %s/%s: students may not unmute themselves: %w", room, participantID, ErrForbidden)
		}
		p.ModeratorMuted = slices.DeleteFunc(slices.Clone(p.ModeratorMuted), func(s Source) bool { return s == source })
		if len(p.ModeratorMuted) == 0 {
			p.ModeratorMuted = nil
		}
		r.emit(Event{Type: EventParticipantUpdated, Participant: cloneParticipant(p), By: by})
		return nil
	})
}

// Attendance implements Store.
func (s *MemoryStore) Attendance(ctx context.Context, room string) ([]AttendanceRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	if s.durable != nil {
		s.mu.Unlock()
		return s.durable.attendanceWithBreakouts(ctx, room)
	}
	var rs []*memRoom
	for n := range breakoutRooms + 1 {
		name := room
		if n > 0 {
			name = BreakoutRoomName(room, n)
		}
		if r := s.rooms[name]; r != nil {
			rs = append(rs, r)
		}
	}
	s.mu.Unlock()
	out := []AttendanceRecord{}
	for _, r := range rs {
		r.mu.Lock()
		out = append(out, r.mod.attend...)
		r.mu.Unlock()
	}
	return out, nil
}

// moderate runs f on the locked room.
func (s *MemoryStore) moderate(ctx context.Context, room string, f func(r *memRoom) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	return f(r)
}
