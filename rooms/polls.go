package rooms

// Polls and quizzes: an instructor asks a question with options, students vote (and may change their
// vote until the poll closes), and the store counts the votes atomically. A poll with correct answers
// is a quiz. Polls are kept after they close, like chat, for the lesson timeline.
//
// A vote is keyed by the voter's Identity, not the session's participant ID, so a student who reloads
// the page still has one vote. The store keeps identity → choices for every poll because a vote may be
// changed; for an anonymous poll that map never leaves the store: reads return per-voter answers
// (PollResults.Votes) only for polls that are not anonymous, and a voter's own choices (PollState.Mine)
// only to a caller naming that voter.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	EventPollCreated EventType = "poll_created" // Poll set (with the correct answers: consumers filter)
	EventPollVoted   EventType = "poll_voted"   // PollID set; nothing about the voter or the counts
	EventPollClosed  EventType = "poll_closed"  // PollID, By, Poll and PollResults (counts, never votes) set
)

// Limits on a poll; both stores and signaling enforce them.
const (
	MinPollOptions       = 2
	MaxPollOptions       = 10
	MaxPollQuestionRunes = 300
	MaxPollOptionRunes   = 100
	// MaxOpenPolls bounds the polls open at once in a room: more is a forgotten poll, not a lesson.
	MaxOpenPolls = 10
	// MaxPollsKept is how many polls per room a store keeps at least; open polls are never dropped.
	MaxPollsKept = 500
)

var (
	// ErrPollClosed: the poll no longer takes votes.
	ErrPollClosed = errors.New("rooms: poll is closed")
	// ErrInvalid: the input breaks a rule of the model (e.g. a choice that is not an option). Such
	// errors are an *InvalidError, which says which rule.
	ErrInvalid = errors.New("rooms: invalid")
	// ErrTooManyOpenPolls: the room already has MaxOpenPolls open polls.
	ErrTooManyOpenPolls = errors.New("rooms: too many open polls")
)

// InvalidError says why input was refused, in words fit for the person who typed it.
// errors.Is(err, ErrInvalid) holds for it.
type InvalidError struct{ Reason string }

func (e *InvalidError) Error() string        { return "rooms: invalid: " + e.Reason }
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(format string, a ...any) error { return &InvalidError{Reason: fmt.Sprintf(format, a...)} }

// Poll is what an instructor asked. It does not change once created.
type Poll struct {
	ID        string    `json:"id"` // chosen by the caller, unique within the room
	Question  string    `json:"question"`
	Options   []string  `json:"options"`
	Multiple  bool      `json:"multiple,omitempty"`  // a voter may choose several options
	Anonymous bool      `json:"anonymous,omitempty"` // nobody may learn who chose what
	Correct   []int     `json:"correct,omitempty"`   // a quiz's right options, ascending; empty: not a quiz
	CreatedBy string    `json:"createdBy"`           // participant ID
	CreatedAt time.Time `json:"createdAt"`
}

// Quiz reports whether the poll has correct answers.
func (p *Poll) Quiz() bool { return len(p.Correct) > 0 }

// IsCorrect reports whether choices (ascending, as the store keeps them) are exactly the correct
// options of a quiz: on a multiple-choice quiz, all of them and nothing else.
func (p *Poll) IsCorrect(choices []int) bool { return p.Quiz() && slices.Equal(p.Correct, choices) }

// Validate checks p against the limits above; the error is an *InvalidError.
func (p *Poll) Validate() error {
	if p.ID == "" {
		return invalid("poll id must be set")
	}
	if err := checkText("the question", p.Question, MaxPollQuestionRunes); err != nil {
		return err
	}
	if n := len(p.Options); n < MinPollOptions || n > MaxPollOptions {
		return invalid("a poll has %d to %d options, not %d", MinPollOptions, MaxPollOptions, n)
	}
	for i, o := range p.Options {
		if err := checkText(fmt.Sprint("option ", i+1), o, MaxPollOptionRunes); err != nil {
			return err
		}
		if slices.Index(p.Options, o) != i {
			return invalid("options %d and %d are the same", slices.Index(p.Options, o)+1, i+1)
		}
	}
	for i, c := range p.Correct {
		if c < 0 || c >= len(p.Options) {
			return invalid("correct answer %d is not an option (options count from 0)", c)
		}
		if i > 0 && c <= p.Correct[i-1] {
			return invalid("correct answers must be ascending and distinct")
		}
	}
	if !p.Multiple && len(p.Correct) > 1 {
		return invalid("a single-choice quiz has one correct answer")
	}
	return nil
}

func checkText(what, s string, maxRunes int) error {
	switch n := utf8.RuneCountInString(s); {
	case !utf8.ValidString(s):
		return invalid("%s must be valid UTF-8", what)
	case strings.TrimSpace(s) == "":
		return invalid("%s is empty", what)
	case n > maxRunes:
		return invalid("%s is %d characters; the limit is %d", what, n, maxRunes)
	}
	return nil
}

// CheckChoices returns choices in the form the stores keep (ascending, each once) or an
// *InvalidError. Whether each is an option of a particular poll is the store's check.
func CheckChoices(choices []int) ([]int, error) {
	if len(choices) == 0 || len(choices) > MaxPollOptions {
		return nil, invalid("choose 1 to %d options", MaxPollOptions)
	}
	out := slices.Clone(choices)
	slices.Sort(out)
	for i, c := range out {
		if c < 0 || c >= MaxPollOptions {
			return nil, invalid("choice %d is not an option (options count from 0)", c)
		}
		if i > 0 && c == out[i-1] {
			return nil, invalid("option %d is chosen twice", c)
		}
	}
	return out, nil
}

// checkChoicesFor checks choices from CheckChoices against one poll.
func checkChoicesFor(p *Poll, choices []int) error {
	if c := choices[len(choices)-1]; c >= len(p.Options) {
		return errChoiceNotOption(c)
	}
	if !p.Multiple && len(choices) != 1 {
		return errSingleChoice
	}
	return nil
}

func errChoiceNotOption(c int) error {
	return invalid("choice %d is not an option of this poll (options count from 0)", c)
}

var errSingleChoice = &InvalidError{Reason: "this poll takes one choice"}

// PollVote is one voter's current answer.
type PollVote struct {
	Identity      string    `json:"identity"`
	ParticipantID string    `json:"participantId"` // the session that cast or last changed the vote
	Name          string    `json:"name"`
	Choices       []int     `json:"choices"` // ascending
	At            time.Time `json:"at"`      // when last changed
}

// PollResults are a poll's aggregated votes.
type PollResults struct {
	Counts []int `json:"counts"` // voters per option, in option order
	Voters int   `json:"voters"` // how many have voted (on a multiple-choice poll, counts may sum to more)
	// Votes lists who chose what, ordered by name then identity: only when asked for (PollRead.Votes)
	// and never for an anonymous poll.
	Votes []PollVote `json:"votes,omitempty"`
}

// PollState is a poll as of now: its question, whether it is still open, and its results.
type PollState struct {
	Poll
	Closed   bool        `json:"closed"`
	ClosedAt time.Time   `json:"closedAt,omitzero"`
	ClosedBy string      `json:"closedBy,omitempty"` // participant ID
	Results  PollResults `json:"results"`
	Mine     []int       `json:"mine,omitempty"` // PollRead.Voter's current choices; nil if none
}

// PollRead says what a read of polls returns besides each poll's counts.
type PollRead struct {
	Voter string // an identity: set Mine to its current choices
	Votes bool   // set Results.Votes (ignored for anonymous polls)
}

// PollStore holds a room's polls. Rooms that have none cost nothing.
type PollStore interface {
	// CreatePoll stores p as an open poll with no votes and publishes EventPollCreated. p must pass
	// Validate (ErrInvalid), p.ID must be new in the room, p.CreatedBy must be in the room (ErrNotFound)
	// and the room may have at most MaxOpenPolls open polls (ErrTooManyOpenPolls). The store keeps the
	// last MaxPollsKept polls of a room and every open one, also after everyone has left.
	CreatePoll(ctx context.Context, room string, p Poll) error
	// Vote sets the choices of the participant's identity on an open poll, replacing its earlier
	// vote, and publishes EventPollVoted. ErrNotFound if the participant or the poll is unknown,
	// ErrPollClosed if the poll is closed, ErrInvalid if a choice is not an option or a single-choice
	// poll gets several; then nothing changes. A vote equal to the current one emits nothing.
	Vote(ctx context.Context, room, pollID, participantID string, choices []int) error
	// ClosePoll closes a poll and publishes EventPollClosed with its final counts and By = by.
	// ErrNotFound if the poll is unknown; closing a closed poll does nothing.
	ClosePoll(ctx context.Context, room, pollID, by string) error
	// Poll reads one poll. ErrNotFound if it is unknown (or no longer kept).
	Poll(ctx context.Context, room, pollID string, r PollRead) (PollState, error)
	// Polls lists every open poll of the room and its `closed` most recent closed ones (all kept
	// ones if closed < 0), in creation order, each with its current or, once closed, final results.
	Polls(ctx context.Context, room string, closed int, r PollRead) ([]PollState, error)
}

// sortVotes puts votes in PollResults.Votes order.
func sortVotes(vs []PollVote) {
	slices.SortFunc(vs, func(a, b PollVote) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Identity, b.Identity)
	})
}

// clonePoll deep-copies p, so that neither the caller nor a consumer shares the store's slices.
func clonePoll(p Poll) Poll {
	p.Options = slices.Clone(p.Options)
	p.Correct = slices.Clone(p.Correct)
	return p
}

// checkPoll validates a poll before either store touches the room.
func checkPoll(ctx context.Context, p Poll) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return p.Validate()
}

// pickPolls chooses what Polls returns from a room's poll IDs in creation order: every open poll and
// the `closed` newest closed ones (all if closed < 0). open counts the open polls, so the scan can stop
// once it has found them all.
func pickPolls(ids []string, isOpen func(string) bool, open, closed int) []string {
	var pick []string
	for i := len(ids) - 1; i >= 0 && (open > 0 || closed != 0); i-- {
		switch {
		case isOpen(ids[i]):
			open--
		case closed == 0:
			continue
		default:
			closed--
		}
		pick = append(pick, ids[i])
	}
	slices.Reverse(pick)
	return pick
}
