package recorder

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/recorder/ffmpeg"
)

// A crash during the class keeps the parts composed before it: the journal lists them, their
// files were synced before it did, and the tracks' frames and timestamps survive the remux that
// repairs them, so the next start composes only what came after the last part.
func TestLivePartsSurviveCrash(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.LivePart = 3 * time.Second })
	rec := recordRealTime(t, e.svc, e.clk, "r", 9*time.Second, shortClass(t, 9*time.Second))
	dir := filepath.Join(e.dir, rec.ID())
	deadline := time.Now().Add(time.Minute)
	for { // [0,3) is composed once the tracks are written past 6.5 s
		j, err := readJob(dir)
		if err == nil && len(j.LiveParts) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no part composed during the class")
		}
		time.Sleep(50 * time.Millisecond)
	}
	crashed := t.TempDir()
	if err := exec.Command("cp", "-a", dir, crashed).Run(); err != nil {
		t.Fatal(err)
	}
	rec.Stop() // this service does not process it: stop its composer and its audio encoder
	lr, err := e.svc.waitLive(context.Background(), rec.ID())
	if err != nil {
		t.Fatal(err)
	}
	lr.enc.abort()

	e2 := newEnv(t, e.store, func(c *Config) { c.Dir, c.LivePart = crashed, 3*time.Second })
	e2.run(t)
	m := e2.waitFor(t, rec.ID(), time.Minute)
	if m.Status != StatusReady || !m.Interrupted {
		t.Fatalf("recovered lesson: %s interrupted=%v %q", m.Status, m.Interrupted, m.Error)
	}
	if m.ComposedLive.D() < 3*time.Second {
		t.Fatalf("composed during the class: %v; the part made before the crash was not reused", m.ComposedLive.D())
	}
	p := probe(t, fetch(t, e.store, Prefix(rec.ID())+m.Video))
	if len(p.StreamsOf("video")) != 1 || len(p.StreamsOf("audio")) != 1 || !within(p.Duration, m.Duration.D(), 300*time.Millisecond) {
		t.Fatalf("recovered video: %+v (recorded %v)", p, m.Duration.D())
	}
	if v, want := p.StreamsOf("video")[0], int64(math.Ceil(m.Duration.D().Seconds()*15-1e-9)); v.Packets != want {
		t.Fatalf("recovered video has %d frames, want %d", v.Packets, want)
	}
}

func TestUsableLive(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "live"), 0o755)
	for _, f := range []string{"a", "b", "c", "d"} {
		os.WriteFile(filepath.Join(dir, "live", f), nil, 0o644)
	}
	s := func(n int) Seconds { return Seconds(time.Duration(n) * time.Second) }
	part := func(from, to int, file string) livePart {
		return livePart{From: s(from), To: s(to), File: "live/" + file, Layout: "L"}
	}
	for _, c := range []struct {
		name     string
		parts    []livePart
		duration time.Duration
		files    []string
		end      time.Duration
	}{
		{"none", nil, time.Minute, nil, 0},
		{"in order", []livePart{part(0, 10, "a"), part(10, 20, "b")}, time.Minute, []string{"a", "b"}, 20 * time.Second},
		{"journal order does not matter", []livePart{part(10, 30, "b"), part(0, 10, "a")}, time.Minute, []string{"a", "b"}, 30 * time.Second},
		{"a hole ends them", []livePart{part(0, 10, "a"), part(20, 30, "b")}, time.Minute, []string{"a"}, 10 * time.Second},
		{"a missing file ends them", []livePart{part(0, 10, "a"), part(10, 20, "gone"), part(20, 30, "c")}, time.Minute, []string{"a"}, 10 * time.Second},
		{"another layout", []livePart{part(0, 10, "a"), {From: s(10), To: s(20), File: "live/b", Layout: "other"}}, time.Minute, []string{"a"}, 10 * time.Second},
		{"a tail is always left", []livePart{part(0, 10, "a"), part(10, 20, "b")}, 20 * time.Second, []string{"a"}, 10 * time.Second},
		{"not past a shorter recovered recording", []livePart{part(0, 10, "a"), part(10, 20, "b")}, 15 * time.Second, []string{"a"}, 10 * time.Second},
	} {
		files, end := usableLive(dir, c.parts, "L", c.duration)
		var names []string
		for _, f := range files {
			names = append(names, filepath.Base(f))
		}
		if !slices.Equal(names, c.files) || end != c.end {
			t.Errorf("%s: %v up to %v, want %v up to %v", c.name, names, end, c.files, c.end)
		}
	}
}

// If the audio cannot be mixed during the class, the video parts still are, and the whole mix is
// made after the stop: the lesson is complete either way.
func TestLiveAudioFailureFallsBack(t *testing.T) {
	real, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(t.TempDir(), "ffmpeg")
	script := "#!/bin/sh\nfor a in \"$@\"; do if [ \"$a\" = pcm_f32le ]; then echo 'mix went wrong' >&2; exit 1; fi; done\nexec " + real + " \"$@\"\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, nil, func(c *Config) {
		c.FFmpeg = &ffmpeg.Tool{FFmpeg: fake}
		c.LivePart, c.KeepLocal = 3*time.Second, true
	})
	e.run(t)
	rec := recordRealTime(t, e.svc, e.clk, "r", 8*time.Second, shortClass(t, 8*time.Second))
	if _, err := rec.Stop(); err != nil {
		t.Fatal(err)
	}
	m := e.waitFor(t, rec.ID(), time.Minute)
	if m.Status != StatusReady || m.ComposedLive.D() < 3*time.Second {
		t.Fatalf("lesson %s %q, composed during the class %v", m.Status, m.Error, m.ComposedLive.D())
	}
	if j, err := readJob(filepath.Join(e.dir, rec.ID())); err != nil || j.LiveAudio {
		t.Fatalf("journal %+v %v: the audio cannot have been made during the class", j, err)
	}
	p := probe(t, fetch(t, e.store, Prefix(rec.ID())+m.Video))
	if a := p.StreamsOf("audio"); len(a) != 1 || !within(a[0].Duration, m.Duration.D(), 100*time.Millisecond) {
		t.Fatalf("lesson audio: %+v (recorded %v)", p.Streams, m.Duration.D())
	}
	if s := silences(t, fetch(t, e.store, Prefix(rec.ID())+m.Video)); len(s) > 0 {
		t.Fatalf("silences: %v", s)
	}
}

// A part is composed from track files still being written: no Cues, a placeholder Duration, and a
// last block cut anywhere. ffmpeg must read them up to the part, not stop early or at the cut.
func TestPartFromGrowingFile(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.LivePart = -1 })
	rec := record(t, e.svc, e.clk, "r", 20*time.Second, shortClass(t, 20*time.Second))
	defer rec.Stop()
	for _, tr := range rec.tracks {
		for ringLen(tr) > 0 {
			time.Sleep(time.Millisecond)
		}
	}
	tr := rec.tracks[0] // the camera
	offset, spans, started := tr.w.state()
	if !tr.w.video || !started {
		t.Fatal("no camera file")
	}
	b, err := os.ReadFile(filepath.Join(rec.dir, "tracks", tr.file))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.webm")
	if err := os.WriteFile(cut, b[:len(b)-333], 0o644); err != nil { // mid-block, as a reader may see it
		t.Fatal(err)
	}
	if p := probe(t, cut); p.Duration > time.Second {
		t.Fatalf("a file being written says it lasts %v: the composition must not rely on it", p.Duration)
	}
	video := media{TrackResult: TrackResult{TrackInfo: tr.info, Offset: Seconds(offset), Spans: spans}, path: cut}
	out := filepath.Join(t.TempDir(), "part.mp4")
	ff := e.svc.tool()
	if err := ff.Run(context.Background(), composeVideoCommand(e.svc.cfg.Layout, []media{video}, 10*time.Second, 18*time.Second, out)); err != nil {
		t.Fatal(err)
	}
	if v := probe(t, out).StreamsOf("video"); len(v) != 1 || v[0].Packets != 8*15 {
		t.Fatalf("part [10 s, 18 s) from a growing file: %+v, want %d frames", v, 8*15)
	}
	l := e.svc.cfg.Layout
	if c := colorName(colorAt(t, out, 7900*time.Millisecond, l.mainWidth()/2-40, l.Height/2-40, 80, 80)); c == "black" {
		t.Fatal("the camera is missing at the end of the part")
	}
}
