package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/chalk-edu/chalk/signaling/client"
)

// receiver counts the numbered synthetic packets one client receives, per kind.
type receiver struct {
	mu   sync.Mutex
	got  map[webrtc.RTPCodecType]map[uint32]int
	from map[string]bool // participant ids that sent us media
}

func newReceiver() *receiver {
	return &receiver{got: map[webrtc.RTPCodecType]map[uint32]int{
		webrtc.RTPCodecTypeAudio: {}, webrtc.RTPCodecTypeVideo: {},
	}, from: map[string]bool{}}
}

func (r *receiver) onTrack(info client.TrackInfo, t *webrtc.TrackRemote) {
	r.mu.Lock()
	r.from[info.Participant] = true
	r.mu.Unlock()
	go func() {
		for {
			pkt, _, err := t.ReadRTP()
			if err != nil {
				return
			}
			if m, ok := client.ParseMarker(t.Kind(), pkt.Payload); ok {
				r.mu.Lock()
				r.got[t.Kind()][m.N]++
				r.mu.Unlock()
			}
		}
	}()
}

// count returns how many distinct packets numbered [from, to) arrived, and how many duplicates.
func (r *receiver) count(kind webrtc.RTPCodecType, from, to uint32) (distinct, dups int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for n := from; n < to; n++ {
		if c := r.got[kind][n]; c > 0 {
			distinct++
			dups += c - 1
		}
	}
	return
}

func (r *receiver) distinct(kind webrtc.RTPCodecType) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got[kind])
}

func (r *receiver) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got[webrtc.RTPCodecTypeAudio]) + len(r.got[webrtc.RTPCodecTypeVideo])
}

func TestLectureFanOut(t *testing.T) {
	const subscribers = 20
	srv := startTestServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	dial := func(room, name string, publish bool, r *receiver) *client.Client {
		o := client.Options{URL: srv.wsURL(), Room: room, Name: name, Audio: publish, Video: publish}
		if r != nil {
			o.OnTrack = r.onTrack
		}
		c, err := client.Dial(ctx, o)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(c.Close)
		return c
	}

	pubRecv := newReceiver()
	pub := dial("physics", "Teacher", true, pubRecv)
	subs := make([]*receiver, subscribers)
	for i := range subs {
		subs[i] = newReceiver()
		dial("physics", fmt.Sprintf("Student %d", i), false, subs[i])
	}
	outsider := newReceiver()
	dial("history", "Outsider", false, outsider)

	// Send continuously: 50 packets/s of each kind, a keyframe every 25 video packets.
	var next atomic.Uint32
	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			n := next.Add(1) - 1
			client.WriteSynthetic(pub.Audio, webrtc.RTPCodecTypeAudio, n, 0)
			client.WriteSynthetic(pub.Video, webrtc.RTPCodecTypeVideo, n, 25)
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
	}()

	// Warm up: every subscriber receives both kinds (negotiated, ICE up, first keyframe in).
	deadline := time.Now().Add(30 * time.Second)
	for {
		ready := 0
		for _, r := range subs {
			a, _ := r.count(webrtc.RTPCodecTypeAudio, 0, next.Load())
			v, _ := r.count(webrtc.RTPCodecTypeVideo, 0, next.Load())
			if a > 0 && v > 0 {
				ready++
			}
		}
		if ready == subscribers {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d subscribers receive media after 30 s", ready, subscribers)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Measure: 200 numbered packets of each kind (4 s), then let the tail arrive.
	from := next.Load()
	for next.Load() < from+200 {
		time.Sleep(20 * time.Millisecond)
	}
	to := from + 200
	close(stop)
	<-sent
	time.Sleep(500 * time.Millisecond)

	worst := 1.0
	for i, r := range subs {
		for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
			got, dups := r.count(kind, from, to)
			ratio := float64(got) / float64(to-from)
			worst = min(worst, ratio)
			if ratio < 0.99 {
				t.Errorf("subscriber %d received %d of %d %s packets (%.1f%%)", i, got, to-from, kind, 100*ratio)
			}
			if dups > 0 {
				t.Errorf("subscriber %d received %d duplicate %s packets", i, dups, kind)
			}
		}
		if !r.from[pub.ID] || len(r.from) != 1 {
			t.Errorf("subscriber %d got tracks from %v, want only the publisher %s", i, r.from, pub.ID)
		}
	}
	if n := outsider.total(); n != 0 {
		t.Errorf("a participant of another room received %d packets", n)
	}
	if n := pubRecv.total(); n != 0 {
		t.Errorf("the publisher received %d of its own packets", n)
	}
	t.Logf("%d subscribers, worst delivery %.2f%% over packets %d..%d", subscribers, 100*worst, from, to)
}

func TestICERestartKeepsMediaFlowing(t *testing.T) {
	srv := startTestServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pub, err := client.Dial(ctx, client.Options{URL: srv.wsURL(), Room: "r", Name: "Teacher", Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	recv := newReceiver()
	sub, err := client.Dial(ctx, client.Options{URL: srv.wsURL(), Room: "r", Name: "Student", OnTrack: recv.onTrack})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	var n uint32
	// sendUntil writes packets until the receiver has count more video packets than before.
	sendUntil := func(what string, more int) {
		t.Helper()
		start := recv.distinct(webrtc.RTPCodecTypeVideo)
		deadline := time.Now().Add(20 * time.Second)
		for {
			client.WriteSynthetic(pub.Audio, webrtc.RTPCodecTypeAudio, n, 0)
			client.WriteSynthetic(pub.Video, webrtc.RTPCodecTypeVideo, n, 10)
			n++
			if recv.distinct(webrtc.RTPCodecTypeVideo)-start >= more {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no media within 20 s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	sendUntil("before the restart", 10)

	ufrag := func(pc *webrtc.PeerConnection, remote bool) string {
		d := pc.CurrentLocalDescription()
		if remote {
			d = pc.CurrentRemoteDescription()
		}
		for _, line := range strings.Split(d.SDP, "\r\n") {
			if strings.HasPrefix(line, "a=ice-ufrag:") {
				return line
			}
		}
		return ""
	}
	pubBefore, subBefore := ufrag(pub.PublishConnection(), true), ufrag(sub.SubscribeConnection(), true)
	if err := pub.RestartICE(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sub.RestartICE(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for ufrag(pub.PublishConnection(), true) == pubBefore || ufrag(sub.SubscribeConnection(), true) == subBefore {
		if time.Now().After(deadline) {
			t.Fatal("the server's ICE credentials did not change on either connection")
		}
		time.Sleep(20 * time.Millisecond)
	}
	sendUntil("after the restart", 50)
}
