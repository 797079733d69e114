package recorder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
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
// in real time, advances to length and returns the recording (not stopped).
func record(t testing.TB, svc *Service, clk *simClock, room string, length time.Duration, srcs []source) *Recording {
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
			if s.skip != nil && s.skip(p.At) {
				continue
			}
			items = append(items, item{s.offset + p.At, tr, p.RTP})
		}
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].at < items[j].at })
	start := rec.StartedAt()
	deadline := time.Now().Add(2 * time.Minute)
	var buf rtp.Packet
	for _, it := range items {
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
// Layout: the main area on the left; tile 0 is the presenter's while a screen is shared, then the
// others. The video is made in three parts (0-4 s, 4-8 s, 8-12 s), so a late joiner starts in a part
// after the first, the screen share crosses a cut, and the joined video must still be one run's.
func TestLessonLayout(t *testing.T) {
	// The instructor's camera changes resolution half way, as browsers do when bandwidth changes.
	red := mediatest.VP8(t, mediatest.Video{Size: "320x240", FPS: 15, Duration: 6 * time.Second, Pattern: "color=c=red"}).
		Then(mediatest.VP8(t, mediatest.Video{Size: "640x480", FPS: 15, Duration: 6 * time.Second, Pattern: "color=c=red"}))
	green := mediatest.VP8(t, mediatest.Video{Size: "320x240", FPS: 15, Duration: 9 * time.Second, Pattern: "color=c=lime"})
	blue := mediatest.VP8(t, mediatest.Video{Size: "640x360", FPS: 15, Duration: 4 * time.Second, Pattern: "color=c=blue"})
	voice := mediatest.Opus(t, mediatest.Audio{Duration: 12 * time.Second})
	voice2 := mediatest.Opus(t, mediatest.Audio{Duration: 9 * time.Second, Freq: 660})

	e := newEnv(t, nil, func(c *Config) { c.Layout.Parts = 3 })
	e.run(t)
	inst := TrackInfo{Participant: "p-inst", Name: "Ada", Role: "instructor", ClockRate: 90000, MimeType: "video/VP8"}
	stud := TrackInfo{Participant: "p-stud", Name: "Bob", Role: "student", ClockRate: 90000, MimeType: "video/VP8"}
	mic := func(i TrackInfo) TrackInfo {
		i.Source, i.MimeType, i.ClockRate = "microphone", "audio/opus", 48000
		return i
	}
	src := func(i TrackInfo, s string) TrackInfo { i.Source = s; return i }
	rec := record(t, e.svc, e.clk, "physics", 12*time.Second, []source{
		// The student goes first in the list, to show the order of adding does not pick the presenter.
		{info: src(stud, "camera"), media: green, offset: 3 * time.Second},
		{info: mic(stud), media: voice2, offset: 3 * time.Second},
		{info: src(inst, "camera"), media: red},
		{info: mic(inst), media: voice},
		{info: src(inst, "screen"), media: blue, offset: 5 * time.Second},
	})
	rec.Event(e.clk.now().Add(-time.Second), "chat", "p-stud", map[string]string{"text": "hello"})
	if _, err := rec.Stop(); err != nil {
		t.Fatal(err)
	}
	m := e.waitFor(t, rec.ID(), 2*time.Minute)
	if m.Status != StatusReady || m.Error != "" {
		t.Fatalf("lesson %s: %s", m.Status, m.Error)
	}
	for _, tr := range m.Tracks {
		t.Logf("%s %s offset %v spans %v frames %d", tr.Participant, tr.Source, tr.Offset.D(), tr.Spans, tr.Frames)
	}
	if m.Video != videoFile || m.Preview != previewFile || m.Poster != posterFile || m.Timeline != timelineFile || len(m.Tracks) != 5 {
		t.Fatalf("manifest: %+v", m)
	}
	video := fetch(t, e.store, Prefix(rec.ID())+m.Video)
	p := probe(t, video)
	if v, a := p.StreamsOf("video"), p.StreamsOf("audio"); len(v) != 1 || v[0].Codec != "h264" || len(a) != 1 || a[0].Codec != "aac" || v[0].Width != 1280 {
		t.Fatalf("lesson video: %+v", p)
	}
	if !within(p.Duration, 12*time.Second, 300*time.Millisecond) {
		t.Fatalf("lesson video lasts %v, want 12 s", p.Duration)
	}
	if v := p.StreamsOf("video")[0]; v.Packets != 12*15 { // every frame of 12 s at 15 fps, once
		t.Fatalf("lesson video has %d frames, want %d", v.Packets, 12*15)
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
		{2 * time.Second, "red", "black", "black"},        // the student has not joined yet
		{4 * time.Second, "red", "black", "green"},        // now they have (tile 0 is the presenter's, during screen shares)
		{7 * time.Second, "blue", "red", "green"},         // screen shared: the presenter moves to a tile
		{8500 * time.Millisecond, "blue", "red", "green"}, // the share goes on in the next part
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
	pv := probe(t, fetch(t, e.store, Prefix(rec.ID())+m.Preview))
	if v, a := pv.StreamsOf("video"), pv.StreamsOf("audio"); len(v) != 1 || v[0].Codec != "vp8" || len(a) != 1 || a[0].Codec != "opus" {
		t.Fatalf("preview: %+v", pv)
	}
	// Poster, timeline and every original are stored; the working directory is gone.
	if _, err := e.store.Stat(context.Background(), Prefix(rec.ID())+m.Poster); err != nil {
		t.Fatal(err)
	}
	for _, tr := range m.Tracks {
		if _, err := e.store.Stat(context.Background(), Prefix(rec.ID())+tr.File); err != nil {
			t.Fatalf("original %s: %v", tr.File, err)
		}
	}
	var doc TimelineDoc
	raw, _ := os.ReadFile(fetch(t, e.store, Prefix(rec.ID())+m.Timeline))
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
	if _, err := os.Stat(filepath.Join(e.dir, rec.ID())); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("working directory left after the lesson was stored: %v", err)
	}
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
