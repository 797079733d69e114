package signaling

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chalk-edu/chalk/rooms"
)

// Breakout rooms, the session side. The store keeps the main room's plan; each session watches the
// main room's events (also while it is in a breakout) and keeps itself where the plan says it
// belongs. That rule is level-triggered: whatever the session learns — a plan event, a fresh read
// after a join, a resume or a lost feed — it compares where it is with where it should be and moves
// if they differ. So a missed or late event cannot leave anyone in the wrong room for long.
//
// Moving keeps the WebSocket and both peer connections: the session joins the new room in the store
// (carrying its published tracks), re-points its up-tracks in the SFU, leaves the old room with
// reason "moved", and sends the client "moved" (a joined message for the new room). The client
// replaces its view of the room; the subscribe connection is renegotiated as for any change.

// boState is a session's breakout state, owned by the session's goroutine.
type boState struct {
	main     string             // the main room: the room the participant was admitted to
	plan     rooms.BreakoutPlan // the newest plan seen
	visit    int                // an instructor's chosen room in generation visitGen: breakout n, 0 main
	visitGen uint64
	failures int // consecutive failed moves
}

const (
	// moveRetry is the pause after a failed move (or plan read) before trying again; after
	// maxMoveFailures in a row the session ends and the client rejoins, landing where the plan says.
	moveRetry       = time.Second
	maxMoveFailures = 10
	leaveAttempts   = 10
)

// enterBreakouts runs before the first join: it subscribes to the main room's events, reads the
// plan and sets the room to join, so an assigned latecomer joins its breakout directly.
func (s *session) enterBreakouts() error {
	s.bo.main = s.room
	if err := s.hub.attachRoom(s, s.bo.main); err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	p, err := s.hub.cfg.Store.Breakouts(ctx, s.bo.main)
	cancel()
	if err != nil {
		s.log.Error("read breakout plan; joining the main room", "err", err)
		s.later(s.refreshBreakouts)
		return nil
	}
	s.bo.plan = p
	if s.bo.visit == 0 && s.isInstructor() { // a fresh join goes back to the breakout being visited
		s.bo.visit = p.VisitOf(s.me.Identity)
	}
	if s.bo.visit > 0 { // from the plan, or from a redirect's visit (cluster.go): keep visiting there
		s.bo.visitGen = p.Generation
	}
	s.hub.armBreakoutTimer(p)
	// Everyone enters through the main room, even someone already assigned to a breakout: the room's
	// entry policy (lock, lobby, removals) is the main room's. reconcile then moves them.
	return nil
}

func (s *session) setRoom(room string) {
	s.room = room
	s.log = s.hub.log.With("room", room, "participant", s.me.ID)
}

// later runs f on the session's goroutine after moveRetry, unless the session has ended by then.
func (s *session) later(f func()) {
	time.AfterFunc(moveRetry, func() {
		s.mbox.post(func() {
			if !s.ended {
				f()
			}
		})
	})
}

// target is the room the plan says this participant belongs in.
func (s *session) target() string {
	p := &s.bo.plan
	if !p.Open {
		return s.bo.main
	}
	n := p.AssignedTo(s.me.Identity)
	if s.isInstructor() && s.bo.visitGen == p.Generation {
		n = s.bo.visit
	}
	if n < 1 || n > len(p.Rooms) {
		return s.bo.main
	}
	return p.Rooms[n-1].Room
}

// onBreakoutEvent applies a plan event of the main room; it reports whether ev was one.
func (s *session) onBreakoutEvent(ev rooms.Event) bool {
	if ev.Breakouts == nil {
		return false
	}
	if s.joined && ev.Room == s.bo.main {
		s.adoptPlan(*ev.Breakouts, ev.Type)
	}
	return true
}

// breakoutResync handles a resync of one of the session's feeds; it reports true when the snapshot
// is not of the session's current room (the main room's feed while in a breakout, or a room left).
func (s *session) breakoutResync(snap rooms.Snapshot) bool {
	if snap.Room == s.bo.main {
		s.mbox.post(s.refreshBreakouts) // plan events may have been lost with the feed
	}
	return snap.Room != s.room
}

// refreshBreakouts reads the plan and acts on it if it is newer than the one the session has.
func (s *session) refreshBreakouts() {
	if !s.joined || s.ended {
		return
	}
	ctx, cancel := s.ctx()
	p, err := s.hub.cfg.Store.Breakouts(ctx, s.bo.main)
	cancel()
	if err != nil {
		s.log.Error("read breakout plan", "err", err)
		s.moveFailed(err)
		s.later(s.refreshBreakouts)
		return
	}
	s.bo.failures = 0
	s.adoptPlan(p, "")
}

// adoptPlan takes a plan newer than the session's, tells the client, and moves if needed.
func (s *session) adoptPlan(p rooms.BreakoutPlan, cause rooms.EventType) {
	if p.Version <= s.bo.plan.Version {
		return
	}
	s.bo.plan = p
	s.hub.armBreakoutTimer(p)
	switch {
	case cause == rooms.EventBreakoutBroadcast && len(p.Broadcasts) > 0:
		s.send("breakout_broadcast", p.Broadcasts[len(p.Broadcasts)-1])
	case cause == rooms.EventBreakoutHelp && len(p.Help) > 0 && s.isInstructor():
		h := p.Help[len(p.Help)-1]
		s.send("breakout_help", breakoutHelpEventMsg{Breakout: h.Breakout, Room: rooms.BreakoutRoomName(s.bo.main, h.Breakout),
			ParticipantID: h.ParticipantID, Identity: h.Identity, Name: h.Name, At: h.At})
	}
	reason := moveAssigned
	if !p.Open {
		reason = p.CloseReason
	}
	if !s.reconcile(reason) {
		s.send("breakouts", s.breakoutView())
	}
}

// reconcile moves the session to the room the plan gives it, if it is elsewhere, and reports
// whether it moved (the moved message then carries the breakout view).
func (s *session) reconcile(reason string) bool {
	if !s.joined || s.ended {
		return false
	}
	to := s.target()
	if to == s.room {
		s.bo.failures = 0
		return false
	}
	if rt, ok := s.elsewhere(to); ok { // served by another node: the client goes there (cluster.go)
		s.redirect(rt, RedirectBreakout)
		return true
	}
	if err := s.moveTo(to, reason); err != nil {
		s.log.Error("move to another room", "to", to, "err", err)
		if s.moveFailed(err) {
			s.later(func() {
				if !s.reconcile(reason) {
					s.send("breakouts", s.breakoutView())
				}
			})
		}
		return false
	}
	s.bo.failures = 0
	return true
}

// moveFailed counts a failure to get where the plan says and reports whether to try again; after
// too many the session ends, and the client's fresh join lands it in the right room.
func (s *session) moveFailed(err error) bool {
	s.bo.failures++
	if s.bo.failures < maxMoveFailures {
		return true
	}
	s.log.Error("cannot reach the room the breakout plan gives; ending the session", "err", err)
	s.send("error", errorMsg{Code: CodeInternal, Message: "could not move you to your room; reconnecting"})
	s.end(rooms.ReasonLeft, true)
	return false
}

// moveTo takes the session from its room to another room of the same class. The order keeps
// everyone's view whole: the SFU finds our tracks in the new room before its members learn we
// joined, and if the join fails nothing has been taken down yet.
func (s *session) moveTo(to, reason string) error {
	from := s.room
	if err := s.hub.attachRoom(s, to); err != nil {
		return err
	}
	s.peer.Move(to)
	me := s.me
	me.JoinedAt = time.Now().UTC()
	me.Tracks = s.publishedTracks()
	ctx, cancel := s.ctx()
	snap, _, err := s.hub.cfg.Store.Join(ctx, to, me)
	cancel()
	if err != nil {
		s.peer.Move(from)
		if to != s.bo.main {
			s.hub.detachRoom(s, to)
		}
		return err
	}
	s.me.JoinedAt = me.JoinedAt
	s.setRoom(to)
	if err := s.hub.ensureEdgeRelay(s); err != nil { // the new room's media may be hosted elsewhere
		s.log.Error("relay the room moved to", "room", to, "err", err)
	}
	s.peer.UnsubscribeAll()
	s.applySnapshot(snap)
	s.leaveRoom(from, 1)
	if from != s.bo.main {
		s.hub.detachRoom(s, from)
	}
	s.log.Info("moved", "from", from, "reason", reason)
	s.send("moved", movedMsg{joinedMsg: s.joinedMsg(snap, s.chatHistory(), false), From: from, Reason: reason})
	return nil
}

// leaveRoom removes us from a room we moved out of, retrying a few times if the store fails: a
// record left behind would show a ghost in that room.
func (s *session) leaveRoom(room string, attempt int) {
	if s.room == room {
		return // moved back meanwhile
	}
	ctx, cancel := s.ctx()
	err := s.hub.cfg.Store.Leave(ctx, room, s.me.ID, rooms.ReasonMoved)
	cancel()
	if err == nil || errors.Is(err, rooms.ErrNotFound) {
		return
	}
	s.log.Error("leave the room moved out of", "room", room, "attempt", attempt, "err", err)
	if attempt < leaveAttempts {
		s.later(func() { s.leaveRoom(room, attempt+1) })
	}
}

// publishedTracks lists our tracks as the store has them, for joining another room with them.
func (s *session) publishedTracks() []rooms.Track {
	ts := []rooms.Track{}
	for _, src := range []rooms.Source{rooms.SourceMicrophone, rooms.SourceCamera, rooms.SourceScreen} {
		if s.published[src] {
			ts = append(ts, rooms.Track{ID: string(src), Source: src, Muted: s.muted[src]})
		}
	}
	return ts
}

// handleBreakout runs one breakout request.
func (s *session) handleBreakout(conn *wsConn, typ string, req breakoutRequest) {
	if req.instructorsOnly() && !s.isInstructor() {
		s.fail(conn, protoErr(CodeForbidden, typ, "only an instructor can do this"))
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	store, main, p := s.hub.cfg.Store, s.bo.main, &s.bo.plan
	var err error
	switch b := req.(type) {
	case *breakoutsOpenMsg:
		o := rooms.BreakoutOptions{Count: b.Count, Names: b.Names, SelfSelect: b.SelfSelect,
			Duration: time.Duration(b.DurationSeconds) * time.Second, By: s.me.ID}
		if o.Assignments, err = s.resolveAssignments(b.Assignments, b.Random, b.Count, false); err == nil {
			_, err = store.OpenBreakouts(ctx, main, o)
		}
	case *breakoutsAssignMsg:
		var as []rooms.Assignment
		if as, err = s.resolveAssignments(b.Assignments, b.Random, len(p.Rooms), true); err == nil {
			_, err = store.AssignBreakouts(ctx, main, b.Generation, as, s.me.ID)
		}
	case *breakoutsExtendMsg:
		_, err = store.ExtendBreakouts(ctx, main, b.Generation, time.Duration(b.Seconds)*time.Second, s.me.ID)
	case *breakoutsBroadcastMsg:
		if !s.chatLimit.allow(time.Now()) {
			s.fail(conn, protoErr(CodeRateLimited, typ, "you are sending messages too fast; wait a moment and try again"))
			return
		}
		_, err = store.BroadcastToBreakouts(ctx, main, b.Generation, rooms.BreakoutBroadcast{Text: b.Text, From: s.me.ID, FromName: s.me.Name})
	case *breakoutsCloseMsg:
		_, err = store.CloseBreakouts(ctx, main, rooms.BreakoutClose{Generation: b.Generation, By: s.me.ID})
	case *breakoutVisitMsg:
		err = s.visit(b)
	case *breakoutChooseMsg:
		switch {
		case s.isInstructor():
			s.fail(conn, protoErr(CodeForbidden, typ, "instructors move with breakout_visit"))
			return
		case p.Open && !p.SelfSelect:
			s.fail(conn, protoErr(CodeForbidden, typ, "the instructor assigns these breakouts"))
			return
		case !s.chatLimit.allow(time.Now()): // every choice moves us: a store write and a renegotiation
			s.fail(conn, protoErr(CodeRateLimited, typ, "you are switching rooms too fast; wait a moment and try again"))
			return
		}
		_, err = store.ChooseBreakout(ctx, main, b.Generation, rooms.Assignment{Identity: s.me.Identity, Name: s.me.Name, Breakout: b.Breakout}, s.me.ID)
	case *breakoutHelpMsg:
		_, n := rooms.ParseBreakoutRoom(s.room)
		switch {
		case n == 0:
			err = fmt.Errorf("%w: ask for help from a breakout; in the main room, raise your hand", rooms.ErrBreakoutState)
		case !s.chatLimit.allow(time.Now()):
			s.fail(conn, protoErr(CodeRateLimited, typ, "you are sending messages too fast; wait a moment and try again"))
			return
		default:
			_, err = store.RequestBreakoutHelp(ctx, main, b.Generation, rooms.HelpRequest{Breakout: n, ParticipantID: s.me.ID, Identity: s.me.Identity, Name: s.me.Name})
		}
	case *breakoutHelpDoneMsg:
		_, err = store.ClearBreakoutHelp(ctx, main, b.Generation, b.Breakout, s.me.ID)
	}
	if err != nil {
		s.breakoutError(conn, typ, err)
	}
}

// visit moves an instructor to a breakout (or back to the main room) of the open generation, and
// clears that breakout's help request: someone is on the way.
func (s *session) visit(b *breakoutVisitMsg) error {
	p := &s.bo.plan
	if err := p.Current(b.Generation); err != nil {
		return err
	}
	if b.Breakout > len(p.Rooms) {
		return fmt.Errorf("%w: breakout %d does not exist", rooms.ErrBreakoutInvalid, b.Breakout)
	}
	// The plan keeps the visit (for a fresh join of this instructor), the session acts on it.
	ctx, cancel := s.ctx()
	_, err := s.hub.cfg.Store.VisitBreakout(ctx, s.bo.main, p.Generation,
		rooms.Assignment{Identity: s.me.Identity, Name: s.me.Name, Breakout: b.Breakout}, s.me.ID)
	cancel()
	if err != nil {
		return err
	}
	s.bo.visit, s.bo.visitGen = b.Breakout, p.Generation
	if !s.reconcile(moveVisit) && s.room != s.target() {
		return errors.New("the move failed; retrying")
	}
	if b.Breakout > 0 && p.HelpFor(b.Breakout) != nil {
		ctx, cancel := s.ctx()
		defer cancel()
		_, err := s.hub.cfg.Store.ClearBreakoutHelp(ctx, s.bo.main, p.Generation, b.Breakout, s.me.ID)
		return err
	}
	return nil
}

// resolveAssignments turns identity → breakout into assignments with display names, adding, if
// random, every student in the main room not otherwise assigned, spread evenly over count breakouts.
// more says the assignments add to the open plan's (breakouts_assign) rather than start a new one.
func (s *session) resolveAssignments(given map[string]int, random bool, count int, more bool) ([]rooms.Assignment, error) {
	more = more && s.bo.plan.Open
	names := map[string]string{}
	for _, a := range s.bo.plan.Assignments {
		names[a.Identity] = a.Name
	}
	var students []string
	if len(given) > 0 || random {
		ctx, cancel := s.ctx()
		snap, err := s.hub.cfg.Store.Snapshot(ctx, s.bo.main)
		cancel()
		if err != nil {
			return nil, err
		}
		for _, p := range snap.Participants {
			names[p.Identity] = p.Name
			if p.Role == rooms.RoleStudent {
				students = append(students, p.Identity)
			}
		}
	}
	as := make([]rooms.Assignment, 0, len(given))
	for id, n := range given {
		as = append(as, rooms.Assignment{Identity: id, Name: names[id], Breakout: n})
	}
	if !random || count < 1 {
		return as, nil
	}
	fixed := append([]rooms.Assignment{}, as...)
	var unassigned []string
	for _, id := range students {
		if _, ok := given[id]; !ok && (!more || s.bo.plan.AssignedTo(id) == 0) {
			unassigned = append(unassigned, id)
		}
	}
	if more { // count those the plan already has, too
		for _, a := range s.bo.plan.Assignments {
			if _, ok := given[a.Identity]; !ok {
				fixed = append(fixed, a)
			}
		}
	}
	for id, n := range rooms.SpreadEvenly(unassigned, count, fixed) {
		as = append(as, rooms.Assignment{Identity: id, Name: names[id], Breakout: n})
	}
	return as, nil
}

// breakoutError reports a failed breakout request with the code its cause calls for.
func (s *session) breakoutError(conn *wsConn, ref string, err error) {
	msg := strings.TrimPrefix(err.Error(), "rooms: ")
	var invalid *rooms.InvalidError
	switch {
	case errors.As(err, &invalid):
		s.fail(conn, protoErr(CodeBadMessage, ref, "%s", invalid.Reason))
	case errors.Is(err, rooms.ErrBreakoutInvalid):
		s.fail(conn, protoErr(CodeBadMessage, ref, "%s", msg))
	case errors.Is(err, rooms.ErrBreakoutState):
		s.fail(conn, protoErr(CodeConflict, ref, "%s", msg))
	case errors.Is(err, rooms.ErrBreakoutNotAllowed):
		s.fail(conn, protoErr(CodeForbidden, ref, "%s", msg))
	default:
		s.storeError(conn, ref, err)
	}
}
