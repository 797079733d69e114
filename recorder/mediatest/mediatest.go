// Package mediatest makes real media for tests: VP8 video and Opus audio encoded by ffmpeg, cut into
// RTP packets the way a browser sends them, and played to a packet sink in real time or faster.
package mediatest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/chalk-edu/chalk/recorder/ffmpeg"
)

// mtu is the RTP payload size browsers stay under.
const mtu = 1200

// Packet is one RTP packet and when it is sent, as media time from the track's start.
type Packet struct {
	At  time.Duration
	RTP *rtp.Packet
}

// Track is a packetized stream.
type Track struct {
	MimeType  string // "video/VP8" or "audio/opus"
	ClockRate uint32
	Packets   []Packet
	Duration  time.Duration // media time of the last packet plus one frame
	Frames    int           // video frames (or audio packets) encoded
}

// Video says what VP8 to make.
type Video struct {
	Size     string        // "320x240"
	FPS      int           // frames per second
	Duration time.Duration // length
	// Pattern is an ffmpeg lavfi source, e.g. "testsrc2" (default), "smptebars" or "color=c=red".
	Pattern string
	Bitrate string // e.g. "300k" (default)
	// KeyframeEvery is the keyframe interval (default 2 s). A browser sends keyframes only when
	// asked: a long interval stands for that.
	KeyframeEvery time.Duration
}

// Audio says what Opus to make.
type Audio struct {
	Duration time.Duration
	Freq     int // sine frequency in Hz (default 440)
}

// cache keeps made files for the life of the process and across runs: encoding takes a second.
var cacheMu sync.Mutex

// VP8 encodes v with ffmpeg (libvpx, realtime, a keyframe every 2 s by default) and packetizes it.
func VP8(tb testing.TB, v Video) *Track {
	tb.Helper()
	if v.Pattern == "" {
		v.Pattern = "testsrc2"
	}
	if v.Bitrate == "" {
		v.Bitrate = "300k"
	}
	gop := 2 * v.FPS
	if v.KeyframeEvery > 0 {
		gop = int(v.KeyframeEvery.Seconds() * float64(v.FPS))
	}
	sep := "="
	if strings.Contains(v.Pattern, "=") {
		sep = ":"
	}
	src := fmt.Sprintf("%s%ss=%s:r=%d:d=%s", v.Pattern, sep, v.Size, v.FPS, ffmpeg.Seconds(v.Duration))
	path := made(tb, "ivf", ffmpeg.Command{
		Inputs: []ffmpeg.Input{{Path: src, Args: []string{"-f", "lavfi"}}},
		Outputs: []ffmpeg.Output{{Args: []string{"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8",
			"-b:v", v.Bitrate, "-g", fmt.Sprint(gop), "-keyint_min", fmt.Sprint(gop), "-auto-alt-ref", "0", "-f", "ivf"}}},
	})
	tr, err := packetizeIVF(path)
	if err != nil {
		tb.Fatalf("mediatest: %v", err)
	}
	return tr
}

// Opus encodes a sine tone with ffmpeg (libopus, 20 ms frames) and packetizes it.
func Opus(tb testing.TB, a Audio) *Track {
	tb.Helper()
	if a.Freq == 0 {
		a.Freq = 440
	}
	src := fmt.Sprintf("sine=f=%d:r=48000:d=%s", a.Freq, ffmpeg.Seconds(a.Duration))
	path := made(tb, "ogg", ffmpeg.Command{
		Inputs: []ffmpeg.Input{{Path: src, Args: []string{"-f", "lavfi"}}},
		// One 20 ms packet per Ogg page, so each page is one RTP payload.
		Outputs: []ffmpeg.Output{{Args: []string{"-c:a", "libopus", "-b:a", "48k", "-ac", "2", "-frame_duration", "20",
			"-page_duration", "20000", "-f", "ogg"}}},
	})
	tr, err := packetizeOgg(path)
	if err != nil {
		tb.Fatalf("mediatest: %v", err)
	}
	return tr
}

// made runs cmd (its single output path left empty) unless the same command already made its file.
func made(tb testing.TB, ext string, cmd ffmpeg.Command) string {
	tb.Helper()
	sum := sha256.Sum256(fmt.Append(nil, cmd.Args(0)))
	dir := filepath.Join(os.TempDir(), "chalk-mediatest")
	path := filepath.Join(dir, hex.EncodeToString(sum[:8])+"."+ext)
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatalf("mediatest: %v", err)
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	cmd.Outputs[0].Path = tmp
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var tool ffmpeg.Tool
	if err := tool.Run(ctx, cmd); err != nil {
		os.Remove(tmp)
		tb.Fatalf("mediatest: make test media: %v", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatalf("mediatest: %v", err)
	}
	return path
}

func packetizeIVF(path string) (*Track, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r, hdr, err := ivfreader.NewWith(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	tr := &Track{MimeType: "video/VP8", ClockRate: 90000}
	pay := &codecs.VP8Payloader{EnablePictureID: true}
	seq, base := uint16(65500), uint32(0xFFFF0000) // both wrap early: the reader must cope
	frameDur := time.Duration(float64(time.Second) * float64(hdr.TimebaseNumerator) / float64(hdr.TimebaseDenominator))
	for {
		frame, fh, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		// ivfreader scales the frame's pts by rate/scale; undo that to get the pts back, then
		// the pts is in units of scale/rate seconds (IVF: bytes 16-19 rate, 20-23 scale).
		pts := fh.Timestamp * uint64(hdr.TimebaseNumerator) / uint64(hdr.TimebaseDenominator)
		at := time.Duration(float64(pts) * float64(time.Second) * float64(hdr.TimebaseNumerator) / float64(hdr.TimebaseDenominator))
		ts := base + uint32(at.Seconds()*90000)
		payloads := pay.Payload(mtu, frame)
		for i, p := range payloads {
			tr.Packets = append(tr.Packets, Packet{At: at, RTP: &rtp.Packet{
				Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, SSRC: 0x5eed0001, Marker: i == len(payloads)-1},
				Payload: p,
			}})
			seq++
		}
		tr.Frames++
		tr.Duration = at + frameDur
	}
	return tr, nil
}

func packetizeOgg(path string) (*Track, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r, _, err := oggreader.NewWith(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	tr := &Track{MimeType: "audio/opus", ClockRate: 48000}
	seq, base := uint16(65530), uint32(0xFFFFF000)
	var at time.Duration
	for {
		page, ph, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if _, ok := ph.HeaderType(page); ok || len(page) == 0 { // OpusHead / OpusTags
			continue
		}
		tr.Packets = append(tr.Packets, Packet{At: at, RTP: &rtp.Packet{
			Header:  rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, Timestamp: base + uint32(at.Seconds()*48000), SSRC: 0x5eed0002, Marker: tr.Frames == 0},
			Payload: page,
		}})
		seq++
		tr.Frames++
		at += 20 * time.Millisecond
	}
	tr.Duration = at
	return tr, nil
}

// Then returns a track that plays t and then next, as one stream: sequence numbers and
// timestamps continue (a browser changing resolution mid-call sends exactly that).
func (t *Track) Then(next *Track) *Track {
	out := &Track{MimeType: t.MimeType, ClockRate: t.ClockRate, Frames: t.Frames + next.Frames, Duration: t.Duration + next.Duration}
	out.Packets = append(out.Packets, t.Packets...)
	if len(t.Packets) == 0 {
		out.Packets = append(out.Packets, next.Packets...)
		return out
	}
	last := t.Packets[len(t.Packets)-1].RTP
	seq := last.SequenceNumber + 1
	tsStep := uint32(t.Duration.Seconds() * float64(t.ClockRate))
	first := next.Packets[0].RTP.Timestamp
	for _, p := range next.Packets {
		c := p.RTP.Clone()
		c.SequenceNumber = seq
		c.Timestamp = t.Packets[0].RTP.Timestamp + tsStep + (p.RTP.Timestamp - first)
		c.SSRC = last.SSRC
		seq++
		out.Packets = append(out.Packets, Packet{At: t.Duration + p.At, RTP: c})
	}
	return out
}

// Sink is what Play writes to (the recorder's track, or anything with sfu.Sink's method).
type Sink interface {
	WriteRTP(*rtp.Packet)
}

// Play writes the track's packets to sink, paced at speed times real time (0: as fast as
// possible), until the track ends or ctx is done. The sink gets a fresh copy of each packet, as
// the SFU's forwarding loop would hand it a packet it reuses.
func (t *Track) Play(ctx context.Context, speed float64, sink Sink) error {
	start := time.Now()
	var buf rtp.Packet
	for _, p := range t.Packets {
		if speed > 0 {
			wait := time.Until(start.Add(time.Duration(float64(p.At) / speed)))
			if wait > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(wait):
				}
			}
		} else if ctx.Err() != nil {
			return ctx.Err()
		}
		buf.Header = p.RTP.Header
		buf.Payload = append(buf.Payload[:0], p.RTP.Payload...)
		sink.WriteRTP(&buf)
	}
	return nil
}
