package storetest

// The suite's tests of polls and quizzes. Each runs in a room of its own.

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/rooms"
)

func testPolls(t *testing.T, s rooms.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s rooms.Store, room string)
	}{
		{"CreateAndRead", testPollCreate},
		{"CreateRefused", testPollCreateRefused},
		{"VoteAndChange", testPollVote},
		{"VoteRefused", testPollVoteRefused},
		{"MultipleChoice", testPollMultiple},
		{"Close", testPollClose},
		{"AnonymousHidesVoters", testPollAnonymous},
		{"VoteBelongsToIdentity", testPollIdentity},
		{"ConcurrentVotesCountExactly", testPollConcurrent},
		{"ConcurrentVotesAndClose", testPollConcurrentClose},
		{"KeptAfterClassAndListed", testPollHistory},
		{"TrimmedToMaxPollsKept", testPollTrim},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, s, "polls-"+tc.name) })
	}
}

// quiz is a single-choice quiz created by participant by; question and options need escaping.
func quiz(id, by string) rooms.Poll {
	return rooms.Poll{
		ID: id, Question: "Which is " + trickyName + "?\nPick one.", Options: []string{"A \"quoted\"", "B <b>", "C \\", "日本"},
		Correct: []int{2}, CreatedBy: by, CreatedAt: t0,
	}
}

func normPoll(p rooms.Poll) rooms.Poll {
	p.CreatedAt = p.CreatedAt.UTC().Round(0)
	return p
}

func samePoll(t *testing.T, what string, got, want rooms.Poll) {
	t.Helper()
	if g, w := normPoll(got), normPoll(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got %#v\nwant %#v", what, g, w)
	}
}

func readPoll(t *testing.T, s rooms.Store, room, id string, pr rooms.PollRead) rooms.PollState {
	t.Helper()
	st, err := s.Poll(testCtx(t), room, id, pr)
	if err != nil {
		t.Fatalf("read poll %s/%s: %v", room, id, err)
	}
	return st
}

func sameResults(t *testing.T, what string, st rooms.PollState, voters int, counts ...int) {
	t.Helper()
	if st.Results.Voters != voters || !slices.Equal(st.Results.Counts, counts) {
		t.Fatalf("%s: %d voters, counts %v; want %d voters, counts %v", what, st.Results.Voters, st.Results.Counts, voters, counts)
	}
}

// expectPollEvent checks a poll event; want.Poll is compared with samePoll, the rest exactly.
func expectPollEvent(t *testing.T, got, want rooms.Event) {
	t.Helper()
	if got.At.IsZero() || time.Since(got.At) > time.Minute {
		t.Errorf("event %d: At = %v, want about now", got.Seq, got.At)
	}
	if (got.Poll == nil) != (want.Poll == nil) {
		t.Fatalf("event %d: poll = %+v, want %+v", got.Seq, got.Poll, want.Poll)
	}
	if want.Poll != nil {
		samePoll(t, fmt.Sprintf("event %d poll", got.Seq), *got.Poll, *want.Poll)
	}
	got.At, got.Poll, want.Poll = time.Time{}, nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("event:\n got %+v\nwant %+v", got, want)
	}
}

// pollRoom joins an instructor "prof" and students s0 … s<n-1> (identities user-s<i>) to room.
func pollRoom(t *testing.T, s rooms.Store, room string, n int) {
	t.Helper()
	prof := person("prof", "professor", t0)
	prof.Role = rooms.RoleInstructor
	mustJoin(t, s, room, prof)
	for i := range n {
		mustJoin(t, s, room, person(fmt.Sprint("s", i), fmt.Sprint("user-s", i), t0))
	}
}

func testPollCreate(t *testing.T, s rooms.Store, room string) {
	ctx := testCtx(t)
	if got, err := s.Polls(ctx, room, -1, rooms.PollRead{}); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("polls of a room never used = %#v, %v; want an empty, non-nil slice", got, err)
	}
	pollRoom(t, s, room, 1)
	sub := subscribe(t, s, room)
	q := quiz("q1", "prof")
	q.CreatedAt = t0.In(time.FixedZone("CET", 3600))
	must(t, s.CreatePoll(ctx, room, q))
	expectPollEvent(t, next(t, sub), rooms.Event{Room: room, Seq: 3, Type: rooms.EventPollCreated, Poll: &q})

	q.Options[0] = "changed by the caller" // the store keeps its own copy
	q = quiz("q1", "prof")
	st := readPoll(t, s, room, "q1", rooms.PollRead{Voter: "user-s0", Votes: true})
	samePoll(t, "read back", st.Poll, q)
	if st.Closed || !st.ClosedAt.IsZero() || st.ClosedBy != "" || st.Mine != nil || len(st.Results.Votes) != 0 {
		t.Fatalf("new poll: %+v, want open, without votes", st)
	}
	sameResults(t, "new poll", st, 0, 0, 0, 0, 0)
	if !st.Quiz() || !st.IsCorrect([]int{2}) || st.IsCorrect([]int{1}) || st.IsCorrect([]int{1, 2}) {
		t.Fatal("Quiz/IsCorrect disagree with Correct = [2]")
	}
	list, err := s.Polls(ctx, room, 5, rooms.PollRead{})
	must(t, err)
	if len(list) != 1 || list[0].ID != "q1" {
		t.Fatalf("Polls = %+v, want q1", list)
	}
	if _, err := s.Poll(ctx, room, "nope", rooms.PollRead{}); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("Poll of an unknown id: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Poll(ctx, "nowhere", "q1", rooms.PollRead{}); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("Poll in an unknown room: err = %v, want ErrNotFound", err)
	}
}

func testPollCreateRefused(t *testing.T, s rooms.Store, room string) {
	ctx := testCtx(t)
	pollRoom(t, s, room, 0)
	must(t, s.CreatePoll(ctx, room, quiz("q1", "prof")))
	bad := func(mut func(p *rooms.Poll)) rooms.Poll {
		p := quiz("bad", "prof")
		mut(&p)
		return p
	}
	for _, tc := range []struct {
		what string
		p    rooms.Poll
		want error // nil: any error but ErrNotFound
	}{
		{"no id", bad(func(p *rooms.Poll) { p.ID = "" }), rooms.ErrInvalid},
		{"empty question", bad(func(p *rooms.Poll) { p.Question = " \n " }), rooms.ErrInvalid},
		{"long question", bad(func(p *rooms.Poll) { p.Question = strings.Repeat("é", rooms.MaxPollQuestionRunes+1) }), rooms.ErrInvalid},
		{"bad UTF-8", bad(func(p *rooms.Poll) { p.Question = "a\xffb" }), rooms.ErrInvalid},
		{"one option", bad(func(p *rooms.Poll) { p.Options = p.Options[:1]; p.Correct = nil }), rooms.ErrInvalid},
		{"too many options", bad(func(p *rooms.Poll) {
			p.Options = nil
			for i := range rooms.MaxPollOptions + 1 {
				p.Options = append(p.Options, fmt.Sprint("option ", i))
			}
		}), rooms.ErrInvalid},
		{"empty option", bad(func(p *rooms.Poll) { p.Options[1] = "" }), rooms.ErrInvalid},
		{"long option", bad(func(p *rooms.Poll) { p.Options[1] = strings.Repeat("x", rooms.MaxPollOptionRunes+1) }), rooms.ErrInvalid},
		{"repeated option", bad(func(p *rooms.Poll) { p.Options[3] = p.Options[0] }), rooms.ErrInvalid},
		{"correct out of range", bad(func(p *rooms.Poll) { p.Correct = []int{4} }), rooms.ErrInvalid},
		{"correct negative", bad(func(p *rooms.Poll) { p.Correct = []int{-1} }), rooms.ErrInvalid},
		{"two correct on single choice", bad(func(p *rooms.Poll) { p.Correct = []int{0, 1} }), rooms.ErrInvalid},
		{"correct not ascending", bad(func(p *rooms.Poll) { p.Multiple, p.Correct = true, []int{2, 1} }), rooms.ErrInvalid},
		{"creator not in room", bad(func(p *rooms.Poll) { p.CreatedBy = "zed" }), rooms.ErrNotFound},
		{"id taken", quiz("q1", "prof"), nil},
	} {
		err := s.CreatePoll(ctx, room, tc.p)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || (tc.want == nil && errors.Is(err, rooms.ErrNotFound)) {
			t.Errorf("CreatePoll, %s: err = %v, want %v", tc.what, err, tc.want)
		}
	}
	// A question and options of exactly the limits are fine.
	edge := quiz("edge", "prof")
	edge.Question = strings.Repeat("é", rooms.MaxPollQuestionRunes)
	edge.Options = nil
	for i := range rooms.MaxPollOptions {
		edge.Options = append(edge.Options, fmt.Sprintf("%02d", i)+strings.Repeat("ü", rooms.MaxPollOptionRunes-2))
	}
	must(t, s.CreatePoll(ctx, room, edge))
	samePoll(t, "poll at the limits", readPoll(t, s, room, "edge", rooms.PollRead{}).Poll, edge)
	// At most MaxOpenPolls open at once; closing one makes room.
	for i := 2; i < rooms.MaxOpenPolls; i++ {
		must(t, s.CreatePoll(ctx, room, quiz(fmt.Sprint("q", i), "prof")))
	}
	if err := s.CreatePoll(ctx, room, quiz("one-too-many", "prof")); !errors.Is(err, rooms.ErrTooManyOpenPolls) {
		t.Fatalf("CreatePoll beyond MaxOpenPolls: err = %v, want ErrTooManyOpenPolls", err)
	}
	seq := snapshot(t, s, room).Seq
	if want := uint64(1 + rooms.MaxOpenPolls); seq != want {
		t.Fatalf("Seq %d after 1 join and %d polls: refused creates emitted events", seq, rooms.MaxOpenPolls)
	}
	must(t, s.ClosePoll(ctx, room, "q1", "prof"))
	must(t, s.CreatePoll(ctx, room, quiz("one-more", "prof")))
	if _, err := s.Poll(ctx, room, "one-too-many", rooms.PollRead{}); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("refused poll was stored: err = %v", err)
	}
}

func testPollVote(t *testing.T, s rooms.Store, room string) {
	ctx := testCtx(t)
	pollRoom(t, s, room, 3)
	must(t, s.CreatePoll(ctx, room, quiz("q", "prof")))
	sub := subscribe(t, s, room)
	seq := uint64(5)
	vote := func(who string, choices ...int) {
		t.Helper()
		must(t, s.Vote(ctx, room, "q", who, choices))
		seq++
		// The event names the poll and nothing else: no voter, no counts.
		expectPollEvent(t, next(t, sub), rooms.Event{Room: room, Seq: seq, Type: rooms.EventPollVoted, PollID: "q"})
	}
	vote("s0", 2)
	vote("s1", 0)
	vote("s2", 2)
	sameResults(t, "after 3 votes", readPoll(t, s, room, "q", rooms.PollRead{}), 3, 1, 0, 2, 0)
	vote("s2", 3) // a change moves the vote
	sameResults(t, "after a change", readPoll(t, s, room, "q", rooms.PollRead{}), 3, 1, 0, 1, 1)
	must(t, s.Vote(ctx, room, "q", "s0", []int{2})) // unchanged: no event (the next one shows it)
	vote("s1", 1)

	st := readPoll(t, s, room, "q", rooms.PollRead{Voter: "user-s2", Votes: true})
	sameResults(t, "final", st, 3, 0, 1, 1, 1)
	if !slices.Equal(st.Mine, []int{3}) {
		t.Fatalf("Mine of user-s2 = %v, want [3]", st.Mine)
	}
	var got []string
	for _, v := range st.Results.Votes {
		if v.At.IsZero() || time.Since(v.At) > time.Minute {
			t.Errorf("vote of %s: At = %v", v.Identity, v.At)
		}
		got = append(got, fmt.Sprint(v.Identity, v.ParticipantID, v.Name, v.Choices))
	}
	want := []string{"user-s0s0Name of user-s0[2]", "user-s1s1Name of user-s1[1]", "user-s2s2Name of user-s2[3]"}
	if !slices.Equal(got, want) {
		t.Fatalf("votes = %q, want %q", got, want)
	}
	if st := readPoll(t, s, room, "q", rooms.PollRead{Voter: "professor"}); st.Mine != nil || st.Results.Votes != nil {
		t.Fatalf("without a vote or PollRead.Votes: Mine %v, Votes %v; want both nil", st.Mine, st.Results.Votes)
	}
	// Names and identities that need escaping come back as they went in (a store may re-encode them).
	odd := person("odd", `odd "id" / 日本 \ é`, t0)
	odd.Name = trickyName
	mustJoin(t, s, room, odd)
	must(t, s.Vote(ctx, room, "q", "odd", []int{0}))
	st = readPoll(t, s, room, "q", rooms.PollRead{Voter: odd.Identity, Votes: true})
	if i := slices.IndexFunc(st.Results.Votes, func(v rooms.PollVote) bool { return v.ParticipantID == "odd" }); i < 0 ||
		st.Results.Votes[i].Name != trickyName || st.Results.Votes[i].Identity != odd.Identity || !slices.Equal(st.Mine, []int{0}) {
		t.Fatalf("vote of a tricky name: %#v, Mine %v", st.Results.Votes, st.Mine)
	}
}

func testPollVoteRefused(t *testing.T, s rooms.Store, room string) {
	ctx := testCtx(t)
	pollRoom(t, s, room, 1)
	must(t, s.CreatePoll(ctx, room, quiz("q", "prof")))
	must(t, s.Vote(ctx, room, "q", "s0", []int{1}))
	seq := snapshot(t, s, room).Seq
	for _, tc := range []struct {
		what, poll, voter string
		choices           []int
		want              error
	}{
		{"unknown poll", "nope", "s0", []int{0}, rooms.ErrNotFound},
		{"voter not in room", "q", "zed", []int{0}, rooms.ErrNotFound},
		{"no choice", "q", "s0", nil, rooms.ErrInvalid},
		{"choice past the options", "q", "s0", []int{4}, rooms.ErrInvalid},
		{"choice past any poll's options", "q", "s0", []int{rooms.MaxPollOptions}, rooms.ErrInvalid},
		{"negative choice", "q", "s0", []int{-1}, rooms.ErrInvalid},
		{"two choices on a single-choice poll", "q", "s0", []int{0, 2}, rooms.ErrInvalid},
		{"a choice twice", "q", "s0", []int{0, 0}, rooms.ErrInvalid},
	} {
		if err := s.Vote(ctx, room, tc.poll, tc.voter, tc.choices); !errors.Is(err, tc.want) {
			t.Errorf("Vote, %s: err = %v, want %v", tc.what, err, tc.want)
		}
	}
	if err := s.Vote(ctx, "nowhere", "q", "s0", []int{0}); !errors.Is(err, rooms.ErrNotFound) {
		t.Errorf("Vote in an unknown room: err = %v, want ErrNotFound", err)
	}
	must(t, s.ClosePoll(ctx, room, "q", "prof"))
	if err := s.Vote(ctx, room, "q", "s0", []int{0}); !errors.Is(err, rooms.ErrPollClosed) {
		t.Errorf("Vote on a closed poll: err = %v, want ErrPollClosed", err)
	}
	if got := snapshot(t, s, room).Seq; got != seq+1 {
		t.Fatalf("Seq %d, want %d: refused votes emitted events", got, seq+1)
	}
	st := readPoll(t, s, room, "q", rooms.PollRead{Voter: "user-s0"})
	sameResults(t, "after refused votes", st, 1, 0, 1, 0, 0)
	if !slices.Equal(st.Mine, []int{1}) {
		t.Fatalf("Mine = %v after refused votes, want [1]", st.Mine)
	}
}

func testPollMultiple(t *testing.T, s rooms.Store, room string) {
	ctx := testCtx(t)
	pollRoom(t, s, room, 2)
	p := rooms.Poll{ID: "m", Question: "Which are prime?", Options: []string{"2", "4", "5", "9"}, Multiple: true,
		Correct: []int{0, 2}, CreatedBy: "prof", CreatedAt: t0}
	must(t, s.CreatePoll(ctx, room, p))
	must(t, s.Vote(ctx, room, "m", "s0", []int{2, 0})) // any order; kept ascending
	must(t, s.Vote(ctx, room, "m", "s1", []int{0, 1, 2, 3}))
	sameResults(t, "two multiple-choice votes", readPoll(t, s, room, "m", rooms.PollRead{}), 2, 2, 1, 2, 1)
	must(t, s.Vote(ctx, room, "m", "s1", []int{3}))
	st := readPoll(t, s, room, "m", rooms.PollRead{Voter: "user-s0"})
	sameResults(t, "after a change", st, 2, 1, 0, 1, 1)
	if !slices.Equal(st.Mine, []int{0, 2}) || !st.IsCorrect(st.Mine) || st.IsCorrect([]int{0}) || st.IsCorrect([]int{0, 2, 3}) {
		t.Fatalf("Mine = %v; IsCorrect must want exactly [0 2]", st.Mine)
	}
	if err := s.Vote(ctx, room, "m", "s0", []int{1, 4}); !errors.Is(err, rooms.ErrInvalid) {
		t.Fatalf("Vote with a choice past the options: err = %v, want ErrInvalid", err)
	}
}

func testPollClose(t *testing.T, s rooms.Store, room string) {
	ctx := testCtx(t)
	pollRoom(t, s, room, 2)
	q := quiz("q", "prof")
	must(t, s.CreatePoll(ctx, room, q))
	must(t, s.Vote(ctx, room, "q", "s0", []int{2}))
	must(t, s.Vote(ctx, room, "q", "s1", []int{0}))
	sub := subscribe(t, s, room)
	before := time.Now()
	must(t, s.ClosePoll(ctx, room, "q", "prof"))
	expectPollEvent(t, next(t, sub), rooms.Event{Room: room, Seq: 7, Type: rooms.EventPollClosed, PollID: "q", By: "prof",
		Poll: &q, PollResults: &rooms.PollResults{Counts: []int{1, 0, 1, 0}, Voters: 2}})
	st := readPoll(t, s, room, "q", rooms.PollRead{Votes: true})
	if !st.Closed || st.ClosedBy != "prof" || st.ClosedAt.Before(before.Add(-time.Second)) || time.Since(st.ClosedAt) > time.Minute {
		t.Fatalf("closed poll: closed %v at %v by %q", st.Closed, st.ClosedAt, st.ClosedBy)
	}
	sameResults(t, "final", st, 2, 1, 0, 1, 0)
	if len(st.Results.Votes) != 2 {
		t.Fatalf("closed poll lists %d votes, want 2", len(st.Results.Votes))
	}
	// Closing again does nothing; had it emitted, the next event would show it.
	must(t, s.ClosePoll(ctx, room, "q", "s0"))
	if err := s.ClosePoll(ctx, room, "nope", "prof"); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("ClosePoll of an unknown poll: err = %v, want ErrNotFound", err)
	}
	if st := readPoll(t, s, room, "q", rooms.PollRead{}); st.ClosedBy != "prof" {
		t.Fatalf("second close changed the poll: closed by %q", st.ClosedBy)
	}
	must(t, s.CreatePoll(ctx, room, quiz("q2", "prof")))
	if ev := next(t, sub); ev.Seq != 8 || ev.Type != rooms.EventPollCreated {
		t.Fatalf("event %d %s, want 8 %s", ev.Seq, ev.Type, rooms.EventPollCreated)
	}
}

// testPollAnonymous checks that no read and no event of an anonymous poll says who voted what, while
// a voter can still change its vote and read it back.
func testPollAnonymous(t *testing.T, s rooms.Store, room string) {
	ctx := testCtx(t)
	pollRoom(t, s, room, 2)
	p := quiz("anon", "prof")
	p.Anonymous = true
	sub := subscribe(t, s, room)
	must(t, s.CreatePoll(ctx, room, p))
	must(t, s.Vote(ctx, room, "anon", "s0", []int{1}))
	must(t, s.Vote(ctx, room, "anon", "s1", []int{2}))
	must(t, s.Vote(ctx, room, "anon", "s0", []int{3}))
	must(t, s.ClosePoll(ctx, room, "anon", "prof"))

	var seen []any
	for range 5 {
		seen = append(seen, next(t, sub))
	}
	st := readPoll(t, s, room, "anon", rooms.PollRead{Votes: true})
	sameResults(t, "anonymous poll", st, 2, 0, 0, 1, 1)
	if st.Results.Votes != nil {
		t.Fatalf("anonymous poll returned votes: %+v", st.Results.Votes)
	}
	list, err := s.Polls(ctx, room, -1, rooms.PollRead{Votes: true})
	must(t, err)
	seen = append(seen, st, list)
	for _, v := range seen {
		b, _ := json.Marshal(v)
		for _, secret := range []string{"user-s0", "user-s1", `"s0"`, `"s1"`, "Name of"} {
			if strings.Contains(string(b), secret) {
				t.Fatalf("%s gives away %s", b, secret)
			}
		}
	}
	// Each voter, and only that voter, can read its own choice.
	for voter, want := range map[string][]int{"user-s0": {3}, "user-s1": {2}, "professor": nil} {
		if got := readPoll(t, s, room, "anon", rooms.PollRead{Voter: voter}).Mine; !slices.Equal(got, want) {
			t.Errorf("Mine of %s = %v, want %v", voter, got, want)
		}
	}
}

// testPollIdentity: a vote belongs to the user, not the session, so a reload keeps one vote per user.
func testPollIdentity(t *testing.T, s rooms.Store, room string) {
	ctx := testCtx(t)
	pollRoom(t, s, room, 1)
	must(t, s.CreatePoll(ctx, room, quiz("q", "prof")))
	must(t, s.Vote(ctx, room, "q", "s0", []int{0}))
	mustJoin(t, s, room, person("s0-again", "user-s0", t0)) // the same user, a new session
	if err := s.Vote(ctx, room, "q", "s0", []int{1}); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("vote from the replaced session: err = %v, want ErrNotFound", err)
	}
	must(t, s.Vote(ctx, room, "q", "s0-again", []int{1}))
	st := readPoll(t, s, room, "q", rooms.PollRead{Voter: "user-s0", Votes: true})
	sameResults(t, "after voting again from a new session", st, 1, 0, 1, 0, 0)
	if !slices.Equal(st.Mine, []int{1}) || len(st.Results.Votes) != 1 || st.Results.Votes[0].ParticipantID != "s0-again" {
		t.Fatalf("Mine %v, votes %+v; want [1] from s0-again", st.Mine, st.Results.Votes)
	}
	// Leaving does not take the vote away.
	must(t, s.Leave(ctx, room, "s0-again", rooms.ReasonLeft))
	sameResults(t, "after the voter left", readPoll(t, s, room, "q", rooms.PollRead{}), 1, 0, 1, 0, 0)
}

func testPollHistory(t *testing.T, s rooms.Store, room string) {
	ctx := testCtx(t)
	pollRoom(t, s, room, 1)
	// p0 … p5; p1 and p4 stay open.
	for i := range 6 {
		must(t, s.CreatePoll(ctx, room, quiz(fmt.Sprint("p", i), "prof")))
		must(t, s.Vote(ctx, room, fmt.Sprint("p", i), "s0", []int{i % 4}))
		if i != 1 && i != 4 {
			must(t, s.ClosePoll(ctx, room, fmt.Sprint("p", i), "prof"))
		}
	}
	// Polls outlive the class.
	must(t, s.Leave(ctx, room, "s0", rooms.ReasonLeft))
	must(t, s.Leave(ctx, room, "prof", rooms.ReasonLeft))
	ids := func(closed int) string {
		t.Helper()
		list, err := s.Polls(ctx, room, closed, rooms.PollRead{Voter: "user-s0", Votes: true})
		must(t, err)
		var out []string
		for _, st := range list {
			var i int
			fmt.Sscanf(st.ID, "p%d", &i)
			if !slices.Equal(st.Mine, []int{i % 4}) {
				t.Fatalf("poll %s: Mine = %v, want [%d]", st.ID, st.Mine, i%4)
			}
			if st.Results.Voters != 1 || len(st.Results.Votes) != 1 || st.Closed == (st.ID == "p1" || st.ID == "p4") {
				t.Fatalf("poll %s: %+v", st.ID, st)
			}
			out = append(out, st.ID)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		closed int
		want   string
	}{
		{-1, "p0 p1 p2 p3 p4 p5"},
		{0, "p1 p4"},
		{1, "p1 p4 p5"},
		{2, "p1 p3 p4 p5"},
		{4, "p0 p1 p2 p3 p4 p5"},
		{100, "p0 p1 p2 p3 p4 p5"},
	} {
		if got := ids(tc.closed); got != tc.want {
			t.Errorf("Polls(closed %d) = %s, want %s", tc.closed, got, tc.want)
		}
	}
}

// testPollTrim creates MaxPollsKept+5 polls with one of the oldest left open: the oldest closed ones
// go, the open one stays.
func testPollTrim(t *testing.T, s rooms.Store, room string) {
	ctx := testCtx(t)
	start := time.Now()
	pollRoom(t, s, room, 0)
	const extra = 5
	total := rooms.MaxPollsKept + extra
	for i := range total {
		id := fmt.Sprint("p", i)
		must(t, s.CreatePoll(ctx, room, quiz(id, "prof")))
		if i != 1 {
			must(t, s.ClosePoll(ctx, room, id, "prof"))
		}
	}
	list, err := s.Polls(ctx, room, -1, rooms.PollRead{})
	must(t, err)
	if len(list) != rooms.MaxPollsKept {
		t.Fatalf("%d polls kept, want MaxPollsKept = %d", len(list), rooms.MaxPollsKept)
	}
	// Kept: p1 (open), then p(extra+1) onwards: p0 and p2 … p(extra) were the oldest closed.
	if list[0].ID != "p1" || list[1].ID != fmt.Sprint("p", extra+1) || list[len(list)-1].ID != fmt.Sprint("p", total-1) {
		t.Fatalf("kept %s, %s … %s", list[0].ID, list[1].ID, list[len(list)-1].ID)
	}
	for _, id := range []string{"p0", "p2", fmt.Sprint("p", extra)} {
		if _, err := s.Poll(ctx, room, id, rooms.PollRead{}); !errors.Is(err, rooms.ErrNotFound) {
			t.Fatalf("trimmed poll %s: err = %v, want ErrNotFound", id, err)
		}
	}
	must(t, s.Vote(ctx, room, "p1", "prof", []int{0}))
	t.Logf("%d polls created and closed in %v", total, time.Since(start))
}
