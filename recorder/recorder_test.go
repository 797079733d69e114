package recorder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/chalk-edu/chalk/recorder/ffmpeg"
	"github.com/chalk-edu/chalk/recorder/mediatest"
	"github.com/chalk-edu/chalk/recorder/storage"
)

// simClock lets a test record minutes of media in seconds: the recorder reads time from it, and
// feed advances it to each packet's arrival.
type simClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *simClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *simClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// source is one track to feed: its media, when it starts, and stretches of its media to skip.
type source struct {
	info   TrackInfo
	media  *mediatest.Track
	offset time.Duration
	skip   func(at time.Duration) bool // media time → not sent (camera off)
}

// record starts a recording on svc (whose clock must be clk), feeds every source as if it arrived
// in real time, advances to length and returns the recording (not stopped). It feeds as fast as
// the writers keep up: minutes of class in seconds.
func record(t testing.TB, svc *Service, clk *simClock, room string, length time.Duration, srcs []source) *Recording {
	t.Helper()
	return feed(t, svc, clk, room, length, srcs, false)
}

// recordRealTime is record in real time: each packet is sent when it would arrive in a class, so
// the recorder's work during the class (composing live parts) happens as it would.
func recordRealTime(t testing.TB, svc *Service, clk *simClock, room string, length time.Duration, srcs []source) *Recording {
	t.Helper()
	return feed(t, svc, clk, room, length, srcs, true)
}

func feed(t testing.TB, svc *Service, clk *simClock, room string, length time.Duration, srcs []source, realTime bool) *Recording {
	t.Helper()
	rec, err := svc.Start(room)
	if err != nil {
		t.Fatal(err)
	}
	type item struct {
		at  time.Duration
		tr  *Track
		pkt *rtp.Packet
	}
	var items []item
	for _, s := range srcs {
		tr, err := rec.AddTrack(s.info, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range s.media.Packets {
			if s.skip != nil && s.skip(p.At) || s.offset+p.At >= length {
				continue // the class ends at length: a late joiner's media is cut there
			}
			items = append(items, item{s.offset + p.At, tr, p.RTP})
		}
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].at < items[j].at })
	start, realStart := rec.StartedAt(), time.Now()
	deadline := time.Now().Add(2*time.Minute + length)
	var buf rtp.Packet
	for _, it := range items {
		if realTime {
			time.Sleep(time.Until(realStart.Add(it.at)))
		}
		clk.set(start.Add(it.at))
		// Faster than real time the writer could fall behind; wait for room rather than drop.
		for ringLen(it.tr) > len(it.tr.ring.slots)/2 {
			if time.Now().After(deadline) {
				t.Fatal("track writer stuck")
			}
			time.Sleep(time.Millisecond)
		}
		buf.Header = it.pkt.Header
		buf.Payload = append(buf.Payload[:0], it.pkt.Payload...)
		it.tr.WriteRTP(&buf)
	}
	if realTime {
		time.Sleep(time.Until(realStart.Add(length)))
	}
	clk.set(start.Add(length))
	return rec
}

func ringLen(t *Track) int {
	t.ring.mu.Lock()
	defer t.ring.mu.Unlock()
	return t.ring.n
}

type testEnv struct {
	svc     *Service
	clk     *simClock
	store   storage.Store
	dir     string
	mu      sync.Mutex
	updates []Manifest
}

func newEnv(t testing.TB, store storage.Store, mutate func(*Config)) *testEnv {
	t.Helper()
	e := &testEnv{clk: &simClock{t: time.Now()}, store: store, dir: t.TempDir()}
	if e.store == nil {
		s, err := storage.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		e.store = s
	}
	cfg := Config{Dir: e.dir, Store: e.store, Logger: testLog, OnUpdate: func(m Manifest) {
		e.mu.Lock()
		e.updates = append(e.updates, m)
		e.mu.Unlock()
	}}
	if mutate != nil {
		mutate(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	svc.now = e.clk.now
	e.svc = svc
	return e
}

// run processes lessons until the test ends or the returned function is called (a shutdown).
func (e *testEnv) run(t testing.TB) (shutdown func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.svc.Run(ctx)
	}()
	shutdown = func() {
		cancel()
		<-done
	}
	t.Cleanup(shutdown)
	return shutdown
}

// waitFor waits until the lesson's manifest is stored with a final status.
func (e *testEnv) waitFor(t testing.TB, lesson string, within time.Duration) Manifest {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		e.mu.Lock()
		for _, m := range e.updates {
			if m.Lesson == lesson && (m.Status == StatusReady || m.Status == StatusFailed) {
				e.mu.Unlock()
				return m
			}
		}
		e.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("lesson %s not finished within %v", lesson, within)
	return Manifest{}
}

func storedManifest(t testing.TB, s storage.Store, lesson string) Manifest {
	t.Helper()
	r, err := s.Get(context.Background(), Prefix(lesson)+manifestFile)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var m Manifest
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// fetch copies an object to a local file for ffprobe.
func fetch(t testing.TB, s storage.Store, key string) string {
	t.Helper()
	r, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("object %s: %v", key, err)
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

// colorAt is the average RGB of a w×h box at (x, y) of the frame at time at.
func colorAt(t testing.TB, video string, at time.Duration, x, y, w, h int) [3]byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "px.rgb")
	var tool ffmpeg.Tool
	err := tool.Run(context.Background(), ffmpeg.Command{
		Inputs: []ffmpeg.Input{{Path: video, Args: []string{"-ss", ffmpeg.Seconds(at)}}},
		Outputs: []ffmpeg.Output{{Path: out, Args: []string{"-frames:v", "1",
			"-vf", fmt.Sprintf("crop=%d:%d:%d:%d,scale=1:1:flags=area", w, h, x, y), "-pix_fmt", "rgb24", "-f", "rawvideo"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil || len(b) != 3 {
		t.Fatalf("pixel: %v (%d bytes)", err, len(b))
	}
	return [3]byte{b[0], b[1], b[2]}
}

// colorName says which of black, red, green or blue a pixel is (or "mixed").
func colorName(c [3]byte) string {
	hi := func(v byte) bool { return v > 150 }
	lo := func(v byte) bool { return v < 80 }
	switch {
	case lo(c[0]) && lo(c[1]) && lo(c[2]):
		return "black"
	case hi(c[0]) && lo(c[1]) && lo(c[2]):
		return "red"
	case lo(c[0]) && hi(c[1]) && lo(c[2]):
		return "green"
	case lo(c[0]) && lo(c[1]) && hi(c[2]):
		return "blue"
	}
	return fmt.Sprintf("mixed%v", c)
}

func within(d, want, tol time.Duration) bool { return d >= want-tol && d <= want+tol }

// TestLessonLayout records an instructor (red camera), a student who joins 3 s late (green camera)
// and a screen share (blue) from 5 s to 9 s, and checks the composed video frame by frame.
// Layout: the main area on the left; tile 0 is the presenter's while a screen is shared (from the
// first part that knows of a screen share), then the others. The video is made after the stop in
// three parts (0-4 s, 4-8 s, 8-12 s), so a late joiner starts in a part after the first, the screen
// share crosses a cut, and the joined video must still be one run's.
func TestLessonLayout(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.Layout.Parts, c.LivePart = 3, -1 })
	e.run(t)
	rec := record(t, e.svc, e.clk, "physics", 12*time.Second, layoutClass(t))
	rec.Event(e.clk.now().Add(-time.Second), "chat", "p-stud", map[string]string{"text": "hello"})
	if _, err := rec.Stop(); err != nil {
		t.Fatal(err)
	}
	m := checkLayoutLesson(t, e, rec.ID())
	if m.ComposedLive != 0 {
		t.Fatalf("composed during the class: %v, with live composition off", m.ComposedLive.D())
	}
}

// TestLiveComposition is TestLessonLayout with the class in real time and the video composed
// during it in parts of 4 s: [0,4) once the tracks are written past 7.5 s, [4,8) past 11.5 s (if
// the machine keeps up; the stop lets the part under way finish), and the tail after the stop.
// The cuts between live parts and between them and the tail must not show.
func TestLiveComposition(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.LivePart, c.KeepLocal = 4*time.Second, true })
	e.run(t)
	rec := recordRealTime(t, e.svc, e.clk, "physics", 12*time.Second, layoutClass(t))
	rec.Event(e.clk.now().Add(-time.Second), "chat", "p-stud", map[string]string{"text": "hello"})
	if _, err := rec.Stop(); err != nil {
		t.Fatal(err)
	}
	m := checkLayoutLesson(t, e, rec.ID())
	t.Logf("composed during the class: %v; ready %v after the stop", m.ComposedLive.D(), m.ReadyAfterStop.D())
	if d := m.ComposedLive.D(); d != 4*time.Second && d != 8*time.Second {
		t.Fatalf("composed during the class: %v, want 4 s or 8 s", d)
	}
	j, err := readJob(filepath.Join(e.dir, rec.ID()))
	if err != nil || !j.LiveAudio {
		t.Fatalf("the audio was not encoded during the class: %v", err)
	}
}

// layoutClass is the class of TestLessonLayout: 12 s, an instructor's camera (red, changing
// resolution half way) and voice, a student's camera (green) and voice from 3 s, and a screen share
// (blue) from 5 s to 9 s.
func layoutClass(t *testing.T) []source {
	// The instructor's camera changes resolution half way, as browsers do when bandwidth changes.
	red := mediatest.VP8(t, mediatest.Video{Size: "320x240", FPS: 15, Duration: 6 * time.Second, Pattern: "color=c=red"}).
		Then(mediatest.VP8(t, mediatest.Video{Size: "640x480", FPS: 15, Duration: 6 * time.Second, Pattern: "color=c=red"}))
	green := mediatest.VP8(t, mediatest.Video{Size: "320x240", FPS: 15, Duration: 9 * time.Second, Pattern: "color=c=lime"})
	blue := mediatest.VP8(t, mediatest.Video{Size: "640x360", FPS: 15, Duration: 4 * time.Second, Pattern: "color=c=blue"})
	voice := mediatest.Opus(t, mediatest.Audio{Duration: 12 * time.Second})
	voice2 := mediatest.Opus(t, mediatest.Audio{Duration: 9 * time.Second, Freq: 660})

	inst := TrackInfo{Participant: "p-inst", Name: "Ada", Role: "instructor", ClockRate: 90000, MimeType: "video/VP8"}
	stud := TrackInfo{Participant: "p-stud", Name: "Bob", Role: "student", ClockRate: 90000, MimeType: "video/VP8"}
	mic := func(i TrackInfo) TrackInfo {
		i.Source, i.MimeType, i.ClockRate = "microphone", "audio/opus", 48000
		return i
	}
	src := func(i TrackInfo, s string) TrackInfo { i.Source = s; return i }
	return []source{
		// The student goes first in the list, to show the order of adding does not pick the presenter.
		{info: src(stud, "camera"), media: green, offset: 3 * time.Second},
		{info: mic(stud), media: voice2, offset: 3 * time.Second},
		{info: src(inst, "camera"), media: red},
		{info: mic(inst), media: voice},
		{info: src(inst, "screen"), media: blue, offset: 5 * time.Second},
	}
}

// checkLayoutLesson waits for the lesson of layoutClass and checks it: the video frame by frame,
// the preview, poster, timeline and originals.
func checkLayoutLesson(t *testing.T, e *testEnv, lesson string) Manifest {
	t.Helper()
	m := e.waitFor(t, lesson, 2*time.Minute)
	if m.Status != StatusReady || m.Error != "" {
		t.Fatalf("lesson %s: %s", m.Status, m.Error)
	}
	for _, tr := range m.Tracks {
		t.Logf("%s %s offset %v spans %v frames %d", tr.Participant, tr.Source, tr.Offset.D(), tr.Spans, tr.Frames)
	}
	if m.Video != videoFile || m.Preview != previewFile || m.Poster != posterFile || m.Timeline != timelineFile || len(m.Tracks) != 5 {
		t.Fatalf("manifest: %+v", m)
	}
	video := fetch(t, e.store, Prefix(lesson)+m.Video)
	p := probe(t, video)
	if v, a := p.StreamsOf("video"), p.StreamsOf("audio"); len(v) != 1 || v[0].Codec != "h264" || len(a) != 1 || a[0].Codec != "aac" || v[0].Width != 1280 {
		t.Fatalf("lesson video: %+v", p)
	}
	// In real time the recording lasts what the stop makes it (a few milliseconds over 12 s).
	length := m.Duration.D()
	if !within(length, 12*time.Second, 300*time.Millisecond) || !within(p.Duration, length, 300*time.Millisecond) {
		t.Fatalf("lesson video lasts %v, recorded %v, want 12 s", p.Duration, length)
	}
	if v, want := p.StreamsOf("video")[0], int64(math.Ceil(length.Seconds()*15-1e-9)); v.Packets != want { // every frame at 15 fps, once
		t.Fatalf("lesson video has %d frames, want %d", v.Packets, want)
	}
	// The instructor speaks throughout (a tone): no cut between parts may leave a hole.
	if a := p.StreamsOf("audio")[0]; !within(a.Duration, length, 100*time.Millisecond) {
		t.Fatalf("lesson audio lasts %v, recorded %v", a.Duration, length)
	}
	if s := silences(t, video); len(s) > 0 {
		t.Fatalf("the lesson's audio has silences: %v", s)
	}

	l := Layout{}.withDefaults()
	mainW := l.mainWidth()
	tileH := l.Height / 4
	main := func(at time.Duration) string {
		return colorName(colorAt(t, video, at, mainW/2-40, l.Height/2-40, 80, 80))
	}
	tile := func(at time.Duration, i int) string {
		return colorName(colorAt(t, video, at, mainW+(l.Width-mainW)/2-20, i*tileH+tileH/2-20, 40, 40))
	}
	for _, c := range []struct {
		at              time.Duration
		main, tile0, t1 string
	}{
		{2 * time.Second, "red", "black", "black"},         // the student has not joined yet
		{3500 * time.Millisecond, "red", "green", "black"}, // now they have; no screen share is known in this part
		{4 * time.Second, "red", "black", "green"},         // the part after knows one: tile 0 is the presenter's, shown during it
		{7 * time.Second, "blue", "red", "green"},          // screen shared: the presenter moves to a tile
		{8500 * time.Millisecond, "blue", "red", "green"},  // the share goes on in the next part
		{10500 * time.Millisecond, "red", "black", "green"},
	} {
		if got := main(c.at); got != c.main {
			t.Errorf("at %v the main area is %s, want %s", c.at, got, c.main)
		}
		if got := tile(c.at, 0); got != c.tile0 {
			t.Errorf("at %v tile 0 is %s, want %s", c.at, got, c.tile0)
		}
		if got := tile(c.at, 1); got != c.t1 {
			t.Errorf("at %v tile 1 is %s, want %s", c.at, got, c.t1)
		}
	}

	// The preview is the presenter's camera and voice, not re-encoded.
	pv := probe(t, fetch(t, e.store, Prefix(lesson)+m.Preview))
	if v, a := pv.StreamsOf("video"), pv.StreamsOf("audio"); len(v) != 1 || v[0].Codec != "vp8" || len(a) != 1 || a[0].Codec != "opus" {
		t.Fatalf("preview: %+v", pv)
	}
	// Poster, timeline and every original are stored; the working directory is gone.
	if _, err := e.store.Stat(context.Background(), Prefix(lesson)+m.Poster); err != nil {
		t.Fatal(err)
	}
	for _, tr := range m.Tracks {
		if _, err := e.store.Stat(context.Background(), Prefix(lesson)+tr.File); err != nil {
			t.Fatalf("original %s: %v", tr.File, err)
		}
	}
	var doc TimelineDoc
	raw, _ := os.ReadFile(fetch(t, e.store, Prefix(lesson)+m.Timeline))
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var chat, started int
	for _, ev := range doc.Events {
		switch ev.Type {
		case "chat":
			chat++
			if !strings.Contains(string(ev.Data), "hello") || !within(ev.T.D(), 11*time.Second, 10*time.Millisecond) {
				t.Fatalf("chat event %+v", ev)
			}
		case EventTrackStarted:
			started++
		}
	}
	if chat != 1 || started != 5 {
		t.Fatalf("timeline has %d chat and %d track events: %s", chat, started, raw)
	}
	if _, err := os.Stat(filepath.Join(e.dir, lesson)); !errors.Is(err, os.ErrNotExist) && !e.svc.cfg.KeepLocal {
		t.Fatalf("working directory left after the lesson was stored: %v", err)
	}
	return m
}

// silences lists where the audio of a file is silent for 50 ms or more.
func silences(t *testing.T, path string) []string {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-i", path, "-af", "silencedetect=n=-40dB:d=0.05", "-vn", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("silencedetect: %v: %s", err, out)
	}
	var found []string
	for _, line := range strings.Split(string(out), "\n") {
		if i := strings.Index(line, "silence_start"); i >= 0 {
			found = append(found, strings.TrimSpace(line[i:]))
		}
	}
	return found
}

func TestPartBounds(t *testing.T) {
	s := time.Second
	for _, c := range []struct {
		duration    time.Duration
		parts, cpus int
		want        []time.Duration
	}{
		{60 * s, 0, 2, []time.Duration{0, 30 * s, 60 * s}},
		{61500 * time.Millisecond, 0, 4, []time.Duration{0, 15 * s, 30 * s, 46 * s, 61500 * time.Millisecond}}, // cuts at whole seconds
		{25 * s, 0, 8, []time.Duration{0, 12 * s, 25 * s}},                                                     // no part under minPart
		{5 * s, 0, 8, []time.Duration{0, 5 * s}},
		{12 * s, 3, 1, []time.Duration{0, 4 * s, 8 * s, 12 * s}}, // asked for: shorter parts are fine
		{1500 * time.Millisecond, 4, 4, []time.Duration{0, 1500 * time.Millisecond}},
	} {
		if got := partBounds(c.duration, c.parts, c.cpus); !slices.Equal(got, c.want) {
			t.Errorf("partBounds(%v, %d, %d) = %v, want %v", c.duration, c.parts, c.cpus, got, c.want)
		}
	}
}
