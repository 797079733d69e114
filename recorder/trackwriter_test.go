package recorder

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/at-wat/ebml-go"
	"github.com/at-wat/ebml-go/webm"

	"github.com/chalk-edu/chalk/recorder/ffmpeg"
	"github.com/chalk-edu/chalk/recorder/mediatest"
)

// testLog shows warnings; CHALK_TEST_LOG=debug (or info) shows more.
var testLog = func() *slog.Logger {
	var level slog.Level = slog.LevelWarn
	if v := os.Getenv("CHALK_TEST_LOG"); v != "" {
		_ = level.UnmarshalText([]byte(v))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}()

// writeTrack feeds a whole track to a trackWriter as if it arrived in real time from offset on,
// skipping the packets drop says to lose.
func writeTrack(t *testing.T, path string, tr *mediatest.Track, offset time.Duration, drop func(i int) bool, keyframe func()) *trackWriter {
	t.Helper()
	w, err := newTrackWriter(path, tr.MimeType, tr.ClockRate, keyframe, testLog)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range tr.Packets {
		if drop != nil && drop(i) {
			continue
		}
		w.push(&p.RTP.Header, p.RTP.Payload, offset+p.At)
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	return w
}

func probe(t *testing.T, path string) *ffmpeg.Probe {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var tool ffmpeg.Tool
	p, err := tool.Probe(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkSeekable parses the file's structure: a SeekHead, Cues with seek points, and a Duration.
func checkSeekable(t *testing.T, path string, want time.Duration) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var doc struct {
		Header  webm.EBMLHeader `ebml:"EBML"`
		Segment webm.Segment    `ebml:"Segment"`
	}
	if err := ebml.Unmarshal(f, &doc); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	seg := doc.Segment
	if seg.SeekHead == nil || seg.Cues == nil || len(seg.Cues.CuePoint) < 2 {
		t.Fatalf("%s is not seekable: SeekHead %v, Cues %+v", path, seg.SeekHead != nil, seg.Cues)
	}
	d := time.Duration(seg.Info.Duration * float64(time.Millisecond))
	if diff := d - want; diff < -150*time.Millisecond || diff > 150*time.Millisecond {
		t.Fatalf("%s: Duration element %v, want about %v", path, d, want)
	}
}

func TestTrackWriterVideo(t *testing.T) {
	dir := t.TempDir()
	src := mediatest.VP8(t, mediatest.Video{Size: "320x240", FPS: 15, Duration: 12 * time.Second})
	var asks int
	w := writeTrack(t, filepath.Join(dir, "cam.webm"), src, 2*time.Second, nil, func() { asks++ })
	if w.frames != int64(src.Frames) || w.dropped != 0 || asks != 0 {
		t.Fatalf("wrote %d of %d frames, dropped %d, asked %d keyframes", w.frames, src.Frames, w.dropped, asks)
	}
	if w.offset < 2*time.Second || w.offset > 2*time.Second+time.Millisecond || w.width != 320 || w.height != 240 {
		t.Fatalf("offset %v size %dx%d", w.offset, w.width, w.height)
	}
	p := probe(t, filepath.Join(dir, "cam.webm"))
	v := p.StreamsOf("video")
	if len(v) != 1 || v[0].Codec != "vp8" || v[0].Width != 320 || v[0].Packets != int64(src.Frames) {
		t.Fatalf("probe: %+v", p)
	}
	if d := p.Duration; d < src.Duration-200*time.Millisecond || d > src.Duration+100*time.Millisecond {
		t.Fatalf("duration %v, want %v", d, src.Duration)
	}
	checkSeekable(t, filepath.Join(dir, "cam.webm"), src.Duration-time.Second/15)
	if len(w.spans) != 1 {
		t.Fatalf("spans %+v, want one", w.spans)
	}
}

// A camera that sends keyframes only when asked (as browsers do) is asked for one every
// seekPointEvery, so that a composition part can seek into it without decoding from the start.
func TestTrackWriterAsksForSeekPoints(t *testing.T) {
	src := mediatest.VP8(t, mediatest.Video{Size: "160x120", FPS: 10, Duration: 45 * time.Second, KeyframeEvery: time.Minute})
	var asks int
	w := writeTrack(t, filepath.Join(t.TempDir(), "cam.webm"), src, 0, nil, func() { asks++ })
	if w.frames != int64(src.Frames) || asks != 2 { // at 20 s and at 40 s; the source never obliges
		t.Fatalf("wrote %d of %d frames, asked %d times for a keyframe, want 2", w.frames, src.Frames, asks)
	}
}

// With composition during the class, a camera is asked for a keyframe seekLead before each part
// bound instead, where the next part will seek (the 20 s rule then never fires).
func TestTrackWriterAsksBeforeLiveParts(t *testing.T) {
	src := mediatest.VP8(t, mediatest.Video{Size: "160x120", FPS: 10, Duration: 45 * time.Second, KeyframeEvery: time.Minute})
	var asks []time.Duration
	var w *trackWriter
	w, err := newTrackWriter(filepath.Join(t.TempDir(), "cam.webm"), src.MimeType, src.ClockRate, func() { asks = append(asks, w.lastArriv) }, testLog)
	if err != nil {
		t.Fatal(err)
	}
	w.seekGrid = 10 * time.Second
	for _, p := range src.Packets {
		w.push(&p.RTP.Header, p.RTP.Payload, p.At)
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	var got []time.Duration
	for _, a := range asks {
		got = append(got, a.Round(time.Second))
	}
	if want := []time.Duration{9 * time.Second, 19 * time.Second, 29 * time.Second, 39 * time.Second}; !slices.Equal(got, want) {
		t.Fatalf("asked for keyframes at %v, want %v", got, want)
	}
}

func TestTrackWriterAudio(t *testing.T) {
	dir := t.TempDir()
	src := mediatest.Opus(t, mediatest.Audio{Duration: 12 * time.Second})
	w := writeTrack(t, filepath.Join(dir, "mic.webm"), src, 0, nil, nil)
	p := probe(t, filepath.Join(dir, "mic.webm"))
	a := p.StreamsOf("audio")
	if len(a) != 1 || a[0].Codec != "opus" || a[0].Packets != int64(src.Frames) || w.frames != int64(src.Frames) {
		t.Fatalf("probe: %+v (wrote %d of %d)", p, w.frames, src.Frames)
	}
	if d := p.Duration; d < src.Duration-100*time.Millisecond || d > src.Duration+100*time.Millisecond {
		t.Fatalf("duration %v, want %v", d, src.Duration)
	}
	checkSeekable(t, filepath.Join(dir, "mic.webm"), src.Duration-20*time.Millisecond)
}

// A lost packet breaks the reference chain: frames wait for the next keyframe (and ask for one).
func TestTrackWriterLossWaitsForKeyframe(t *testing.T) {
	dir := t.TempDir()
	src := mediatest.VP8(t, mediatest.Video{Size: "320x240", FPS: 15, Duration: 6 * time.Second})
	lost := len(src.Packets) / 4 // a quarter in: between the keyframes at 0 s and 2 s
	var asks int
	w := writeTrack(t, filepath.Join(dir, "cam.webm"), src, 0, func(i int) bool { return i == lost }, func() { asks++ })
	if w.dropped == 0 || asks == 0 {
		t.Fatalf("after a loss: dropped %d frames, asked %d times for a keyframe", w.dropped, asks)
	}
	if w.frames+w.dropped >= int64(src.Frames) || w.frames < int64(src.Frames)/2 {
		t.Fatalf("wrote %d and dropped %d of %d frames", w.frames, w.dropped, src.Frames)
	}
	if p := probe(t, filepath.Join(dir, "cam.webm")); p.StreamsOf("video")[0].Packets != w.frames {
		t.Fatalf("file has %d frames, writer says %d", p.StreamsOf("video")[0].Packets, w.frames)
	}
}

// A pause longer than videoGap makes two spans; the file keeps the real times on both sides.
func TestTrackWriterGapMakesSpans(t *testing.T) {
	dir := t.TempDir()
	src := mediatest.VP8(t, mediatest.Video{Size: "320x240", FPS: 15, Duration: 6 * time.Second})
	w, err := newTrackWriter(filepath.Join(dir, "cam.webm"), src.MimeType, src.ClockRate, nil, testLog)
	if err != nil {
		t.Fatal(err)
	}
	// The camera is off from 2 s to 4 s of its media (RTP time runs on, as a browser's does).
	for _, p := range src.Packets {
		if p.At >= 2*time.Second && p.At < 4*time.Second {
			continue
		}
		w.push(&p.RTP.Header, p.RTP.Payload, p.At)
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	if len(w.spans) != 2 || w.spans[0].End.D() > 2100*time.Millisecond || w.spans[1].Start.D() < 4*time.Second {
		t.Fatalf("spans %+v, want [0,2) and [4,6)", w.spans)
	}
	if d := probe(t, filepath.Join(dir, "cam.webm")).Duration; d < 5800*time.Millisecond {
		t.Fatalf("duration %v: the gap must stay in the file's time", d)
	}
}

// A publisher changing resolution mid-stream (a new keyframe of another size) is recorded whole.
func TestTrackWriterResolutionChange(t *testing.T) {
	dir := t.TempDir()
	a := mediatest.VP8(t, mediatest.Video{Size: "320x240", FPS: 15, Duration: 2 * time.Second})
	b := mediatest.VP8(t, mediatest.Video{Size: "640x360", FPS: 15, Duration: 2 * time.Second, Pattern: "smptebars"})
	src := a.Then(b)
	w := writeTrack(t, filepath.Join(dir, "cam.webm"), src, 0, nil, nil)
	if w.frames != int64(src.Frames) {
		t.Fatalf("wrote %d of %d frames", w.frames, src.Frames)
	}
}

func TestRTPClock(t *testing.T) {
	c := rtpClock{rate: 90000}
	base := uint32(0xFFFFFF00)
	c.observe(base, time.Second)
	if got := c.time(base + 90000); got != 2*time.Second { // wraps through zero
		t.Fatalf("one second later across the wrap: %v", got)
	}
	c.observe(base+45000, 1500*time.Millisecond)
	if got := c.time(base + 45000 - 9000); got != 1400*time.Millisecond { // a late packet
		t.Fatalf("reordered packet: %v", got)
	}
	// The sender's timestamps jump (an encoder restart): the clock re-anchors at the arrival.
	for _, jump := range []uint32{base + 45000 + 90000*3600, base + 45000 - 90000*60} { // an hour on, a minute back
		arrival := c.at + 100*time.Millisecond
		if !c.observe(jump, arrival) {
			t.Fatalf("a jump to %d was not noticed", jump)
		}
		if got := c.time(jump + 9000); got != arrival+100*time.Millisecond {
			t.Fatalf("after the re-anchor: %v, want %v", got, arrival+100*time.Millisecond)
		}
	}
}

func TestVP8Keyframe(t *testing.T) {
	key := []byte{0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01}
	if k, w, h := vp8Keyframe(key); !k || w != 640 || h != 480 {
		t.Fatalf("keyframe: %v %dx%d", k, w, h)
	}
	if k, _, _ := vp8Keyframe([]byte{0x51, 0, 0, 0x9d, 0x01, 0x2a, 0, 0, 0, 0}); k {
		t.Fatal("a delta frame was taken for a keyframe")
	}
	if k, _, _ := vp8Keyframe([]byte{0x50}); k {
		t.Fatal("a truncated frame was taken for a keyframe")
	}
}
