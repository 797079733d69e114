package signaling

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/rooms/redistest"
	"github.com/chalk-edu/chalk/sfu"
)

// joinGuestAs joins in dev mode as a student with a chosen identity ("guest-" + identity in the room).
func (e *testEnv) joinGuestAs(t *testing.T, room, name, identity string) *wsTest {
	t.Helper()
	w := e.dial(t)
	w.send("join", map[string]string{"room": room, "name": name, "identity": identity})
	var j joinedMsg
	json.Unmarshal(w.expect("joined"), &j)
	if j.Participant.ID == "" {
		t.Fatalf("%s did not join", name)
	}
	w.id = j.Participant.ID
	return w
}

func (w *wsTest) expectMoved(room, reason string) movedMsg {
	w.t.Helper()
	var m movedMsg
	if err := json.Unmarshal(w.expect("moved"), &m); err != nil {
		w.t.Fatal(err)
	}
	if m.Room != room || m.Reason != reason || m.Participant.ID != w.id || m.ResumeToken == "" {
		w.t.Fatalf("moved to %q (%s) as %s, want %q (%s) as %s", m.Room, m.Reason, m.Participant.ID, room, reason, w.id)
	}
	if _, n := rooms.ParseBreakoutRoom(m.Room); m.Breakouts.Current != n {
		w.t.Fatalf("moved to %s but breakouts.current = %d", m.Room, m.Breakouts.Current)
	}
	if !slices.ContainsFunc(m.Participants, func(p rooms.Participant) bool { return p.ID == w.id }) {
		w.t.Fatalf("moved snapshot of %s does not list us: %+v", m.Room, m.Participants)
	}
	return m
}

// expectBreakouts reads breakouts messages until one satisfies ok.
func (w *wsTest) expectBreakouts(ok func(breakoutsMsg) bool) breakoutsMsg {
	w.t.Helper()
	for {
		var b breakoutsMsg
		if err := json.Unmarshal(w.expect("breakouts"), &b); err != nil {
			w.t.Fatal(err)
		}
		if ok(b) {
			return b
		}
	}
}

// waitRooms waits until the store's rooms hold exactly the given participants (by id).
func waitRooms(t *testing.T, store rooms.Store, want map[string][]*wsTest) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var diff []string
		for room, ws := range want {
			snap, err := store.Snapshot(context.Background(), room)
			if err != nil {
				t.Fatal(err)
			}
			var got, exp []string
			for _, p := range snap.Participants {
				got = append(got, p.ID)
			}
			for _, w := range ws {
				exp = append(exp, w.id)
			}
			slices.Sort(got)
			slices.Sort(exp)
			if !slices.Equal(got, exp) {
				diff = append(diff, fmt.Sprintf("%s has %v, want %v", room, got, exp))
			}
		}
		if len(diff) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("rooms not as expected after 10 s:\n%s", strings.Join(diff, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func planOf(t *testing.T, store rooms.Store, room string) rooms.BreakoutPlan {
	t.Helper()
	p, err := store.Breakouts(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBreakoutsForbiddenForStudents(t *testing.T) {
	env := newTestEnv(t, nil)
	prof := env.joinInstructor(t, "math", "Prof")
	ada := env.joinGuestAs(t, "math", "Ada", "ada")
	actions := []struct {
		typ  string
		data any
	}{
		{"breakouts_open", map[string]any{"count": 2}},
		{"breakouts_assign", map[string]any{"assignments": map[string]int{"guest-ada": 1}}},
		{"breakouts_extend", map[string]any{"seconds": 60}},
		{"breakouts_broadcast", map[string]any{"text": "hello"}},
		{"breakouts_close", nil},
		{"breakout_visit", map[string]any{"breakout": 1}},
		{"breakout_help_done", map[string]any{"breakout": 1}},
	}
	check := func(stage string) {
		t.Helper()
		for _, a := range actions {
			ada.send(a.typ, a.data)
			if e := ada.expectError(CodeForbidden); e.Ref != a.typ {
				t.Fatalf("%s: %s refused with ref %q", stage, a.typ, e.Ref)
			}
		}
	}
	check("before breakouts")
	if p := planOf(t, env.store, "math"); p.Version != 0 {
		t.Fatalf("students' attempts changed the plan: %+v", p)
	}

	prof.send("breakouts_open", map[string]any{"count": 2, "durationSeconds": 600})
	prof.expectBreakouts(func(b breakoutsMsg) bool { return b.Open })
	check("while open")
	ada.send("breakout_choose", map[string]any{"breakout": 1})
	ada.expectError(CodeForbidden)
	if p := planOf(t, env.store, "math"); p.Version != 1 || !p.Open || len(p.Assignments) != 0 {
		t.Fatalf("students' attempts changed the plan: %+v", p)
	}
	// Instructors do not choose; they visit.
	prof.send("breakout_choose", map[string]any{"breakout": 1})
	prof.expectError(CodeForbidden)
}

func TestBreakoutsBadInputAndConflicts(t *testing.T) {
	env := newTestEnv(t, nil)
	prof := env.joinInstructor(t, "math", "Prof")
	ada := env.joinGuestAs(t, "math", "Ada", "ada")
	bad := []struct{ typ, data string }{
		{"breakouts_open", `{"count":0}`},
		{"breakouts_open", `{"count":51}`},
		{"breakouts_open", `{"count":2,"names":["a","b","c"]}`},
		{"breakouts_open", `{"count":2,"names":["` + strings.Repeat("n", 65) + `"]}`},
		{"breakouts_open", `{"count":2,"assignments":{"guest-ada":3}}`},
		{"breakouts_open", `{"count":2,"assignments":{"guest-ada":0}}`},
		{"breakouts_open", `{"count":2,"assignments":{"no spaces":1}}`},
		{"breakouts_open", `{"count":2,"durationSeconds":-1}`},
		{"breakouts_open", `{"count":2,"durationSeconds":86401}`},
		{"breakouts_open", `{"count":2,"teleport":true}`},
		{"breakouts_open", `{"count":"two"}`},
		{"breakouts_assign", `{}`},
		{"breakouts_extend", `{"seconds":0}`},
		{"breakouts_broadcast", `{"text":"   "}`},
		{"breakouts_broadcast", `{"text":"` + strings.Repeat("b", 1001) + `"}`},
		{"breakout_visit", `{"breakout":51}`},
		{"breakout_visit", `{"breakout":-1}`},
		{"breakout_help_done", `{"breakout":0}`},
		{"breakout_choose", `{"breakout":-2}`},
	}
	for _, b := range bad {
		prof.raw(`{"v":1,"type":"` + b.typ + `","data":` + b.data + `}`)
		if e := prof.expectError(CodeBadMessage); e.Ref != b.typ {
			t.Fatalf("%s %s refused with ref %q", b.typ, b.data, e.Ref)
		}
	}

	// Not open yet: changes to breakouts conflict with the state.
	for _, c := range []struct {
		w         *wsTest
		typ, data string
	}{
		{prof, "breakouts_assign", `{"assignments":{"guest-ada":1}}`},
		{prof, "breakouts_extend", `{"seconds":60}`},
		{prof, "breakouts_broadcast", `{"text":"hi"}`},
		{prof, "breakout_visit", `{"breakout":1}`},
		{prof, "breakout_help_done", `{"breakout":1}`},
		{ada, "breakout_choose", `{"breakout":1}`},
		{ada, "breakout_help", `{}`},
	} {
		c.w.raw(`{"v":1,"type":"` + c.typ + `","data":` + c.data + `}`)
		c.w.expectError(CodeConflict)
	}
	prof.send("breakouts_close", nil) // closing nothing is not an error: it changes nothing
	prof.send("ping", nil)
	prof.expect("pong")

	prof.send("breakouts_open", map[string]any{"count": 2, "assignments": map[string]int{"guest-ada": 1}})
	ada.expectMoved("math.b1", moveAssigned)
	for _, c := range []struct {
		typ, data, code string
	}{
		{"breakouts_open", `{"count":2}`, CodeConflict},
		{"breakouts_assign", `{"assignments":{"guest-ada":3}}`, CodeBadMessage},
		{"breakout_visit", `{"breakout":3}`, CodeBadMessage},
		{"breakout_help_done", `{"breakout":3}`, CodeBadMessage},
		{"breakouts_assign", `{"assignments":{"guest-ada":2},"generation":7}`, CodeConflict},
		{"breakouts_extend", `{"seconds":60,"generation":7}`, CodeConflict},
		{"breakouts_close", `{"generation":7}`, ""}, // idempotent: another generation's close does nothing
	} {
		prof.raw(`{"v":1,"type":"` + c.typ + `","data":` + c.data + `}`)
		if c.code != "" {
			prof.expectError(c.code)
		}
	}
	prof.send("ping", nil)
	prof.expect("pong")
	if p := planOf(t, env.store, "math"); !p.Open || p.Generation != 1 || p.Version != 1 || p.AssignedTo("guest-ada") != 1 {
		t.Fatalf("refused requests changed the plan: %+v", p)
	}
	// Help from the main room is for raised hands.
	late := env.joinGuestAs(t, "math", "Late", "late")
	late.send("breakout_help", nil)
	late.expectError(CodeConflict)
}

func TestBreakoutsMoveChatBroadcastHelpAndClose(t *testing.T) {
	env := newTestEnv(t, nil)
	prof := env.joinInstructor(t, "math", "Prof")
	a := env.joinGuestAs(t, "math", "Ada", "a")
	b := env.joinGuestAs(t, "math", "Bob", "b")
	c := env.joinGuestAs(t, "math", "Cyd", "c")
	d := env.joinGuestAs(t, "math", "Dee", "d")

	// a, b and c by hand; d at random, which must fill the smaller breakout.
	prof.send("breakouts_open", map[string]any{
		"count": 2, "names": []string{"Algebra"}, "random": true,
		"assignments": map[string]int{"guest-a": 1, "guest-b": 1, "guest-c": 2},
	})
	view := prof.expectBreakouts(func(b breakoutsMsg) bool { return b.Open })
	if view.Generation != 1 || len(view.Rooms) != 2 || view.Rooms[0].Name != "Algebra" || view.Rooms[1].Name != "Breakout 2" ||
		view.Rooms[0].Assigned != 2 || view.Rooms[1].Assigned != 2 || len(view.Assignments) != 4 || view.Current != 0 || view.Room != "math" {
		t.Fatalf("instructor's view after opening: %+v", view)
	}
	for _, as := range view.Assignments {
		if as.Name == "" {
			t.Fatalf("assignment without a name: %+v", as)
		}
	}
	for _, w := range []*wsTest{a, b} {
		w.expectMoved("math.b1", moveAssigned)
	}
	for _, w := range []*wsTest{c, d} {
		m := w.expectMoved("math.b2", moveAssigned)
		if m.From != "math" || m.Breakouts.Assigned != 2 || m.Breakouts.Assignments != nil || len(m.Breakouts.Rooms) != 2 {
			t.Fatalf("student's moved message: from %q, breakouts %+v", m.From, m.Breakouts)
		}
	}
	waitRooms(t, env.store, map[string][]*wsTest{"math": {prof}, "math.b1": {a, b}, "math.b2": {c, d}})
	var left participantLeftMsg
	json.Unmarshal(prof.expect("participant_left"), &left)
	if left.Reason != rooms.ReasonMoved {
		t.Fatalf("the main room saw a student leave with reason %q", left.Reason)
	}

	// A breakout's chat is its own.
	a.send("chat", map[string]string{"text": "hi team one"})
	if m := b.expectChat(); m.Text != "hi team one" {
		t.Fatalf("b got %q", m.Text)
	}
	c.expectNo("chat", 300*time.Millisecond)

	// A broadcast reaches everyone, wherever they are.
	prof.send("breakouts_broadcast", map[string]string{"text": "  Five minutes left  "})
	for _, w := range []*wsTest{prof, a, b, c, d} {
		var bc rooms.BreakoutBroadcast
		json.Unmarshal(w.expect("breakout_broadcast"), &bc)
		if bc.Text != "Five minutes left" || bc.From != prof.id || bc.FromName != "Prof" || bc.At.IsZero() {
			t.Fatalf("broadcast = %+v", bc)
		}
	}
	// And stays in the state for whoever arrives later.
	if v := c.expectBreakouts(func(b breakoutsMsg) bool { return len(b.Broadcasts) == 1 }); v.Broadcasts[0].Text != "Five minutes left" {
		t.Fatalf("broadcasts in the state: %+v", v.Broadcasts)
	}

	// Help: the instructors hear which breakout asks.
	c.send("breakout_help", nil)
	var help breakoutHelpEventMsg
	json.Unmarshal(prof.expect("breakout_help"), &help)
	if help.Breakout != 2 || help.Room != "math.b2" || help.ParticipantID != c.id || help.Name != "Cyd" {
		t.Fatalf("help = %+v", help)
	}
	asked := prof.expectBreakouts(func(b breakoutsMsg) bool { return b.Rooms[1].Help != nil && b.Rooms[1].Help.ParticipantID == c.id })
	d.expectBreakouts(func(b breakoutsMsg) bool { return b.Rooms[1].Help != nil }) // their own breakout's
	if v := a.expectBreakouts(func(v breakoutsMsg) bool { return v.Version == asked.Version }); v.Rooms[1].Help != nil {
		t.Fatalf("a student of breakout 1 sees breakout 2's help request: %+v", v.Rooms[1].Help)
	}
	a.expectNo("breakout_help", 200*time.Millisecond)

	// The instructor visits breakout 2: moved there, seen joining, and the help request is answered.
	prof.send("breakout_visit", map[string]int{"breakout": 2})
	pm := prof.expectMoved("math.b2", moveVisit)
	if len(pm.Participants) != 3 {
		t.Fatalf("visiting instructor sees %d participants in breakout 2, want 3", len(pm.Participants))
	}
	var joined participantJoinedMsg
	json.Unmarshal(c.expect("participant_joined"), &joined)
	if joined.Participant.ID != prof.id {
		t.Fatalf("breakout 2 saw %s join", joined.Participant.ID)
	}
	prof.expectBreakouts(func(b breakoutsMsg) bool { return b.Rooms[1].Help == nil })
	waitRooms(t, env.store, map[string][]*wsTest{"math": {}, "math.b1": {a, b}, "math.b2": {c, d, prof}})

	// An instructor in a breakout still runs the class: closing brings everyone back.
	prof.send("breakouts_close", nil)
	for _, w := range []*wsTest{prof, a, b, c, d} {
		m := w.expectMoved("math", moveClosed)
		if m.Breakouts.Open || m.Breakouts.CloseReason != moveClosed || m.Breakouts.EndsAt != nil {
			t.Fatalf("breakouts after close: %+v", m.Breakouts)
		}
	}
	waitRooms(t, env.store, map[string][]*wsTest{"math": {prof, a, b, c, d}, "math.b1": {}, "math.b2": {}})

	// Back in the main room, its chat is the main room's again.
	b.send("chat", map[string]string{"text": "back"})
	for _, w := range []*wsTest{prof, a, c, d} {
		if m := w.expectChat(); m.Text != "back" {
			t.Fatalf("chat = %q", m.Text)
		}
	}
}

func TestBreakoutsTimerBringsEveryoneBack(t *testing.T) {
	env := newTestEnv(t, nil)
	prof := env.joinInstructor(t, "math", "Prof")
	a := env.joinGuestAs(t, "math", "Ada", "a")
	b := env.joinGuestAs(t, "math", "Bob", "b")

	start := time.Now()
	prof.send("breakouts_open", map[string]any{"count": 2, "durationSeconds": 2, "assignments": map[string]int{"guest-a": 1, "guest-b": 2}})
	a.expectMoved("math.b1", moveAssigned)
	bm := b.expectMoved("math.b2", moveAssigned)
	ends := bm.Breakouts.EndsAt
	if ends == nil || ends.Before(start.Add(2*time.Second-time.Second)) || ends.After(time.Now().Add(2*time.Second+time.Second)) ||
		bm.Breakouts.ServerTime.IsZero() {
		t.Fatalf("timer in the state: endsAt %v, serverTime %v; want about 2 s after %v", ends, bm.Breakouts.ServerTime, start)
	}
	prof.send("breakouts_extend", map[string]int{"seconds": 1})
	ext := a.expectBreakouts(func(v breakoutsMsg) bool { return v.EndsAt != nil && !v.EndsAt.Equal(*ends) })
	if !ext.EndsAt.Equal(ends.Add(time.Second)) {
		t.Fatalf("extended timer ends at %v, want %v", ext.EndsAt, ends.Add(time.Second))
	}

	// b's network drops while in the breakout: its session waits for a resume.
	b.c.CloseNow()
	var moved movedMsg
	json.Unmarshal(a.expect("moved"), &moved)
	if moved.Room != "math" || moved.Reason != moveTimer {
		t.Fatalf("a moved to %q (%s), want math by the timer", moved.Room, moved.Reason)
	}
	if since := time.Since(start); since < 3*time.Second-100*time.Millisecond {
		t.Fatalf("breakouts ended after %v, before their extended timer", since)
	}
	if p := planOf(t, env.store, "math"); p.Open || p.CloseReason != rooms.BreakoutsClosedByTimer || p.Version != 3 {
		t.Fatalf("plan after the timer: %+v", p)
	}
	waitRooms(t, env.store, map[string][]*wsTest{"math": {prof, a, b}, "math.b1": {}, "math.b2": {}})

	// b comes back on a new socket and finds itself in the main room, with everyone.
	b2 := env.dial(t)
	b2.send("join", map[string]string{"resume": bm.ResumeToken})
	var r joinedMsg
	json.Unmarshal(b2.expect("joined"), &r)
	if !r.Resumed || r.Room != "math" || len(r.Participants) != 3 || r.Breakouts.Open || r.Breakouts.CloseReason != moveTimer {
		t.Fatalf("resumed into %q with %d participants, breakouts %+v", r.Room, len(r.Participants), r.Breakouts)
	}
}

func TestBreakoutsSelfSelectAndLateJoiner(t *testing.T) {
	env := newTestEnv(t, nil)
	prof := env.joinInstructor(t, "math", "Prof")
	a := env.joinGuestAs(t, "math", "Ada", "a")
	prof.send("breakouts_open", map[string]any{"count": 3, "selfSelect": true})
	a.expectBreakouts(func(v breakoutsMsg) bool { return v.Open && v.SelfSelect })

	a.send("breakout_choose", map[string]int{"breakout": 2})
	a.expectMoved("math.b2", moveAssigned)
	a.send("breakout_choose", map[string]int{"breakout": 3})
	if m := a.expectMoved("math.b3", moveAssigned); m.From != "math.b2" {
		t.Fatalf("moved from %q, want math.b2", m.From)
	}
	a.send("breakout_choose", map[string]int{"breakout": 4})
	a.expectError(CodeBadMessage)
	a.send("breakout_choose", map[string]int{"breakout": 0})
	a.expectMoved("math", moveAssigned)
	waitRooms(t, env.store, map[string][]*wsTest{"math": {prof, a}, "math.b2": {}, "math.b3": {}})
	prof.expect("participant_joined") // a, back

	// Someone assigned before they arrive enters through the main room (its entry policy applies)
	// and is moved to their breakout at once.
	prof.send("breakouts_assign", map[string]any{"assignments": map[string]int{"guest-late": 1}})
	prof.expectBreakouts(func(v breakoutsMsg) bool { return v.Rooms[0].Assigned == 1 })
	late := env.dial(t)
	late.send("join", map[string]string{"room": "math", "name": "Late", "identity": "late"})
	var j joinedMsg
	json.Unmarshal(late.expect("joined"), &j)
	late.id = j.Participant.ID
	if j.Room != "math" || j.Breakouts.Assigned != 1 {
		t.Fatalf("late joiner joined %q with breakouts %+v", j.Room, j.Breakouts)
	}
	if m := late.expectMoved("math.b1", moveAssigned); m.Breakouts.Current != 1 || m.Breakouts.Room != "math" {
		t.Fatalf("late joiner moved with breakouts %+v", m.Breakouts)
	}
	waitRooms(t, env.store, map[string][]*wsTest{"math": {prof, a}, "math.b1": {late}})

	// Random assignment later picks up those still unassigned in the main room.
	prof.send("breakouts_assign", map[string]any{"random": true})
	m := a.expectMoved(a.roomOf(t, env.store, "guest-a"), moveAssigned)
	if m.Room == "math" {
		t.Fatal("random assignment left a student in the main room")
	}
	if p := planOf(t, env.store, "math"); len(p.Assignments) != 2 || p.AssignedTo("prof-Prof") != 0 {
		t.Fatalf("after random assignment: %+v (instructors are never assigned at random)", p.Assignments)
	}
}

// roomOf is the breakout room the plan assigns identity to.
func (w *wsTest) roomOf(t *testing.T, store rooms.Store, identity string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		p := planOf(t, store, "math")
		if n := p.AssignedTo(identity); n > 0 {
			return p.Rooms[n-1].Room
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never assigned", identity)
	return ""
}

// newRedisNode runs a hub with its own SFU and its own connection to a shared Redis: one node of several.
func newRedisNode(t *testing.T, url, node string) *testEnv {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	media, err := sfu.New(sfu.Config{BindIP: "127.0.0.1", TCPPort: -1, IncludeLoopback: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	store, err := rooms.NewRedisStore(t.Context(), url, rooms.RedisOptions{KeyPrefix: "nodes:"})
	if err != nil {
		t.Fatal(err)
	}
	tokens, _ := auth.NewIssuer(secret)
	hub := NewHub(Config{Store: store, SFU: media, Tokens: tokens, DevMode: true, Node: node, Logger: log})
	srv := httptest.NewServer(hub)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hub.Close(ctx)
		srv.Close()
		media.Close()
		store.Close()
	})
	return &testEnv{url: "ws" + strings.TrimPrefix(srv.URL, "http"), tokens: tokens, store: store}
}

// Two nodes share one Redis; both see the deadline pass and both ask to close: the breakouts close
// once, and the participants of both nodes are back in the main room.
func TestBreakoutsTimerOnTwoNodes(t *testing.T) {
	url := redistest.Start(t)
	n1, n2 := newRedisNode(t, url, "n1"), newRedisNode(t, url, "n2")
	prof := n1.joinInstructor(t, "math", "Prof")
	a := n1.joinGuestAs(t, "math", "Ada", "a")
	b := n2.joinGuestAs(t, "math", "Bob", "b")
	c := n2.joinGuestAs(t, "math", "Cyd", "c")
	sub, err := n1.store.Subscribe(t.Context(), "math")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	prof.send("breakouts_open", map[string]any{"count": 2, "durationSeconds": 2, "assignments": map[string]int{"guest-a": 1, "guest-b": 1, "guest-c": 2}})
	a.expectMoved("math.b1", moveAssigned)
	b.expectMoved("math.b1", moveAssigned)
	c.expectMoved("math.b2", moveAssigned)
	// a and b are on different nodes but in one breakout: each sees the other.
	waitRooms(t, n2.store, map[string][]*wsTest{"math": {prof}, "math.b1": {a, b}, "math.b2": {c}})
	for _, w := range []*wsTest{a, b, c} {
		w.expectMoved("math", moveTimer)
	}
	waitRooms(t, n1.store, map[string][]*wsTest{"math": {prof, a, b, c}, "math.b1": {}, "math.b2": {}})

	time.Sleep(time.Second) // room for a second, wrong close to show up
	closes := 0
	for len(sub.C) > 0 {
		if ev := <-sub.C; ev.Type == rooms.EventBreakoutsClosed {
			closes++
		}
	}
	if closes != 1 {
		t.Fatalf("%d close events, want 1", closes)
	}
}

// TestBreakoutsNobodyLeftBehind: a class of 30 spread at random over 7 breakouts, three of them
// with their socket down when the instructor closes the breakouts. Every one of the 30 must be
// back in the main room, and the three must find themselves there when they resume.
func TestBreakoutsNobodyLeftBehind(t *testing.T) {
	const students, count = 30, 7
	env := newTestEnv(t, nil)
	prof := env.joinInstructor(t, "math", "Prof")
	var all []*wsTest
	for i := range students {
		all = append(all, env.joinGuestAs(t, "math", fmt.Sprint("Student ", i), fmt.Sprint("s", i)))
	}
	prof.send("breakouts_open", map[string]any{"count": count, "random": true})
	tokens := map[*wsTest]string{}
	sizes := map[string]int{}
	for _, w := range all {
		var m movedMsg
		json.Unmarshal(w.expect("moved"), &m)
		if _, n := rooms.ParseBreakoutRoom(m.Room); n < 1 || m.Reason != moveAssigned {
			t.Fatalf("moved to %q (%s)", m.Room, m.Reason)
		}
		tokens[w] = m.ResumeToken
		sizes[m.Room]++
	}
	lo, hi := students, 0
	for n := 1; n <= count; n++ {
		size := sizes[rooms.BreakoutRoomName("math", n)]
		lo, hi = min(lo, size), max(hi, size)
	}
	if hi-lo > 1 {
		t.Fatalf("random breakout sizes %v differ by more than one", sizes)
	}

	down := all[:3]
	for _, w := range down {
		w.c.CloseNow() // no close frame: the sessions wait for a resume
	}
	time.Sleep(100 * time.Millisecond)
	prof.send("breakouts_close", nil)
	for _, w := range all[3:] {
		w.expectMoved("math", moveClosed)
	}
	want := map[string][]*wsTest{"math": append([]*wsTest{prof}, all...)}
	for n := 1; n <= count; n++ {
		want[rooms.BreakoutRoomName("math", n)] = nil
	}
	waitRooms(t, env.store, want)
	for _, w := range down {
		r := env.dial(t)
		r.send("join", map[string]string{"resume": tokens[w]})
		var j joinedMsg
		json.Unmarshal(r.expect("joined"), &j)
		if !j.Resumed || j.Room != "math" || j.Participant.ID != w.id || len(j.Participants) != students+1 {
			t.Fatalf("resumed into %q as %s with %d participants", j.Room, j.Participant.ID, len(j.Participants))
		}
	}
}

// A student assigned to a breakout before arriving still enters through the main room's policy:
// the lobby holds them (then admission moves them to their breakout), and a lock keeps them out.
func TestBreakoutPreassignedMeetsEntryPolicy(t *testing.T) {
	env := newTestEnv(t, nil)
	prof, _ := env.joinAs(t, "math", "prof", rooms.RoleInstructor)
	prof.send("breakouts_open", map[string]any{"count": 2, "assignments": map[string]int{"ada": 2, "bob": 1}})
	prof.expect("breakouts")
	prof.send("update_settings", map[string]any{"lobby": "on"})
	prof.expect("settings_changed")

	ada, _ := env.waitAs(t, "math", "ada") // waits, although assigned to breakout 2
	prof.send("admit", map[string]string{"participantId": ada.id})
	if j := decode[joinedMsg](ada, "joined"); j.Room != "math" {
		t.Fatalf("admitted into %q, want the main room first", j.Room)
	}
	ada.expectMoved("math.b2", moveAssigned)

	prof.send("update_settings", map[string]any{"lobby": "off", "locked": true})
	prof.expect("settings_changed")
	bob := env.dial(t)
	bob.send("join", map[string]string{"room": "math", "token": env.token(t, "math", "bob", "Bob", rooms.RoleStudent)})
	bob.expectError(CodeRoomLocked)
	waitRooms(t, env.store, map[string][]*wsTest{"math": {prof}, "math.b1": {}, "math.b2": {ada}})
}
