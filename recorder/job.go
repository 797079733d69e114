package recorder

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Lesson statuses, as the manifest reports them.
const (
	StatusRecording  = "recording"  // the class is being recorded
	StatusProcessing = "processing" // stopped; the video is being made (the preview may be there)
	StatusReady      = "ready"      // the video is there
	StatusFailed     = "failed"     // the video could not be made (Error says why); tracks and timeline are kept
)

// Manifest is a lesson's manifest.json: what the lesson is made of and where each part is (names
// relative to the lesson's Prefix). It is written last at each stage: while processing, the preview
// and timeline it names are stored; once ready or failed, everything it names is.
type Manifest struct {
	Lesson    string    `json:"lesson"`
	Room      string    `json:"room"`
	StartedAt time.Time `json:"startedAt"`
	StoppedAt time.Time `json:"stoppedAt,omitzero"`
	Duration  Seconds   `json:"duration"`
	Status    string    `json:"status"`
	Error     string    `json:"error,omitempty"`
	// Interrupted: the server stopped during the recording; what was written until then is kept.
	Interrupted bool `json:"interrupted,omitempty"`
	// Object keys (empty while not there).
	Video    string `json:"video,omitempty"`   // lesson.mp4: H.264 + AAC, everyone composed
	Preview  string `json:"preview,omitempty"` // preview.webm: the main camera and voice, remuxed
	Poster   string `json:"poster,omitempty"`
	Timeline string `json:"timeline,omitempty"`
	// Tracks are the per-track originals (File is an object key once uploaded).
	Tracks []TrackResult `json:"tracks"`
	// ComposedLive is how much of the video, from its start, was composed during the class.
	ComposedLive Seconds `json:"composedLive,omitempty"`
	// How long after the stop the preview and the video were stored.
	PreviewAfterStop Seconds   `json:"previewAfterStop,omitempty"`
	ReadyAfterStop   Seconds   `json:"readyAfterStop,omitempty"`
	UpdatedAt        time.Time `json:"updatedAt"`
}

// job is a lesson's processing journal, job.json in its working directory. Every step records its
// outcome here before the next starts, so a restarted server resumes where it stopped.
type job struct {
	Manifest Manifest `json:"manifest"`
	// Recorded: the recording ended normally (false on disk while recording, or after a crash).
	Recorded        bool            `json:"recorded"`
	PreviewTried    bool            `json:"previewTried,omitempty"`
	ComposeAttempts int             `json:"composeAttempts,omitempty"`
	ComposeDone     bool            `json:"composeDone,omitempty"`
	Uploaded        map[string]bool `json:"uploaded,omitempty"` // object keys confirmed stored
	Done            bool            `json:"done,omitempty"`
	// LiveParts are the parts of the video composed during the class (see live.go).
	LiveParts []livePart `json:"liveParts,omitempty"`
	// LiveAudio: the audio mix was encoded during the class (only the tail's mix after the stop).
	LiveAudio bool `json:"liveAudio,omitempty"`
}

const jobFile = "job.json"

func readJob(dir string) (*job, error) {
	b, err := os.ReadFile(filepath.Join(dir, jobFile))
	if err != nil {
		return nil, err
	}
	var j job
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("recorder: %s: %w", filepath.Join(dir, jobFile), err)
	}
	if j.Uploaded == nil {
		j.Uploaded = map[string]bool{}
	}
	return &j, nil
}

// writeJSON replaces path atomically: temporary file, fsync, rename.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (j *job) save(dir string) error {
	j.Manifest.UpdatedAt = time.Now().UTC()
	if err := writeJSON(filepath.Join(dir, jobFile), j); err != nil {
		return fmt.Errorf("recorder: save %s: %w", filepath.Join(dir, jobFile), err)
	}
	return nil
}
