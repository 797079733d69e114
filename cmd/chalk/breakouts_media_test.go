package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/signaling/client"
)

// senderBase spaces the packet numbers of the publishers, so a receiver can tell from a payload
// alone who sent it, whichever transceiver it arrived on.
const senderBase = 1_000_000

// bySender counts the synthetic packets one client receives, by the publisher that numbered them.
type bySender struct {
	mu  sync.Mutex
	got map[int]int
}

func (r *bySender) onTrack(_ client.TrackInfo, t *webrtc.TrackRemote) {
	go func() {
		for {
			pkt, _, err := t.ReadRTP()
			if err != nil {
				return
			}
			if m, ok := client.ParseMarker(t.Kind(), pkt.Payload); ok {
				r.mu.Lock()
				r.got[int(m.N/senderBase)]++
				r.mu.Unlock()
			}
		}
	}()
}

func (r *bySender) counts() map[int]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.got)
}

type classMember struct {
	name string
	idx  int // publisher number: its packets are numbered idx*senderBase + n
	c    *client.Client
	recv *bySender
}

// TestBreakoutMediaFollowsTheRoom: five participants publish audio and video in one class. In
// breakouts a student receives the other student of its breakout and nobody else; after the close
// everyone receives everyone again. The moves keep each client's WebSocket and peer connections.
func TestBreakoutMediaFollowsTheRoom(t *testing.T) {
	srv := startTestServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	issuer, _ := auth.NewIssuer(testSecret)
	profToken, err := issuer.Mint(auth.Grant{Room: "class", Identity: "prof", Name: "Prof", Role: rooms.RoleInstructor}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	var members []*classMember
	for i, name := range []string{"prof", "s1", "s2", "s3", "s4"} {
		m := &classMember{name: name, idx: i + 1, recv: &bySender{got: map[int]int{}}}
		o := client.Options{URL: srv.wsURL(), Room: "class", Name: name, Identity: name, Audio: true, Video: true, OnTrack: m.recv.onTrack}
		if name == "prof" {
			o.Token = profToken
		}
		if m.c, err = client.Dial(ctx, o); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(m.c.Close)
		members = append(members, m)
	}
	prof, s1, s2, s3, s4 := members[0], members[1], members[2], members[3], members[4]

	// Everyone publishes 50 packets/s of each kind, a keyframe every 10 video packets.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	for _, m := range members {
		wg.Go(func() {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for n := uint32(0); ; n++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				num := uint32(m.idx*senderBase) + n
				client.WriteSynthetic(m.c.Audio, webrtc.RTPCodecTypeAudio, num, 0)
				client.WriteSynthetic(m.c.Video, webrtc.RTPCodecTypeVideo, num, 10)
			}
		})
	}

	// hears waits until each listener has received fresh packets from each of its speakers.
	hears := func(stage string, listeners []*classMember, speakers func(*classMember) []*classMember) {
		t.Helper()
		before := map[*classMember]map[int]int{}
		for _, l := range listeners {
			before[l] = l.recv.counts()
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			var missing []string
			for _, l := range listeners {
				now := l.recv.counts()
				for _, s := range speakers(l) {
					if now[s.idx] <= before[l][s.idx]+10 {
						missing = append(missing, l.name+"←"+s.name)
					}
				}
			}
			if len(missing) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no fresh media after 30 s for %v", stage, missing)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	others := func(l *classMember) []*classMember {
		return slices.DeleteFunc(slices.Clone(members), func(m *classMember) bool { return m == l })
	}
	hears("main room", members, others)

	if err := prof.c.OpenBreakouts(ctx, client.BreakoutOptions{Count: 2, Assignments: map[string]int{
		"guest-s1": 1, "guest-s2": 1, "guest-s3": 2, "guest-s4": 2,
	}}); err != nil {
		t.Fatal(err)
	}
	partner := map[*classMember]*classMember{s1: s2, s2: s1, s3: s4, s4: s3}
	for m, room := range map[*classMember]string{s1: "class.b1", s2: "class.b1", s3: "class.b2", s4: "class.b2"} {
		if err := m.c.WaitRoom(ctx, room); err != nil {
			t.Fatalf("%s never reached %s: %v", m.name, room, err)
		}
	}
	students := []*classMember{s1, s2, s3, s4}
	hears("breakouts", students, func(l *classMember) []*classMember { return []*classMember{partner[l]} })

	// Now measure a window: only the partner's media may arrive, and the instructor, alone in the
	// main room, receives nothing at all.
	time.Sleep(500 * time.Millisecond) // packets already on the wire before the move drain out
	start := map[*classMember]map[int]int{}
	for _, m := range members {
		start[m] = m.recv.counts()
	}
	time.Sleep(2 * time.Second)
	var window []string
	for _, m := range members {
		end := m.recv.counts()
		for _, s := range members {
			got := end[s.idx] - start[m][s.idx]
			switch {
			case s == m:
				if got != 0 {
					t.Errorf("%s received %d of its own packets", m.name, got)
				}
			case partner[m] == s:
				window = append(window, fmt.Sprintf("%s←%s %d", m.name, s.name, got))
				if got < 100 { // about 200 are sent in 2 s
					t.Errorf("%s received only %d packets from %s, its breakout partner", m.name, got, s.name)
				}
			default:
				if got != 0 {
					t.Errorf("%s received %d packets from %s, who is in another room", m.name, got, s.name)
				}
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	if err := prof.c.CloseBreakouts(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range students {
		if err := m.c.WaitRoom(ctx, "class"); err != nil {
			t.Fatalf("%s never came back to the main room: %v", m.name, err)
		}
	}
	hears("main room after the close", members, others)
	snap, err := srv.store.Snapshot(ctx, "class")
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Participants) != len(members) {
		t.Fatalf("main room has %d participants after the close, want %d", len(snap.Participants), len(members))
	}
	for _, m := range members {
		select {
		case err := <-m.c.Errors():
			t.Errorf("%s: %v", m.name, err)
		default:
		}
	}
	t.Logf("packets from the breakout partner in a 2 s window (about 200 sent): %v; from anyone else: 0", window)
}
