package storetest

// The suite's tests of Enter and the lobby.

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/rooms"
)

func enter(t *testing.T, s rooms.Store, room string, p rooms.Participant) rooms.Entry {
	t.Helper()
	e, err := s.Enter(testCtx(t), room, p)
	if err != nil {
		t.Fatalf("%s enters %s: %v", p.ID, room, err)
	}
	return e
}

func ids(ps []rooms.Participant) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func setLobby(t *testing.T, s rooms.Store, room string, mode rooms.LobbyMode, by string) {
	t.Helper()
	must(t, s.UpdateSettings(testCtx(t), room, rooms.SettingsChange{Lobby: &mode}, by))
}

// wantAdmitted checks the two events of an admission.
func (r *recorder) wantAdmitted(p rooms.Participant, by string) {
	r.t.Helper()
	r.want(rooms.Event{Type: rooms.EventLobbyLeft, ParticipantID: p.ID, Reason: rooms.ReasonAdmitted, By: by})
	ev := r.next()
	if ev.Type != rooms.EventParticipantJoined || ev.Participant == nil {
		r.t.Fatalf("event %+v, want %s of %s", ev, rooms.EventParticipantJoined, p.ID)
	}
	if d := time.Since(ev.Participant.JoinedAt); d < 0 || d > time.Minute {
		r.t.Fatalf("admitted participant's JoinedAt = %v, want the time of admission", ev.Participant.JoinedAt)
	}
	p.JoinedAt = ev.Participant.JoinedAt
	sameParticipants(r.t, "admitted participant", []rooms.Participant{*ev.Participant}, []rooms.Participant{p})
}

func testEnterPolicy(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	prof := member("prof", "u-prof", rooms.RoleInstructor)
	rec := follow(t, s, "r")
	a := person("a", "u-a", t0)
	a.Tracks = []rooms.Track{cam}
	e := enter(t, s, "r", a)
	if e.Waiting || e.Replaced != nil || e.Snapshot.Seq != 1 {
		t.Fatalf("entering an open room: %+v", e)
	}
	sameParticipants(t, "snapshot returned by Enter", e.Snapshot.Participants, []rooms.Participant{a})
	rec.want(rooms.Event{Type: rooms.EventParticipantJoined, Participant: &a})
	enter(t, s, "r", prof)
	rec.next()

	must(t, s.UpdateSettings(ctx, "r", rooms.SettingsChange{Locked: ptr(true)}, prof.ID))
	rec.next()
	before := state(t, s, "r")
	_, err := s.Enter(ctx, "r", person("b", "u-b", t0))
	rec.failsWith("student enters a locked room", err, rooms.ErrLocked)
	_, err = s.Enter(ctx, "r", person("a", "u-zed", t0))
	if err == nil || errors.Is(err, rooms.ErrLocked) || errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("Enter with another identity's participant ID: err = %v, want a conflict error", err)
	}
	rec.settled("conflicting Enter")
	if after := state(t, s, "r"); after != before {
		t.Fatalf("refused entries changed the room:\n%s\n%s", before, after)
	}
	// Moderators enter a locked room, and so does an identity already in it (a reload).
	ta := member("ta", "u-ta", rooms.RoleCoInstructor)
	enter(t, s, "r", ta)
	rec.want(rooms.Event{Type: rooms.EventParticipantJoined, Participant: &ta})
	a2 := person("a2", "u-a", t0)
	e = enter(t, s, "r", a2)
	if e.Waiting || e.Replaced == nil || e.Replaced.ID != "a" || len(e.Replaced.Tracks) != 1 {
		t.Fatalf("reload into a locked room: %+v", e)
	}
	rec.want(rooms.Event{Type: rooms.EventParticipantLeft, ParticipantID: "a", Reason: rooms.ReasonReplaced})
	rec.want(rooms.Event{Type: rooms.EventParticipantJoined, Participant: &a2})
	if got := ids(snapshot(t, s, "r").Participants); !slices.Equal(got, []string{"a2", "prof", "ta"}) {
		t.Fatalf("participants %q", got)
	}
}

func testEnterKeepsPromotion(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	prof, _ := class(t, s, "a")
	must(t, s.SetRole(ctx, "r", "a", rooms.RoleCoInstructor, prof.ID))
	setLobby(t, s, "r", rooms.LobbyOn, prof.ID)
	rec := follow(t, s, "r")
	a2 := person("a2", "u-a", t0) // the token still says student
	e := enter(t, s, "r", a2)
	a2.Role = rooms.RoleCoInstructor
	if e.Waiting || find(e.Snapshot.Participants, "a2") == nil || find(e.Snapshot.Participants, "a2").Role != rooms.RoleCoInstructor {
		t.Fatalf("reload of a co-instructor: %+v", e)
	}
	rec.want(rooms.Event{Type: rooms.EventParticipantLeft, ParticipantID: "a", Reason: rooms.ReasonReplaced})
	rec.want(rooms.Event{Type: rooms.EventParticipantJoined, Participant: &a2})
	// Leaving ends the promotion.
	must(t, s.Leave(ctx, "r", "a2", rooms.ReasonLeft))
	rec.next()
	if e := enter(t, s, "r", person("a3", "u-a", t0)); !e.Waiting || e.Snapshot.Lobby[0].Role != rooms.RoleStudent {
		t.Fatalf("return after leaving: %+v", e)
	}
}

func testLobby(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	prof, _ := class(t, s, "c")
	setLobby(t, s, "r", rooms.LobbyOn, prof.ID)
	rec := follow(t, s, "r")

	a, b := person("a", "u-a", t0), person("b", "u-b", t0)
	for i, p := range []rooms.Participant{a, b} {
		e := enter(t, s, "r", p)
		if !e.Waiting || e.Replaced != nil || e.Snapshot.Seq != rec.seq+1 || len(e.Snapshot.Lobby) != i+1 {
			t.Fatalf("%s enters with the lobby on: %+v", p.ID, e)
		}
		sameParticipants(t, "lobby entry", e.Snapshot.Lobby[i:], []rooms.Participant{p})
		rec.want(rooms.Event{Type: rooms.EventLobbyJoined, Participant: &p})
	}
	snap := snapshot(t, s, "r")
	if got := ids(snap.Lobby); !slices.Equal(got, []string{"a", "b"}) || find(snap.Participants, "a") != nil {
		t.Fatalf("lobby %q, participants %q", got, ids(snap.Participants))
	}
	// Moderators do not wait.
	prof2 := member("prof2", "u-prof2", rooms.RoleInstructor)
	if e := enter(t, s, "r", prof2); e.Waiting {
		t.Fatal("an instructor waits in the lobby")
	}
	rec.next()
	// A new session of a waiting identity goes to the back of the line.
	a2 := person("a2", "u-a", t0)
	e := enter(t, s, "r", a2)
	if !e.Waiting || e.Replaced == nil || e.Replaced.ID != "a" || !slices.Equal(ids(e.Snapshot.Lobby), []string{"b", "a2"}) {
		t.Fatalf("waiting identity enters again: %+v", e)
	}
	rec.want(rooms.Event{Type: rooms.EventLobbyLeft, ParticipantID: "a", Reason: rooms.ReasonReplaced})
	rec.want(rooms.Event{Type: rooms.EventLobbyJoined, Participant: &a2})

	before := state(t, s, "r")
	for _, tc := range []struct {
		what string
		err  error
		want error
	}{
		{"student admits", s.Admit(ctx, "r", "b", "c"), rooms.ErrForbidden},
		{"waiting student admits", s.Admit(ctx, "r", "b", "a2"), rooms.ErrForbidden},
		{"outsider admits", s.Admit(ctx, "r", "b", "zed"), rooms.ErrForbidden},
		{"admitting one not waiting", s.Admit(ctx, "r", "c", prof.ID), rooms.ErrNotFound},
		{"student denies", s.LeaveLobby(ctx, "r", "b", rooms.ReasonDenied, "c"), rooms.ErrForbidden},
		{"leaving for another", s.LeaveLobby(ctx, "r", "b", rooms.ReasonLeft, "a2"), rooms.ErrForbidden},
		{"denying one not waiting", s.LeaveLobby(ctx, "r", "zed", rooms.ReasonDenied, prof.ID), rooms.ErrNotFound},
		{"leaving with a bad reason", s.LeaveLobby(ctx, "r", "b", rooms.ReasonAdmitted, prof.ID), nil},
	} {
		rec.failsWith(tc.what, tc.err, tc.want)
	}
	if after := state(t, s, "r"); after != before {
		t.Fatalf("refused lobby changes changed the room:\n%s\n%s", before, after)
	}

	must(t, s.Admit(ctx, "r", "b", prof.ID))
	rec.wantAdmitted(b, prof.ID)
	if err := s.Admit(ctx, "r", "b", prof.ID); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("admitting twice: err = %v, want ErrNotFound", err)
	}
	must(t, s.LeaveLobby(ctx, "r", "a2", rooms.ReasonDenied, prof2.ID))
	rec.want(rooms.Event{Type: rooms.EventLobbyLeft, ParticipantID: "a2", Reason: rooms.ReasonDenied, By: prof2.ID})
	d := person("d", "u-d", t0)
	enter(t, s, "r", d)
	rec.next()
	must(t, s.LeaveLobby(ctx, "r", "d", rooms.ReasonLeft, "d"))
	rec.want(rooms.Event{Type: rooms.EventLobbyLeft, ParticipantID: "d", Reason: rooms.ReasonLeft, By: "d"})
	snap = snapshot(t, s, "r")
	if len(snap.Lobby) != 0 || find(snap.Participants, "b") == nil {
		t.Fatalf("after admitting b and denying a2: lobby %q, participants %q", ids(snap.Lobby), ids(snap.Participants))
	}
	// A denied student may ask again.
	if e := enter(t, s, "r", person("a3", "u-a", t0)); !e.Waiting {
		t.Fatal("denied student could not ask again")
	}
}

func testAdmitFirst(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	prof, ta := class(t, s, "c")
	setLobby(t, s, "r", rooms.LobbyOfficeHours, prof.ID)
	var line []rooms.Participant
	for i := range 4 {
		p := person(fmt.Sprint("s", i), fmt.Sprint("u-s", i), t0.Add(time.Duration(-i)*time.Second))
		line = append(line, p)
		enter(t, s, "r", p)
	}
	rec := follow(t, s, "r")
	if _, err := s.AdmitFirst(ctx, "r", 1, "c"); !errors.Is(err, rooms.ErrForbidden) {
		t.Fatalf("student admits: err = %v, want ErrForbidden", err)
	}
	rec.settled("refused admission")
	for _, tc := range []struct {
		n    int
		want []string
	}{{1, []string{"s0"}}, {2, []string{"s1", "s2"}}, {0, []string{"s3"}}, {0, []string{}}, {1, []string{}}} {
		got, err := s.AdmitFirst(ctx, "r", tc.n, ta.ID)
		must(t, err)
		if !slices.Equal(got, tc.want) {
			t.Fatalf("AdmitFirst(%d) = %q, want %q", tc.n, got, tc.want)
		}
		for range got {
			rec.wantAdmitted(line[0], ta.ID)
			line = line[1:]
		}
		rec.settled(fmt.Sprint("AdmitFirst ", tc.n))
	}
	if snap := snapshot(t, s, "r"); len(snap.Lobby) != 0 || len(snap.Participants) != 7 {
		t.Fatalf("after admitting everyone: lobby %q, participants %q", ids(snap.Lobby), ids(snap.Participants))
	}
}

func testLobbyOffAdmitsAll(t *testing.T, s rooms.Store) {
	prof, _ := class(t, s)
	setLobby(t, s, "r", rooms.LobbyOn, prof.ID)
	a, b := person("a", "u-a", t0), person("b", "u-b", t0)
	enter(t, s, "r", a)
	enter(t, s, "r", b)
	rec := follow(t, s, "r")
	setLobby(t, s, "r", rooms.LobbyOff, prof.ID)
	rec.want(settingsEvent(rooms.DefaultSettings(), prof.ID))
	rec.wantAdmitted(a, prof.ID)
	rec.wantAdmitted(b, prof.ID)
	rec.settled("lobby off")
	if e := enter(t, s, "r", person("c", "u-c", t0)); e.Waiting {
		t.Fatal("waiting with the lobby off")
	}
}

func testLobbyLockAndRemoval(t *testing.T, s rooms.Store) {
	ctx := testCtx(t)
	prof, _ := class(t, s)
	setLobby(t, s, "r", rooms.LobbyOn, prof.ID)
	enter(t, s, "r", person("d", "u-d", t0))
	must(t, s.UpdateSettings(ctx, "r", rooms.SettingsChange{Locked: ptr(true)}, prof.ID))
	rec := follow(t, s, "r")
	// Locked: no new student may wait, but a waiting one who reconnects keeps waiting.
	_, err := s.Enter(ctx, "r", person("e", "u-e", t0))
	rec.failsWith("new student waits in a locked room", err, rooms.ErrLocked)
	d2 := person("d2", "u-d", t0)
	if e := enter(t, s, "r", d2); !e.Waiting || e.Replaced == nil || e.Replaced.ID != "d" {
		t.Fatalf("waiting student reconnects to a locked room: %+v", e)
	}
	rec.next()
	rec.next()
	// An admission lets a student into a locked room: the instructor chose to.
	must(t, s.Admit(ctx, "r", "d2", prof.ID))
	rec.wantAdmitted(d2, prof.ID)
	must(t, s.UpdateSettings(ctx, "r", rooms.SettingsChange{Locked: ptr(false)}, prof.ID))
	rec.next()
	// A waiting student can be removed, and stays out.
	enter(t, s, "r", person("e", "u-e", t0))
	rec.next()
	must(t, s.Remove(ctx, "r", "e", prof.ID))
	rec.want(rooms.Event{Type: rooms.EventLobbyLeft, ParticipantID: "e", Reason: rooms.ReasonRemoved, By: prof.ID})
	rec.wantRemoval("u-e", "Name of u-e", prof.ID)
	_, err = s.Enter(ctx, "r", person("e2", "u-e", t0))
	rec.failsWith("removed student waits", err, rooms.ErrRemoved)
}

// testLobbyConcurrent: students enter while two moderators admit the next one as fast as they can.
// Each student must be admitted exactly once, with its events in order, and the end state must agree.
func testLobbyConcurrent(t *testing.T, s rooms.Store) {
	const n = 30
	ctx := testCtx(t)
	prof, ta := class(t, s)
	setLobby(t, s, "r", rooms.LobbyOfficeHours, prof.ID)
	rec := follow(t, s, "r")
	start := rec.seq
	var wg sync.WaitGroup
	errs := make(chan error, n+2)
	for i := range n {
		wg.Go(func() {
			_, err := s.Enter(ctx, "r", person(fmt.Sprint("s", i), fmt.Sprint("u-s", i), t0))
			errs <- err
		})
	}
	var admitted sync.Map
	var count sync.WaitGroup
	done := make(chan struct{})
	for _, by := range []string{prof.ID, ta.ID} {
		count.Go(func() {
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				// Read before admitting: once every Enter has returned, an empty lobby stays empty.
				var finished bool
				select {
				case <-done:
					finished = true
				default:
				}
				got, err := s.AdmitFirst(ctx, "r", 1, by)
				if err != nil {
					errs <- err
					return
				}
				for _, id := range got {
					if _, dup := admitted.LoadOrStore(id, by); dup {
						errs <- fmt.Errorf("%s admitted twice", id)
					}
				}
				if len(got) == 0 && finished {
					return
				}
				if len(got) == 0 {
					time.Sleep(time.Millisecond)
				}
			}
			errs <- errors.New("admitting did not finish in 20 s")
		})
	}
	wg.Wait()
	close(done)
	count.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	phase := map[string]string{} // participant → where its events have taken it
	for rec.seq < start+3*n {
		ev := rec.next()
		switch id := ev.ParticipantID; ev.Type {
		case rooms.EventLobbyJoined:
			id = ev.Participant.ID
			if phase[id] != "" {
				t.Fatalf("%s joined the lobby after %s", id, phase[id])
			}
			phase[id] = "waiting"
		case rooms.EventLobbyLeft:
			if phase[id] != "waiting" || ev.Reason != rooms.ReasonAdmitted {
				t.Fatalf("%s left the lobby (%s) while %q", id, ev.Reason, phase[id])
			}
			phase[id] = "admitted"
		case rooms.EventParticipantJoined:
			if id = ev.Participant.ID; phase[id] != "admitted" {
				t.Fatalf("%s joined while %q", id, phase[id])
			}
			phase[id] = "in"
		default:
			t.Fatalf("unexpected event %+v", ev)
		}
	}
	rec.settled("all admitted")
	snap := snapshot(t, s, "r")
	if len(snap.Lobby) != 0 || len(snap.Participants) != n+2 {
		t.Fatalf("lobby %q and %d participants, want none waiting and %d in", ids(snap.Lobby), len(snap.Participants), n+2)
	}
}
