package rooms

// Breakout rooms. A main room's breakout plan — which breakouts exist, who is assigned where, the
// timer, broadcasts, help requests — is classroom state kept under the main room and changed, like
// everything else, atomically with an event in the main room's Seq order. The breakouts themselves
// are ordinary rooms named "<main>.b<n>": user room names cannot contain '.', so they never collide.
//
// Both stores apply the same change functions (below) to a copy of the plan and store the result
// only if nobody changed the plan meanwhile: the embedded store under the room's lock, the Redis
// store with a compare-and-set script on the plan's Version. The rules live once, in Go.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of a breakout plan.
const (
	MaxBreakouts          = 50
	MaxBreakoutDuration   = 24 * time.Hour
	MaxBreakoutBroadcasts = 20   // a plan keeps its generation's last broadcasts, for late joiners
	MaxBreakoutAssigned   = 2000 // assignments per plan
	maxBreakoutNameRunes  = 64
	maxBroadcastRunes     = 1000
)

// ReasonMoved: the participant left the room for another room of the same class (a breakout or back).
const ReasonMoved = "moved"

// Breakout events, published in the main room. Each carries the whole plan after the change
// (Event.Breakouts) and By, the participant id of who acted ("" for the timer).
const (
	EventBreakoutsOpened   EventType = "breakouts_opened"
	EventBreakoutsChanged  EventType = "breakouts_changed" // assignments, timer or help cleared
	EventBreakoutBroadcast EventType = "breakout_broadcast"
	EventBreakoutHelp      EventType = "breakout_help" // the plan's last Help entry is new
	EventBreakoutsClosed   EventType = "breakouts_closed"
)

// Why breakouts closed.
const (
	BreakoutsClosedByInstructor = "closed"
	BreakoutsClosedByTimer      = "timer"
)

var (
	// ErrBreakoutState: the plan is not in a state that allows the change (e.g. opening breakouts
	// that are open, changing closed ones, or naming a generation that is not the current one).
	ErrBreakoutState = errors.New("rooms: the breakouts are not in a state that allows this")
	// ErrBreakoutInvalid: the request itself is malformed (counts, numbers, texts out of range).
	// It is ErrInvalid: the error is an *InvalidError saying which rule, like every refused input.
	ErrBreakoutInvalid = ErrInvalid
	// ErrBreakoutNotAllowed: the plan's settings forbid it (choosing a breakout without self-select).
	ErrBreakoutNotAllowed = errors.New("rooms: the breakout settings do not allow this")
)

// BreakoutStore keeps breakout plans; embedded in Store. room is always the main room. gen names
// the generation (one per OpenBreakouts) a change is meant for: 0 means the current one, and any
// other generation than the current one fails with ErrBreakoutState, so a stale click never
// changes a newer plan. Every change publishes one event in the main room; a change that changes
// nothing publishes none.
type BreakoutStore interface {
	// Breakouts returns the room's plan: Version 0 and not Open if breakouts were never opened.
	Breakouts(ctx context.Context, room string) (BreakoutPlan, error)
	// OpenBreakouts starts a new generation (EventBreakoutsOpened). ErrBreakoutState if open.
	OpenBreakouts(ctx context.Context, room string, o BreakoutOptions) (BreakoutPlan, error)
	// AssignBreakouts sets where identities belong; Breakout 0 sends one back to the main room.
	AssignBreakouts(ctx context.Context, room string, gen uint64, as []Assignment, by string) (BreakoutPlan, error)
	// ChooseBreakout is a participant's own choice (0: main room); ErrBreakoutNotAllowed without SelfSelect.
	ChooseBreakout(ctx context.Context, room string, gen uint64, a Assignment, by string) (BreakoutPlan, error)
	// ExtendBreakouts moves the timer d later, or starts one ending d from now.
	ExtendBreakouts(ctx context.Context, room string, gen uint64, d time.Duration, by string) (BreakoutPlan, error)
	// BroadcastToBreakouts adds a message for every breakout (EventBreakoutBroadcast).
	BroadcastToBreakouts(ctx context.Context, room string, gen uint64, b BreakoutBroadcast) (BreakoutPlan, error)
	// RequestBreakoutHelp records that a breakout asks for an instructor (EventBreakoutHelp);
	// a breakout that is already waiting for help changes nothing.
	RequestBreakoutHelp(ctx context.Context, room string, gen uint64, h HelpRequest) (BreakoutPlan, error)
	// ClearBreakoutHelp drops a breakout's help request; none pending changes nothing.
	ClearBreakoutHelp(ctx context.Context, room string, gen uint64, breakout int, by string) (BreakoutPlan, error)
	// CloseBreakouts closes the open generation (EventBreakoutsClosed) and reports whether this
	// call closed it. It is idempotent: closed breakouts, another generation or (for the timer) a
	// deadline that has been moved all change nothing, so every node may call it when it sees the
	// deadline pass.
	CloseBreakouts(ctx context.Context, room string, c BreakoutClose) (closed bool, err error)
}

// BreakoutPlan is a main room's breakouts. Times are UTC with millisecond precision.
type BreakoutPlan struct {
	Room        string              `json:"room"`       // the main room
	Version     uint64              `json:"version"`    // +1 per change; orders plans of a room
	Generation  uint64              `json:"generation"` // +1 per OpenBreakouts
	Open        bool                `json:"open"`
	Rooms       []BreakoutRoom      `json:"rooms"`       // breakout n is Rooms[n-1]
	SelfSelect  bool                `json:"selfSelect"`  // participants may choose their breakout
	Assignments []Assignment        `json:"assignments"` // by identity, sorted; Breakout >= 1
	OpenedAt    time.Time           `json:"openedAt"`
	OpenedBy    string              `json:"openedBy"`
	EndsAt      time.Time           `json:"endsAt"` // zero: no timer
	ClosedAt    time.Time           `json:"closedAt"`
	CloseReason string              `json:"closeReason"` // BreakoutsClosedBy…, once closed
	Broadcasts  []BreakoutBroadcast `json:"broadcasts"`  // this generation's last ones, oldest first
	Help        []HelpRequest       `json:"help"`        // pending, at most one per breakout, oldest first

	Visits []Assignment `json:"visits"` // instructors visiting a breakout, by identity, sorted (breakout_visits.go)
}

// BreakoutRoom is one breakout of a plan.
type BreakoutRoom struct {
	Number int    `json:"number"` // 1-based
	Room   string `json:"room"`   // BreakoutRoomName(main, Number)
	Name   string `json:"name"`   // for people: "Breakout 3" unless the instructor named it
}

// Assignment says which breakout (0: the main room) an identity belongs in. Name is for display.
type Assignment struct {
	Identity string `json:"identity"`
	Name     string `json:"name"`
	Breakout int    `json:"breakout"`
}

// BreakoutBroadcast is an instructor's message to every breakout.
type BreakoutBroadcast struct {
	Text     string    `json:"text"`
	From     string    `json:"from"` // participant id
	FromName string    `json:"fromName"`
	At       time.Time `json:"at"`
}

// HelpRequest: someone in a breakout asks for an instructor.
type HelpRequest struct {
	Breakout      int       `json:"breakout"`
	ParticipantID string    `json:"participantId"`
	Identity      string    `json:"identity"`
	Name          string    `json:"name"`
	At            time.Time `json:"at"`
}

// BreakoutOptions open a new generation of breakouts.
type BreakoutOptions struct {
	Count       int
	Names       []string // optional, at most Count; empty entries get the default name
	Assignments []Assignment
	SelfSelect  bool
	Duration    time.Duration // 0: no timer
	By          string
}

// BreakoutClose asks to close breakouts: by an instructor (By set) or by the timer (Deadline set:
// close only if the plan's timer still ends at or before Deadline, i.e. was not extended since).
type BreakoutClose struct {
	Generation uint64 // 0: the current one (instructors); the timer always names its generation
	By         string
	Deadline   time.Time
}

// BreakoutRoomName is the room name of breakout n of main.
func BreakoutRoomName(main string, n int) string { return main + ".b" + strconv.Itoa(n) }

// ParseBreakoutRoom splits a room name into its main room and breakout number; n is 0 for a main room.
func ParseBreakoutRoom(room string) (main string, n int) {
	main, num, ok := strings.Cut(room, ".b")
	if !ok {
		return room, 0
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > MaxBreakouts || strconv.Itoa(n) != num {
		return room, 0
	}
	return main, n
}

// AssignedTo returns the breakout an identity is assigned to, 0 for none.
func (p *BreakoutPlan) AssignedTo(identity string) int {
	if i, ok := slices.BinarySearchFunc(p.Assignments, identity, cmpIdentity); ok {
		return p.Assignments[i].Breakout
	}
	return 0
}

// HelpFor returns the pending help request of breakout n, or nil.
func (p *BreakoutPlan) HelpFor(n int) *HelpRequest {
	for i := range p.Help {
		if p.Help[i].Breakout == n {
			return &p.Help[i]
		}
	}
	return nil
}

// Clone deep-copies the plan. Lists are never nil, so they encode as [].
func (p BreakoutPlan) Clone() BreakoutPlan {
	p.Rooms = append([]BreakoutRoom{}, p.Rooms...)
	p.Assignments = append([]Assignment{}, p.Assignments...)
	p.Broadcasts = append([]BreakoutBroadcast{}, p.Broadcasts...)
	p.Help = append([]HelpRequest{}, p.Help...)
	p.Visits = append([]Assignment{}, p.Visits...)
	return p
}

func cmpIdentity(a Assignment, id string) int { return strings.Compare(a.Identity, id) }

// breakoutChange applies one change to a copy of the plan at time now and returns the event type
// to publish, or "" when nothing changed. The store sets Version.
type breakoutChange func(p *BreakoutPlan, now time.Time) (EventType, error)

// stamp is how plan times are kept: UTC, whole milliseconds, no monotonic reading, so a plan
// compares equal after a JSON round trip.
func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// Current checks that the plan is open and in generation gen (0: any); ErrBreakoutState if not.
func (p *BreakoutPlan) Current(gen uint64) error {
	switch {
	case !p.Open:
		return fmt.Errorf("%w: no breakouts are open", ErrBreakoutState)
	case gen != 0 && gen != p.Generation:
		return fmt.Errorf("%w: generation %d is over; the current one is %d", ErrBreakoutState, gen, p.Generation)
	}
	return nil
}

func checkAssignments(as []Assignment, count int, allowMain bool) error {
	if len(as) > MaxBreakoutAssigned {
		return invalid("at most %d assignments", MaxBreakoutAssigned)
	}
	seen := make(map[string]bool, len(as))
	low := 1
	if allowMain {
		low = 0
	}
	for _, a := range as {
		switch {
		case a.Identity == "":
			return invalid("an assignment has no identity")
		case seen[a.Identity]:
			return invalid("identity %q is assigned twice", a.Identity)
		case a.Breakout < low || a.Breakout > count:
			return invalid("breakout %d does not exist (there are %d)", a.Breakout, count)
		}
		seen[a.Identity] = true
	}
	return nil
}

// assign sets (or, for Breakout 0, removes) assignments, keeping the list sorted by identity.
func (p *BreakoutPlan) assign(as []Assignment) bool {
	changed := false
	for _, a := range as {
		i, found := slices.BinarySearchFunc(p.Assignments, a.Identity, cmpIdentity)
		switch {
		case a.Breakout == 0 && found:
			p.Assignments = slices.Delete(p.Assignments, i, i+1)
			changed = true
		case a.Breakout == 0:
		case found && p.Assignments[i] == a:
		case found:
			p.Assignments[i] = a
			changed = true
		default:
			p.Assignments = slices.Insert(p.Assignments, i, a)
			changed = true
		}
	}
	return changed
}

func openBreakouts(room string, o BreakoutOptions) breakoutChange {
	return func(p *BreakoutPlan, now time.Time) (EventType, error) {
		switch {
		case o.Count < 1 || o.Count > MaxBreakouts:
			return "", invalid("count must be 1 to %d", MaxBreakouts)
		case len(o.Names) > o.Count:
			return "", invalid("%d names for %d breakouts", len(o.Names), o.Count)
		case o.Duration < 0 || o.Duration > MaxBreakoutDuration:
			return "", invalid("the timer must be at most %v", MaxBreakoutDuration)
		}
		if err := checkAssignments(o.Assignments, o.Count, false); err != nil {
			return "", err
		}
		for _, n := range o.Names {
			if utf8.RuneCountInString(n) > maxBreakoutNameRunes {
				return "", invalid("a breakout name is longer than %d characters", maxBreakoutNameRunes)
			}
		}
		if p.Open {
			return "", fmt.Errorf("%w: breakouts are already open", ErrBreakoutState)
		}
		now = stamp(now)
		next := BreakoutPlan{
			Room: room, Version: p.Version, Generation: p.Generation + 1, Open: true,
			SelfSelect: o.SelfSelect, OpenedAt: now, OpenedBy: o.By,
			Rooms: make([]BreakoutRoom, o.Count), Assignments: []Assignment{},
			Broadcasts: []BreakoutBroadcast{}, Help: []HelpRequest{}, Visits: []Assignment{},
		}
		for i := range next.Rooms {
			name := fmt.Sprintf("Breakout %d", i+1)
			if i < len(o.Names) && strings.TrimSpace(o.Names[i]) != "" {
				name = strings.TrimSpace(o.Names[i])
			}
			next.Rooms[i] = BreakoutRoom{Number: i + 1, Room: BreakoutRoomName(room, i+1), Name: name}
		}
		next.assign(o.Assignments)
		if o.Duration > 0 {
			next.EndsAt = stamp(now.Add(o.Duration))
		}
		*p = next
		return EventBreakoutsOpened, nil
	}
}

func assignBreakouts(gen uint64, as []Assignment) breakoutChange {
	return func(p *BreakoutPlan, _ time.Time) (EventType, error) {
		if err := p.Current(gen); err != nil {
			return "", err
		}
		if err := checkAssignments(as, len(p.Rooms), true); err != nil {
			return "", err
		}
		if !p.assign(as) {
			return "", nil
		}
		if len(p.Assignments) > MaxBreakoutAssigned {
			return "", invalid("at most %d assignments", MaxBreakoutAssigned)
		}
		return EventBreakoutsChanged, nil
	}
}

func chooseBreakout(gen uint64, a Assignment) breakoutChange {
	assign := assignBreakouts(gen, []Assignment{a})
	return func(p *BreakoutPlan, now time.Time) (EventType, error) {
		if err := p.Current(gen); err != nil {
			return "", err
		}
		if !p.SelfSelect {
			return "", fmt.Errorf("%w: these breakouts are assigned by the instructor", ErrBreakoutNotAllowed)
		}
		return assign(p, now)
	}
}

func extendBreakouts(gen uint64, d time.Duration) breakoutChange {
	return func(p *BreakoutPlan, now time.Time) (EventType, error) {
		if d <= 0 || d > MaxBreakoutDuration {
			return "", invalid("an extension must be more than 0 and at most %v", MaxBreakoutDuration)
		}
		if err := p.Current(gen); err != nil {
			return "", err
		}
		from := p.EndsAt
		if from.IsZero() || from.Before(now) {
			from = now
		}
		ends := stamp(from.Add(d))
		if ends.Sub(now) > MaxBreakoutDuration {
			return "", invalid("the timer would end more than %v from now", MaxBreakoutDuration)
		}
		p.EndsAt = ends
		return EventBreakoutsChanged, nil
	}
}

func broadcastToBreakouts(gen uint64, b BreakoutBroadcast) breakoutChange {
	return func(p *BreakoutPlan, now time.Time) (EventType, error) {
		if n := utf8.RuneCountInString(b.Text); strings.TrimSpace(b.Text) == "" || n > maxBroadcastRunes {
			return "", invalid("a broadcast must have 1 to %d characters", maxBroadcastRunes)
		}
		if err := p.Current(gen); err != nil {
			return "", err
		}
		b.At = stamp(now)
		p.Broadcasts = append(p.Broadcasts, b)
		if over := len(p.Broadcasts) - MaxBreakoutBroadcasts; over > 0 {
			p.Broadcasts = slices.Delete(p.Broadcasts, 0, over)
		}
		return EventBreakoutBroadcast, nil
	}
}

func requestBreakoutHelp(gen uint64, h HelpRequest) breakoutChange {
	return func(p *BreakoutPlan, now time.Time) (EventType, error) {
		if err := p.Current(gen); err != nil {
			return "", err
		}
		if h.Breakout < 1 || h.Breakout > len(p.Rooms) {
			return "", invalid("breakout %d does not exist", h.Breakout)
		}
		if p.HelpFor(h.Breakout) != nil {
			return "", nil
		}
		h.At = stamp(now)
		p.Help = append(p.Help, h)
		return EventBreakoutHelp, nil
	}
}

func clearBreakoutHelp(gen uint64, breakout int) breakoutChange {
	return func(p *BreakoutPlan, _ time.Time) (EventType, error) {
		if err := p.Current(gen); err != nil {
			return "", err
		}
		if breakout < 1 || breakout > len(p.Rooms) {
			return "", invalid("breakout %d does not exist", breakout)
		}
		i := slices.IndexFunc(p.Help, func(h HelpRequest) bool { return h.Breakout == breakout })
		if i < 0 {
			return "", nil
		}
		p.Help = slices.Delete(p.Help, i, i+1)
		return EventBreakoutsChanged, nil
	}
}

func closeBreakouts(c BreakoutClose) breakoutChange {
	return func(p *BreakoutPlan, now time.Time) (EventType, error) {
		if p.Current(c.Generation) != nil {
			return "", nil // closed already, or another generation: closing is idempotent
		}
		reason := BreakoutsClosedByInstructor
		if !c.Deadline.IsZero() {
			if p.EndsAt.IsZero() || p.EndsAt.After(c.Deadline) {
				return "", nil // the timer was extended (or removed) since the caller saw it
			}
			reason = BreakoutsClosedByTimer
		}
		p.Open, p.ClosedAt, p.CloseReason, p.Help = false, stamp(now), reason, []HelpRequest{}
		return EventBreakoutsClosed, nil
	}
}

// SpreadEvenly assigns identities to breakouts 1..count so that, counting fixed (already assigned)
// ones, the breakouts' sizes differ as little as possible: each goes to a smallest breakout, ties
// broken at random, in random order. With nothing fixed the sizes differ by at most one.
func SpreadEvenly(identities []string, count int, fixed []Assignment) map[string]int {
	size := make([]int, count+1)
	for _, a := range fixed {
		if a.Breakout >= 1 && a.Breakout <= count {
			size[a.Breakout]++
		}
	}
	order := slices.Clone(identities)
	rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	out := make(map[string]int, len(order))
	for _, id := range order {
		best, ties := 0, 0
		for n := 1; n <= count; n++ {
			switch {
			case best == 0 || size[n] < size[best]:
				best, ties = n, 1
			case size[n] == size[best]:
				ties++
				if rand.IntN(ties) == 0 { // reservoir sampling: each smallest breakout equally likely
					best = n
				}
			}
		}
		size[best]++
		out[id] = best
	}
	return out
}

// breakoutChanger is the one breakout primitive each store implements: apply a change to the plan
// atomically and publish its event. breakoutOps builds every BreakoutStore change method on it, so
// the two stores share them.
type breakoutChanger interface {
	changeBreakouts(ctx context.Context, room, by string, c breakoutChange) (BreakoutPlan, bool, error)
}

// breakoutOps is embedded in both stores.
type breakoutOps struct{ c breakoutChanger }

// OpenBreakouts implements BreakoutStore.
func (o breakoutOps) OpenBreakouts(ctx context.Context, room string, opt BreakoutOptions) (BreakoutPlan, error) {
	p, _, err := o.c.changeBreakouts(ctx, room, opt.By, openBreakouts(room, opt))
	return p, err
}

// AssignBreakouts implements BreakoutStore.
func (o breakoutOps) AssignBreakouts(ctx context.Context, room string, gen uint64, as []Assignment, by string) (BreakoutPlan, error) {
	p, _, err := o.c.changeBreakouts(ctx, room, by, assignBreakouts(gen, as))
	return p, err
}

// ChooseBreakout implements BreakoutStore.
func (o breakoutOps) ChooseBreakout(ctx context.Context, room string, gen uint64, a Assignment, by string) (BreakoutPlan, error) {
	p, _, err := o.c.changeBreakouts(ctx, room, by, chooseBreakout(gen, a))
	return p, err
}

// ExtendBreakouts implements BreakoutStore.
func (o breakoutOps) ExtendBreakouts(ctx context.Context, room string, gen uint64, d time.Duration, by string) (BreakoutPlan, error) {
	p, _, err := o.c.changeBreakouts(ctx, room, by, extendBreakouts(gen, d))
	return p, err
}

// BroadcastToBreakouts implements BreakoutStore.
func (o breakoutOps) BroadcastToBreakouts(ctx context.Context, room string, gen uint64, b BreakoutBroadcast) (BreakoutPlan, error) {
	p, _, err := o.c.changeBreakouts(ctx, room, b.From, broadcastToBreakouts(gen, b))
	return p, err
}

// RequestBreakoutHelp implements BreakoutStore.
func (o breakoutOps) RequestBreakoutHelp(ctx context.Context, room string, gen uint64, h HelpRequest) (BreakoutPlan, error) {
	p, _, err := o.c.changeBreakouts(ctx, room, h.ParticipantID, requestBreakoutHelp(gen, h))
	return p, err
}

// ClearBreakoutHelp implements BreakoutStore.
func (o breakoutOps) ClearBreakoutHelp(ctx context.Context, room string, gen uint64, breakout int, by string) (BreakoutPlan, error) {
	p, _, err := o.c.changeBreakouts(ctx, room, by, clearBreakoutHelp(gen, breakout))
	return p, err
}

// CloseBreakouts implements BreakoutStore.
func (o breakoutOps) CloseBreakouts(ctx context.Context, room string, c BreakoutClose) (bool, error) {
	_, closed, err := o.c.changeBreakouts(ctx, room, c.By, closeBreakouts(c))
	return closed, err
}
