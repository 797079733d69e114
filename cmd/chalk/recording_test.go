package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/recorder"
	"github.com/chalk-edu/chalk/recorder/ffmpeg"
	"github.com/chalk-edu/chalk/recorder/mediatest"
	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/signaling/client"
)

// inbox collects one client's server messages for a test to wait on.
type inbox struct {
	mu   sync.Mutex
	msgs []clientMsg
	more chan struct{}
}

type clientMsg struct {
	typ  string
	data json.RawMessage
}

func newInbox() *inbox { return &inbox{more: make(chan struct{}, 1)} }

func (b *inbox) onMessage(typ string, data json.RawMessage) {
	b.mu.Lock()
	b.msgs = append(b.msgs, clientMsg{typ, data})
	b.mu.Unlock()
	select {
	case b.more <- struct{}{}:
	default:
	}
}

// wait returns the first message (from the start) of type typ for which ok holds.
func (b *inbox) wait(t *testing.T, typ string, within time.Duration, ok func(json.RawMessage) bool) json.RawMessage {
	t.Helper()
	deadline := time.After(within)
	for {
		b.mu.Lock()
		for _, m := range b.msgs {
			if m.typ == typ && (ok == nil || ok(m.data)) {
				b.mu.Unlock()
				return m.data
			}
		}
		b.mu.Unlock()
		select {
		case <-b.more:
		case <-deadline:
			t.Fatalf("no matching %s within %v", typ, within)
		}
	}
}

// trackSink writes mediatest packets to a client's local track.
type trackSink struct{ t *webrtc.TrackLocalStaticRTP }

func (s trackSink) WriteRTP(p *rtp.Packet) { _ = s.t.WriteRTP(p) }

// TestRecordingThroughSignaling records a class the way an instructor does: start_recording over the
// WebSocket, two participants publishing real VP8 and Opus through the SFU, a chat message, then
// stop_recording; the lesson video must come out of real ffmpeg with both streams, the right length,
// and the chat in its timeline — and everyone is told about it on the way.
func TestRecordingThroughSignaling(t *testing.T) {
	srv := startTestServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	video := mediatest.VP8(t, mediatest.Video{Size: "320x240", FPS: 15, Duration: 5 * time.Second})
	audio := mediatest.Opus(t, mediatest.Audio{Duration: 5 * time.Second})

	tok, err := srv.tokens.Mint(auth.Grant{Room: "physics", Identity: "prof", Name: "Prof", Role: rooms.RoleInstructor}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dial := func(o client.Options, in *inbox) *client.Client {
		o.URL, o.Room, o.OnMessage = srv.wsURL(), "physics", in.onMessage
		c, err := client.Dial(ctx, o)
		if err != nil {
			t.Fatalf("%s: %v", o.Name, err)
		}
		t.Cleanup(c.Close)
		return c
	}
	profIn, adaIn := newInbox(), newInbox()
	prof := dial(client.Options{Name: "Prof", Token: tok, Audio: true, Video: true}, profIn)
	ada := dial(client.Options{Name: "Ada", Audio: true, Video: true}, adaIn)

	// A student may not record.
	if err := ada.Send(ctx, "start_recording", struct{}{}); err != nil {
		t.Fatal(err)
	}
	adaIn.wait(t, "error", 10*time.Second, func(d json.RawMessage) bool { return strings.Contains(string(d), `"forbidden"`) })

	if err := prof.Send(ctx, "start_recording", struct{}{}); err != nil {
		t.Fatal(err)
	}
	var started struct {
		Recording rooms.Recording `json:"recording"`
	}
	json.Unmarshal(adaIn.wait(t, "recording_started", 10*time.Second, nil), &started)
	startedAt := time.Now()
	if started.Recording.ID == "" || started.Recording.Node != "test" {
		t.Fatalf("recording_started = %+v", started.Recording)
	}
	// Pressing record twice is a conflict, not a second recording.
	if err := prof.Send(ctx, "start_recording", struct{}{}); err != nil {
		t.Fatal(err)
	}
	profIn.wait(t, "error", 10*time.Second, func(d json.RawMessage) bool { return strings.Contains(string(d), `"conflict"`) })

	// Both publish real media for 5 s; Ada asks a question meanwhile.
	var wg sync.WaitGroup
	for _, c := range []*client.Client{prof, ada} {
		for _, play := range []struct {
			tr *mediatest.Track
			to *webrtc.TrackLocalStaticRTP
		}{{video, c.Video}, {audio, c.Audio}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				play.tr.Play(ctx, 1, trackSink{play.to})
			}()
		}
	}
	time.Sleep(time.Second)
	if err := ada.Send(ctx, "chat", map[string]string{"text": "Is this on the exam?"}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	// A participant joining now sees the indicator.
	late := dial(client.Options{Name: "Late"}, newInbox())
	var joined struct {
		Recording *rooms.Recording `json:"recording"`
	}
	json.Unmarshal(late.Joined, &joined)
	if joined.Recording == nil || joined.Recording.ID != started.Recording.ID {
		t.Fatalf("a late joiner's recording = %+v, want %s", joined.Recording, started.Recording.ID)
	}

	if err := prof.Send(ctx, "stop_recording", struct{}{}); err != nil {
		t.Fatal(err)
	}
	recorded := time.Since(startedAt)
	adaIn.wait(t, "recording_stopped", 10*time.Second, nil)

	// The lesson is processed and announced to the room.
	var ready struct {
		Lesson rooms.Lesson `json:"lesson"`
	}
	json.Unmarshal(adaIn.wait(t, "lesson_updated", 2*time.Minute, func(d json.RawMessage) bool {
		return strings.Contains(string(d), `"status":"ready"`) || strings.Contains(string(d), `"status":"failed"`)
	}), &ready)
	if ready.Lesson.Status != "ready" || !ready.Lesson.Video || ready.Lesson.ID != started.Recording.ID {
		t.Fatalf("lesson = %+v", ready.Lesson)
	}

	dir := filepath.Join(srv.cfg.Storage, "lessons", recorder.Prefix(ready.Lesson.ID))
	probe, err := (&ffmpeg.Tool{}).Probe(ctx, filepath.Join(dir, "lesson.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	if v, a := probe.StreamsOf("video"), probe.StreamsOf("audio"); len(v) != 1 || v[0].Codec != "h264" || len(a) != 1 || a[0].Codec != "aac" {
		t.Fatalf("lesson.mp4 streams = %+v", probe.Streams)
	}
	// The video spans the recording: from the start event to the stop, as the server saw them.
	if d := probe.Duration - recorded; d < -time.Second || d > time.Second {
		t.Errorf("lesson.mp4 lasts %v; the recording lasted about %v", probe.Duration, recorded)
	}
	timeline, err := os.ReadFile(filepath.Join(dir, "timeline.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(timeline), "Is this on the exam?") {
		t.Errorf("timeline.json lacks the chat message:\n%.2000s", timeline)
	}
	var manifest recorder.Manifest
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil || json.Unmarshal(raw, &manifest) != nil {
		t.Fatalf("manifest: %v", err)
	}
	if len(manifest.Tracks) != 4 {
		t.Errorf("manifest lists %d tracks, want 4 (two cameras, two microphones): %+v", len(manifest.Tracks), manifest.Tracks)
	}
	if lessons, err := srv.store.Lessons(ctx, "physics"); err != nil || len(lessons) != 1 || lessons[0].Status != "ready" {
		t.Errorf("store lessons = %+v, %v", lessons, err)
	}
	checkLessonAPI(t, srv, "physics", ready.Lesson.ID)
}
