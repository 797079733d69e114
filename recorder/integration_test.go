package recorder_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/recorder"
	"github.com/chalk-edu/chalk/recorder/ffmpeg"
	"github.com/chalk-edu/chalk/recorder/mediatest"
	"github.com/chalk-edu/chalk/recorder/storage"
	"github.com/chalk-edu/chalk/recorder/storage/miniotest"
)

// TestRecordTwoPublishers is the recorder end to end, in real time, with real ffmpeg and a real
// MinIO: two publishers (camera and microphone each) for 10 s while chat is sent, then stop.
func TestRecordTwoPublishers(t *testing.T) {
	srv := miniotest.Start(t)
	store, err := storage.NewMinIO(storage.MinIOConfig{Endpoint: srv.Endpoint, AccessKey: miniotest.AccessKey, SecretKey: miniotest.SecretKey, Bucket: "chalk-lessons"})
	if err != nil {
		t.Fatal(err)
	}
	const length = 10 * time.Second
	media := map[string]*mediatest.Track{
		"camera1": mediatest.VP8(t, mediatest.Video{Size: "640x480", FPS: 20, Duration: length}),
		"camera2": mediatest.VP8(t, mediatest.Video{Size: "320x240", FPS: 15, Duration: length, Pattern: "smptebars"}),
		"mic1":    mediatest.Opus(t, mediatest.Audio{Duration: length}),
		"mic2":    mediatest.Opus(t, mediatest.Audio{Duration: length, Freq: 660}),
	}

	var mu sync.Mutex
	ready := make(chan recorder.Manifest, 1)
	svc, err := recorder.New(recorder.Config{
		Dir: t.TempDir(), Store: store,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		OnUpdate: func(m recorder.Manifest) {
			mu.Lock()
			defer mu.Unlock()
			if m.Status == recorder.StatusReady || m.Status == recorder.StatusFailed {
				select {
				case ready <- m:
				default:
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go svc.Run(ctx)

	rec, err := svc.Start("physics-101")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Start("physics-101"); err == nil {
		t.Fatal("a room was recorded twice at once")
	}
	var wg sync.WaitGroup
	play := func(info recorder.TrackInfo, m *mediatest.Track) {
		tr, err := rec.AddTrack(info, nil)
		if err != nil {
			t.Error(err)
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.Play(ctx, 1, tr)
		}()
	}
	video := func(p, role string) recorder.TrackInfo {
		return recorder.TrackInfo{Participant: p, Role: role, Source: "camera", MimeType: "video/VP8", ClockRate: 90000}
	}
	audio := func(p, role string) recorder.TrackInfo {
		return recorder.TrackInfo{Participant: p, Role: role, Source: "microphone", MimeType: "audio/opus", ClockRate: 48000}
	}
	play(video("ada", "instructor"), media["camera1"])
	play(audio("ada", "instructor"), media["mic1"])
	play(video("bob", "student"), media["camera2"])
	play(audio("bob", "student"), media["mic2"])
	time.Sleep(3 * time.Second)
	type chat struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	rec.Event(time.Now(), "chat", "bob", chat{"chat", "what is a photon?"})
	time.Sleep(2 * time.Second)
	rec.Event(time.Now(), "chat", "ada", chat{"chat", "a quantum of light"})
	wg.Wait()
	stopped, err := rec.Stop()
	if err != nil {
		t.Fatal(err)
	}
	recorded := stopped.Duration.D()

	var m recorder.Manifest
	select {
	case m = <-ready:
	case <-time.After(3 * time.Minute):
		t.Fatal("lesson not ready 3 minutes after stop")
	}
	if m.Status != recorder.StatusReady {
		t.Fatalf("lesson %s: %s", m.Status, m.Error)
	}
	t.Logf("recorded %v; preview after %v, lesson ready after %v (%.1f%% of the session)",
		recorded, m.PreviewAfterStop.D(), m.ReadyAfterStop.D(), 100*m.ReadyAfterStop.D().Seconds()/recorded.Seconds())

	prefix := recorder.Prefix(rec.ID())
	path := download(t, store, prefix+m.Video)
	var tool ffmpeg.Tool
	p, err := tool.Probe(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	v, a := p.StreamsOf("video"), p.StreamsOf("audio")
	if len(v) != 1 || v[0].Codec != "h264" || len(a) != 1 || a[0].Codec != "aac" {
		t.Fatalf("lesson video streams: %+v", p.Streams)
	}
	if d := p.Duration - recorded; d < -500*time.Millisecond || d > 500*time.Millisecond {
		t.Fatalf("lesson video lasts %v, recorded %v", p.Duration, recorded)
	}
	if !strings.Contains(p.Format, "mp4") {
		t.Fatalf("format %s", p.Format)
	}

	var tl recorder.TimelineDoc
	raw, _ := os.ReadFile(download(t, store, prefix+m.Timeline))
	if err := json.Unmarshal(raw, &tl); err != nil {
		t.Fatal(err)
	}
	var chats []string
	for _, ev := range tl.Events {
		if ev.Type == "chat" {
			var c chat
			json.Unmarshal(ev.Data, &c)
			chats = append(chats, c.Text)
			if ev.T.D() < 2*time.Second || ev.T.D() > 8*time.Second {
				t.Errorf("chat %q at %v, sent between 3 s and 6 s", c.Text, ev.T.D())
			}
		}
	}
	if strings.Join(chats, "|") != "what is a photon?|a quantum of light" {
		t.Fatalf("timeline chat: %q", chats)
	}
	for _, tr := range m.Tracks {
		if tr.Dropped != 0 || tr.Frames == 0 {
			t.Errorf("track %s/%s: %d frames, %d packets dropped", tr.Participant, tr.Source, tr.Frames, tr.Dropped)
		}
	}
	objs, err := store.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 9 { // video, preview, poster, timeline, manifest, 4 tracks
		t.Fatalf("objects: %+v", objs)
	}
}

func download(t *testing.T, s storage.Store, key string) string {
	t.Helper()
	r, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	defer r.Close()
	p := filepath.Join(t.TempDir(), filepath.Base(key))
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, r); err != nil {
		t.Fatal(err)
	}
	return p
}
