package signaling

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/recorder"
	"github.com/chalk-edu/chalk/recorder/storage"
	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/rooms/redistest"
	"github.com/chalk-edu/chalk/sfu"
	"github.com/chalk-edu/chalk/signaling/client"
)

// TestCascadedLecture: a publisher on node A (the room's home) and three subscribers on node B (an
// edge of A through Config.Edge), one Redis. B receives each track once over one relay and serves
// its three subscribers from it: they get at least 99 % of the packets although the relay link
// loses one video packet in 50 (recovered by NACK from A's cache); a subscriber's keyframe request
// reaches the publisher through the relay; the relay closes when B's last subscriber leaves.
func TestCascadedLecture(t *testing.T) {
	redisURL := redistest.Start(t)
	loss := &lossyRelay{}
	a := newCascadeNode(t, redisURL, "node-a", func(sc *sfu.Config, _ *Config) {
		sc.RelayInterceptors = []interceptor.Factory{loss}
	})
	b := newCascadeNode(t, redisURL, "node-b", func(_ *sfu.Config, hc *Config) {
		hc.Edge = func(_ context.Context, room string) (string, bool, error) { return a.base, room == "lecture", nil }
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// Two subscribers arrive before anything is published: they see track_published before the
	// relayed media exists. The third arrives after: its snapshot lists the tracks.
	subs := make([]*received, 3)
	clients := make([]*client.Client, 3)
	join := func(i int) {
		subs[i] = &received{}
		c, err := client.Dial(ctx, client.Options{URL: b.ws, Room: "lecture", Name: "student", OnTrack: subs[i].onTrack})
		if err != nil {
			t.Fatal(err)
		}
		clients[i] = c
	}
	join(0)
	join(1)

	var keyframeAsks atomic.Int64
	pub, err := client.Dial(ctx, client.Options{URL: a.ws, Room: "lecture", Name: "prof", Audio: true, Video: true,
		OnKeyframeRequest: func(source string) {
			if source == "camera" {
				keyframeAsks.Add(1)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	var sent atomic.Uint32
	stop := make(chan struct{})
	defer close(stop)
	go sendSynthetic(pub, &sent, stop) // 50 packets/s of each kind, a keyframe every 10 video packets
	waitFor(t, "the publisher's tracks reach the edge", 20*time.Second, func() bool { return b.metric(t, "chalk_sfu_relay_tracks_in") == 2 })
	join(2)

	flowing := func() bool {
		n := sent.Load()
		for _, s := range subs {
			if s.count(pub.ID, webrtc.RTPCodecTypeAudio, n-25, n) == 0 || s.count(pub.ID, webrtc.RTPCodecTypeVideo, n-25, n) == 0 {
				return false
			}
		}
		return n > 25
	}
	waitFor(t, "media reaches the three subscribers on the edge", 30*time.Second, flowing)

	// A window of 5 s of media (250 packets of each kind), then time for retransmissions to land.
	from := sent.Load()
	time.Sleep(5 * time.Second)
	to := sent.Load()
	time.Sleep(time.Second)
	for i, s := range subs {
		for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
			got, want := s.count(pub.ID, kind, from, to), int(to-from)
			t.Logf("subscriber %d %s: %d of %d packets", i, kind, got, want)
			if got*100 < want*99 {
				t.Errorf("subscriber %d received %d of %d %s packets (< 99%%)", i, got, want, kind)
			}
		}
	}

	// One relay, each track once: A forwards to nobody but the relay, and sent at most one copy of
	// each packet up it (three subscribers would triple that if each had its own path).
	if v := a.metric(t, "chalk_sfu_relay_connections_out"); v != 1 {
		t.Errorf("relay connections from A = %v, want 1", v)
	}
	if v := a.metric(t, "chalk_sfu_relay_tracks_out"); v != 2 {
		t.Errorf("tracks relayed by A = %v, want 2 (microphone, camera)", v)
	}
	if v := a.metric(t, "chalk_sfu_down_tracks"); v != 2 {
		t.Errorf("down-tracks on A = %v, want 2: only the relay's", v)
	}
	if v, max := a.metric(t, "chalk_sfu_relay_rtp_packets_sent_total"), float64(2*sent.Load()); v > max || v < float64(to-from) {
		t.Errorf("packets relayed by A = %v, want between %d (one window) and %v (each packet once)", v, to-from, max)
	}
	if v := b.metric(t, "chalk_sfu_down_tracks"); v != 6 {
		t.Errorf("down-tracks on B = %v, want 6 (3 subscribers × 2 tracks)", v)
	}
	// The losses on the relay link were asked for again and resent from A's cache.
	nacks, resent := a.metric(t, "chalk_sfu_relay_nacks_total"), a.metric(t, "chalk_sfu_rtp_retransmissions_total")
	t.Logf("relay link: %d packets dropped, %v NACKed, %v resent by A", loss.n.Load(), nacks, resent)
	if loss.n.Load() == 0 || nacks == 0 || resent == 0 {
		t.Errorf("loss on the relay: dropped %d, NACKed %v, resent %v; want all > 0", loss.n.Load(), nacks, resent)
	}

	// A subscriber on B asks for a keyframe: the publisher on A is asked for one.
	waitFor(t, "keyframe requests settle", 20*time.Second, func() bool {
		n := keyframeAsks.Load()
		time.Sleep(1500 * time.Millisecond)
		return keyframeAsks.Load() == n
	})
	before, relayedBefore := keyframeAsks.Load(), a.metric(t, "chalk_sfu_relay_keyframe_requests_total")
	ssrc := subs[1].cameraSSRC.Load()
	if err := clients[1].SubscribeConnection().WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the publisher is asked for a keyframe", 10*time.Second, func() bool { return keyframeAsks.Load() > before })
	if v := a.metric(t, "chalk_sfu_relay_keyframe_requests_total"); v <= relayedBefore {
		t.Errorf("relay keyframe requests on A: %v, want above %v", v, relayedBefore)
	}

	// The relay ends with B's last local session of the room.
	for _, c := range clients {
		c.Close()
	}
	waitFor(t, "the relay closes", 20*time.Second, func() bool {
		return a.metric(t, "chalk_sfu_relay_connections_out") == 0 && b.metric(t, "chalk_sfu_relay_tracks_in") == 0
	})
}

// TestCascadeQuestionFromEdge: three nodes, the room hosted on A, edges B and C. A student on B
// unmutes to ask a question: the instructor on A and a student on C hear it (B → A → C, each hop
// once), while both edges keep receiving the instructor.
func TestCascadeQuestionFromEdge(t *testing.T) {
	redisURL := redistest.Start(t)
	a := newCascadeNode(t, redisURL, "node-a", nil)
	edgeOfA := func(_ *sfu.Config, hc *Config) {
		hc.Edge = func(_ context.Context, room string) (string, bool, error) { return a.base, true, nil }
	}
	b := newCascadeNode(t, redisURL, "node-b", edgeOfA)
	c := newCascadeNode(t, redisURL, "node-c", edgeOfA)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	stop := make(chan struct{})
	defer close(stop)

	dial := func(n *cascadeNode, name string, audio, video bool, r *received) *client.Client {
		cl, err := client.Dial(ctx, client.Options{URL: n.ws, Room: "lecture", Name: name, Audio: audio, Video: video, OnTrack: r.onTrack})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	var atProf, atAsker, atListener received
	prof := dial(a, "prof", true, true, &atProf)
	dial(c, "listener", false, false, &atListener)
	asker := dial(b, "asker", true, false, &atAsker)
	var profSent, askerSent atomic.Uint32
	go sendSynthetic(prof, &profSent, stop)
	go sendSynthetic(asker, &askerSent, stop)

	audio, video := webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo
	recent := func(r *received, from string, kind webrtc.RTPCodecType, sent *atomic.Uint32) bool {
		n := sent.Load()
		return n > 25 && r.count(from, kind, n-25, n) > 0
	}
	defer func() { // on failure: who received what, and each node's relays
		if t.Failed() {
			t.Logf("prof<-asker %v listener<-asker %v listener<-prof a %v v %v asker<-prof a %v v %v",
				recent(&atProf, asker.ID, audio, &askerSent), recent(&atListener, asker.ID, audio, &askerSent),
				recent(&atListener, prof.ID, audio, &profSent), recent(&atListener, prof.ID, video, &profSent),
				recent(&atAsker, prof.ID, audio, &profSent), recent(&atAsker, prof.ID, video, &profSent))
			for _, n := range []*cascadeNode{a, b, c} {
				t.Logf("node: in %v out %v conns %v down %v up %v", n.metric(t, "chalk_sfu_relay_tracks_in"), n.metric(t, "chalk_sfu_relay_tracks_out"),
					n.metric(t, "chalk_sfu_relay_connections_out"), n.metric(t, "chalk_sfu_down_tracks"), n.metric(t, "chalk_sfu_up_tracks"))
			}
		}
	}()
	waitFor(t, "everyone hears and sees what they should", 30*time.Second, func() bool {
		return recent(&atProf, asker.ID, audio, &askerSent) &&
			recent(&atListener, asker.ID, audio, &askerSent) &&
			recent(&atListener, prof.ID, audio, &profSent) && recent(&atListener, prof.ID, video, &profSent) &&
			recent(&atAsker, prof.ID, audio, &profSent) && recent(&atAsker, prof.ID, video, &profSent)
	})
	pFrom, aFrom := profSent.Load(), askerSent.Load()
	time.Sleep(5 * time.Second)
	pTo, aTo := profSent.Load(), askerSent.Load()
	time.Sleep(time.Second)
	for _, c := range []struct {
		what   string
		r      *received
		from   string
		kind   webrtc.RTPCodecType
		lo, hi uint32
	}{
		{"the instructor hears the question (B → A)", &atProf, asker.ID, audio, aFrom, aTo},
		{"C hears the question (B → A → C)", &atListener, asker.ID, audio, aFrom, aTo},
		{"C hears the instructor", &atListener, prof.ID, audio, pFrom, pTo},
		{"C sees the instructor", &atListener, prof.ID, video, pFrom, pTo},
		{"B hears the instructor", &atAsker, prof.ID, audio, pFrom, pTo},
		{"B sees the instructor", &atAsker, prof.ID, video, pFrom, pTo},
	} {
		got, want := c.r.count(c.from, c.kind, c.lo, c.hi), int(c.hi-c.lo)
		t.Logf("%s: %d of %d packets", c.what, got, want)
		if got*100 < want*99 {
			t.Errorf("%s: %d of %d packets (< 99%%)", c.what, got, want)
		}
	}
	// Each hop carries each track once: B sends its one track up; A receives it once and sends the
	// instructor's two tracks to B and C, plus the question to C but not back to B.
	for _, m := range []struct {
		n    *cascadeNode
		name string
		want float64
	}{
		{b, "chalk_sfu_relay_tracks_out", 1},
		{a, "chalk_sfu_relay_tracks_in", 1},
		{a, "chalk_sfu_relay_tracks_out", 5},
		{a, "chalk_sfu_relay_connections_out", 2},
		{b, "chalk_sfu_relay_tracks_in", 2},
		{c, "chalk_sfu_relay_tracks_in", 3},
		{c, "chalk_sfu_relay_tracks_out", 0},
	} {
		if v := m.n.metric(t, m.name); v != m.want {
			t.Errorf("%s on %s = %v, want %v", m.name, map[*cascadeNode]string{a: "A", b: "B", c: "C"}[m.n], v, m.want)
		}
	}
}

// TestCascadeRelayReconnects: the relay's connection to the home drops; the edge reconnects on its
// own and its subscribers receive the lecture again, over one relay.
func TestCascadeRelayReconnects(t *testing.T) {
	redisURL := redistest.Start(t)
	a := newCascadeNode(t, redisURL, "node-a", nil)
	proxy := newTCPProxy(t, strings.TrimPrefix(a.base, "http://"))
	b := newCascadeNode(t, redisURL, "node-b", func(_ *sfu.Config, hc *Config) {
		hc.Edge = func(context.Context, string) (string, bool, error) {
			return "http://" + proxy.ln.Addr().String(), true, nil
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	stop := make(chan struct{})
	defer close(stop)
	prof, err := client.Dial(ctx, client.Options{URL: a.ws, Room: "lecture", Name: "prof", Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	defer prof.Close()
	var sent atomic.Uint32
	go sendSynthetic(prof, &sent, stop)
	subs := make([]*received, 2)
	for i := range subs {
		subs[i] = &received{}
		c, err := client.Dial(ctx, client.Options{URL: b.ws, Room: "lecture", Name: "student", OnTrack: subs[i].onTrack})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	flowing := func() bool {
		n := sent.Load()
		for _, s := range subs {
			for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
				if n < 25 || s.count(prof.ID, kind, n-25, n) == 0 {
					return false
				}
			}
		}
		return true
	}
	waitFor(t, "the lecture reaches the edge", 30*time.Second, flowing)

	proxy.cut()
	cutAt := sent.Load()
	waitFor(t, "the old relay closes on the home", 20*time.Second, func() bool { return a.metric(t, "chalk_sfu_relay_connections_out") == 0 })
	waitFor(t, "the lecture reaches the edge again", 30*time.Second, func() bool { return sent.Load() > cutAt+50 && flowing() })
	if v := a.metric(t, "chalk_sfu_relay_connections_out"); v != 1 {
		t.Errorf("relay connections from A after reconnecting = %v, want 1", v)
	}
	if v := b.metric(t, "chalk_sfu_down_tracks"); v != 4 {
		t.Errorf("down-tracks on B after reconnecting = %v, want 4 (2 subscribers × 2 tracks)", v)
	}
}

// TestRelayEndpointRefuses: /relay takes only relay tokens for the room it names, and /ws refuses
// a relay token.
func TestRelayEndpointRefuses(t *testing.T) {
	redisURL := redistest.Start(t)
	a := newCascadeNode(t, redisURL, "node-a", nil)
	tokens, _ := auth.NewIssuer(secret)
	relay, _ := tokens.MintRelay("node-b", "lecture", time.Minute)
	self, _ := tokens.MintRelay("node-a", "lecture", time.Minute)
	join, _ := tokens.Mint(auth.Grant{Room: "lecture", Identity: "u1", Name: "Ann", Role: rooms.RoleInstructor}, time.Minute)
	relayURL := strings.Replace(a.ws, "/ws", "/relay", 1)
	for _, tc := range []struct {
		name, url, frame, code string
	}{
		{"join token on /relay", relayURL, `{"v":1,"type":"relay_join","data":{"room":"lecture","token":"` + join + `"}}`, CodeUnauthorized},
		{"relay token for another room", relayURL, `{"v":1,"type":"relay_join","data":{"room":"art","token":"` + relay + `"}}`, CodeUnauthorized},
		{"relay from itself", relayURL, `{"v":1,"type":"relay_join","data":{"room":"lecture","token":"` + self + `"}}`, CodeBadMessage},
		{"no relay_join first", relayURL, `{"v":1,"type":"answer","data":{"pc":"down","sdp":"x"}}`, CodeOutOfOrder},
		{"not JSON", relayURL, `relay please`, CodeBadMessage},
		{"relay token on /ws", a.ws, `{"v":1,"type":"join","data":{"room":"lecture","token":"` + relay + `"}}`, CodeUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			if err := c.Write(ctx, websocket.MessageText, []byte(tc.frame)); err != nil {
				t.Fatal(err)
			}
			_, b, err := c.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var env struct {
				Type string
				Data errorMsg
			}
			if err := json.Unmarshal(b, &env); err != nil || env.Type != "error" || env.Data.Code != tc.code {
				t.Fatalf("got %s, want error %s", b, tc.code)
			}
			if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
				t.Fatalf("after the error: %v, want close %d", err, websocket.StatusPolicyViolation)
			}
		})
	}
}

// TestCascadeRecordsEdgeQuestion: the home records the lecture; a question asked on an edge is
// relayed to the home after its track_published, and is recorded all the same.
func TestCascadeRecordsEdgeQuestion(t *testing.T) {
	redisURL := redistest.Start(t)
	dir := t.TempDir()
	a := newCascadeNode(t, redisURL, "node-a", func(_ *sfu.Config, hc *Config) {
		objects, err := storage.NewLocal(filepath.Join(dir, "objects"))
		if err != nil {
			t.Fatal(err)
		}
		svc, err := recorder.New(recorder.Config{Dir: filepath.Join(dir, "recordings"), Store: objects, Logger: hc.Logger})
		if err != nil {
			t.Fatal(err)
		}
		hc.Recorder, hc.AutoRecord = svc, true
	})
	b := newCascadeNode(t, redisURL, "node-b", func(_ *sfu.Config, hc *Config) {
		hc.Edge = func(context.Context, string) (string, bool, error) { return a.base, true, nil }
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stop := make(chan struct{})
	defer close(stop)
	tokens, _ := auth.NewIssuer(secret)
	token, _ := tokens.Mint(auth.Grant{Room: "lecture", Identity: "prof", Name: "Prof", Role: rooms.RoleInstructor}, time.Hour)
	recording := make(chan struct{}, 1)
	prof, err := client.Dial(ctx, client.Options{URL: a.ws, Room: "lecture", Token: token, OnMessage: func(typ string, _ json.RawMessage) {
		if typ == "recording_started" {
			recording <- struct{}{}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer prof.Close()
	select {
	case <-recording:
	case <-ctx.Done():
		t.Fatal("the instructor's arrival did not start a recording")
	}
	asker, err := client.Dial(ctx, client.Options{URL: b.ws, Room: "lecture", Name: "asker", Audio: true})
	if err != nil {
		t.Fatal(err)
	}
	defer asker.Close()
	var sent atomic.Uint32
	go sendSynthetic(asker, &sent, stop)

	// The track's file exists at once (its header reserves room for the index): wait for it to grow
	// by some seconds of the question's packets.
	pattern := filepath.Join(dir, "recordings", "*", "tracks", asker.ID+"-microphone-*.webm")
	first := int64(-1)
	waitFor(t, "the question is recorded on the home", 30*time.Second, func() bool {
		files, _ := filepath.Glob(pattern)
		if len(files) != 1 {
			return false
		}
		st, err := os.Stat(files[0])
		if err != nil {
			return false
		}
		if first < 0 {
			first = st.Size()
		}
		return st.Size() > first+5000
	})
}

// TestCascadeBreakoutHostedElsewhere: the main room is hosted on B, its breakout room on A. A
// student on each node publishes; moving into the breakout and back switches each node's relays
// (Config.Edge is asked again on every move) and the students keep hearing and seeing each other.
func TestCascadeBreakoutHostedElsewhere(t *testing.T) {
	redisURL := redistest.Start(t)
	var a, b *cascadeNode
	a = newCascadeNode(t, redisURL, "node-a", func(_ *sfu.Config, hc *Config) {
		hc.Edge = func(_ context.Context, room string) (string, bool, error) { return b.base, room == "class", nil }
	})
	b = newCascadeNode(t, redisURL, "node-b", func(_ *sfu.Config, hc *Config) {
		hc.Edge = func(_ context.Context, room string) (string, bool, error) { return a.base, room == "class.b1", nil }
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	stop := make(chan struct{})
	defer close(stop)

	type member struct {
		c    *client.Client
		recv received
		sent atomic.Uint32
	}
	dial := func(n *cascadeNode, o client.Options) *member {
		m := &member{}
		o.URL, o.Room, o.Audio, o.Video, o.OnTrack = n.ws, "class", true, true, m.recv.onTrack
		c, err := client.Dial(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		m.c = c
		go sendSynthetic(c, &m.sent, stop)
		return m
	}
	tokens, _ := auth.NewIssuer(secret)
	token, _ := tokens.Mint(auth.Grant{Room: "class", Identity: "prof", Name: "Prof", Role: rooms.RoleInstructor}, time.Hour)
	prof := dial(b, client.Options{Token: token})
	s1 := dial(a, client.Options{Name: "S1", Identity: "s1"})
	s2 := dial(b, client.Options{Name: "S2", Identity: "s2"})

	// hears waits until each listener receives each speaker's media sent a second or more after
	// the call (packets in flight before a move do not count).
	hears := func(stage string, pairs [][2]*member) {
		t.Helper()
		since := map[*member]uint32{}
		for _, p := range pairs {
			since[p[1]] = p[1].sent.Load() + 50
		}
		waitFor(t, stage, 30*time.Second, func() bool {
			for _, p := range pairs {
				l, s := p[0], p[1]
				n := s.sent.Load()
				for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
					if n <= since[s] || l.recv.count(s.c.ID, kind, since[s], n) == 0 {
						return false
					}
				}
			}
			return true
		})
	}
	all := [][2]*member{{prof, s1}, {prof, s2}, {s1, prof}, {s1, s2}, {s2, prof}, {s2, s1}}
	hears("the main room (hosted on B) hears and sees everyone", all)

	if err := prof.c.OpenBreakouts(ctx, client.BreakoutOptions{Count: 1, Assignments: map[string]int{"guest-s1": 1, "guest-s2": 1}}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*member{s1, s2} {
		if err := m.c.WaitRoom(ctx, "class.b1"); err != nil {
			t.Fatal(err)
		}
	}
	hears("the breakout (hosted on A) hears and sees both students", [][2]*member{{s1, s2}, {s2, s1}})
	defer func() {
		if t.Failed() {
			for _, n := range []*cascadeNode{a, b} {
				t.Logf("node: in %v out %v conns %v", n.metric(t, "chalk_sfu_relay_tracks_in"), n.metric(t, "chalk_sfu_relay_tracks_out"), n.metric(t, "chalk_sfu_relay_connections_out"))
			}
		}
	}()
	waitFor(t, "one relay for the breakout, none left for the main room", 20*time.Second, func() bool {
		return a.metric(t, "chalk_sfu_relay_tracks_in") == 2 && b.metric(t, "chalk_sfu_relay_tracks_in") == 2 &&
			a.metric(t, "chalk_sfu_relay_connections_out") == 1 && b.metric(t, "chalk_sfu_relay_connections_out") == 1
	})

	if err := prof.c.CloseBreakouts(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*member{s1, s2} {
		if err := m.c.WaitRoom(ctx, "class"); err != nil {
			t.Fatal(err)
		}
	}
	hears("back in the main room, everyone again", all)
}
