package signaling

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/cluster"
	"github.com/chalk-edu/chalk/rooms"
)

// fakeRouter places rooms by a table: rooms not in it are served by this node ("n1").
type fakeRouter struct {
	mu    sync.Mutex
	where map[string]string // room → node
}

func (f *fakeRouter) set(room, node string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.where[room] = node
}

func (f *fakeRouter) Route(_ context.Context, room string) (cluster.Route, error) {
	rt, _, err := f.Lookup(context.Background(), room)
	return rt, err
}

func (f *fakeRouter) Lookup(_ context.Context, room string) (cluster.Route, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.where[room]
	if n == "" {
		n = "n1"
	}
	return cluster.Route{Node: n, URL: "http://" + n + ".test", Local: n == "n1"}, true, nil
}

func (f *fakeRouter) Release(context.Context, string) error { return nil }

func (w *wsTest) expectRedirect() redirectMsg {
	w.t.Helper()
	var r redirectMsg
	json.Unmarshal(w.expect("redirect"), &r)
	return r
}

func TestJoinIsRedirectedToTheRoomsNode(t *testing.T) {
	router := &fakeRouter{where: map[string]string{"far": "n2"}}
	env := newTestEnv(t, func(c *Config) { c.Router = router })

	a := env.dial(t)
	a.send("join", map[string]string{"room": "far", "name": "Ada"})
	if r := a.expectRedirect(); r != (redirectMsg{URL: "http://n2.test", Room: "far", Reason: RedirectPlacement}) {
		t.Fatalf("redirect = %+v", r)
	}
	a.expectClosed()
	ctx := context.Background()
	if snap, _ := env.store.Snapshot(ctx, "far"); len(snap.Participants) != 0 {
		t.Fatalf("a redirected join left %d participants in the store", len(snap.Participants))
	}

	// A room served here is joined as on one node.
	b := env.dial(t)
	b.join("near", "Bob")

	// When its room is placed elsewhere (a drain, a race after a failure), the session is redirected
	// and leaves with reason relocated; others in the room see that.
	c := env.dial(t)
	c.join("near", "Cy")
	router.set("near", "n3")
	if r := b.expectRedirect(); r.URL != "http://n3.test" || r.Room != "near" {
		t.Fatalf("redirect = %+v", r)
	}
	b.expectClosed()
	c.expectRedirect() // a room moves as a whole
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		snap, _ := env.store.Snapshot(ctx, "near")
		if len(snap.Participants) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d participants still in the store 5 s after their room moved", len(snap.Participants))
		}
	}
}

func TestBreakoutOnAnotherNodeRedirectsItsStudents(t *testing.T) {
	router := &fakeRouter{where: map[string]string{"class.b1": "n2"}}
	env := newTestEnv(t, func(c *Config) { c.Router = router })
	prof := env.dial(t)
	prof.send("join", map[string]string{"room": "class", "token": env.token(t, "class", "prof", "Prof", rooms.RoleInstructor)})
	prof.expect("joined")
	ada := env.dial(t)
	ada.send("join", map[string]string{"room": "class", "name": "Ada", "identity": "ada"})
	ada.expect("joined")

	prof.send("breakouts_open", map[string]any{"count": 2, "assignments": map[string]int{"guest-ada": 1}})
	if r := ada.expectRedirect(); r != (redirectMsg{URL: "http://n2.test", Room: "class", Reason: RedirectBreakout}) {
		t.Fatalf("redirect = %+v", r)
	}
	var left participantLeftMsg
	json.Unmarshal(prof.expect("participant_left"), &left)
	if left.Reason != rooms.ReasonMoved {
		t.Fatalf("the main room saw Ada leave for %q, want moved", left.Reason)
	}
	// Joining again here, Ada is sent to her breakout's node at once.
	again := env.dial(t)
	again.send("join", map[string]string{"room": "class", "name": "Ada", "identity": "ada"})
	if r := again.expectRedirect(); r.Reason != RedirectBreakout || r.URL != "http://n2.test" {
		t.Fatalf("redirect = %+v", r)
	}
	// An instructor visiting that breakout is redirected with the visit, and a join carrying it
	// lands in the breakout where it is served.
	prof.send("breakout_visit", map[string]any{"breakout": 1})
	if r := prof.expectRedirect(); r.Visit != 1 || r.Reason != RedirectBreakout {
		t.Fatalf("visit redirect = %+v", r)
	}
	// The plan keeps the visit: a fresh join without it (after a failure) goes to the breakout too.
	fresh := env.dial(t)
	fresh.send("join", map[string]any{"room": "class", "token": env.token(t, "class", "prof", "Prof", rooms.RoleInstructor)})
	if r := fresh.expectRedirect(); r.Reason != RedirectBreakout || r.URL != "http://n2.test" {
		t.Fatalf("fresh join of the visiting instructor: redirect = %+v", r)
	}
	router.set("class.b1", "n1")
	back := env.dial(t)
	back.send("join", map[string]any{"room": "class", "token": env.token(t, "class", "prof", "Prof", rooms.RoleInstructor), "visit": 1})
	var j joinedMsg
	json.Unmarshal(back.expect("joined"), &j)
	back.id = j.Participant.ID
	back.expectMoved("class.b1", moveAssigned)
}

func TestRemoveNodeTakesOnlyItsParticipants(t *testing.T) {
	router := &fakeRouter{where: map[string]string{}}
	env := newTestEnv(t, func(c *Config) { c.Router = router })
	a := env.dial(t)
	a.join("bio", "Ada")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ghost := rooms.Participant{ID: "Pghost", Identity: "ghost", Name: "Ghost", Role: rooms.RoleStudent, Node: "dead", JoinedAt: time.Now().UTC(), Tracks: []rooms.Track{}}
	if _, _, err := env.store.Join(ctx, "bio", ghost); err != nil {
		t.Fatal(err)
	}
	a.expect("participant_joined")
	hub := NewHub(Config{Store: env.store}) // the cleaner: another node on the same store
	defer hub.Close(ctx)
	if err := hub.RemoveNode(ctx, "dead", []string{"bio", "empty"}); err != nil {
		t.Fatal(err)
	}
	var left participantLeftMsg
	json.Unmarshal(a.expect("participant_left"), &left)
	if left.ParticipantID != "Pghost" || left.Reason != ReasonNodeFailed {
		t.Fatalf("participant_left = %+v", left)
	}
	snap, _ := env.store.Snapshot(ctx, "bio")
	if len(snap.Participants) != 1 || snap.Participants[0].ID != a.id {
		t.Fatalf("participants after the cleanup: %+v", snap.Participants)
	}
}
