package recorder

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/chalk-edu/chalk/recorder/ffmpeg"
)

// Layout is how the lesson video is composed: a main area on the left (the screen share while one
// is on, otherwise the presenter's camera) and a column of small tiles on the right (everyone
// else's camera, and the presenter's while a screen is shared).
type Layout struct {
	Width, Height int    // canvas (default 1280x720)
	FPS           int    // default 15: lectures, not sport; halves the encoding cost of 30
	Preset        string // x264 preset (default "ultrafast": half the CPU of "veryfast", see BenchmarkLessonReady)
	CRF           int    // x264 quality (default 25)
	MaxTiles      int    // cameras shown in the column at most (default 8); the rest are heard only
	Threads       int    // ffmpeg threads (0: one per core)
	// Parts is how many parts the video is composed in at once (0: one per core, none shorter
	// than minPart). See partBounds.
	Parts int
}

func (l Layout) withDefaults() Layout {
	if l.Width == 0 || l.Height == 0 {
		l.Width, l.Height = 1280, 720
	}
	if l.FPS == 0 {
		l.FPS = 15
	}
	if l.Preset == "" {
		l.Preset = "ultrafast"
	}
	if l.CRF == 0 {
		l.CRF = 25
	}
	if l.MaxTiles == 0 {
		l.MaxTiles = 8
	}
	return l
}

// mainWidth is the width of the main area: the canvas less a column of 16:9 tiles a quarter of the
// height tall.
func (l Layout) mainWidth() int { return even(l.Width - l.Height*16/9/4) }

func even(n int) int { return n &^ 1 }

// media is a recorded track with its file's path on disk.
type media struct {
	TrackResult
	path string
}

func (m media) isScreen() bool { return m.Source == "screen" }

// box scales a picture into w×h, keeping its aspect ratio, and pads it with black to exactly w×h.
// Bilinear: a third cheaper than the default bicubic, and no visible difference at these sizes.
func box(w, h int) string {
	return fmt.Sprintf("scale=%d:%d:force_original_aspect_ratio=decrease:flags=bilinear,pad=%d:%d:(ow-iw)/2:(oh-ih)/2,setsar=1", w, h, w, h)
}

// spansExpr is an ffmpeg expression that is non-zero during the spans, for a part of the lesson
// whose time 0 is from.
func spansExpr(spans []Span, from time.Duration) string {
	if len(spans) == 0 {
		return "0"
	}
	parts := make([]string, len(spans))
	for i, s := range spans {
		parts[i] = fmt.Sprintf("between(t,%s,%s)", ffmpeg.Seconds(s.Start.D()-from), ffmpeg.Seconds(s.End.D()-from))
	}
	return strings.Join(parts, "+")
}

// castOf splits the video tracks into screens, the presenter's camera and the other cameras. The
// presenter is the first instructor with a camera (by when the camera started), else the first
// camera.
func castOf(videos []media) (screens []media, presenter *media, others []media) {
	var cams []media
	for _, v := range videos {
		if v.isScreen() {
			screens = append(screens, v)
		} else {
			cams = append(cams, v)
		}
	}
	sort.SliceStable(cams, func(i, j int) bool { return cams[i].Offset < cams[j].Offset })
	sort.SliceStable(screens, func(i, j int) bool { return screens[i].Offset < screens[j].Offset })
	pick := -1
	for i, c := range cams {
		if c.Role == "instructor" {
			pick = i
			break
		}
	}
	if pick < 0 && len(cams) > 0 {
		pick = 0
	}
	if pick >= 0 {
		p := cams[pick]
		presenter = &p
		// The presenter's other camera files (published again) are part of the presenter too.
		for i, c := range cams {
			if i != pick && c.Participant == p.Participant {
				p.Spans = append(p.Spans, c.Spans...)
				continue
			}
			if i != pick {
				others = append(others, c)
			}
		}
	}
	return screens, presenter, others
}

// The lesson video is made in parts: the video of each stretch of the class is composed by its own
// ffmpeg, all at once (one per core), the audio mix by another, and a last run joins them without
// re-encoding. One ffmpeg decodes its inputs on one thread, so a single run leaves cores idle while
// the class's cameras are decoded; parts put them to work. A part seeks into each track (the
// recorder asks for a keyframe every seekPointEvery, so a seek decodes little), and parts cut at
// whole seconds, which are whole frames at any integer frame rate, so the joined video has exactly
// the frames of one run.

// minPart is the shortest part worth its own ffmpeg (start-up and seeking cost about a second).
const minPart = 10 * time.Second

// key names what makes parts composed with this layout joinable (the same canvas, rate and
// encoder settings): a part made under another layout is not reused.
func (l Layout) key() string {
	return fmt.Sprintf("%dx%d@%d/%s/%d/%d", l.Width, l.Height, l.FPS, l.Preset, l.CRF, l.MaxTiles)
}

// partBounds splits [0, duration) into parts: n of them if n > 0, else one per core but none
// shorter than minPart. Inner bounds are whole seconds.
func partBounds(duration time.Duration, n, cores int) []time.Duration {
	if n <= 0 {
		n = max(1, min(cores, int(duration/minPart)))
	}
	n = max(1, min(n, int(duration/time.Second)))
	bounds := []time.Duration{0}
	for i := 1; i < n; i++ {
		bounds = append(bounds, (duration * time.Duration(i) / time.Duration(n)).Truncate(time.Second))
	}
	return append(bounds, duration)
}

// composeVideoCommand builds the ffmpeg run that makes the video of [from, to) of the lesson, as
// H.264 without audio: the layout over time, each input placed at its offset (late joiners), video
// gaps hiding their tile (spans).
//
// A part's layout depends only on the tracks that started before its end (to): who presents, and
// whether a screen has been shared, is decided from them. So a part composed during the class,
// once its tracks are written past to, is the part a later composition would make: what happens
// afterwards cannot change it.
func composeVideoCommand(l Layout, videos []media, from, to time.Duration, out string) ffmpeg.Command {
	var started []media
	for _, v := range videos {
		if v.Offset.D() < to {
			started = append(started, v)
		}
	}
	screens, presenter, others := castOf(started)
	length := to - from
	cmd := ffmpeg.Command{Duration: length}
	dur := ffmpeg.Seconds(length)
	mainW, colW := l.mainWidth(), l.Width-l.mainWidth()
	var fc []string
	input := func(m media) int {
		// -reinit_filter 0: a publisher changing resolution mid-class must not rebuild the graph
		// (the scale filter adapts to each frame's size).
		in := ffmpeg.Input{Path: m.path, Args: []string{"-reinit_filter", "0"}}
		if at := m.Offset.D() - from; at >= 0 {
			in.Offset = at // starts within the part (or later: its tile stays hidden)
		} else {
			in.Args = append(in.Args, "-ss", ffmpeg.Seconds(-at)) // started before: seek to the part
		}
		cmd.Inputs = append(cmd.Inputs, in)
		return len(cmd.Inputs) - 1
	}
	shown := func(spans []Span) string { return spansExpr(spans, from) }
	// fit brings an input to the output rate from time 0 and scales it into a w×h box. fps with
	// start_time=0 repeats frames through gaps and before a late start, so every overlay always has
	// a frame to take (whether it is shown is up to its enable expression) and nothing buffers; it
	// comes first so that frames it drops are never scaled.
	fit := func(in int, label string, w, h int) {
		fc = append(fc, fmt.Sprintf("[%d:v]fps=%d:start_time=0,%s[%s]", in, l.FPS, box(w, h), label))
	}
	fc = append(fc, fmt.Sprintf("color=c=black:s=%dx%d:r=%d:d=%s[bg0]", l.Width, l.Height, l.FPS, dur))
	layer := 0
	overlay := func(label string, x, y int, enable string) {
		fc = append(fc, fmt.Sprintf("[bg%d][%s]overlay=x=%d:y=%d:eof_action=pass:enable='%s'[bg%d]", layer, label, x, y, enable, layer+1))
		layer++
	}

	screenOn := make([]Span, 0)
	for _, s := range screens {
		screenOn = append(screenOn, s.Spans...)
	}
	tiles := others
	if presenter != nil {
		in := input(*presenter)
		if len(screens) > 0 {
			// The presenter is both the main picture (no screen shared) and a tile (screen shared).
			fc = append(fc, fmt.Sprintf("[%d:v]fps=%d:start_time=0,split=2[pm][pt]", in, l.FPS))
			fc = append(fc, fmt.Sprintf("[pm]%s[pmain]", box(mainW, l.Height)))
			overlay("pmain", 0, 0, fmt.Sprintf("(%s)*not(%s)", shown(presenter.Spans), shown(screenOn)))
			tiles = append([]media{{TrackResult: presenter.TrackResult, path: "[pt]"}}, tiles...)
			tiles[0].Spans = intersect(presenter.Spans, screenOn)
		} else {
			fit(in, "pmain", mainW, l.Height)
			overlay("pmain", 0, 0, shown(presenter.Spans))
		}
	}
	for i, s := range screens {
		label := fmt.Sprintf("scr%d", i)
		fit(input(s), label, mainW, l.Height)
		overlay(label, 0, 0, shown(s.Spans))
	}
	if len(tiles) > l.MaxTiles {
		tiles = tiles[:l.MaxTiles]
	}
	if n := len(tiles); n > 0 {
		tileH := even(min(l.Height/4, l.Height/n))
		for i, t := range tiles {
			label := fmt.Sprintf("tile%d", i)
			if t.path == "[pt]" {
				fc = append(fc, fmt.Sprintf("[pt]%s[%s]", box(colW, tileH), label))
			} else {
				fit(input(t), label, colW, tileH)
			}
			overlay(label, mainW, i*tileH, shown(t.Spans))
		}
	}
	fc = append(fc, fmt.Sprintf("[bg%d]format=yuv420p[v]", layer))
	cmd.FilterComplex = strings.Join(fc, ";")
	cmd.Outputs = []ffmpeg.Output{{
		Path: out, Maps: []string{"[v]"},
		Args: []string{
			"-c:v", "libx264", "-preset", l.Preset, "-crf", strconv.Itoa(l.CRF), "-pix_fmt", "yuv420p",
			"-g", strconv.Itoa(4 * l.FPS), // a keyframe every 4 s: seeking in the player
			"-t", dur, "-an", "-f", "mp4",
		},
	}}
	return cmd
}

// composeAudioCommand builds the ffmpeg run that mixes everyone's audio for the whole lesson, as
// AAC: each voice from its offset with silence in its gaps, one mix, padded to the end.
func composeAudioCommand(audios []media, duration time.Duration, out string) ffmpeg.Command {
	cmd := mixAudio(audios, 0, duration)
	cmd.Outputs = []ffmpeg.Output{{
		Path: out, Maps: []string{"[a]"},
		Args: []string{"-c:a", "aac", "-b:a", "96k", "-ar", "48000", "-t", ffmpeg.Seconds(duration), "-vn", "-f", "mp4"},
	}}
	return cmd
}

// Raw audio between the mix of a part and the encoder that runs through the class: 32-bit float
// (what the mix makes; no clipping before the encoder) stereo at 48 kHz, so parts join to the sample.
var rawAudio = []string{"-f", "f32le", "-ar", "48000", "-ac", "2"}

const rawFrameBytes = 2 * 4 // a stereo sample of rawAudio

// mixAudioPartCommand builds the ffmpeg run that mixes [from, to) of everyone's audio, as raw
// samples (rawAudio): exactly (to-from) × 48000 of them for whole seconds.
func mixAudioPartCommand(audios []media, from, to time.Duration, out string) ffmpeg.Command {
	cmd := mixAudio(audios, from, to)
	cmd.Outputs = []ffmpeg.Output{{
		Path: out, Maps: []string{"[a]"},
		Args: append([]string{"-c:a", "pcm_f32le", "-t", ffmpeg.Seconds(to - from), "-vn"}, rawAudio...),
	}}
	return cmd
}

// mixAudio is the inputs and filter of a mix of [from, to) labelled [a]: each voice placed at its
// offset (or seeked into, when it started before from) with silence in its gaps, padded to the end.
func mixAudio(audios []media, from, to time.Duration) ffmpeg.Command {
	cmd := ffmpeg.Command{Duration: to - from}
	dur := ffmpeg.Seconds(to - from)
	var fc, mix []string
	for _, a := range audios {
		if a.Offset.D() >= to {
			continue
		}
		in := ffmpeg.Input{Path: a.path}
		if at := a.Offset.D() - from; at >= 0 {
			in.Offset = at
		} else {
			in.Args = []string{"-ss", ffmpeg.Seconds(-at)}
		}
		cmd.Inputs = append(cmd.Inputs, in)
		i := len(cmd.Inputs) - 1
		label := fmt.Sprintf("a%d", i)
		fc = append(fc, fmt.Sprintf("[%d:a]aresample=48000:async=1000:first_pts=0,aformat=sample_fmts=fltp:channel_layouts=stereo[%s]", i, label))
		mix = append(mix, "["+label+"]")
	}
	switch len(mix) {
	case 0:
		fc = append(fc, fmt.Sprintf("anullsrc=r=48000:cl=stereo,atrim=0:%s[a]", dur))
	case 1:
		fc = append(fc, fmt.Sprintf("%sapad,atrim=0:%s[a]", mix[0], dur))
	default:
		fc = append(fc, fmt.Sprintf("%samix=inputs=%d:duration=longest:dropout_transition=0:normalize=0,apad,atrim=0:%s[a]",
			strings.Join(mix, ""), len(mix), dur))
	}
	cmd.FilterComplex = strings.Join(fc, ";")
	return cmd
}

// encodeAudioCommand builds the ffmpeg run that encodes raw audio (rawAudio) read from stdin as
// AAC, until stdin ends: the mix of the class, part by part.
func encodeAudioCommand(stdin io.Reader, out string) ffmpeg.Command {
	return ffmpeg.Command{
		Inputs: []ffmpeg.Input{{Path: "pipe:0", Args: rawAudio}},
		Stdin:  stdin,
		Outputs: []ffmpeg.Output{{
			Path: out, Maps: []string{"0:a"},
			Args: []string{"-c:a", "aac", "-b:a", "96k", "-ar", "48000", "-f", "mp4"},
		}},
	}
}

// joinCommand builds the ffmpeg run that joins the video parts (listed in the concat file list)
// and the audio into lesson.mp4, copying both: H.264 and AAC, faststart.
func joinCommand(list, audio string, duration time.Duration, out string) ffmpeg.Command {
	return ffmpeg.Command{
		Duration: duration,
		Inputs: []ffmpeg.Input{
			{Path: list, Args: []string{"-f", "concat", "-safe", "0"}},
			{Path: audio},
		},
		Outputs: []ffmpeg.Output{{
			Path: out, Maps: []string{"0:v:0", "1:a:0"},
			Args: []string{"-c", "copy", "-t", ffmpeg.Seconds(duration), "-movflags", "+faststart", "-f", "mp4"},
		}},
	}
}

// concatList is the concat demuxer's list of files, each quoted.
func concatList(paths []string) string {
	var b strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&b, "file '%s'\n", strings.ReplaceAll(p, "'", `'\''`))
	}
	return b.String()
}

// intersect returns the parts of a that overlap b.
func intersect(a, b []Span) []Span {
	var out []Span
	for _, x := range a {
		for _, y := range b {
			s, e := max(x.Start, y.Start), min(x.End, y.End)
			if s < e {
				out = append(out, Span{Start: s, End: e})
			}
		}
	}
	return out
}

// previewCommand remuxes the main video track and the main voice into one WebM without
// re-encoding: a playable lesson seconds after the class, before the composed video exists. It
// returns false when there is nothing to play.
func previewCommand(tracks []media, out string) (ffmpeg.Command, bool) {
	var videos, audios []media
	for _, t := range tracks {
		if t.Video() {
			videos = append(videos, t)
		} else {
			audios = append(audios, t)
		}
	}
	var v, a *media
	_, presenter, _ := castOf(videos)
	if presenter != nil {
		v = presenter
	} else if len(videos) > 0 {
		v = longest(videos)
	}
	if v != nil {
		for i := range audios {
			if audios[i].Participant == v.Participant {
				a = &audios[i]
				break
			}
		}
	}
	if a == nil && len(audios) > 0 {
		a = longest(audios)
	}
	var picked []media
	if v != nil {
		picked = append(picked, *v)
	}
	if a != nil {
		picked = append(picked, *a)
	}
	if len(picked) == 0 {
		return ffmpeg.Command{}, false
	}
	start := picked[0].Offset
	for _, m := range picked {
		start = min(start, m.Offset)
	}
	var cmd ffmpeg.Command
	var args []string
	for i, m := range picked {
		cmd.Inputs = append(cmd.Inputs, ffmpeg.Input{Path: m.path, Offset: (m.Offset - start).D()})
		args = append(args, "-map", strconv.Itoa(i))
	}
	cmd.Outputs = []ffmpeg.Output{{Path: out, Args: append(args, "-c", "copy", "-f", "webm")}}
	return cmd, true
}

func longest(ms []media) *media {
	best := 0
	for i, m := range ms {
		if m.Duration > ms[best].Duration {
			best = i
		}
	}
	return &ms[best]
}

// posterCommand grabs one frame of the lesson video as a JPEG, a few seconds in (not the black
// first frame of a class still setting up).
func posterCommand(video string, duration time.Duration, out string) ffmpeg.Command {
	at := min(duration/3, 10*time.Second)
	return ffmpeg.Command{
		Inputs:  []ffmpeg.Input{{Path: video, Args: []string{"-ss", ffmpeg.Seconds(at)}}},
		Outputs: []ffmpeg.Output{{Path: out, Args: []string{"-frames:v", "1", "-vf", "scale=640:-2", "-q:v", "4", "-f", "image2"}}},
	}
}

// mediaOf lists the tracks of a manifest that have a file, with their paths under dir.
func mediaOf(dir string, tracks []TrackResult) []media {
	var out []media
	for _, t := range tracks {
		if t.File == "" || len(t.Spans) == 0 {
			continue
		}
		out = append(out, media{TrackResult: t, path: filepath.Join(dir, filepath.FromSlash(t.File))})
	}
	return out
}
