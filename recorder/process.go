package recorder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/chalk-edu/chalk/recorder/ffmpeg"
)

// Names of a lesson's files, in its working directory and under its prefix in the store.
const (
	videoFile    = "lesson.mp4"
	previewFile  = "preview.webm"
	posterFile   = "poster.jpg"
	manifestFile = "manifest.json"
)

// Prefix is where a lesson's objects are in the store; the manifest's names are relative to it.
func Prefix(lesson string) string { return "lessons/" + lesson + "/" }

// Run processes stopped recordings into lessons until ctx ends. It first resumes what a previous
// run left: lessons not fully stored, compositions cut short, recordings a crash interrupted.
func (s *Service) Run(ctx context.Context) error {
	defer s.liveCancel()
	s.resume()
	for {
		s.mu.Lock()
		var id string
		if len(s.queue) > 0 {
			id, s.queue = s.queue[0], s.queue[1:]
		}
		s.current = id
		s.mu.Unlock()
		if id == "" {
			select {
			case <-ctx.Done():
				return nil
			case <-s.wake:
			}
			continue
		}
		if err := s.process(ctx, id); err != nil {
			if ctx.Err() != nil {
				s.log.Info("lesson processing paused for shutdown; it resumes at the next start", "lesson", id)
				return nil
			}
			s.log.Error("lesson processing stopped; it resumes at the next start", "lesson", id, "err", err)
		}
	}
}

// resume queues every lesson in the working directory that is not finished.
func (s *Service) resume() {
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		s.log.Error("cannot list recordings to resume", "dir", s.cfg.Dir, "err", err)
		return
	}
	var ids []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		j, err := readJob(filepath.Join(s.cfg.Dir, e.Name()))
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				s.log.Error("unreadable lesson journal; left alone", "lesson", e.Name(), "err", err)
			}
			continue
		}
		if s.Active(j.Manifest.Room) != nil && s.Active(j.Manifest.Room).id == e.Name() {
			continue
		}
		if !j.Done || (!j.ComposeDone && j.ComposeAttempts < s.cfg.MaxComposeAttempts) {
			ids = append(ids, e.Name())
		}
	}
	sort.Strings(ids)
	s.mu.Lock()
	s.queue = append(ids, s.queue...)
	s.mu.Unlock()
	if len(ids) > 0 {
		s.log.Info("resuming unfinished lessons", "count", len(ids))
	}
}

// process takes one lesson through every step that is not done yet. Each step's outcome is in the
// journal before the next starts.
func (s *Service) process(ctx context.Context, id string) error {
	dir := filepath.Join(s.cfg.Dir, id)
	j, err := readJob(dir)
	if err != nil {
		return err
	}
	log := s.log.With("lesson", id)
	m := &j.Manifest
	if !j.Recorded {
		s.recoverInterrupted(ctx, dir, j)
		if err := j.save(dir); err != nil {
			return err
		}
	}
	s.mu.Lock()
	stopped, ok := s.stopped[id]
	delete(s.stopped, id)
	s.mu.Unlock()
	if !ok { // stopped before a restart: measure from the recorded stop
		stopped = m.StoppedAt
	}
	tracks := mediaOf(dir, m.Tracks)
	if !j.ComposeDone {
		m.Status = StatusProcessing // again, when a failed composition is retried
	}

	// The timeline, from the journal kept during the class.
	if m.Timeline == "" {
		events, err := readJournal(filepath.Join(dir, timelineJournal))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		doc := TimelineDoc{Lesson: id, Room: m.Room, StartedAt: m.StartedAt, Duration: m.Duration, Events: events}
		if doc.Events == nil {
			doc.Events = []TimelineEvent{}
		}
		if err := writeJSON(filepath.Join(dir, timelineFile), doc); err != nil {
			return fmt.Errorf("recorder: write timeline: %w", err)
		}
		m.Timeline = timelineFile
		if err := j.save(dir); err != nil {
			return err
		}
	}

	// Fast path: a remux of the main camera and voice, playable within seconds.
	if !j.PreviewTried {
		j.PreviewTried = true
		if cmd, ok := previewCommand(tracks, filepath.Join(dir, previewFile+".tmp")); ok {
			if err := s.runFFmpeg(ctx, cmd, filepath.Join(dir, previewFile)); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				log.Warn("preview failed; the composed video will still be made", "err", err)
			} else {
				m.Preview = previewFile
			}
		}
		if err := j.save(dir); err != nil {
			return err
		}
	}
	for _, name := range []string{timelineFile, m.Preview} {
		if err := s.upload(ctx, j, dir, name); err != nil {
			return err
		}
	}
	if m.Preview != "" && m.PreviewAfterStop == 0 {
		m.PreviewAfterStop = Seconds(time.Since(stopped))
	}
	if err := s.putManifest(ctx, dir, j); err != nil {
		return err
	}

	// The originals go up while the video is made: one is disk and network, the other CPU.
	var originals []string
	for _, t := range m.Tracks {
		if t.File != "" && !j.Uploaded[t.File] {
			originals = append(originals, t.File)
		}
	}
	upCtx, cancelUp := context.WithCancel(ctx)
	upDone := make(chan error, 1)
	go func() {
		for _, name := range originals {
			if err := s.put(upCtx, Prefix(id)+name, filepath.Join(dir, filepath.FromSlash(name))); err != nil {
				upDone <- err
				return
			}
		}
		upDone <- nil
	}()
	upWaited := false
	defer func() {
		if !upWaited {
			cancelUp()
			<-upDone
		}
	}()

	// The parts composed during the class: the one under way at the stop is finished first.
	live, err := s.waitLive(ctx, id)
	if err != nil {
		return err
	}
	defer live.enc.abort() // unless compose finished it
	if len(live.parts) > len(j.LiveParts) {
		j.LiveParts = live.parts
		if err := j.save(dir); err != nil {
			return err
		}
	}

	// The lesson video.
	if !j.ComposeDone && j.ComposeAttempts < s.cfg.MaxComposeAttempts {
		j.ComposeAttempts++
		if err := j.save(dir); err != nil {
			return err
		}
		start := time.Now()
		composedLive, liveAudio, err := s.compose(ctx, dir, tracks, m.Duration.D(), j.LiveParts, live.enc, log)
		switch {
		case err == nil:
			j.ComposeDone, m.Video, m.Error, m.ComposedLive, j.LiveAudio = true, videoFile, "", Seconds(composedLive), liveAudio
			log.Info("lesson video composed", "took", time.Since(start).Round(time.Millisecond), "duration", m.Duration.D().Round(time.Millisecond),
				"composedDuringClass", composedLive, "audioDuringClass", liveAudio)
		case ctx.Err() != nil:
			j.ComposeAttempts-- // cut short by shutdown: not the composition's fault
			_ = j.save(dir)
			return ctx.Err()
		case errors.Is(err, ffmpeg.ErrNotFound):
			j.ComposeAttempts-- // installing ffmpeg and restarting retries it
			m.Error = "the lesson video could not be made: " + err.Error() + ". The recorded tracks and the timeline are kept."
			log.Error("lesson video not made: ffmpeg is missing; tracks kept", "err", err)
		default:
			m.Error = fmt.Sprintf("the lesson video could not be made (attempt %d of %d): %v. The recorded tracks and the timeline are kept.",
				j.ComposeAttempts, s.cfg.MaxComposeAttempts, err)
			log.Error("lesson video not made; tracks kept", "attempt", j.ComposeAttempts, "err", err)
		}
		if err := j.save(dir); err != nil {
			return err
		}
	}
	if j.ComposeDone && m.Poster == "" {
		if err := s.runFFmpeg(ctx, posterCommand(filepath.Join(dir, videoFile), m.Duration.D(), filepath.Join(dir, posterFile+".tmp")), filepath.Join(dir, posterFile)); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			log.Warn("no poster image", "err", err)
		} else {
			m.Poster = posterFile
		}
		if err := j.save(dir); err != nil {
			return err
		}
	}
	if err := s.upload(ctx, j, dir, m.Video); err != nil {
		return err
	}
	if err := s.upload(ctx, j, dir, m.Poster); err != nil {
		return err
	}
	upWaited = true
	err = <-upDone
	cancelUp()
	if err != nil {
		return err
	}
	for _, name := range originals {
		j.Uploaded[name] = true
	}
	m.Status = StatusFailed
	if j.ComposeDone {
		m.Status = StatusReady
		if m.ReadyAfterStop == 0 {
			m.ReadyAfterStop = Seconds(time.Since(stopped))
		}
	}
	if err := s.putManifest(ctx, dir, j); err != nil {
		return err
	}
	j.Done = true
	if err := j.save(dir); err != nil {
		return err
	}
	log.Info("lesson stored", "status", m.Status, "readyAfterStop", m.ReadyAfterStop.D().Round(time.Millisecond))
	// Everything is stored. Keep the files only while a retry may still make the video from them.
	if (j.ComposeDone || j.ComposeAttempts >= s.cfg.MaxComposeAttempts) && !s.cfg.KeepLocal {
		if err := os.RemoveAll(dir); err != nil {
			log.Warn("could not remove the lesson's working directory", "err", err)
		}
	}
	return nil
}

// compose makes lesson.mp4 (through a temporary name, so a half-made file is never taken as done):
// the parts composed during the class are reused, the video parts of the rest and the audio mix
// are made at once, then the join (see compose.go). It returns how much of the video came from
// the class's parts, and whether the audio was encoded during the class.
func (s *Service) compose(ctx context.Context, dir string, tracks []media, duration time.Duration, live []livePart, enc *audioEncoder, log interface {
	Info(string, ...any)
}) (time.Duration, bool, error) {
	if duration <= 0 {
		return 0, false, errors.New("recording has no duration")
	}
	work := filepath.Join(dir, "compose")
	if err := os.RemoveAll(work); err != nil { // a run cut short by a restart left its parts
		return 0, false, fmt.Errorf("recorder: %w", err)
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return 0, false, fmt.Errorf("recorder: %w", err)
	}
	defer os.RemoveAll(work)

	var videos, audios []media
	for _, t := range tracks {
		if t.Video() {
			videos = append(videos, t)
		} else {
			audios = append(audios, t)
		}
	}
	parts, from := usableLive(dir, live, s.cfg.Layout.key(), duration)
	tail := duration - from
	bounds := partBounds(tail, s.cfg.Layout.Parts, runtime.NumCPU())
	var cmds []ffmpeg.Command
	done := make([]time.Duration, len(bounds)-1) // media time composed per part, for the log
	var mu sync.Mutex
	next := 0.25
	for i := range len(bounds) - 1 {
		p := filepath.Join(work, fmt.Sprintf("part%03d.mp4", i))
		cmd := composeVideoCommand(s.cfg.Layout, videos, from+bounds[i], from+bounds[i+1], p)
		cmd.OnProgress = func(p ffmpeg.Progress) {
			mu.Lock()
			defer mu.Unlock()
			done[i] = p.OutTime
			var sum time.Duration
			for _, d := range done {
				sum += d
			}
			if f := sum.Seconds() / tail.Seconds(); f >= next && f < 1 {
				log.Info("composing lesson video", "progress", fmt.Sprintf("%.0f%%", 100*f), "parts", len(done), "composedDuringClass", from)
				next += 0.25
			}
		}
		cmds, parts = append(cmds, cmd), append(parts, p)
	}
	// The audio: the encoder that ran through the class gets the tail's mix, if it holds the mix
	// up to where the video's tail starts; otherwise the whole mix is made now.
	audio := filepath.Join(work, "audio.m4a")
	tailMix := filepath.Join(work, "audio-tail.f32")
	liveAudio := enc != nil && from > 0 && enc.upTo == from
	if liveAudio {
		cmds = append(cmds, mixAudioPartCommand(audios, from, duration, tailMix))
	} else {
		enc.abort()
		cmds = append(cmds, composeAudioCommand(audios, duration, audio))
	}
	if err := s.runAll(ctx, cmds); err != nil {
		return 0, false, err
	}
	if liveAudio {
		err := enc.feed(tailMix, duration)
		if err == nil {
			err = enc.finish()
		}
		if err == nil {
			err = os.Rename(enc.out, audio)
		}
		if err != nil {
			if ctx.Err() != nil {
				return 0, false, ctx.Err()
			}
			log.Info("the audio encoded during the class failed; mixing all of it now", "err", err)
			enc.abort()
			liveAudio = false
			ff := s.tool()
			if err := ff.Run(ctx, composeAudioCommand(audios, duration, audio)); err != nil {
				return 0, false, err
			}
		}
	}
	list := filepath.Join(work, "parts.txt")
	if err := os.WriteFile(list, []byte(concatList(parts)), 0o644); err != nil {
		return 0, false, fmt.Errorf("recorder: %w", err)
	}
	return from, liveAudio, s.runFFmpeg(ctx, joinCommand(list, audio, duration, filepath.Join(dir, videoFile+".tmp")), filepath.Join(dir, videoFile))
}

// runAll runs the commands at once and waits for all of them. The first failure stops the others
// and is the error returned.
func (s *Service) runAll(ctx context.Context, cmds []ffmpeg.Command) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ff := s.tool()
	errs := make(chan error, len(cmds))
	for _, c := range cmds {
		go func() {
			err := ff.Run(ctx, c)
			if err != nil {
				cancel()
			}
			errs <- err
		}()
	}
	var first error
	for range cmds {
		if err := <-errs; err != nil && (first == nil || errors.Is(first, context.Canceled)) {
			first = err // a real failure beats the cancellations it caused
		}
	}
	return first
}

// tool is the ffmpeg wrapper with the configured thread cap.
func (s *Service) tool() ffmpeg.Tool {
	ff := *s.ff
	if s.cfg.Layout.Threads > 0 {
		ff.Threads = s.cfg.Layout.Threads
	}
	return ff
}

// runFFmpeg runs a command whose single output is final+".tmp" and renames it to final on success.
func (s *Service) runFFmpeg(ctx context.Context, cmd ffmpeg.Command, final string) error {
	tmp := cmd.Outputs[0].Path
	defer os.Remove(tmp)
	ff := s.tool()
	if err := ff.Run(ctx, cmd); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("recorder: %w", err)
	}
	return nil
}

// upload stores one file of the lesson, retrying with backoff while the store is unreachable. The
// local file stays until the store has confirmed it (the journal records which are).
func (s *Service) upload(ctx context.Context, j *job, dir, name string) error {
	if name == "" || j.Uploaded[name] {
		return nil
	}
	key := Prefix(j.Manifest.Lesson) + name
	if err := s.put(ctx, key, filepath.Join(dir, filepath.FromSlash(name))); err != nil {
		return err
	}
	j.Uploaded[name] = true
	return j.save(dir)
}

func (s *Service) putManifest(ctx context.Context, dir string, j *job) error {
	path := filepath.Join(dir, manifestFile)
	if err := writeJSON(path, j.Manifest); err != nil {
		return fmt.Errorf("recorder: write manifest: %w", err)
	}
	if err := s.put(ctx, Prefix(j.Manifest.Lesson)+manifestFile, path); err != nil {
		return err
	}
	if s.cfg.OnUpdate != nil {
		s.cfg.OnUpdate(j.Manifest)
	}
	return nil
}

// Backoff between upload attempts.
const (
	firstBackoff = 500 * time.Millisecond
	maxBackoff   = 30 * time.Second
)

func (s *Service) put(ctx context.Context, key, path string) error {
	deadline := time.Now().Add(s.cfg.UploadRetryFor)
	wait := firstBackoff
	for attempt := 1; ; attempt++ {
		err := s.cfg.Store.Put(ctx, key, path, contentTypeOf(key))
		if err == nil {
			if attempt > 1 {
				s.log.Info("upload succeeded after retrying", "key", key, "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("recorder: upload %s: gave up after %d attempts: %w", key, attempt, err)
		}
		s.log.Warn("upload failed; retrying", "key", key, "attempt", attempt, "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, maxBackoff)
	}
}

func contentTypeOf(key string) string {
	switch filepath.Ext(key) {
	case ".mp4":
		return "video/mp4"
	case ".webm":
		return "video/webm"
	case ".json":
		return "application/json"
	case ".jpg":
		return "image/jpeg"
	}
	return "application/octet-stream"
}

// recoverInterrupted makes sense of a recording a crash cut short: each track file is remuxed
// (which gives it the index and duration the crash kept it from writing) and its length read back;
// the lesson lasts until its last media or event.
func (s *Service) recoverInterrupted(ctx context.Context, dir string, j *job) {
	m := &j.Manifest
	m.Interrupted, j.Recorded = true, true
	var end time.Duration
	if events, err := readJournal(filepath.Join(dir, timelineJournal)); err == nil && len(events) > 0 {
		end = events[len(events)-1].T.D()
	}
	for i := range m.Tracks {
		t := &m.Tracks[i]
		if t.File == "" {
			continue
		}
		path := filepath.Join(dir, filepath.FromSlash(t.File))
		fixed := path + ".fixed.webm"
		err := s.ff.Run(ctx, ffmpeg.Command{
			Inputs:  []ffmpeg.Input{{Path: path}},
			Outputs: []ffmpeg.Output{{Path: fixed, Args: []string{"-c", "copy", "-f", "webm"}}},
		})
		if err == nil {
			err = os.Rename(fixed, path)
		}
		var p *ffmpeg.Probe
		if err == nil {
			p, err = s.ff.Probe(ctx, path)
		}
		if err != nil {
			os.Remove(fixed)
			t.Error = "interrupted; could not be repaired: " + err.Error()
			s.log.Error("interrupted track not repaired; its file is kept as it is", "file", t.File, "err", err)
			continue
		}
		t.Duration = Seconds(p.Duration)
		t.Spans = []Span{{Start: t.Offset, End: t.Offset + t.Duration}}
		end = max(end, t.Spans[0].End.D())
	}
	m.Duration = Seconds(end)
	m.StoppedAt = m.StartedAt.Add(end)
	m.Status = StatusProcessing
	s.log.Warn("recording was interrupted (server stopped during the class); processing what was written", "lesson", m.Lesson, "duration", end)
}

// Lesson returns a lesson's manifest: from the working directory while it is being processed,
// otherwise from the store.
func (s *Service) Lesson(ctx context.Context, id string) (Manifest, error) {
	if j, err := readJob(filepath.Join(s.cfg.Dir, id)); err == nil {
		return j.Manifest, nil
	}
	r, err := s.cfg.Store.Get(ctx, Prefix(id)+manifestFile)
	if err != nil {
		return Manifest{}, err
	}
	defer r.Close()
	var m Manifest
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("recorder: manifest of %s: %w", id, err)
	}
	return m, nil
}
