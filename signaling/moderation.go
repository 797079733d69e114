package signaling

import (
	"errors"
	"fmt"
	"slices"

	"github.com/chalk-edu/chalk/rooms"
)

// Roles, room settings, moderation and the lobby. Every action is checked here (role, input) and
// applied by the store, which checks the roles again atomically with the change (a target may have
// been promoted a moment ago) and publishes the events every node delivers. The media side of a
// moderator's mute is derived from those events: the muted participant's own session pauses the
// source's up-track in the SFU (see applyHolds), so nothing reaches anyone even from a client that
// ignores the request to mute.

// Error codes of moderation.
const (
	CodeRoomLocked = "room_locked" // join refused: the room is locked
	CodeRemoved    = "removed"     // join refused: a moderator removed this identity from the room
)

// Client → server messages of moderation.
type (
	setRoleMsg struct {
		ParticipantID string     `json:"participantId"`
		Role          rooms.Role `json:"role"`
	}
	targetSourceMsg struct { // mute_participant, allow_unmute
		ParticipantID string       `json:"participantId"`
		Source        rooms.Source `json:"source"`
	}
	muteAllMsg struct {
		Source rooms.Source `json:"source,omitempty"` // default microphone
	}
	targetMsg struct { // remove_participant, admit, deny
		ParticipantID string `json:"participantId"`
	}
	allowRejoinMsg struct {
		Identity string `json:"identity"`
	}
)

// Server → client messages of moderation.
type (
	waitingMsg struct {
		Room        string            `json:"room"`
		Participant rooms.Participant `json:"participant"`
		Lobby       rooms.LobbyMode   `json:"lobby"`
		Position    int               `json:"position"`
		ResumeToken string            `json:"resumeToken"`
		Resumed     bool              `json:"resumed"`
	}
	settingsChangedMsg struct {
		Seq      uint64             `json:"seq"`
		Settings rooms.RoomSettings `json:"settings"`
		By       string             `json:"by"`
	}
	participantUpdatedMsg struct {
		Seq         uint64            `json:"seq"`
		Participant rooms.Participant `json:"participant"`
		By          string            `json:"by"`
	}
	lobbyLeftMsg struct {
		Seq           uint64 `json:"seq"`
		ParticipantID string `json:"participantId"`
		Reason        string `json:"reason"`
		By            string `json:"by"`
	}
	participantRemovedMsg struct {
		Seq     uint64        `json:"seq"`
		Removal rooms.Removal `json:"removal"`
	}
	rejoinAllowedMsg struct {
		Seq      uint64 `json:"seq"`
		Identity string `json:"identity"`
		By       string `json:"by"`
	}
)

// moderationBody returns the body to decode a moderation message into.
func moderationBody(typ string) any {
	switch typ {
	case "set_role":
		return &setRoleMsg{}
	case "update_settings":
		return &rooms.SettingsChange{}
	case "mute_participant", "allow_unmute":
		return &targetSourceMsg{}
	case "mute_all":
		return &muteAllMsg{}
	case "remove_participant", "admit", "deny":
		return &targetMsg{}
	case "allow_rejoin":
		return &allowRejoinMsg{}
	}
	return &emptyMsg{} // admit_next, admit_all
}

func validateModeration(body any) error {
	checkID := func(id string) error {
		if !idRE.MatchString(id) {
			return errors.New("participantId is missing or malformed")
		}
		return nil
	}
	checkSource := func(s rooms.Source) error {
		if s != rooms.SourceMicrophone && s != rooms.SourceCamera {
			return errors.New(`source must be "microphone" or "camera"`)
		}
		return nil
	}
	switch m := body.(type) {
	case *setRoleMsg:
		if m.Role != rooms.RoleStudent && m.Role != rooms.RoleCoInstructor {
			return fmt.Errorf("role must be %q or %q", rooms.RoleStudent, rooms.RoleCoInstructor)
		}
		return checkID(m.ParticipantID)
	case *rooms.SettingsChange:
		if *m == (rooms.SettingsChange{}) {
			return errors.New("name at least one setting to change")
		}
		if m.Lobby != nil && !m.Lobby.Valid() {
			return errors.New(`lobby must be "off", "on" or "office_hours"`)
		}
		if m.Spotlight != nil && *m.Spotlight != "" {
			return checkID(*m.Spotlight)
		}
	case *targetSourceMsg:
		if err := checkSource(m.Source); err != nil {
			return err
		}
		return checkID(m.ParticipantID)
	case *muteAllMsg:
		if m.Source == "" {
			m.Source = rooms.SourceMicrophone
		}
		return checkSource(m.Source)
	case *targetMsg:
		return checkID(m.ParticipantID)
	case *allowRejoinMsg:
		if !idRE.MatchString(m.Identity) {
			return errors.New("identity is missing or malformed")
		}
	}
	return nil
}

// modState is a session's view of what moderation decides for it, derived from the store's
// snapshots and events.
type modState struct {
	settings rooms.RoomSettings
	held     map[rooms.Source]bool // our sources a moderator turned off
	waiting  bool                  // in the lobby: not joined
	queue    []string              // while waiting: the lobby in line order
	told     int                   // the position last sent in "waiting"
}

func (s *session) isStudent() bool { return !s.me.Role.Moderator() }

// applyModSnapshot takes our role, our moderator mutes and the settings from a snapshot.
func (s *session) applyModSnapshot(snap rooms.Snapshot) {
	s.mod.settings = snap.Settings
	if i := slices.IndexFunc(snap.Participants, func(p rooms.Participant) bool { return p.ID == s.me.ID }); i >= 0 {
		s.me.Role = snap.Participants[i].Role
		s.setHeld(snap.Participants[i].ModeratorMuted)
	}
}

// moderatorView is what of the lobby and removals a participant sees: all of it for moderators.
func (s *session) moderatorView(snap rooms.Snapshot) ([]rooms.Participant, []rooms.Removal) {
	if s.isStudent() {
		return []rooms.Participant{}, []rooms.Removal{}
	}
	return snap.Lobby, snap.Removed
}

// entryError turns a refused Enter into what the client is told.
func (s *session) entryError(err error) *ProtocolError {
	switch {
	case errors.Is(err, rooms.ErrLocked):
		s.log.Info("join refused: the room is locked", "identity", s.me.Identity)
		return protoErr(CodeRoomLocked, "join", "the room is locked; ask the instructor to unlock it")
	case errors.Is(err, rooms.ErrRemoved):
		s.log.Info("join refused: removed from the room", "identity", s.me.Identity)
		return protoErr(CodeRemoved, "join", "you were removed from this class; the instructor can allow you back")
	}
	s.log.Error("join room", "err", err)
	return protoErr(CodeInternal, "join", "could not join the room; try again")
}

// handleModeration handles the moderation messages, the lobby's limits and the room settings' limits on
// other messages. It reports whether m was dealt with; if not, the caller handles it as usual.
func (s *session) handleModeration(conn *wsConn, m clientMsg) bool {
	if s.mod.waiting {
		if m.Type == "ping" || m.Type == "leave" {
			return false
		}
		s.fail(conn, protoErr(CodeOutOfOrder, m.Type, "you are waiting in the lobby; wait to be admitted"))
		return true
	}
	switch b := m.Body.(type) {
	case *sourceMsg:
		if m.Type == "publish" && b.Source == rooms.SourceScreen && s.isStudent() && !s.mod.settings.StudentScreenShare {
			s.fail(conn, protoErr(CodeForbidden, m.Type, "the instructor has turned off screen sharing for students"))
			return true
		}
		return false
	case *chatMsg:
		if b.To == rooms.ChatToRoom && s.isStudent() && !s.mod.settings.StudentChat {
			s.fail(conn, protoErr(CodeForbidden, m.Type, "the instructor has turned off chat for students; you can still write to the instructors"))
			return true
		}
		return false
	case *muteMsg:
		return !b.Muted && s.mod.held[b.Source] && !s.releaseOwnMute(conn, b.Source)
	}
	if !isModeration(m.Type) {
		return false
	}
	if !s.me.Role.Moderator() || m.Type == "set_role" && s.me.Role != rooms.RoleInstructor {
		who := "an instructor or co-instructor"
		if m.Type == "set_role" {
			who = "an instructor"
		}
		s.fail(conn, protoErr(CodeForbidden, m.Type, "only %s can do this", who))
		return true
	}
	ctx, cancel := s.ctx()
	defer cancel()
	st, me := s.hub.cfg.Store, s.me.ID
	var err error
	switch b := m.Body.(type) {
	case *setRoleMsg:
		err = st.SetRole(ctx, s.room, b.ParticipantID, b.Role, me)
	case *rooms.SettingsChange:
		err = st.UpdateSettings(ctx, s.room, *b, me)
	case *targetSourceMsg:
		if m.Type == "mute_participant" {
			err = st.MuteByModerator(ctx, s.room, b.ParticipantID, b.Source, me)
		} else {
			err = st.ReleaseMute(ctx, s.room, b.ParticipantID, b.Source, me)
		}
	case *muteAllMsg:
		err = st.MuteByModerator(ctx, s.room, "", b.Source, me)
	case *allowRejoinMsg:
		err = st.AllowRejoin(ctx, s.room, b.Identity, me)
	case *targetMsg:
		switch m.Type {
		case "remove_participant":
			err = st.Remove(ctx, s.room, b.ParticipantID, me)
		case "admit":
			err = st.Admit(ctx, s.room, b.ParticipantID, me)
		case "deny":
			err = st.LeaveLobby(ctx, s.room, b.ParticipantID, rooms.ReasonDenied, me)
		}
	case *emptyMsg:
		n := 0 // admit_all
		if m.Type == "admit_next" {
			n = 1
		}
		var admitted []string
		if admitted, err = st.AdmitFirst(ctx, s.room, n, me); err == nil && len(admitted) == 0 && n == 1 {
			err = fmt.Errorf("nobody is waiting: %w", rooms.ErrNotFound)
		}
	}
	if err != nil {
		s.moderationError(conn, m.Type, err)
	}
	return true
}

func isModeration(typ string) bool {
	switch typ {
	case "set_role", "update_settings", "mute_participant", "mute_all", "allow_unmute", "remove_participant",
		"allow_rejoin", "admit", "admit_next", "admit_all", "deny":
		return true
	}
	return false
}

// moderationError reports a refused or failed moderation action.
func (s *session) moderationError(conn *wsConn, ref string, err error) {
	switch {
	case errors.Is(err, rooms.ErrForbidden):
		msg := "you may not do this to that participant: moderators act only on participants of a lower role"
		if ref == "set_role" {
			msg = "an instructor's role cannot be changed"
		}
		s.fail(conn, protoErr(CodeForbidden, ref, "%s", msg))
	case errors.Is(err, rooms.ErrNotFound):
		msg := "that participant is not in the room"
		switch ref {
		case "admit", "deny":
			msg = "that participant is not waiting in the lobby"
		case "admit_next":
			msg = "nobody is waiting in the lobby"
		case "allow_rejoin":
			msg = "that identity is not removed from the room"
		}
		s.fail(conn, protoErr(CodeNotFound, ref, "%s", msg))
	default:
		s.storeError(conn, ref, err)
	}
}

// releaseOwnMute asks the store to let us unmute a source a moderator turned off, and reports whether
// the unmute may go ahead.
func (s *session) releaseOwnMute(conn *wsConn, src rooms.Source) bool {
	ctx, cancel := s.ctx()
	defer cancel()
	err := s.hub.cfg.Store.ReleaseMute(ctx, s.room, s.me.ID, src, s.me.ID)
	switch {
	case errors.Is(err, rooms.ErrForbidden):
		s.fail(conn, protoErr(CodeForbidden, "mute", "the instructor muted you and has not allowed students to unmute; ask to be allowed"))
		return false
	case err != nil:
		s.storeError(conn, "mute", err)
		return false
	}
	return true
}

// setHeld records our moderator-muted sources and applies them to our media.
func (s *session) setHeld(sources []rooms.Source) {
	held := map[rooms.Source]bool{}
	for _, src := range sources {
		held[src] = true
	}
	for _, src := range []rooms.Source{rooms.SourceMicrophone, rooms.SourceCamera} {
		if held[src] && !s.mod.held[src] {
			// Our client may have published it unmuted just before the hold: mute it in the store too.
			s.muted[src] = true
			if s.published[src] {
				ctx, cancel := s.ctx()
				if err := s.hub.cfg.Store.SetTrackMuted(ctx, s.room, s.me.ID, string(src), true); err != nil && !errors.Is(err, rooms.ErrNotFound) {
					s.log.Error("mute a held source", "source", src, "err", err)
				}
				cancel()
			}
		}
	}
	s.mod.held = held
	s.applyHolds()
}

// applyHolds pauses the up-tracks of held sources in the SFU and resumes the others.
func (s *session) applyHolds() {
	if s.peer == nil {
		return
	}
	for _, src := range []rooms.Source{rooms.SourceMicrophone, rooms.SourceCamera} {
		if up := s.peer.UpTrack(string(src)); up != nil {
			up.SetPaused(s.mod.held[src])
		}
	}
}

// applySettings enforces new settings on our own media: a student's screen share stops when students
// may no longer share.
func (s *session) applySettings(st rooms.RoomSettings) {
	s.mod.settings = st
	if s.isStudent() && !st.StudentScreenShare && s.wanted[rooms.SourceScreen] {
		s.wanted[rooms.SourceScreen] = false
		s.syncPublished(rooms.SourceScreen)
	}
}

// onModerationEvent delivers the events of moderation, and every event while we wait in the lobby. It
// reports false for the other event types.
func (s *session) onModerationEvent(ev rooms.Event) bool {
	if s.mod.waiting {
		s.onWaitingEvent(ev)
		return true
	}
	moderator := s.me.Role.Moderator()
	switch ev.Type {
	case rooms.EventSettingsChanged:
		s.applySettings(*ev.Settings)
		s.send(string(ev.Type), settingsChangedMsg{Seq: ev.Seq, Settings: *ev.Settings, By: ev.By})
	case rooms.EventParticipantUpdated:
		s.send(string(ev.Type), participantUpdatedMsg{Seq: ev.Seq, Participant: *ev.Participant, By: ev.By})
		if ev.Participant.ID == s.me.ID {
			s.me.Role = ev.Participant.Role
			s.setHeld(ev.Participant.ModeratorMuted)
			if s.me.Role.Moderator() != moderator {
				s.resyncView() // the lobby, removals and private chat appear or disappear
			}
		}
	case rooms.EventLobbyJoined:
		if moderator {
			s.send(string(ev.Type), participantJoinedMsg{Seq: ev.Seq, Participant: *ev.Participant})
		}
	case rooms.EventLobbyLeft:
		if moderator {
			s.send(string(ev.Type), lobbyLeftMsg{Seq: ev.Seq, ParticipantID: ev.ParticipantID, Reason: ev.Reason, By: ev.By})
		}
	case rooms.EventParticipantRemoved:
		if moderator {
			s.send(string(ev.Type), participantRemovedMsg{Seq: ev.Seq, Removal: *ev.Removal})
		}
	case rooms.EventRejoinAllowed:
		if moderator {
			s.send(string(ev.Type), rejoinAllowedMsg{Seq: ev.Seq, Identity: ev.Removal.Identity, By: ev.Removal.By})
		}
	default:
		return false
	}
	return true
}

// resyncView sends a fresh snapshot after our role changed what we may see.
func (s *session) resyncView() {
	ctx, cancel := s.ctx()
	snap, err := s.hub.cfg.Store.Snapshot(ctx, s.room)
	cancel()
	if err != nil {
		s.log.Error("read the room after a role change", "err", err)
		return
	}
	s.resync(snap)
}

// wait puts the session in the lobby, as of the snapshot Enter returned.
func (s *session) wait(snap rooms.Snapshot) {
	s.mod.waiting = true
	s.seq = snap.Seq
	s.mod.settings = snap.Settings
	s.mod.queue = s.mod.queue[:0]
	for _, p := range snap.Lobby {
		s.mod.queue = append(s.mod.queue, p.ID)
	}
	s.log.Info("waiting in the lobby", "name", s.me.Name, "position", s.position())
	s.sendWaiting(false)
}

func (s *session) position() int { return slices.Index(s.mod.queue, s.me.ID) + 1 }

func (s *session) sendWaiting(resumed bool) {
	s.mod.told = s.position()
	s.send("waiting", waitingMsg{Room: s.room, Participant: s.me, Lobby: s.mod.settings.Lobby, Position: s.mod.told,
		ResumeToken: s.resumeToken, Resumed: resumed})
}

// onWaitingEvent follows the lobby while we wait: our place in line, the lobby mode, and our own
// admission or refusal. Nothing else of the room reaches a waiting participant.
func (s *session) onWaitingEvent(ev rooms.Event) {
	mode := s.mod.settings.Lobby
	switch ev.Type {
	case rooms.EventLobbyJoined:
		s.mod.queue = append(s.mod.queue, ev.Participant.ID)
	case rooms.EventLobbyLeft:
		if ev.ParticipantID == s.me.ID {
			if ev.Reason != rooms.ReasonAdmitted { // admitted: our participant_joined follows
				s.endWaiting(ev.Reason)
			}
			return
		}
		s.mod.queue = slices.DeleteFunc(s.mod.queue, func(id string) bool { return id == ev.ParticipantID })
	case rooms.EventSettingsChanged:
		s.mod.settings = *ev.Settings
	case rooms.EventParticipantJoined:
		if ev.Participant.ID == s.me.ID {
			s.admitted(*ev.Participant)
		}
		return
	default:
		return
	}
	if s.position() != s.mod.told || s.mod.settings.Lobby != mode {
		s.sendWaiting(false)
	}
}

// endWaiting ends a waiting session that left the lobby for another reason than its admission.
func (s *session) endWaiting(reason string) {
	s.mod.waiting = false // the store has taken us out already
	s.log.Info("left the lobby", "reason", reason)
	s.end(reason, false)
}

// admitted moves a waiting session into the room: from now on it is a participant like any other.
func (s *session) admitted(p rooms.Participant) {
	s.mod.waiting, s.joined = false, true // the store has made us a participant
	s.me.Role, s.me.JoinedAt = p.Role, p.JoinedAt
	s.hub.m.sessions.Inc()
	s.log.Info("admitted from the lobby")
	ctx, cancel := s.ctx()
	snap, err := s.hub.cfg.Store.Snapshot(ctx, s.room)
	cancel()
	if err != nil {
		s.log.Error("read the room after admission", "err", err)
		s.send("error", errorMsg{Code: CodeInternal, Message: "could not enter the room; join again", Ref: "join"})
		s.end(rooms.ReasonLeft, true)
		return
	}
	s.applySnapshot(snap)
	s.send("joined", s.joinedMsg(snap, s.chatHistory(), false))
	s.reconcile(moveAssigned) // assigned to a breakout while waiting: go there now
}

// resyncWaiting replaces a waiting session's view after the room feed was interrupted.
func (s *session) resyncWaiting(snap rooms.Snapshot) {
	s.seq = snap.Seq
	if slices.ContainsFunc(snap.Lobby, func(p rooms.Participant) bool { return p.ID == s.me.ID }) {
		s.wait(snap)
		return
	}
	if i := slices.IndexFunc(snap.Participants, func(p rooms.Participant) bool { return p.ID == s.me.ID }); i >= 0 {
		s.admitted(snap.Participants[i])
		return
	}
	reason := rooms.ReasonDenied
	if slices.ContainsFunc(snap.Removed, func(r rooms.Removal) bool { return r.Identity == s.me.Identity }) {
		reason = rooms.ReasonRemoved
	}
	s.endWaiting(reason)
}

// leaveLobby takes a waiting session that ends out of the lobby.
func (s *session) leaveLobby(leave bool) {
	if !s.mod.waiting {
		return
	}
	s.mod.waiting = false
	if !leave {
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.hub.cfg.Store.LeaveLobby(ctx, s.room, s.me.ID, rooms.ReasonLeft, s.me.ID); err != nil && !errors.Is(err, rooms.ErrNotFound) {
		s.log.Error("leave the lobby", "err", err)
	}
}
