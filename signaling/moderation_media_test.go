package signaling

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/signaling/client"
)

// A moderator's mute is enforced by the SFU, not left to the muted client: this publisher keeps
// sending audio and video throughout, and what it sends stops reaching the room while muted.
func TestModeratorMuteStopsMedia(t *testing.T) {
	env := newTestEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prof, _ := env.joinAs(t, "math", "prof", rooms.RoleInstructor)

	errs := make(chan errorMsg, 16)
	pub, err := client.Dial(ctx, client.Options{URL: env.url, Room: "math", Token: env.token(t, "math", "pub", "Pub", rooms.RoleStudent),
		Audio: true, Video: true, OnMessage: func(typ string, data json.RawMessage) {
			if typ == "error" {
				var e errorMsg
				json.Unmarshal(data, &e)
				errs <- e
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	var audio, video atomic.Int64
	sub, err := client.Dial(ctx, client.Options{URL: env.url, Room: "math", Name: "Sub", OnTrack: func(_ client.TrackInfo, tr *webrtc.TrackRemote) {
		go func() {
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
				if tr.Kind() == webrtc.RTPCodecTypeAudio {
					audio.Add(1)
				} else {
					video.Add(1)
				}
			}
		}()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	stop := make(chan struct{})
	defer close(stop)
	var sent atomic.Uint32
	go sendSynthetic(pub, &sent, stop) // 50 packets/s of each kind, a keyframe every 10 video packets
	flowing := func(what string, c *atomic.Int64) {
		t.Helper()
		from, deadline := c.Load(), time.Now().Add(20*time.Second)
		for c.Load() < from+5 {
			if time.Now().After(deadline) {
				t.Fatalf("%s does not flow: %d packets in 20 s", what, c.Load()-from)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	stopped := func(what string, c *atomic.Int64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for { // packets already on their way may still arrive
			n := c.Load()
			time.Sleep(300 * time.Millisecond)
			if c.Load() == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still flows 10 s after the mute", what)
			}
		}
		n := c.Load()
		time.Sleep(time.Second) // 50 packets would arrive in this time if it flowed
		if got := c.Load() - n; got != 0 {
			t.Fatalf("%s: %d packets arrived while muted by a moderator", what, got)
		}
	}
	flowing("audio", &audio)
	flowing("video", &video)

	prof.send("mute_participant", map[string]string{"participantId": pub.ID, "source": "microphone"})
	stopped("audio", &audio)
	flowing("video", &video) // only the microphone was muted
	if p := env.participant(t, "math", pub.ID); len(p.ModeratorMuted) != 1 || !trackOf(p, rooms.SourceMicrophone).Muted {
		t.Fatalf("store after the mute: %+v", p)
	}
	// Students may unmute themselves by default: the media flows again.
	pub.Send(ctx, "mute", map[string]any{"source": "microphone", "muted": false})
	flowing("audio after unmuting", &audio)
	if p := env.participant(t, "math", pub.ID); len(p.ModeratorMuted) != 0 || trackOf(p, rooms.SourceMicrophone).Muted {
		t.Fatalf("store after unmuting: %+v", p)
	}

	// Camera off, with students not allowed to undo it.
	prof.send("update_settings", map[string]any{"studentsMayUnmute": false})
	prof.send("mute_participant", map[string]string{"participantId": pub.ID, "source": "camera"})
	stopped("video", &video)
	pub.Send(ctx, "mute", map[string]any{"source": "camera", "muted": false})
	if e := errorFor(t, errs, "mute"); e.Code != CodeForbidden {
		t.Fatalf("unmuting a held camera: %+v", e)
	}
	stopped("video after a refused unmute", &video)
	prof.send("allow_unmute", map[string]string{"participantId": pub.ID, "source": "camera"})
	flowing("video after allow_unmute", &video)
}

// Forbidding student screen sharing stops a share in progress and refuses a new one.
func TestStudentScreenShareStops(t *testing.T) {
	env := newTestEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prof, _ := env.joinAs(t, "math", "prof", rooms.RoleInstructor)
	errs := make(chan errorMsg, 16)
	ada, err := client.Dial(ctx, client.Options{URL: env.url, Room: "math", Token: env.token(t, "math", "ada", "Ada", rooms.RoleStudent),
		Screen: true, OnMessage: func(typ string, data json.RawMessage) {
			if typ == "error" {
				var e errorMsg
				json.Unmarshal(data, &e)
				errs <- e
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer ada.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for n := uint32(0); ; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			client.WriteSynthetic(ada.Screen, webrtc.RTPCodecTypeVideo, n, 10)
		}
	}()
	ada.Send(ctx, "publish", map[string]string{"source": "screen"})
	for {
		if p := decode[trackEventMsg](prof, "track_published"); p.ParticipantID == ada.ID && p.Track.Source == rooms.SourceScreen {
			break
		}
	}
	prof.send("update_settings", map[string]any{"studentScreenShare": false})
	if u := decode[trackEventMsg](prof, "track_unpublished"); u.ParticipantID != ada.ID || u.Track.Source != rooms.SourceScreen {
		t.Fatalf("track_unpublished = %+v", u)
	}
	ada.Send(ctx, "publish", map[string]string{"source": "screen"})
	if e := errorFor(t, errs, "publish"); e.Code != CodeForbidden {
		t.Fatalf("sharing again: %+v", e)
	}
	if p := env.participant(t, "math", ada.ID); len(p.Tracks) != 0 {
		t.Fatalf("ada still publishes %+v", p.Tracks)
	}
}

func trackOf(p rooms.Participant, src rooms.Source) rooms.Track {
	for _, t := range p.Tracks {
		if t.Source == src {
			return t
		}
	}
	return rooms.Track{}
}

// errorFor waits for an error about a message of type ref; others (e.g. about an early candidate,
// which the Go client may send) are skipped.
func errorFor(t *testing.T, errs <-chan errorMsg, ref string) errorMsg {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-errs:
			if e.Ref == ref {
				return e
			}
		case <-timeout:
			t.Fatalf("no error about %s within 10 s", ref)
		}
	}
}
