package signaling

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
)

func (w *wsTest) expectPoll(typ string) pollView {
	w.t.Helper()
	var m pollEventMsg
	if err := json.Unmarshal(w.expect(typ), &m); err != nil {
		w.t.Fatal(err)
	}
	if m.Seq == 0 || m.Poll.ID == "" {
		w.t.Fatalf("%s without seq or poll id: %+v", typ, m)
	}
	return m.Poll
}

func (w *wsTest) expectResults() pollResultsMsg {
	w.t.Helper()
	var m pollResultsMsg
	json.Unmarshal(w.expect("poll_results"), &m)
	return m
}

func (w *wsTest) expectVoted(pollID string, choices ...int) {
	w.t.Helper()
	var m pollVotedMsg
	json.Unmarshal(w.expect("poll_voted"), &m)
	if m.PollID != pollID || !slices.Equal(m.Choices, choices) {
		w.t.Fatalf("poll_voted = %+v, want %s %v", m, pollID, choices)
	}
}

// resultsUntil reads poll_results until their counts are want and returns how many it read.
func (w *wsTest) resultsUntil(pollID string, voters int, want ...int) (int, pollResultsMsg) {
	w.t.Helper()
	for n := 1; ; n++ {
		r := w.expectResults()
		if r.PollID != pollID {
			w.t.Fatalf("poll_results for %s, want %s", r.PollID, pollID)
		}
		if r.Results.Voters == voters && slices.Equal(r.Results.Counts, want) {
			return n, r
		}
	}
}

// framesUntil returns the raw frames read up to and including the first for which done is true.
func (w *wsTest) framesUntil(what string, done func(typ string, data json.RawMessage) bool) []string {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []string
	for {
		b, err := w.next(ctx)
		if err != nil {
			w.t.Fatalf("waiting for %s: %v", what, err)
		}
		out = append(out, string(b))
		var env envelope
		json.Unmarshal(b, &env)
		if done(env.Type, env.Data) {
			return out
		}
	}
}

func (e *testEnv) instructorToken(t *testing.T, room, name string) string {
	t.Helper()
	tok, err := e.tokens.Mint(auth.Grant{Room: room, Identity: "prof-" + name, Name: name, Role: rooms.RoleInstructor}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

var colours = map[string]any{"question": "Favourite colour?", "options": []string{"red", "green", "blue"}}

func TestPollCreateVoteClose(t *testing.T) {
	env := newTestEnv(t, nil)
	prof := env.joinInstructor(t, "math", "Prof")
	ada := env.dial(t)
	ada.join("math", "Ada")
	bob := env.dial(t)
	bob.join("math", "Bob")

	prof.send("poll_create", map[string]any{"question": "  Favourite colour?  ", "options": []string{"red", " green ", "blue"}})
	p := prof.expectPoll("poll_created")
	if p.Question != "Favourite colour?" || !slices.Equal(p.Options, []string{"red", "green", "blue"}) || p.Multiple ||
		p.Anonymous || p.Quiz || p.Closed || p.CreatedBy != prof.id || p.Results == nil || !slices.Equal(p.Results.Counts, []int{0, 0, 0}) {
		t.Fatalf("instructor's poll_created = %+v", p)
	}
	for _, w := range []*wsTest{ada, bob} {
		if sp := w.expectPoll("poll_created"); sp.ID != p.ID || sp.Results != nil || sp.Correct != nil || sp.MyChoices != nil {
			t.Fatalf("student's poll_created = %+v, want no results", sp)
		}
	}

	ada.send("poll_vote", map[string]any{"pollId": p.ID, "choices": []int{1}})
	ada.expectVoted(p.ID, 1)
	if _, r := prof.resultsUntil(p.ID, 1, 0, 1, 0); len(r.Results.Votes) != 1 || r.Results.Votes[0].Name != "Ada" ||
		r.Results.Votes[0].ParticipantID != ada.id || !slices.Equal(r.Results.Votes[0].Choices, []int{1}) || r.Results.Votes[0].Correct != nil {
		t.Fatalf("votes = %+v, want Ada's [1]", r.Results.Votes)
	}
	ada.send("poll_vote", map[string]any{"pollId": p.ID, "choices": []int{2}}) // a change
	ada.expectVoted(p.ID, 2)
	prof.resultsUntil(p.ID, 1, 0, 0, 1)
	bob.send("poll_vote", map[string]any{"pollId": p.ID, "choices": []int{2}})
	bob.expectVoted(p.ID, 2)
	prof.resultsUntil(p.ID, 2, 0, 0, 2)
	// Students hear nothing of other votes while the poll is open.
	for _, w := range []*wsTest{ada, bob} {
		w.expectNo("poll_results", 200*time.Millisecond)
	}

	prof.send("poll_close", map[string]string{"pollId": p.ID})
	cp := prof.expectPoll("poll_closed")
	if !cp.Closed || cp.ClosedBy != prof.id || cp.ClosedAt.IsZero() || !slices.Equal(cp.Results.Counts, []int{0, 0, 2}) ||
		cp.Results.Voters != 2 || len(cp.Results.Votes) != 2 || cp.Results.Votes[0].Name != "Ada" || cp.Results.Votes[1].Name != "Bob" {
		t.Fatalf("instructor's poll_closed = %+v", cp)
	}
	for _, w := range []*wsTest{ada, bob} {
		sp := w.expectPoll("poll_closed")
		if !sp.Closed || sp.Results == nil || !slices.Equal(sp.Results.Counts, []int{0, 0, 2}) || sp.Results.Votes != nil ||
			!slices.Equal(sp.MyChoices, []int{2}) || sp.MyCorrect != nil {
			t.Fatalf("student's poll_closed = %+v", sp)
		}
	}
	// Kept after the close, for the lesson timeline.
	hist, err := env.store.Polls(context.Background(), "math", -1, rooms.PollRead{})
	if err != nil || len(hist) != 1 || !hist[0].Closed || !slices.Equal(hist[0].Results.Counts, []int{0, 0, 2}) {
		t.Fatalf("history = %+v, %v", hist, err)
	}
}

func TestPollQuiz(t *testing.T) {
	env := newTestEnv(t, nil)
	prof := env.joinInstructor(t, "math", "Prof")
	ada, bob, cyd := env.dial(t), env.dial(t), env.dial(t)
	ada.join("math", "Ada")
	bob.join("math", "Bob")
	cyd.join("math", "Cyd")

	prof.send("poll_create", map[string]any{"question": "2 + 2?", "options": []string{"3", "4", "5"}, "correct": []int{1}})
	if p := prof.expectPoll("poll_created"); !p.Quiz || !slices.Equal(p.Correct, []int{1}) {
		t.Fatalf("instructor's quiz = %+v, want correct [1]", p)
	}
	var id string
	for _, w := range []*wsTest{ada, bob, cyd} {
		p := w.expectPoll("poll_created")
		if !p.Quiz || p.Correct != nil {
			t.Fatalf("student's open quiz = %+v: the answer must stay hidden", p)
		}
		id = p.ID
	}
	ada.send("poll_vote", map[string]any{"pollId": id, "choices": []int{1}})
	ada.expectVoted(id, 1)
	bob.send("poll_vote", map[string]any{"pollId": id, "choices": []int{2}})
	bob.expectVoted(id, 2)
	// Cyd does not answer.
	_, r := prof.resultsUntil(id, 2, 0, 1, 1)
	for _, v := range r.Results.Votes {
		if v.Correct == nil || *v.Correct != (v.Name == "Ada") {
			t.Fatalf("live vote of %s: correct = %v", v.Name, v.Correct)
		}
	}

	prof.send("poll_close", map[string]string{"pollId": id})
	prof.expectPoll("poll_closed")
	for _, tc := range []struct {
		w     *wsTest
		mine  []int
		right *bool
	}{{ada, []int{1}, new(true)}, {bob, []int{2}, new(false)}, {cyd, nil, nil}} {
		p := tc.w.expectPoll("poll_closed")
		if !slices.Equal(p.Correct, []int{1}) || !slices.Equal(p.MyChoices, tc.mine) || (p.MyCorrect == nil) != (tc.right == nil) ||
			(p.MyCorrect != nil && *p.MyCorrect != *tc.right) {
			t.Fatalf("student's closed quiz = %+v, want mine %v, right %v", p, tc.mine, tc.right)
		}
	}

	// A multiple-choice quiz is right only with exactly the correct options.
	prof.send("poll_create", map[string]any{"question": "Primes?", "options": []string{"2", "4", "5", "9"},
		"multiple": true, "correct": []int{2, 0}})
	m := prof.expectPoll("poll_created")
	if !m.Multiple || !slices.Equal(m.Correct, []int{0, 2}) {
		t.Fatalf("multiple-choice quiz = %+v, want correct [0 2]", m)
	}
	ada.send("poll_vote", map[string]any{"pollId": m.ID, "choices": []int{2, 0}})
	ada.expectVoted(m.ID, 0, 2)
	bob.send("poll_vote", map[string]any{"pollId": m.ID, "choices": []int{0}})
	bob.expectVoted(m.ID, 0)
	prof.resultsUntil(m.ID, 2, 2, 0, 1, 0)
	prof.send("poll_close", map[string]string{"pollId": m.ID})
	if p := ada.expectPoll("poll_closed"); p.ID != m.ID || p.MyCorrect == nil || !*p.MyCorrect {
		t.Fatalf("Ada's closed multiple-choice quiz = %+v, want right", p)
	}
	if p := bob.expectPoll("poll_closed"); p.ID != m.ID || p.MyCorrect == nil || *p.MyCorrect {
		t.Fatalf("Bob's closed multiple-choice quiz = %+v, want wrong (one of two)", p)
	}
}

func TestPollAnonymousHidesVoters(t *testing.T) {
	env := newTestEnv(t, nil)
	prof := env.joinInstructor(t, "math", "Prof")
	ada := env.dial(t)
	ada.send("join", map[string]string{"room": "math", "name": "Ada Secret", "identity": "ada-secret"})
	var j joinedMsg
	json.Unmarshal(ada.expect("joined"), &j)
	ada.id = j.Participant.ID
	prof.expect("participant_joined")

	prof.send("poll_create", map[string]any{"question": "Did you understand?", "options": []string{"yes", "no"}, "anonymous": true})
	var id string
	for _, w := range []*wsTest{ada, prof} {
		p := w.expectPoll("poll_created")
		if !p.Anonymous {
			t.Fatal("poll not anonymous")
		}
		id = p.ID
	}
	ada.send("poll_vote", map[string]any{"pollId": id, "choices": []int{1}})
	ada.expectVoted(id, 1)
	ada.send("poll_vote", map[string]any{"pollId": id, "choices": []int{0}}) // a change works without a voter list
	ada.expectVoted(id, 0)
	frames := prof.framesUntil("live results", func(typ string, data json.RawMessage) bool {
		var r pollResultsMsg
		json.Unmarshal(data, &r)
		return typ == "poll_results" && slices.Equal(r.Results.Counts, []int{1, 0})
	})
	prof.send("poll_close", map[string]string{"pollId": id})
	frames = append(frames, prof.framesUntil("poll_closed", func(typ string, _ json.RawMessage) bool { return typ == "poll_closed" })...)

	// A late instructor's joined carries the closed poll; it must not give the voter away either.
	late := env.dial(t)
	late.send("join", map[string]string{"room": "math", "token": env.instructorToken(t, "math", "Late")})
	var lateJoined struct {
		Polls json.RawMessage `json:"polls"`
	}
	json.Unmarshal(late.expect("joined"), &lateJoined)
	frames = append(frames, string(lateJoined.Polls))

	for _, f := range frames {
		for _, secret := range []string{ada.id, "ada-secret", "Ada Secret"} {
			if strings.Contains(f, secret) {
				t.Fatalf("an instructor received %q in %s", secret, f)
			}
		}
	}
	var closed struct{ Data pollEventMsg }
	json.Unmarshal([]byte(frames[len(frames)-2]), &closed)
	if !slices.Equal(closed.Data.Poll.Results.Counts, []int{1, 0}) || closed.Data.Poll.Results.Votes != nil {
		t.Fatalf("instructor's closed anonymous poll = %+v", closed.Data.Poll)
	}
	if sp := ada.expectPoll("poll_closed"); !slices.Equal(sp.MyChoices, []int{0}) || !slices.Equal(sp.Results.Counts, []int{1, 0}) {
		t.Fatalf("voter's closed anonymous poll = %+v", sp)
	}
}

// TestPollResultsThrottled: many votes at once reach the instructors as a few poll_results, the last
// of which has the exact counts, with no further vote to trigger it.
func TestPollResultsThrottled(t *testing.T) {
	const students = 30
	env := newTestEnv(t, nil)
	profs := []*wsTest{env.joinInstructor(t, "math", "Prof"), env.joinInstructor(t, "math", "Assistant")}
	ws := make([]*wsTest, students)
	for i := range ws {
		ws[i] = env.dial(t)
		ws[i].join("math", fmt.Sprint("Student ", i))
	}
	profs[0].send("poll_create", colours)
	id := profs[0].expectPoll("poll_created").ID
	for _, w := range ws {
		w.expectPoll("poll_created")
	}

	// Each student votes i%3, then changes to (i+1)%3: 60 vote events.
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() {
			w.send("poll_vote", map[string]any{"pollId": id, "choices": []int{i % 3}})
			w.send("poll_vote", map[string]any{"pollId": id, "choices": []int{(i + 1) % 3}})
		})
	}
	wg.Wait()
	for i, w := range ws {
		w.expectVoted(id, i%3)
		w.expectVoted(id, (i+1)%3)
	}
	final := []int{students / 3, students / 3, students / 3}
	for _, prof := range profs {
		n, r := prof.resultsUntil(id, students, final...)
		if n >= 2*students {
			t.Fatalf("%d poll_results for %d votes: not throttled", n, 2*students)
		}
		if len(r.Results.Votes) != students {
			t.Fatalf("final results list %d votes, want %d", len(r.Results.Votes), students)
		}
		t.Logf("%d votes reached an instructor as %d poll_results", 2*students, n)
	}
	// Nothing more is sent once the counts are final.
	profs[0].expectNo("poll_results", 2*PollResultsInterval)

	profs[0].send("poll_close", map[string]string{"pollId": id})
	for _, w := range append(profs, ws...) {
		if p := w.expectPoll("poll_closed"); !slices.Equal(p.Results.Counts, final) || p.Results.Voters != students {
			t.Fatalf("poll_closed results = %+v, want %v", p.Results, final)
		}
	}
}

// TestPollLateJoinerAndResume: joined carries the open polls, each as the joiner may see it.
func TestPollLateJoinerAndResume(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.SilenceTimeout = 5 * time.Second })
	prof := env.joinInstructor(t, "math", "Prof")
	ada := env.dial(t)
	ja := ada.join("math", "Ada")
	if ja.Polls == nil || len(ja.Polls) != 0 {
		t.Fatalf("joined.polls before any poll = %#v, want []", ja.Polls)
	}
	prof.send("poll_create", map[string]any{"question": "2 + 2?", "options": []string{"3", "4"}, "correct": []int{1}})
	id := prof.expectPoll("poll_created").ID
	ada.expectPoll("poll_created")
	ada.send("poll_vote", map[string]any{"pollId": id, "choices": []int{0}})
	ada.expectVoted(id, 0)
	prof.resultsUntil(id, 1, 1, 0)

	// A late student sees the question, not the counts or the answer.
	late := env.dial(t)
	jl := late.join("math", "Late")
	if len(jl.Polls) != 1 || jl.Polls[0].ID != id || jl.Polls[0].Closed || jl.Polls[0].Results != nil ||
		jl.Polls[0].Correct != nil || jl.Polls[0].MyChoices != nil || !jl.Polls[0].Quiz {
		t.Fatalf("late student's polls = %+v", jl.Polls)
	}
	// A late instructor sees the counts, who voted, and the answer.
	prof2 := env.dial(t)
	prof2.send("join", map[string]string{"room": "math", "token": env.instructorToken(t, "math", "Prof 2")})
	var jp joinedMsg
	json.Unmarshal(prof2.expect("joined"), &jp)
	if len(jp.Polls) != 1 || jp.Polls[0].Results == nil || !slices.Equal(jp.Polls[0].Results.Counts, []int{1, 0}) ||
		len(jp.Polls[0].Results.Votes) != 1 || !slices.Equal(jp.Polls[0].Correct, []int{1}) {
		t.Fatalf("late instructor's polls = %+v", jp.Polls)
	}
	// A resumed student sees its own vote.
	ada.c.CloseNow()
	back := env.dial(t)
	back.send("join", map[string]string{"resume": ja.ResumeToken})
	var jr joinedMsg
	json.Unmarshal(back.expect("joined"), &jr)
	if !jr.Resumed || len(jr.Polls) != 1 || !slices.Equal(jr.Polls[0].MyChoices, []int{0}) || jr.Polls[0].Results != nil {
		t.Fatalf("resumed student's polls = %+v", jr.Polls)
	}
	// The resumed session votes on; the instructor's live results follow.
	back.send("poll_vote", map[string]any{"pollId": id, "choices": []int{1}})
	back.expectVoted(id, 1)
	prof.resultsUntil(id, 1, 0, 1)

	// After the close, a newcomer gets the closed poll with its results and the answer.
	prof.send("poll_close", map[string]string{"pollId": id})
	back.expectPoll("poll_closed")
	newcomer := env.dial(t)
	jn := newcomer.join("math", "Newcomer")
	if len(jn.Polls) != 1 || !jn.Polls[0].Closed || !slices.Equal(jn.Polls[0].Results.Counts, []int{0, 1}) ||
		!slices.Equal(jn.Polls[0].Correct, []int{1}) || jn.Polls[0].Results.Votes != nil {
		t.Fatalf("newcomer's polls = %+v", jn.Polls)
	}
}

func TestPollErrors(t *testing.T) {
	env := newTestEnv(t, nil)
	prof := env.joinInstructor(t, "math", "Prof")
	ada := env.dial(t)
	ada.join("math", "Ada")
	prof.send("poll_create", colours)
	id := prof.expectPoll("poll_created").ID
	ada.expectPoll("poll_created")
	ada.send("poll_vote", map[string]any{"pollId": id, "choices": []int{1}})
	ada.expectVoted(id, 1)

	many := make([]string, rooms.MaxPollOptions+1)
	for i := range many {
		many[i] = fmt.Sprint("option ", i)
	}
	tests := []struct {
		name string
		w    *wsTest
		typ  string
		data any
		code string
		want string // in the message
	}{
		{"student creates", ada, "poll_create", colours, CodeForbidden, "instructor"},
		{"student closes", ada, "poll_close", map[string]string{"pollId": id}, CodeForbidden, "instructor"},
		{"instructor votes", prof, "poll_vote", map[string]any{"pollId": id, "choices": []int{0}}, CodeForbidden, "do not vote"},
		{"empty question", prof, "poll_create", map[string]any{"question": "  ", "options": []string{"a", "b"}}, CodeBadMessage, "question is empty"},
		{"long question", prof, "poll_create", map[string]any{"question": strings.Repeat("q", rooms.MaxPollQuestionRunes+1), "options": []string{"a", "b"}}, CodeBadMessage, "limit is 300"},
		{"one option", prof, "poll_create", map[string]any{"question": "Q?", "options": []string{"a"}}, CodeBadMessage, "2 to 10 options"},
		{"no options", prof, "poll_create", map[string]any{"question": "Q?"}, CodeBadMessage, "2 to 10 options"},
		{"too many options", prof, "poll_create", map[string]any{"question": "Q?", "options": many}, CodeBadMessage, "2 to 10 options"},
		{"empty option", prof, "poll_create", map[string]any{"question": "Q?", "options": []string{"a", " "}}, CodeBadMessage, "option 2 is empty"},
		{"long option", prof, "poll_create", map[string]any{"question": "Q?", "options": []string{"a", strings.Repeat("o", rooms.MaxPollOptionRunes+1)}}, CodeBadMessage, "limit is 100"},
		{"same option twice", prof, "poll_create", map[string]any{"question": "Q?", "options": []string{"a", "b", " a"}}, CodeBadMessage, "same"},
		{"correct not an option", prof, "poll_create", map[string]any{"question": "Q?", "options": []string{"a", "b"}, "correct": []int{2}}, CodeBadMessage, "not an option"},
		{"two correct on single choice", prof, "poll_create", map[string]any{"question": "Q?", "options": []string{"a", "b"}, "correct": []int{0, 1}}, CodeBadMessage, "one correct answer"},
		{"unknown field", prof, "poll_create", map[string]any{"question": "Q?", "options": []string{"a", "b"}, "secret": true}, CodeBadMessage, "unknown field"},
		{"no choice", ada, "poll_vote", map[string]any{"pollId": id, "choices": []int{}}, CodeBadMessage, "choose 1 to 10"},
		{"negative choice", ada, "poll_vote", map[string]any{"pollId": id, "choices": []int{-1}}, CodeBadMessage, "not an option"},
		{"choice twice", ada, "poll_vote", map[string]any{"pollId": id, "choices": []int{2, 2}}, CodeBadMessage, "twice"},
		{"choice past this poll's options", ada, "poll_vote", map[string]any{"pollId": id, "choices": []int{3}}, CodeBadMessage, "not an option of this poll"},
		{"two choices on single choice", ada, "poll_vote", map[string]any{"pollId": id, "choices": []int{0, 2}}, CodeBadMessage, "one choice"},
		{"malformed poll id", ada, "poll_vote", map[string]any{"pollId": "<x>", "choices": []int{0}}, CodeBadMessage, "pollId"},
		{"vote on unknown poll", ada, "poll_vote", map[string]any{"pollId": "Qnosuchpoll", "choices": []int{0}}, CodeNotFound, "no such poll"},
		{"close unknown poll", prof, "poll_close", map[string]string{"pollId": "Qnosuchpoll"}, CodeNotFound, "no such poll"},
	}
	for _, tt := range tests {
		tt.w.send(tt.typ, tt.data)
		if e := tt.w.expectError(tt.code); !strings.Contains(e.Message, tt.want) || e.Ref != tt.typ {
			t.Errorf("%s: error %+v, want %s mentioning %q", tt.name, e, tt.code, tt.want)
		}
	}
	// Nothing changed: one poll, Ada's one vote.
	ctx := context.Background()
	list, err := env.store.Polls(ctx, "math", -1, rooms.PollRead{Voter: ada.identity(t, env)})
	if err != nil || len(list) != 1 || list[0].Closed || !slices.Equal(list[0].Results.Counts, []int{0, 1, 0}) || !slices.Equal(list[0].Mine, []int{1}) {
		t.Fatalf("polls after refused messages = %+v, %v", list, err)
	}

	// Voting on a closed poll.
	prof.send("poll_close", map[string]string{"pollId": id})
	ada.expectPoll("poll_closed")
	ada.send("poll_vote", map[string]any{"pollId": id, "choices": []int{2}})
	ada.expectError(CodePollClosed)
	prof.send("poll_close", map[string]string{"pollId": id}) // closing twice is no error, and no event
	prof.expectPoll("poll_closed")
	prof.expectNo("poll_closed", 300*time.Millisecond)
	st, err := env.store.Poll(ctx, "math", id, rooms.PollRead{})
	if err != nil || !slices.Equal(st.Results.Counts, []int{0, 1, 0}) {
		t.Fatalf("closed poll after a refused vote = %+v, %v", st, err)
	}

	// At most MaxOpenPolls open at once.
	for range rooms.MaxOpenPolls {
		prof.send("poll_create", colours)
		prof.expectPoll("poll_created")
	}
	prof.send("poll_create", colours)
	prof.expectError(CodeTooManyPolls)

	// Votes are rate limited like chat.
	open, _ := env.store.Polls(ctx, "math", 0, rooms.PollRead{})
	for i := range chatBurst {
		ada.send("poll_vote", map[string]any{"pollId": open[0].ID, "choices": []int{i % 3}})
	}
	ada.send("poll_vote", map[string]any{"pollId": open[0].ID, "choices": []int{0}})
	ada.expectError(CodeRateLimited)
}

// identity reads the participant's identity from the store.
func (w *wsTest) identity(t *testing.T, env *testEnv) string {
	t.Helper()
	snap, err := env.store.Snapshot(context.Background(), "math")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range snap.Participants {
		if p.ID == w.id {
			return p.Identity
		}
	}
	t.Fatalf("%s is not in the room", w.id)
	return ""
}

func TestDecodePollMessages(t *testing.T) {
	m, err := decodeClient([]byte(`{"v":1,"type":"poll_create","data":{"question":" Q? ","options":[" a","b "],"multiple":true,"correct":[1,0]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c := m.Body.(*pollCreateMsg); c.Question != "Q?" || !slices.Equal(c.Options, []string{"a", "b"}) || !slices.Equal(c.Correct, []int{0, 1}) {
		t.Fatalf("poll_create not normalised: %+v", c)
	}
	m, err = decodeClient([]byte(`{"v":1,"type":"poll_vote","data":{"pollId":"Qabc","choices":[2,0]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if v := m.Body.(*pollVoteMsg); !slices.Equal(v.Choices, []int{0, 2}) {
		t.Fatalf("choices not sorted: %v", v.Choices)
	}
	for _, frame := range []string{
		`{"v":1,"type":"poll_create","data":{"question":"Q?","options":["a","b"],"correct":[0,0],"multiple":true}}`,
		`{"v":1,"type":"poll_create","data":{"question":"Q?","options":"a,b"}}`,
		`{"v":1,"type":"poll_create","data":{"question":"Q?","options":["a","b"],"correct":[1.5]}}`,
		`{"v":1,"type":"poll_vote","data":{"pollId":"Q","choices":[10]}}`,
		`{"v":1,"type":"poll_vote","data":{"pollId":"Q"}}`,
		`{"v":1,"type":"poll_vote","data":{"choices":[0]}}`,
		`{"v":1,"type":"poll_close","data":{}}`,
	} {
		if _, err := decodeClient([]byte(frame)); err == nil || err.(*ProtocolError).Code != CodeBadMessage {
			t.Errorf("decodeClient(%s) = %v, want bad_message", frame, err)
		}
	}
}
