package rooms

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Polls in the MemoryStore. Like every other change, each is applied and emitted under the room's lock.

// memPolls is a room's kept polls.
type memPolls struct {
	order []string // poll IDs in creation order
	byID  map[string]*memPoll
	open  int
}

type memPoll struct {
	st    PollState           // Results.Votes and Mine stay nil: views fill them
	votes map[string]PollVote // identity → vote; anonymous polls keep it too, to allow changes
}

// CreatePoll implements Store.
func (s *MemoryStore) CreatePoll(ctx context.Context, room string, p Poll) error {
	if err := checkPoll(ctx, p); err != nil {
		return err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	if r.parts[p.CreatedBy] == nil {
		return fmt.Errorf("rooms: create poll %s/%s: creator: %w", room, p.CreatedBy, ErrNotFound)
	}
	ps := &r.polls
	if ps.byID == nil {
		ps.byID = make(map[string]*memPoll)
	}
	if ps.byID[p.ID] != nil {
		return fmt.Errorf("rooms: create poll %s: poll id %q is already in use", room, p.ID)
	}
	if ps.open >= MaxOpenPolls {
		return fmt.Errorf("rooms: create poll %s: %w (%d); close one first", room, ErrTooManyOpenPolls, MaxOpenPolls)
	}
	p = clonePoll(p)
	ps.byID[p.ID] = &memPoll{
		st:    PollState{Poll: p, Results: PollResults{Counts: make([]int, len(p.Options))}},
		votes: make(map[string]PollVote),
	}
	ps.order = append(ps.order, p.ID)
	ps.open++
	ps.trim()
	ev := clonePoll(p)
	r.emit(Event{Type: EventPollCreated, Poll: &ev})
	return nil
}

// trim drops the oldest closed polls beyond MaxPollsKept; open ones stay wherever they are.
func (ps *memPolls) trim() {
	for i := 0; len(ps.order) > MaxPollsKept && i < len(ps.order); {
		id := ps.order[i]
		if !ps.byID[id].st.Closed {
			i++
			continue
		}
		delete(ps.byID, id)
		ps.order = slices.Delete(ps.order, i, i+1)
	}
}

// Vote implements Store.
func (s *MemoryStore) Vote(ctx context.Context, room, pollID, participantID string, choices []int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	choices, err := CheckChoices(choices)
	if err != nil {
		return err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	voter := r.parts[participantID]
	if voter == nil {
		return fmt.Errorf("rooms: vote %s/%s: voter %s: %w", room, pollID, participantID, ErrNotFound)
	}
	mp := r.polls.byID[pollID]
	if mp == nil {
		return fmt.Errorf("rooms: vote %s/%s: poll: %w", room, pollID, ErrNotFound)
	}
	st := &mp.st
	if st.Closed {
		return fmt.Errorf("rooms: vote %s/%s: %w", room, pollID, ErrPollClosed)
	}
	if err := checkChoicesFor(&st.Poll, choices); err != nil {
		return err
	}
	old, had := mp.votes[voter.Identity]
	if had && slices.Equal(old.Choices, choices) {
		return nil
	}
	if had {
		for _, c := range old.Choices {
			st.Results.Counts[c]--
		}
	} else {
		st.Results.Voters++
	}
	for _, c := range choices {
		st.Results.Counts[c]++
	}
	mp.votes[voter.Identity] = PollVote{Identity: voter.Identity, ParticipantID: participantID, Name: voter.Name,
		Choices: choices, At: time.Now().UTC()}
	r.emit(Event{Type: EventPollVoted, PollID: pollID})
	return nil
}

// ClosePoll implements Store.
func (s *MemoryStore) ClosePoll(ctx context.Context, room, pollID, by string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	mp := r.polls.byID[pollID]
	if mp == nil {
		return fmt.Errorf("rooms: close poll %s/%s: %w", room, pollID, ErrNotFound)
	}
	st := &mp.st
	if st.Closed {
		return nil
	}
	st.Closed, st.ClosedAt, st.ClosedBy = true, time.Now().UTC(), by
	r.polls.open--
	def := clonePoll(st.Poll)
	res := PollResults{Counts: slices.Clone(st.Results.Counts), Voters: st.Results.Voters}
	r.emit(Event{Type: EventPollClosed, PollID: pollID, By: by, Poll: &def, PollResults: &res})
	return nil
}

// Poll implements Store.
func (s *MemoryStore) Poll(ctx context.Context, room, pollID string, pr PollRead) (PollState, error) {
	if err := ctx.Err(); err != nil {
		return PollState{}, err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return PollState{}, err
	}
	defer r.mu.Unlock()
	mp := r.polls.byID[pollID]
	if mp == nil {
		return PollState{}, fmt.Errorf("rooms: poll %s/%s: %w", room, pollID, ErrNotFound)
	}
	return mp.view(pr), nil
}

// Polls implements Store.
func (s *MemoryStore) Polls(ctx context.Context, room string, closed int, pr PollRead) ([]PollState, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return nil, err
	}
	defer r.mu.Unlock()
	ps := &r.polls
	ids := pickPolls(ps.order, func(id string) bool { return !ps.byID[id].st.Closed }, ps.open, closed)
	out := make([]PollState, 0, len(ids))
	for _, id := range ids {
		out = append(out, ps.byID[id].view(pr))
	}
	return out, nil
}

// view copies the poll's state for a reader; r.mu must be held.
func (mp *memPoll) view(pr PollRead) PollState {
	st := mp.st
	st.Poll = clonePoll(st.Poll)
	st.Results.Counts = slices.Clone(st.Results.Counts)
	if v, ok := mp.votes[pr.Voter]; ok && pr.Voter != "" {
		st.Mine = slices.Clone(v.Choices)
	}
	if pr.Votes && !st.Anonymous {
		st.Results.Votes = make([]PollVote, 0, len(mp.votes))
		for _, v := range mp.votes {
			v.Choices = slices.Clone(v.Choices)
			st.Results.Votes = append(st.Results.Votes, v)
		}
		sortVotes(st.Results.Votes)
	}
	return st
}
