package storetest

// The suite's tests of concurrent voting: counts must be exact however votes interleave.

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/rooms"
)

const concurrentVoters = 500

// joinMany joins n students to room from a few goroutines.
func joinMany(t *testing.T, s rooms.Store, room string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < n; i += 4 {
				if _, _, err := s.Join(testCtx(t), room, person(fmt.Sprint("s", i), fmt.Sprint("user-s", i), t0)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// voteAll runs one Vote per voter s0 … s<n-1> at once and returns their errors, by voter.
func voteAll(t *testing.T, s rooms.Store, room, poll string, n int, choices func(i int) []int) []error {
	t.Helper()
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.Vote(testCtx(t), room, poll, fmt.Sprint("s", i), choices(i))
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// testPollConcurrent: 500 voters at once count 500, option by option, on a single- and a
// multiple-choice poll; then half of them change their vote at once, and the counts follow exactly.
func testPollConcurrent(t *testing.T, s rooms.Store, room string) {
	start := time.Now()
	joinMany(t, s, room, concurrentVoters)
	ctx := testCtx(t) // after the joins, which are slow on a busy machine
	single := quiz("single", "s0")
	multi := rooms.Poll{ID: "multi", Question: "Pick any", Options: []string{"a", "b", "c"}, Multiple: true, CreatedBy: "s0", CreatedAt: t0}
	must(t, s.CreatePoll(ctx, room, single))
	must(t, s.CreatePoll(ctx, room, multi))
	joined := time.Since(start)

	var wg sync.WaitGroup
	var singleErrs, multiErrs []error
	wg.Go(func() {
		singleErrs = voteAll(t, s, room, "single", concurrentVoters, func(i int) []int { return []int{i % 4} })
	})
	wg.Go(func() {
		multiErrs = voteAll(t, s, room, "multi", concurrentVoters, func(i int) []int { return [][]int{{0}, {1, 2}, {0, 1, 2}}[i%3] })
	})
	wg.Wait()
	for _, err := range slices.Concat(singleErrs, multiErrs) {
		must(t, err)
	}
	n := concurrentVoters
	sameResults(t, "single-choice poll after 500 concurrent votes", readPoll(t, s, room, "single", rooms.PollRead{}), n, n/4, n/4, n/4, n/4)
	// i%3: 0 → {0} (167 voters), 1 → {1,2} (167), 2 → {0,1,2} (166).
	sameResults(t, "multiple-choice poll after 500 concurrent votes", readPoll(t, s, room, "multi", rooms.PollRead{}), n, 167+166, 167+166, 167+166)

	// Even voters had option 0 or 2 and all change to 3; odd voters (options 1 and 3) send their vote
	// again unchanged, which must count nothing.
	errs := voteAll(t, s, room, "single", n, func(i int) []int {
		if i%2 == 0 {
			return []int{3}
		}
		return []int{i % 4}
	})
	for _, err := range errs {
		must(t, err)
	}
	st := readPoll(t, s, room, "single", rooms.PollRead{Votes: true})
	sameResults(t, "after 250 concurrent changes", st, n, 0, n/4, 0, n/4+n/2)
	if len(st.Results.Votes) != n {
		t.Fatalf("%d votes listed, want %d", len(st.Results.Votes), n)
	}
	for _, v := range st.Results.Votes {
		var i int
		fmt.Sscanf(v.Identity, "user-s%d", &i)
		want := i % 4
		if i%2 == 0 {
			want = 3
		}
		if !slices.Equal(v.Choices, []int{want}) || v.ParticipantID != fmt.Sprint("s", i) {
			t.Fatalf("vote of %s = %+v, want [%d]", v.Identity, v, want)
		}
	}
	// One event per applied change and none for the unchanged re-votes: joins, 2 polls, 2×500 votes,
	// 250 changes.
	if got, want := snapshot(t, s, room).Seq, uint64(n+2+2*n+n/2); got != want {
		t.Fatalf("Seq %d, want %d", got, want)
	}
	t.Logf("%d joins in %v; %d votes, %d changes and %d unchanged re-votes in %v", n, joined, 2*n, n/2, n/2, time.Since(start)-joined)
}

// testPollConcurrentClose: votes racing the close count exactly when they succeed and change nothing
// when they are refused. The close comes once a quarter of the votes are in, and half the voters
// start only then, so they race it.
func testPollConcurrentClose(t *testing.T, s rooms.Store, room string) {
	const n = 200
	joinMany(t, s, room, n)
	ctx := testCtx(t)
	must(t, s.CreatePoll(ctx, room, quiz("q", "s0")))
	var wg sync.WaitGroup
	var in atomic.Int32
	quarter := make(chan struct{})
	begin := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			<-begin
			if i >= n/2 { // the second half starts with the close
				<-quarter
			}
			if errs[i] = s.Vote(ctx, room, "q", fmt.Sprint("s", i), []int{i % 2}); errs[i] == nil && in.Add(1) == n/4 {
				close(quarter)
			}
		})
	}
	close(begin)
	<-quarter
	must(t, s.ClosePoll(ctx, room, "q", "s0"))
	wg.Wait()
	want := []int{0, 0, 0, 0}
	accepted := 0
	for i, err := range errs {
		switch {
		case err == nil:
			want[i%2]++
			accepted++
		case !errors.Is(err, rooms.ErrPollClosed):
			t.Fatalf("vote %d: %v", i, err)
		}
	}
	sameResults(t, "votes racing the close", readPoll(t, s, room, "q", rooms.PollRead{}), accepted, want...)
	if got := snapshot(t, s, room).Seq; got != uint64(n+1+accepted+1) {
		t.Fatalf("Seq %d, want %d: refused votes emitted events", got, n+1+accepted+1)
	}
	t.Logf("%d of %d votes were in before the close", accepted, n)
}
