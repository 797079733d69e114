package ffmpeg

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"time"
)

// Probe is what ffprobe says about a media file.
type Probe struct {
	Format   string        // container names, e.g. "matroska,webm" or "mov,mp4,m4a,3gp,3g2,mj2"
	Duration time.Duration // the container's duration; 0 when it does not say
	Streams  []Stream
}

// Stream is one stream of a probed file.
type Stream struct {
	Index     int
	Type      string // "video" or "audio"
	Codec     string // "h264", "aac", "vp8", "opus", …
	Width     int
	Height    int
	Duration  time.Duration // 0 when the stream does not say (WebM streams usually do not)
	Frames    int64         // nb_frames, when the container says
	Packets   int64         // packets read (ffprobe -count_packets)
	SampleHz  int
	StartTime time.Duration
}

// Streams of one type, in file order.
func (p *Probe) StreamsOf(typ string) []Stream {
	var out []Stream
	for _, s := range p.Streams {
		if s.Type == typ {
			out = append(out, s)
		}
	}
	return out
}

// Probe runs ffprobe on path.
func (t *Tool) Probe(ctx context.Context, path string) (*Probe, error) {
	bin, err := t.lookup(t.FFprobe, "ffprobe")
	if err != nil {
		return nil, err
	}
	args := []string{"-v", "error", "-count_packets", "-print_format", "json", "-show_format", "-show_streams", path}
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: stderrTail}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("ffprobe: %w", ctx.Err())
		}
		return nil, exitError("ffprobe", args, err, stderr.String())
	}
	var raw struct {
		Format struct {
			FormatName string `json:"format_name"`
			Duration   string `json:"duration"`
		} `json:"format"`
		Streams []struct {
			Index      int               `json:"index"`
			CodecType  string            `json:"codec_type"`
			CodecName  string            `json:"codec_name"`
			Width      int               `json:"width"`
			Height     int               `json:"height"`
			Duration   string            `json:"duration"`
			NbFrames   string            `json:"nb_frames"`
			NbPackets  string            `json:"nb_read_packets"`
			SampleRate string            `json:"sample_rate"`
			StartTime  string            `json:"start_time"`
			Tags       map[string]string `json:"tags"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &raw); err != nil {
		return nil, fmt.Errorf("ffprobe %s: unreadable output: %w", path, err)
	}
	p := &Probe{Format: raw.Format.FormatName, Duration: parseSeconds(raw.Format.Duration)}
	for _, s := range raw.Streams {
		st := Stream{
			Index: s.Index, Type: s.CodecType, Codec: s.CodecName, Width: s.Width, Height: s.Height,
			Duration: parseSeconds(s.Duration), StartTime: parseSeconds(s.StartTime),
		}
		if st.Duration == 0 && s.Tags["DURATION"] != "" { // Matroska keeps it in a tag: 00:00:10.020000000
			st.Duration = parseClock(s.Tags["DURATION"])
		}
		st.Frames, _ = strconv.ParseInt(s.NbFrames, 10, 64)
		st.Packets, _ = strconv.ParseInt(s.NbPackets, 10, 64)
		st.SampleHz, _ = strconv.Atoi(s.SampleRate)
		p.Streams = append(p.Streams, st)
	}
	return p, nil
}

func parseSeconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// parseClock reads "HH:MM:SS.fraction".
func parseClock(s string) time.Duration {
	var h, m int
	var sec float64
	if _, err := fmt.Sscanf(s, "%d:%d:%f", &h, &m, &sec); err != nil {
		return 0
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec*float64(time.Second))
}
