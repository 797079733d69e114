package signaling

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chalk-edu/chalk/rooms"
)

// The breakout messages of the protocol (docs/protocol.md, "Breakout rooms"): what clients send,
// how it is validated, and the breakout state clients receive.

// CodeConflict: the classroom's state does not allow the request now (e.g. opening breakouts that
// are open, or naming a generation that is over); nothing changed.
const CodeConflict = "conflict"

// Limits of breakout requests, beyond those of the store.
const (
	maxBreakoutSeconds  = int(rooms.MaxBreakoutDuration / time.Second)
	maxBroadcastRunes   = 1000
	maxBreakoutNameLen  = 64
	maxAssignPerMessage = 1000
)

// Client → server breakout message bodies. Generation, where present, is optional: when set and
// not the current generation the server answers conflict, so a click on a stale view changes nothing.
type (
	breakoutsOpenMsg struct {
		Count           int            `json:"count"`
		Names           []string       `json:"names,omitempty"`
		Assignments     map[string]int `json:"assignments,omitempty"` // identity → breakout 1..count
		Random          bool           `json:"random,omitempty"`
		SelfSelect      bool           `json:"selfSelect,omitempty"`
		DurationSeconds int            `json:"durationSeconds,omitempty"`
	}
	breakoutsAssignMsg struct {
		Assignments map[string]int `json:"assignments,omitempty"` // identity → breakout, 0: main room
		Random      bool           `json:"random,omitempty"`
		Generation  uint64         `json:"generation,omitempty"`
	}
	breakoutsExtendMsg struct {
		Seconds    int    `json:"seconds"`
		Generation uint64 `json:"generation,omitempty"`
	}
	breakoutsBroadcastMsg struct {
		Text       string `json:"text"`
		Generation uint64 `json:"generation,omitempty"`
	}
	breakoutsCloseMsg struct {
		Generation uint64 `json:"generation,omitempty"`
	}
	breakoutVisitMsg struct {
		Breakout   int    `json:"breakout"` // 0: the main room
		Generation uint64 `json:"generation,omitempty"`
	}
	breakoutChooseMsg struct {
		Breakout   int    `json:"breakout"` // 0: the main room
		Generation uint64 `json:"generation,omitempty"`
	}
	breakoutHelpMsg struct {
		Generation uint64 `json:"generation,omitempty"`
	}
	breakoutHelpDoneMsg struct {
		Breakout   int    `json:"breakout"`
		Generation uint64 `json:"generation,omitempty"`
	}
)

// breakoutRequest is implemented by every breakout message body.
type breakoutRequest interface {
	validate() error
	// instructorsOnly: a student sending it gets forbidden and nothing changes.
	instructorsOnly() bool
}

func (*breakoutsOpenMsg) instructorsOnly() bool      { return true }
func (*breakoutsAssignMsg) instructorsOnly() bool    { return true }
func (*breakoutsExtendMsg) instructorsOnly() bool    { return true }
func (*breakoutsBroadcastMsg) instructorsOnly() bool { return true }
func (*breakoutsCloseMsg) instructorsOnly() bool     { return true }
func (*breakoutVisitMsg) instructorsOnly() bool      { return true }
func (*breakoutHelpDoneMsg) instructorsOnly() bool   { return true }
func (*breakoutChooseMsg) instructorsOnly() bool     { return false }
func (*breakoutHelpMsg) instructorsOnly() bool       { return false }

func newBreakoutBody(typ string) any {
	switch typ {
	case "breakouts_open":
		return &breakoutsOpenMsg{}
	case "breakouts_assign":
		return &breakoutsAssignMsg{}
	case "breakouts_extend":
		return &breakoutsExtendMsg{}
	case "breakouts_broadcast":
		return &breakoutsBroadcastMsg{}
	case "breakouts_close":
		return &breakoutsCloseMsg{}
	case "breakout_visit":
		return &breakoutVisitMsg{}
	case "breakout_choose":
		return &breakoutChooseMsg{}
	case "breakout_help":
		return &breakoutHelpMsg{}
	case "breakout_help_done":
		return &breakoutHelpDoneMsg{}
	}
	panic("signaling: no breakout message " + typ) // the decode switch lists exactly the types above
}

func checkAssignMap(as map[string]int, low, high int) error {
	if len(as) > maxAssignPerMessage {
		return fmt.Errorf("at most %d assignments per message", maxAssignPerMessage)
	}
	for id, n := range as {
		if !idRE.MatchString(id) {
			return fmt.Errorf("identity %q is malformed", truncate(id, 40))
		}
		if n < low || n > high {
			return fmt.Errorf("breakout %d for %q is out of range %d-%d", n, truncate(id, 40), low, high)
		}
	}
	return nil
}

func checkBreakoutNumber(n, low int) error {
	if n < low || n > rooms.MaxBreakouts {
		return fmt.Errorf("breakout must be %d to %d", low, rooms.MaxBreakouts)
	}
	return nil
}

func (m *breakoutsOpenMsg) validate() error {
	if m.Count < 1 || m.Count > rooms.MaxBreakouts {
		return fmt.Errorf("count must be 1 to %d", rooms.MaxBreakouts)
	}
	if len(m.Names) > m.Count {
		return fmt.Errorf("%d names for %d breakouts", len(m.Names), m.Count)
	}
	for i, n := range m.Names {
		m.Names[i] = strings.TrimSpace(n)
		if !utf8.ValidString(n) || utf8.RuneCountInString(m.Names[i]) > maxBreakoutNameLen {
			return fmt.Errorf("a name must be at most %d characters of valid UTF-8", maxBreakoutNameLen)
		}
	}
	if m.DurationSeconds < 0 || m.DurationSeconds > maxBreakoutSeconds {
		return fmt.Errorf("durationSeconds must be 0 (no timer) to %d", maxBreakoutSeconds)
	}
	return checkAssignMap(m.Assignments, 1, m.Count)
}

func (m *breakoutsAssignMsg) validate() error {
	if len(m.Assignments) == 0 && !m.Random {
		return errors.New("nothing to assign: give assignments or random")
	}
	return checkAssignMap(m.Assignments, 0, rooms.MaxBreakouts)
}

func (m *breakoutsExtendMsg) validate() error {
	if m.Seconds < 1 || m.Seconds > maxBreakoutSeconds {
		return fmt.Errorf("seconds must be 1 to %d", maxBreakoutSeconds)
	}
	return nil
}

func (m *breakoutsBroadcastMsg) validate() error {
	m.Text = strings.TrimSpace(m.Text)
	switch n := utf8.RuneCountInString(m.Text); {
	case !utf8.ValidString(m.Text):
		return errors.New("text must be valid UTF-8")
	case n == 0:
		return errors.New("text is empty")
	case n > maxBroadcastRunes:
		return fmt.Errorf("message is %d characters; the limit is %d", n, maxBroadcastRunes)
	}
	return nil
}

func (m *breakoutsCloseMsg) validate() error   { return nil }
func (m *breakoutHelpMsg) validate() error     { return nil }
func (m *breakoutVisitMsg) validate() error    { return checkBreakoutNumber(m.Breakout, 0) }
func (m *breakoutChooseMsg) validate() error   { return checkBreakoutNumber(m.Breakout, 0) }
func (m *breakoutHelpDoneMsg) validate() error { return checkBreakoutNumber(m.Breakout, 1) }

// Server → client breakout message bodies.
type (
	// breakoutsMsg is a participant's view of the main room's breakouts: sent as "breakouts" when
	// the plan changes, and inside joined and moved.
	breakoutsMsg struct {
		Room        string                    `json:"room"` // the main room
		Generation  uint64                    `json:"generation"`
		Version     uint64                    `json:"version"`
		Open        bool                      `json:"open"`
		SelfSelect  bool                      `json:"selfSelect"`
		Rooms       []breakoutRoomView        `json:"rooms"`
		EndsAt      *time.Time                `json:"endsAt"` // null: no timer (or not open)
		ServerTime  time.Time                 `json:"serverTime"`
		Current     int                       `json:"current"`              // the breakout you are in, 0: main room
		Assigned    int                       `json:"assigned"`             // the breakout the plan gives you, 0: none
		Assignments []rooms.Assignment        `json:"assignments,omitzero"` // instructors only
		Broadcasts  []rooms.BreakoutBroadcast `json:"broadcasts"`
		CloseReason string                    `json:"closeReason"`
	}
	breakoutRoomView struct {
		Number   int                `json:"number"`
		Room     string             `json:"room"`
		Name     string             `json:"name"`
		Assigned int                `json:"assigned"` // how many identities the plan assigns to it
		Help     *rooms.HelpRequest `json:"help"`     // pending; students see only their own breakout's
	}
	// movedMsg: the server moved you to another room; it is a joined message for that room.
	movedMsg struct {
		joinedMsg
		From   string `json:"from"`
		Reason string `json:"reason"`
	}
	breakoutHelpEventMsg struct {
		Breakout      int       `json:"breakout"`
		Room          string    `json:"room"`
		ParticipantID string    `json:"participantId"`
		Identity      string    `json:"identity"`
		Name          string    `json:"name"`
		At            time.Time `json:"at"`
	}
)

// Why the server moved a participant (moved.reason).
const (
	moveAssigned = "assigned" // the plan placed you: breakouts opened, an assignment, your own choice
	moveVisit    = "visit"    // an instructor's own move
	moveClosed   = rooms.BreakoutsClosedByInstructor
	moveTimer    = rooms.BreakoutsClosedByTimer
)

// breakoutView is this participant's view of the plan.
func (s *session) breakoutView() breakoutsMsg {
	p := s.bo.plan
	_, current := rooms.ParseBreakoutRoom(s.room)
	v := breakoutsMsg{
		Room: s.bo.main, Generation: p.Generation, Version: p.Version, Open: p.Open, SelfSelect: p.SelfSelect,
		Rooms: make([]breakoutRoomView, len(p.Rooms)), ServerTime: time.Now().UTC(), Current: current,
		Assigned: p.AssignedTo(s.me.Identity), Broadcasts: p.Broadcasts, CloseReason: p.CloseReason,
	}
	if v.Broadcasts == nil {
		v.Broadcasts = []rooms.BreakoutBroadcast{}
	}
	if p.Open && !p.EndsAt.IsZero() {
		ends := p.EndsAt
		v.EndsAt = &ends
	}
	assigned := make(map[int]int, len(p.Rooms))
	for _, a := range p.Assignments {
		assigned[a.Breakout]++
	}
	for i, r := range p.Rooms {
		v.Rooms[i] = breakoutRoomView{Number: r.Number, Room: r.Room, Name: r.Name, Assigned: assigned[r.Number]}
		if h := p.HelpFor(r.Number); h != nil && (s.isInstructor() || r.Number == current) {
			hc := *h
			v.Rooms[i].Help = &hc
		}
	}
	if s.isInstructor() {
		v.Assignments = append([]rooms.Assignment{}, p.Assignments...)
	}
	return v
}
