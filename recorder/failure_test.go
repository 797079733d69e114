package recorder

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/chalk-edu/chalk/recorder/ffmpeg"
	"github.com/chalk-edu/chalk/recorder/mediatest"
	"github.com/chalk-edu/chalk/recorder/storage"
	"github.com/chalk-edu/chalk/recorder/storage/miniotest"
)

// shortClass is one participant's camera and microphone for length.
func shortClass(t testing.TB, length time.Duration) []source {
	cam := mediatest.VP8(t, mediatest.Video{Size: "320x240", FPS: 15, Duration: length})
	mic := mediatest.Opus(t, mediatest.Audio{Duration: length})
	return []source{
		{info: TrackInfo{Participant: "p1", Role: "instructor", Source: "camera", MimeType: "video/VP8", ClockRate: 90000}, media: cam},
		{info: TrackInfo{Participant: "p1", Role: "instructor", Source: "microphone", MimeType: "audio/opus", ClockRate: 48000}, media: mic},
	}
}

// fakeFFmpeg writes a stand-in ffmpeg that behaves like the real one except when composing the
// lesson video (the only command that uses libx264), where it runs onCompose.
func fakeFFmpeg(t testing.TB, onCompose string) string {
	t.Helper()
	real, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ffmpeg")
	script := "#!/bin/sh\nfor a in \"$@\"; do if [ \"$a\" = libx264 ]; then\n" + onCompose + "\nfi; done\nexec " + real + " \"$@\"\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFFmpegMissingKeepsTracks(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) {
		c.FFmpeg = &ffmpeg.Tool{FFmpeg: "/nonexistent/ffmpeg", FFprobe: "/nonexistent/ffprobe"}
	})
	shutdown := e.run(t)
	rec := record(t, e.svc, e.clk, "r", 3*time.Second, shortClass(t, 3*time.Second))
	if _, err := rec.Stop(); err != nil {
		t.Fatal(err)
	}
	m := e.waitFor(t, rec.ID(), time.Minute)
	if m.Status != StatusFailed || !strings.Contains(m.Error, "install ffmpeg") || m.Video != "" {
		t.Fatalf("status %s, error %q: want failed with a clear error", m.Status, m.Error)
	}
	// The raw tracks and the timeline are stored anyway, and kept locally for a retry.
	stored := storedManifest(t, e.store, rec.ID())
	if stored.Status != StatusFailed || len(stored.Tracks) != 2 {
		t.Fatalf("stored manifest %+v", stored)
	}
	for _, name := range []string{stored.Tracks[0].File, stored.Tracks[1].File, timelineFile} {
		if _, err := e.store.Stat(context.Background(), Prefix(rec.ID())+name); err != nil {
			t.Fatalf("%s not stored: %v", name, err)
		}
		if _, err := os.Stat(filepath.Join(e.dir, rec.ID(), name)); err != nil {
			t.Fatalf("%s not kept locally: %v", name, err)
		}
	}

	// Once ffmpeg is there, the next start makes the video.
	shutdown()
	e2 := newEnv(t, e.store, func(c *Config) { c.Dir = e.dir })
	e2.run(t)
	if m := e2.waitFor(t, rec.ID(), time.Minute); m.Status != StatusReady {
		t.Fatalf("after installing ffmpeg: %s %s", m.Status, m.Error)
	}
}

func TestComposeCrashIsRetriedAtNextStart(t *testing.T) {
	crash := fakeFFmpeg(t, "echo 'x264 went wrong' >&2; kill -SEGV $$")
	e := newEnv(t, nil, func(c *Config) { c.FFmpeg = &ffmpeg.Tool{FFmpeg: crash} })
	shutdown := e.run(t)
	rec := record(t, e.svc, e.clk, "r", 3*time.Second, shortClass(t, 3*time.Second))
	if _, err := rec.Stop(); err != nil {
		t.Fatal(err)
	}
	m := e.waitFor(t, rec.ID(), time.Minute)
	if m.Status != StatusFailed || !strings.Contains(m.Error, "segmentation fault") || !strings.Contains(m.Error, "x264 went wrong") {
		t.Fatalf("status %s, error %q: want failed, saying how ffmpeg died", m.Status, m.Error)
	}
	if m.Preview == "" {
		t.Fatal("the preview (made before the crash) is missing")
	}
	shutdown()
	e2 := newEnv(t, e.store, func(c *Config) { c.Dir = e.dir })
	e2.run(t)
	if m := e2.waitFor(t, rec.ID(), time.Minute); m.Status != StatusReady || m.Error != "" {
		t.Fatalf("retry at next start: %s %q", m.Status, m.Error)
	}
}

func TestRestartDuringCompositionResumes(t *testing.T) {
	slow := fakeFFmpeg(t, "exec sleep 60")
	e := newEnv(t, nil, func(c *Config) { c.FFmpeg = &ffmpeg.Tool{FFmpeg: slow} })
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		e.svc.Run(ctx)
	}()
	rec := record(t, e.svc, e.clk, "r", 3*time.Second, shortClass(t, 3*time.Second))
	if _, err := rec.Stop(); err != nil {
		t.Fatal(err)
	}
	// Wait until the composition runs, then shut the server down under it.
	deadline := time.Now().Add(time.Minute)
	for {
		j, err := readJob(filepath.Join(e.dir, rec.ID()))
		if err == nil && j.ComposeAttempts == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("composition never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case <-stopped:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after shutdown")
	}
	j, err := readJob(filepath.Join(e.dir, rec.ID()))
	if err != nil || j.ComposeDone || j.ComposeAttempts != 0 || j.Done {
		t.Fatalf("after shutdown: %+v %v (a cut-short composition must not count as an attempt)", j, err)
	}
	e2 := newEnv(t, e.store, func(c *Config) { c.Dir = e.dir })
	e2.run(t)
	if m := e2.waitFor(t, rec.ID(), time.Minute); m.Status != StatusReady {
		t.Fatalf("after restart: %s %q", m.Status, m.Error)
	}
}

// A crash during the class: the files on disk lack their index and duration; the next start
// repairs them and makes the lesson from what was written.
func TestInterruptedRecordingIsRecovered(t *testing.T) {
	e := newEnv(t, nil, nil)
	rec := record(t, e.svc, e.clk, "r", 4*time.Second, shortClass(t, 4*time.Second))
	rec.Event(e.clk.now(), "chat", "p1", map[string]string{"text": "before the crash"})
	for _, tr := range rec.tracks { // let the writers catch up, as they would in real time
		for ringLen(tr) > 0 {
			time.Sleep(time.Millisecond)
		}
	}
	time.Sleep(100 * time.Millisecond)
	crashed := t.TempDir()
	if err := exec.Command("cp", "-a", filepath.Join(e.dir, rec.ID()), crashed).Run(); err != nil {
		t.Fatal(err)
	}
	defer rec.Stop()

	e2 := newEnv(t, e.store, func(c *Config) { c.Dir = crashed })
	e2.run(t)
	m := e2.waitFor(t, rec.ID(), time.Minute)
	if m.Status != StatusReady || !m.Interrupted {
		t.Fatalf("recovered lesson: %s interrupted=%v %q", m.Status, m.Interrupted, m.Error)
	}
	if !within(m.Duration.D(), 4*time.Second, 700*time.Millisecond) {
		t.Fatalf("recovered duration %v, want about 4 s", m.Duration.D())
	}
	p := probe(t, fetch(t, e.store, Prefix(rec.ID())+m.Video))
	if len(p.StreamsOf("video")) != 1 || len(p.StreamsOf("audio")) != 1 || !within(p.Duration, m.Duration.D(), 300*time.Millisecond) {
		t.Fatalf("recovered video: %+v", p)
	}
	raw := fetch(t, e.store, Prefix(rec.ID())+timelineFile)
	if b, _ := os.ReadFile(raw); !strings.Contains(string(b), "before the crash") {
		t.Fatal("the timeline lost the chat sent before the crash")
	}
}

func TestMinIODownDuringUpload(t *testing.T) {
	srv := miniotest.Start(t)
	store, err := storage.NewMinIO(storage.MinIOConfig{Endpoint: srv.Endpoint, AccessKey: miniotest.AccessKey, SecretKey: miniotest.SecretKey, Bucket: "lessons"})
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	e := newEnv(t, store, nil)
	e.run(t)
	rec := record(t, e.svc, e.clk, "r", 3*time.Second, shortClass(t, 3*time.Second))
	if _, err := rec.Stop(); err != nil {
		t.Fatal(err)
	}
	// While MinIO is down nothing is lost: the files stay, the journal says nothing is stored.
	time.Sleep(3 * time.Second)
	j, err := readJob(filepath.Join(e.dir, rec.ID()))
	if err != nil || len(j.Uploaded) != 0 || j.Done {
		t.Fatalf("while MinIO is down: %+v %v", j, err)
	}
	for _, tr := range j.Manifest.Tracks {
		if _, err := os.Stat(filepath.Join(e.dir, rec.ID(), tr.File)); err != nil {
			t.Fatalf("local track gone before upload: %v", err)
		}
	}
	srv.Restart()
	m := e.waitFor(t, rec.ID(), 2*time.Minute)
	if m.Status != StatusReady {
		t.Fatalf("after MinIO came back: %s %q", m.Status, m.Error)
	}
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	for { // the originals go up after the video
		if _, err := os.Stat(filepath.Join(e.dir, rec.ID())); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("working directory still there a minute after the lesson was ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, name := range []string{videoFile, posterFile, previewFile, timelineFile, manifestFile, m.Tracks[0].File, m.Tracks[1].File} {
		if _, err := store.Stat(ctx, Prefix(rec.ID())+name); err != nil {
			t.Fatalf("%s not in the bucket: %v", name, err)
		}
	}
}

// WriteRTP never blocks or allocates: with its writer stalled, a full ring drops and counts.
func TestTrackRingDropsWhenFull(t *testing.T) {
	e := newEnv(t, nil, nil)
	rec, err := e.svc.Start("r")
	if err != nil {
		t.Fatal(err)
	}
	w, err := newTrackWriter(filepath.Join(t.TempDir(), "x.webm"), "audio/opus", 48000, nil, testLog)
	if err != nil {
		t.Fatal(err)
	}
	tr := &Track{w: w, rec: rec, ring: ring{slots: make([]slot, 8)}, wake: make(chan struct{}, 1)} // run() not started
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2}, Payload: make([]byte, 100)}
	allocs := testing.AllocsPerRun(100, func() { tr.WriteRTP(pkt) })
	if allocs != 0 {
		t.Fatalf("WriteRTP allocates %.1f times per packet", allocs)
	}
	if rcv, drop := tr.Stats(); rcv != 8 || drop != 93 { // AllocsPerRun makes one extra warm-up call
		t.Fatalf("received %d, dropped %d; want 8 and 93", rcv, drop)
	}
	rec.Stop()
}
