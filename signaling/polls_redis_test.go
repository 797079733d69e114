package signaling

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/rooms/redistest"
)

// TestPollsAcrossNodes runs two nodes on one Redis: the instructor on one, the students on the other.
// Votes travel as poll_voted events between the nodes and come back as throttled poll_results; when
// the nodes lose their Redis subscriptions, the resync carries the polls.
func TestPollsAcrossNodes(t *testing.T) {
	url := redistest.Start(t)
	node := func() *testEnv {
		s, err := rooms.NewRedisStore(t.Context(), url, rooms.RedisOptions{KeyPrefix: "nodes:"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return newTestEnv(t, func(c *Config) { c.Store = s })
	}
	a, b := node(), node()
	prof := a.joinInstructor(t, "math", "Prof")
	const students = 6
	ws := make([]*wsTest, students)
	for i := range ws {
		ws[i] = b.dial(t)
		ws[i].join("math", fmt.Sprint("Student ", i))
	}

	prof.send("poll_create", map[string]any{"question": "2 + 2?", "options": []string{"3", "4"}, "correct": []int{1}})
	id := prof.expectPoll("poll_created").ID
	for i, w := range ws {
		w.expectPoll("poll_created")
		w.send("poll_vote", map[string]any{"pollId": id, "choices": []int{i % 2}})
		w.expectVoted(id, i%2)
	}
	if _, r := prof.resultsUntil(id, students, students/2, students/2); len(r.Results.Votes) != students {
		t.Fatalf("results across nodes list %d votes", len(r.Results.Votes))
	}
	prof.send("poll_close", map[string]string{"pollId": id})
	for i, w := range ws {
		if p := w.expectPoll("poll_closed"); p.MyCorrect == nil || *p.MyCorrect != (i%2 == 1) {
			t.Fatalf("student %d's closed quiz on the other node = %+v", i, p)
		}
	}

	// A second poll stays open; then both nodes lose their subscriber connections and resync.
	prof.send("poll_create", colours)
	open := prof.expectPoll("poll_created").ID
	ws[0].expectPoll("poll_created")
	ws[0].send("poll_vote", map[string]any{"pollId": open, "choices": []int{2}})
	ws[0].expectVoted(open, 2)
	prof.resultsUntil(open, 1, 0, 0, 1)
	opt, _ := redis.ParseURL(url)
	raw := redis.NewClient(opt)
	defer raw.Close()
	if err := raw.ClientKillByFilter(t.Context(), "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	var pr, sr resyncMsg
	json.Unmarshal(prof.expect("resync"), &pr)
	json.Unmarshal(ws[0].expect("resync"), &sr)
	if len(pr.Polls) != 2 || !pr.Polls[0].Closed || pr.Polls[1].ID != open || !slices.Equal(pr.Polls[1].Results.Counts, []int{0, 0, 1}) ||
		len(pr.Polls[1].Results.Votes) != 1 {
		t.Fatalf("instructor's resync polls = %+v", pr.Polls)
	}
	if len(sr.Polls) != 2 || !slices.Equal(sr.Polls[1].MyChoices, []int{2}) || sr.Polls[1].Results != nil ||
		!slices.Equal(sr.Polls[0].MyChoices, []int{0}) || sr.Polls[0].MyCorrect == nil || *sr.Polls[0].MyCorrect {
		t.Fatalf("student's resync polls = %+v", sr.Polls)
	}
	// Live results flow again after the resync.
	ws[1].send("poll_vote", map[string]any{"pollId": open, "choices": []int{0}})
	ws[1].expectVoted(open, 0)
	prof.resultsUntil(open, 2, 1, 0, 1)
}
