package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chalk-edu/chalk/rooms"
)

// Polls and quizzes. Instructors create and close polls, students vote; every action goes through the
// store like the rest. Two things are particular to polls:
//
//   - Votes are not delivered one by one. The hub hands each room's poll_voted events (which name only
//     the poll) to a pollTally, which reads the poll's aggregated results from the store at most once
//     per PollResultsInterval and sends them to the room's instructors on this node as poll_results.
//     Students learn nothing while a poll is open beyond their own vote.
//   - What a participant sees of a poll depends on who it is (pollView): students never get the
//     correct answers or the counts of an open poll, and nobody but instructors gets per-student
//     answers, which the store does not even return for an anonymous poll.

// PollResultsInterval is the least time between two poll_results for one poll from one node.
const PollResultsInterval = 500 * time.Millisecond

// PollHistoryLen is how many closed polls (besides every open one) joined and resync carry.
const PollHistoryLen = 5

// Error codes of polls.
const (
	CodePollClosed   = "poll_closed"
	CodeTooManyPolls = "too_many_polls"
)

// Client → server.
type (
	pollCreateMsg struct {
		Question  string   `json:"question"`
		Options   []string `json:"options"`
		Multiple  bool     `json:"multiple,omitempty"`
		Anonymous bool     `json:"anonymous,omitempty"`
		Correct   []int    `json:"correct,omitempty"`
	}
	pollVoteMsg struct {
		PollID  string `json:"pollId"`
		Choices []int  `json:"choices"`
	}
	pollCloseMsg struct {
		PollID string `json:"pollId"`
	}
)

// Server → client.
type (
	// pollView is a poll as one participant may see it; see docs/protocol.md.
	pollView struct {
		ID        string           `json:"id"`
		Question  string           `json:"question"`
		Options   []string         `json:"options"`
		Multiple  bool             `json:"multiple"`
		Anonymous bool             `json:"anonymous"`
		Quiz      bool             `json:"quiz"`
		CreatedBy string           `json:"createdBy"`
		CreatedAt time.Time        `json:"createdAt"`
		Closed    bool             `json:"closed"`
		ClosedAt  time.Time        `json:"closedAt,omitzero"`
		ClosedBy  string           `json:"closedBy,omitempty"`
		Correct   []int            `json:"correct,omitempty"`
		Results   *pollResultsView `json:"results,omitempty"`
		MyChoices []int            `json:"myChoices,omitempty"`
		MyCorrect *bool            `json:"myCorrect,omitempty"`
	}
	pollResultsView struct {
		Counts []int          `json:"counts"`
		Voters int            `json:"voters"`
		Votes  []pollVoteView `json:"votes,omitempty"`
	}
	pollVoteView struct {
		ParticipantID string    `json:"participantId"`
		Identity      string    `json:"identity"`
		Name          string    `json:"name"`
		Choices       []int     `json:"choices"`
		At            time.Time `json:"at"`
		Correct       *bool     `json:"correct,omitempty"`
	}
	pollEventMsg struct {
		Seq  uint64   `json:"seq"`
		Poll pollView `json:"poll"`
	}
	pollResultsMsg struct {
		PollID  string          `json:"pollId"`
		Results pollResultsView `json:"results"`
	}
	pollVotedMsg struct {
		PollID  string `json:"pollId"`
		Choices []int  `json:"choices"`
	}
)

// validatePoll checks and normalises a poll message: text is trimmed and choices sorted, so the
// store gets what it keeps. Errors are what the client is told.
func validatePoll(body any) error {
	switch m := body.(type) {
	case *pollCreateMsg:
		m.Question = strings.TrimSpace(m.Question)
		for i := range m.Options {
			m.Options[i] = strings.TrimSpace(m.Options[i])
		}
		m.Correct = slices.Clone(m.Correct)
		slices.Sort(m.Correct)
		p := m.poll("new", "", time.Time{})
		return reason(p.Validate())
	case *pollVoteMsg:
		if !idRE.MatchString(m.PollID) {
			return errors.New("pollId is malformed")
		}
		choices, err := rooms.CheckChoices(m.Choices)
		m.Choices = choices
		return reason(err)
	case *pollCloseMsg:
		if !idRE.MatchString(m.PollID) {
			return errors.New("pollId is malformed")
		}
	}
	return nil
}

// reason turns a store's *InvalidError into the words for the client.
func reason(err error) error {
	var ie *rooms.InvalidError
	if errors.As(err, &ie) {
		return errors.New(ie.Reason)
	}
	return err
}

func (m *pollCreateMsg) poll(id, by string, at time.Time) rooms.Poll {
	return rooms.Poll{ID: id, Question: m.Question, Options: m.Options, Multiple: m.Multiple, Anonymous: m.Anonymous,
		Correct: m.Correct, CreatedBy: by, CreatedAt: at}
}

// sessionPolls is a session's poll state; only the session's goroutine touches it.
type sessionPolls struct {
	open      map[string]bool // polls this participant knows to be open: poll_results only for these
	voteLimit chatLimiter
}

func (s *session) handlePollCreate(conn *wsConn, m *pollCreateMsg) {
	if !s.isInstructor() {
		s.fail(conn, protoErr(CodeForbidden, "poll_create", "only an instructor can create a poll"))
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	err := s.hub.cfg.Store.CreatePoll(ctx, s.room, m.poll(newID("Q", 12), s.me.ID, time.Now().UTC()))
	s.pollError(conn, "poll_create", err)
}

func (s *session) handlePollVote(conn *wsConn, m *pollVoteMsg) {
	if s.isInstructor() {
		s.fail(conn, protoErr(CodeForbidden, "poll_vote", "instructors do not vote"))
		return
	}
	if !s.polls.voteLimit.allow(time.Now()) {
		s.fail(conn, protoErr(CodeRateLimited, "poll_vote", "you are voting too fast; wait a moment and try again"))
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.hub.cfg.Store.Vote(ctx, s.room, m.PollID, s.me.ID, m.Choices); err != nil {
		s.pollError(conn, "poll_vote", err)
		return
	}
	// Nobody else hears of a single vote; the voter gets this receipt.
	s.send("poll_voted", pollVotedMsg{PollID: m.PollID, Choices: m.Choices})
}

func (s *session) handlePollClose(conn *wsConn, m *pollCloseMsg) {
	if !s.isInstructor() {
		s.fail(conn, protoErr(CodeForbidden, "poll_close", "only an instructor can close a poll"))
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	s.pollError(conn, "poll_close", s.hub.cfg.Store.ClosePoll(ctx, s.room, m.PollID, s.me.ID))
}

// pollError reports a failed poll action; nil reports nothing.
func (s *session) pollError(conn *wsConn, ref string, err error) {
	switch {
	case err == nil:
	case errors.Is(err, rooms.ErrNotFound):
		s.fail(conn, protoErr(CodeNotFound, ref, "no such poll"))
	case errors.Is(err, rooms.ErrPollClosed):
		s.fail(conn, protoErr(CodePollClosed, ref, "this poll is closed; votes are no longer taken"))
	case errors.Is(err, rooms.ErrInvalid):
		s.fail(conn, protoErr(CodeBadMessage, ref, "invalid %s: %v", ref, reason(err)))
	case errors.Is(err, rooms.ErrTooManyOpenPolls):
		s.fail(conn, protoErr(CodeTooManyPolls, ref, "%d polls are open; close one first", rooms.MaxOpenPolls))
	default:
		s.storeError(conn, ref, err)
	}
}

// onPollEvent delivers poll events; it reports false for other event types.
func (s *session) onPollEvent(ev rooms.Event) bool {
	switch ev.Type {
	case rooms.EventPollCreated:
		st := rooms.PollState{Poll: *ev.Poll, Results: rooms.PollResults{Counts: make([]int, len(ev.Poll.Options))}}
		s.polls.markOpen(st.ID, true)
		s.send("poll_created", pollEventMsg{Seq: ev.Seq, Poll: s.pollView(st)})
	case rooms.EventPollClosed:
		s.polls.markOpen(ev.PollID, false)
		s.send("poll_closed", pollEventMsg{Seq: ev.Seq, Poll: s.pollView(s.closedPoll(ev))})
	case rooms.EventPollVoted:
		// The hub's pollTally takes these; should one arrive anyway, there is nothing to tell.
	default:
		return false
	}
	return true
}

// closedPoll reads a poll that just closed as this participant sees it: a student's own choices (for a
// quiz: right or wrong) or an instructor's per-student answers. If the read fails, the event's final
// counts are enough for everything else.
func (s *session) closedPoll(ev rooms.Event) rooms.PollState {
	ctx, cancel := s.ctx()
	defer cancel()
	st, err := s.hub.cfg.Store.Poll(ctx, s.room, ev.PollID, s.pollRead())
	if err == nil && st.Closed {
		return st
	}
	s.log.Error("read closed poll; sending its counts only", "poll", ev.PollID, "err", err)
	return rooms.PollState{Poll: *ev.Poll, Closed: true, ClosedAt: ev.At, ClosedBy: ev.By, Results: *ev.PollResults}
}

// pollRead is what this participant's reads of polls include.
func (s *session) pollRead() rooms.PollRead {
	if s.isInstructor() {
		return rooms.PollRead{Votes: true}
	}
	return rooms.PollRead{Voter: s.me.Identity}
}

// pollList reads the polls for joined and resync: every open poll and the latest closed ones. On
// failure it logs and returns none, so a join still succeeds without them.
func (s *session) pollList() []pollView {
	ctx, cancel := s.ctx()
	defer cancel()
	list, err := s.hub.cfg.Store.Polls(ctx, s.room, PollHistoryLen, s.pollRead())
	if err != nil {
		s.log.Error("read polls", "err", err)
		list = nil
	}
	s.polls.open = make(map[string]bool)
	out := make([]pollView, 0, len(list))
	for _, st := range list {
		s.polls.markOpen(st.ID, !st.Closed)
		out = append(out, s.pollView(st))
	}
	return out
}

// onPollResults sends live results that the room's pollTally read, to an instructor, if the poll is
// still open as far as this session knows: results read just before a close may arrive after it.
func (s *session) onPollResults(st rooms.PollState) {
	if !s.joined || !s.isInstructor() || !s.polls.open[st.ID] {
		return // roles change (a student promoted to co-instructor), so the session decides, not the tally
	}
	s.send("poll_results", pollResultsMsg{PollID: st.ID, Results: *s.resultsView(st)})
}

func (sp *sessionPolls) markOpen(id string, open bool) {
	if sp.open == nil {
		sp.open = make(map[string]bool)
	}
	if open {
		sp.open[id] = true
	} else {
		delete(sp.open, id)
	}
}

// pollView is st as this participant may see it. Students get neither the correct answers nor the
// counts until the poll closes; per-student answers go to instructors only.
func (s *session) pollView(st rooms.PollState) pollView {
	v := pollView{ID: st.ID, Question: st.Question, Options: st.Options, Multiple: st.Multiple, Anonymous: st.Anonymous,
		Quiz: st.Quiz(), CreatedBy: st.CreatedBy, CreatedAt: st.CreatedAt, Closed: st.Closed, ClosedAt: st.ClosedAt,
		ClosedBy: st.ClosedBy}
	if s.isInstructor() || st.Closed {
		v.Correct = st.Correct
		v.Results = s.resultsView(st)
	}
	if !s.isInstructor() {
		v.MyChoices = st.Mine
		if st.Closed && st.Quiz() && st.Mine != nil {
			v.MyCorrect = new(st.IsCorrect(st.Mine))
		}
	}
	return v
}

func (s *session) resultsView(st rooms.PollState) *pollResultsView {
	r := &pollResultsView{Counts: st.Results.Counts, Voters: st.Results.Voters}
	if !s.isInstructor() || st.Anonymous { // the store returns none for anonymous polls; twice sure
		return r
	}
	for _, vote := range st.Results.Votes {
		vv := pollVoteView{ParticipantID: vote.ParticipantID, Identity: vote.Identity, Name: vote.Name,
			Choices: vote.Choices, At: vote.At}
		if st.Quiz() {
			vv.Correct = new(st.IsCorrect(vote.Choices))
		}
		r.Votes = append(r.Votes, vv)
	}
	return r
}

// pollTally turns one room's poll_voted events into poll_results for the room's instructors on this
// node: at most one store read and one message per poll per PollResultsInterval, the first at once
// and a last one after the last vote. It lives as long as the hub's feed of the room.
type pollTally struct {
	h    *Hub
	room string
	kick chan struct{} // buffered: a vote during a flush or a pause leads to one more flush

	mu    sync.Mutex
	dirty map[string]bool // polls voted on since the last flush

	// sent: per poll, a hash of the last results sent (touched by run's goroutine only). A vote's
	// event can arrive after a read that already counted it; the flush it causes reads the same
	// results, and sending them again would tell the instructors nothing.
	sent map[string]uint64
}

func (h *Hub) startPollTally(ctx context.Context, room string) *pollTally {
	t := &pollTally{h: h, room: room, kick: make(chan struct{}, 1), dirty: make(map[string]bool), sent: make(map[string]uint64)}
	go t.run(ctx)
	return t
}

// take absorbs a vote event and reports true; other events are for the sessions.
func (t *pollTally) take(ev rooms.Event) bool {
	if ev.Type != rooms.EventPollVoted {
		return false
	}
	t.mu.Lock()
	t.dirty[ev.PollID] = true
	t.mu.Unlock()
	select {
	case t.kick <- struct{}{}:
	default:
	}
	return true
}

func (t *pollTally) run(ctx context.Context) {
	pause := time.NewTimer(0)
	defer pause.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.kick:
		}
		t.flush(ctx)
		pause.Reset(PollResultsInterval)
		select {
		case <-ctx.Done():
			return
		case <-pause.C:
		}
	}
}

func (t *pollTally) flush(ctx context.Context) {
	t.mu.Lock()
	ids := make([]string, 0, len(t.dirty))
	for id := range t.dirty {
		ids = append(ids, id)
	}
	clear(t.dirty)
	t.mu.Unlock()
	// Each session decides on its own goroutine whether it may see results (its role can change).
	sessions := t.h.sessionsIn(t.room)
	if len(sessions) == 0 {
		return // nobody here to tell: skip the read
	}
	for _, id := range ids {
		rctx, cancel := context.WithTimeout(ctx, storeTimeout)
		st, err := t.h.cfg.Store.Poll(rctx, t.room, id, rooms.PollRead{Votes: true})
		cancel()
		if errors.Is(err, rooms.ErrNotFound) {
			delete(t.sent, id)
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				t.h.log.Error("read poll results", "room", t.room, "poll", id, "err", err)
			}
			continue
		}
		if st.Closed {
			delete(t.sent, id)
			continue // poll_closed carries the final results
		}
		if h, ok := resultsHash(st.Results); ok {
			if prev, seen := t.sent[id]; seen && prev == h {
				continue // unchanged since the last poll_results from this node
			}
			t.sent[id] = h
		}
		for _, s := range sessions {
			s.mbox.post(func() { s.onPollResults(st) })
		}
	}
}

// resultsHash fingerprints results (counts, voters, each vote with its time); ok is false if they
// cannot be encoded, and then they are sent regardless.
func resultsHash(r rooms.PollResults) (uint64, bool) {
	b, err := json.Marshal(r)
	if err != nil {
		return 0, false
	}
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64(), true
}
