package recorder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/chalk-edu/chalk/recorder/ffmpeg"
)

// Live composition: while the class runs, the lesson video is composed in parts of the past, so
// after the stop only the tail since the last finished part is left to compose and time to lesson
// does not grow with the class.
//
// A part [from, to) is composed once every track is written well past to (liveMargin): the
// sample builder has released its frames up to to, and a pause across to has lasted long enough to
// be a gap (videoGap) or has ended, so the spans before to are final. It reads the track files
// while they grow: they have no Cues and no Duration yet (ebml-go fills both in on close), so
// ffmpeg reads each sequentially from its start to the part and stops at the part's end; the data
// there is on disk (liveMargin). Parts lie on a grid of Config.LivePart, where the recorder asks
// cameras for a keyframe (seekGrid), so a part's seek decodes little. One ffmpeg at a time, niced,
// on one thread: the class keeps its CPU.
//
// The audio goes the same way, without joins: AAC cannot be cut and joined to the sample (each run
// of the encoder starts with its own priming), so one encoder runs through the class, fed on its
// stdin the raw mix of each part as the part is made; after the stop it gets the tail's mix and
// ends. If anything goes wrong with it, the whole mix is made after the stop as before.

// liveMargin is how far every track must be written past a part's end before it is composed:
// the sample builder's reordering delay (a second), the gap that makes a pause a gap (videoGap),
// and half a second for the writers and the disk.
const liveMargin = time.Second + videoGap + 500*time.Millisecond

// Live parts run at the lowest useful priority on one thread, beside the class.
const (
	liveNice    = 10
	liveThreads = 1
	livePoll    = 250 * time.Millisecond
	// maxLiveCells bounds how many grid cells one live part covers when composition fell behind
	// (a busy machine): fewer, longer runs catch up faster, and a part stays short enough to redo.
	maxLiveCells = 6
)

// livePart is a stretch of the lesson video composed during the class, as the journal keeps it.
type livePart struct {
	From   Seconds `json:"from"`
	To     Seconds `json:"to"`
	File   string  `json:"file"`   // relative to the lesson's working directory
	Layout string  `json:"layout"` // Layout.key of the layout it was made with
}

// liveComposer composes one recording's parts while it runs.
type liveComposer struct {
	rec    *Recording
	ctx    context.Context // ends at shutdown: the part under way is dropped
	stop   chan struct{}   // closed by Stop: finish the part under way, start no other
	done   chan struct{}
	closer sync.Once

	mu    sync.Mutex
	parts []livePart

	enc       *audioEncoder // the mix of every part from 0 on; only run touches it until done is closed
	audioGone bool          // the audio failed once: it is mixed after the stop
}

// liveResult is what a live composer hands to the processing after the stop.
type liveResult struct {
	parts []livePart
	enc   *audioEncoder // nil if the audio is to be mixed after the stop; else its end is enc.upTo
}

func (s *Service) startLive(r *Recording) {
	if s.cfg.LivePart <= 0 {
		return
	}
	lc := &liveComposer{rec: r, ctx: s.liveCtx, stop: make(chan struct{}), done: make(chan struct{})}
	r.live = lc
	s.live[r.id] = lc
	go lc.run()
}

// finish tells the composer the recording stopped.
func (lc *liveComposer) finish() { lc.closer.Do(func() { close(lc.stop) }) }

func (lc *liveComposer) stopped() bool {
	select {
	case <-lc.stop:
		return true
	default:
		return false
	}
}

func (lc *liveComposer) run() {
	defer close(lc.done)
	r := lc.rec
	tick := time.NewTicker(livePoll)
	defer tick.Stop()
	var from time.Duration
	for {
		if lc.stopped() {
			return
		}
		select {
		case <-lc.stop:
			return
		case <-lc.ctx.Done():
			return
		case <-tick.C:
		}
		to, videos, audios, ok := lc.next(from)
		if !ok {
			continue
		}
		start := time.Now()
		p, err := lc.compose(from, to, videos)
		if err != nil {
			if lc.ctx.Err() == nil {
				r.log.Warn("composing during the class stopped; the rest is composed after it", "from", from, "to", to, "err", err)
			}
			lc.dropAudio()
			return
		}
		if err := lc.mixAudio(from, to, audios); err != nil {
			if lc.ctx.Err() == nil {
				r.log.Warn("mixing the audio during the class stopped; it is mixed after it", "from", from, "to", to, "err", err)
			}
			lc.dropAudio()
		}
		r.log.Debug("lesson part composed during the class", "from", from, "to", to, "audio", lc.enc != nil, "took", time.Since(start).Round(time.Millisecond))
		lc.add(p)
		from = to
	}
}

// mixAudio mixes [from, to) of the audio and feeds it to the class's encoder (started with the
// first part).
func (lc *liveComposer) mixAudio(from, to time.Duration, audios []media) error {
	if lc.audioGone {
		return nil
	}
	s := lc.rec.svc
	ff := s.tool()
	ff.Threads, ff.Nice = liveThreads, liveNice
	dir := filepath.Join(lc.rec.dir, "live")
	if lc.enc == nil {
		if from != 0 {
			return nil
		}
		lc.enc = startAudioEncoder(lc.ctx, ff, filepath.Join(dir, "audio.m4a.tmp"))
	}
	raw := filepath.Join(dir, fmt.Sprintf("audio-%06d.f32", int(from/time.Second)))
	defer os.Remove(raw)
	if err := ff.Run(lc.ctx, mixAudioPartCommand(audios, from, to, raw)); err != nil {
		return err
	}
	// The parts join to the sample only if each has exactly its share: check rather than drift.
	want := int64((to-from)/time.Second) * 48000 * rawFrameBytes
	if st, err := os.Stat(raw); err != nil || st.Size() != want {
		return fmt.Errorf("recorder: the mix of [%v, %v) is not %d bytes of samples (%v)", from, to, want, err)
	}
	return lc.enc.feed(raw, to)
}

func (lc *liveComposer) dropAudio() {
	lc.audioGone = true
	if lc.enc != nil {
		lc.enc.abort()
		lc.enc = nil
	}
}

// next says whether the part from a grid point is ready, how far it reaches (one or more grid
// cells) and the video and audio tracks as written so far.
func (lc *liveComposer) next(from time.Duration) (time.Duration, []media, []media, bool) {
	r := lc.rec
	grid := r.svc.cfg.LivePart
	now := r.svc.now().Sub(r.started)
	r.mu.Lock()
	tracks := append([]*Track(nil), r.tracks...)
	r.mu.Unlock()
	upTo := now
	var videos, audios []media
	for _, t := range tracks {
		upTo = min(upTo, t.writtenUpTo(now))
		offset, spans, started := t.w.state()
		if !started {
			continue // no frame yet: it starts after the part (liveMargin covers its keyframe)
		}
		res := TrackResult{TrackInfo: t.info, File: "tracks/" + t.file, Offset: Seconds(offset), Spans: spans}
		m := media{TrackResult: res, path: filepath.Join(r.dir, "tracks", t.file)}
		if t.w.video {
			videos = append(videos, m)
		} else {
			audios = append(audios, m)
		}
	}
	cells := (upTo - liveMargin - from) / grid
	if cells < 1 {
		return 0, nil, nil, false
	}
	return from + min(cells, maxLiveCells)*grid, videos, audios, true
}

func (lc *liveComposer) compose(from, to time.Duration, videos []media) (livePart, error) {
	r := lc.rec
	s := r.svc
	dir := filepath.Join(r.dir, "live")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return livePart{}, fmt.Errorf("recorder: %w", err)
	}
	name := fmt.Sprintf("part-%06d.mp4", int(from/time.Second))
	final := filepath.Join(dir, name)
	cmd := composeVideoCommand(s.cfg.Layout, videos, from, to, final+".tmp")
	ff := s.tool()
	ff.Threads, ff.Nice = liveThreads, liveNice
	defer os.Remove(final + ".tmp")
	if err := ff.Run(lc.ctx, cmd); err != nil {
		return livePart{}, err
	}
	// The journal will say the part is done: it must be on disk first, whatever happens next.
	if err := syncFile(final + ".tmp"); err != nil {
		return livePart{}, err
	}
	if err := os.Rename(final+".tmp", final); err != nil {
		return livePart{}, fmt.Errorf("recorder: %w", err)
	}
	return livePart{From: Seconds(from), To: Seconds(to), File: "live/" + name, Layout: s.cfg.Layout.key()}, nil
}

// add keeps a finished part and, while the recording runs, journals it (after the stop the
// recording's journal belongs to the processing, which takes the parts from waitLive).
func (lc *liveComposer) add(p livePart) {
	r := lc.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	lc.mu.Lock()
	lc.parts = append(lc.parts, p)
	parts := append([]livePart(nil), lc.parts...)
	lc.mu.Unlock()
	if r.stopped {
		return
	}
	r.job.LiveParts = parts
	if err := r.job.save(r.dir); err != nil {
		r.log.Error("recorder journal", "err", err)
	}
}

// waitLive waits until the lesson's live composer (if it still runs in this process) has finished
// the part it was making when the recording stopped, and returns every part it made, with the
// audio encoder if it holds the mix of all of them. The caller must finish or abort the encoder.
func (s *Service) waitLive(ctx context.Context, id string) (liveResult, error) {
	s.mu.Lock()
	lc := s.live[id]
	s.mu.Unlock()
	if lc == nil {
		return liveResult{}, nil
	}
	lc.finish()
	select {
	case <-lc.done:
	case <-ctx.Done():
		return liveResult{}, ctx.Err()
	}
	s.mu.Lock()
	delete(s.live, id)
	s.mu.Unlock()
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return liveResult{parts: append([]livePart(nil), lc.parts...), enc: lc.enc}, nil
}

// audioEncoder is the AAC encoder that runs through the class, fed the raw mix part by part.
type audioEncoder struct {
	out    string
	pw     *io.PipeWriter
	cancel context.CancelFunc
	done   chan struct{}
	err    error         // Run's, once done is closed
	upTo   time.Duration // the mix fed so far ends here
}

var errEncoderEnded = errors.New("recorder: the audio encoder ended")

func startAudioEncoder(ctx context.Context, ff ffmpeg.Tool, out string) *audioEncoder {
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	e := &audioEncoder{out: out, pw: pw, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		e.err = ff.Run(ctx, encodeAudioCommand(pr, out))
		pr.CloseWithError(errEncoderEnded) // a feed after the end fails instead of blocking
	}()
	return e
}

// feed gives the encoder the raw mix in path, which ends at upTo.
func (e *audioEncoder) feed(path string, upTo time.Duration) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("recorder: %w", err)
	}
	defer f.Close()
	if _, err := io.Copy(e.pw, f); err != nil {
		return fmt.Errorf("recorder: feed the audio encoder: %w", err)
	}
	e.upTo = upTo
	return nil
}

// finish ends the input and waits for the encoder to write its file.
func (e *audioEncoder) finish() error {
	e.pw.Close()
	<-e.done
	e.cancel()
	return e.err
}

// abort stops the encoder and drops its file. It may be called on nil and after finish.
func (e *audioEncoder) abort() {
	if e == nil {
		return
	}
	e.cancel()
	e.pw.CloseWithError(errEncoderEnded)
	<-e.done
	os.Remove(e.out)
}

// usableLive returns the live parts that start the video without a hole, in order, made with
// layout and within duration, whose files are there: the video from 0 to the returned end.
func usableLive(dir string, parts []livePart, layout string, duration time.Duration) ([]string, time.Duration) {
	byFrom := map[Seconds]livePart{}
	for _, p := range parts {
		byFrom[p.From] = p
	}
	var files []string
	var end time.Duration
	for {
		p, ok := byFrom[Seconds(end)]
		if !ok || p.Layout != layout || p.To.D() >= duration || p.To.D() <= end { // a tail is always left
			return files, end
		}
		path := filepath.Join(dir, filepath.FromSlash(p.File))
		if _, err := os.Stat(path); err != nil {
			return files, end
		}
		files, end = append(files, path), p.To.D()
	}
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("recorder: %w", err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("recorder: sync %s: %w", path, err)
	}
	return nil
}
