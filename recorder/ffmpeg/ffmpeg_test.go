package ffmpeg

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestReadProgress(t *testing.T) {
	in := `frame=10
fps=0.00
out_time_us=500000
out_time=00:00:00.500000
speed=2.5x
progress=continue
frame=40
out_time_us=2000000
speed=N/A
progress=end
`
	var got []Progress
	readProgress(strings.NewReader(in), 4*time.Second, func(p Progress) { got = append(got, p) })
	if len(got) != 2 {
		t.Fatalf("got %d reports, want 2", len(got))
	}
	if p := got[0]; p.Frame != 10 || p.OutTime != 500*time.Millisecond || p.Speed != 2.5 || p.Fraction != 0.125 || p.Done {
		t.Fatalf("first report %+v", p)
	}
	if p := got[1]; p.Frame != 40 || p.OutTime != 2*time.Second || p.Fraction != 0.5 || !p.Done {
		t.Fatalf("last report %+v", p)
	}
}

func TestRunMakesFileAndReportsProgress(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := filepath.Join(t.TempDir(), "out.mp4")
	var mu sync.Mutex
	var last Progress
	var tool Tool
	err := tool.Run(ctx, Command{
		Inputs:   []Input{{Path: "testsrc2=s=160x120:r=10:d=2", Args: []string{"-f", "lavfi"}}},
		Outputs:  []Output{{Path: out, Args: []string{"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"}}},
		Duration: 2 * time.Second,
		OnProgress: func(p Progress) {
			mu.Lock()
			last = p
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !last.Done || last.Frame != 20 || last.Fraction < 0.9 {
		t.Fatalf("last progress %+v, want done at 20 frames", last)
	}
	p, err := tool.Probe(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	v := p.StreamsOf("video")
	if len(v) != 1 || v[0].Codec != "h264" || v[0].Width != 160 || v[0].Packets != 20 {
		t.Fatalf("probe: %+v", p)
	}
	if d := p.Duration; d < 1900*time.Millisecond || d > 2100*time.Millisecond {
		t.Fatalf("duration %v, want 2 s", d)
	}
}

func TestRunCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := filepath.Join(t.TempDir(), "out.mkv")
	var tool Tool
	done := make(chan error, 1)
	started := make(chan struct{})
	var once sync.Once
	go func() {
		done <- tool.Run(ctx, Command{
			// -re: read at real speed, so this would take 60 s.
			Inputs:     []Input{{Path: "testsrc2=s=160x120:r=10:d=60", Args: []string{"-re", "-f", "lavfi"}}},
			Outputs:    []Output{{Path: out, Args: []string{"-c:v", "libx264", "-preset", "ultrafast"}}},
			OnProgress: func(Progress) { once.Do(func() { close(started) }) },
		})
	}()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("no progress from ffmpeg in 30 s")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled run returned %v, want context.Canceled", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("ffmpeg still running 15 s after cancel")
	}
}

func TestRunErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()

	t.Run("bad input", func(t *testing.T) {
		var tool Tool
		err := tool.Run(ctx, Command{
			Inputs:  []Input{{Path: filepath.Join(dir, "missing.webm")}},
			Outputs: []Output{{Path: filepath.Join(dir, "x.mp4")}},
		})
		var fe *Error
		if !errors.As(err, &fe) {
			t.Fatalf("got %v, want *Error", err)
		}
		if fe.ExitCode == 0 || fe.Signal != "" || !strings.Contains(fe.Stderr, "No such file") {
			t.Fatalf("error %+v should carry the exit status and ffmpeg's complaint", fe)
		}
		if !strings.Contains(err.Error(), "No such file") {
			t.Fatalf("message %q lacks the stderr tail", err)
		}
	})

	t.Run("crash", func(t *testing.T) {
		// A stand-in ffmpeg that writes a message and dies of a segfault, as a crashing ffmpeg would.
		fake := filepath.Join(dir, "ffmpeg-crash")
		script := "#!/bin/sh\necho 'decoding went wrong' >&2\nkill -SEGV $$\n"
		if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		tool := Tool{FFmpeg: fake}
		err := tool.Run(ctx, Command{Inputs: []Input{{Path: "x"}}, Outputs: []Output{{Path: filepath.Join(dir, "y.mp4")}}})
		var fe *Error
		if !errors.As(err, &fe) || fe.Signal == "" || !strings.Contains(fe.Stderr, "decoding went wrong") {
			t.Fatalf("got %#v, want a signal and the stderr tail", err)
		}
		if !strings.Contains(err.Error(), "killed by segmentation fault") {
			t.Fatalf("message %q should say how it died", err)
		}
	})

	t.Run("missing binary", func(t *testing.T) {
		tool := Tool{FFmpeg: filepath.Join(dir, "no-ffmpeg-here"), FFprobe: "no-such-ffprobe"}
		if err := tool.Run(ctx, Command{}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
		if _, err := tool.Probe(ctx, "x"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("probe: got %v, want ErrNotFound", err)
		}
	})
}

func TestTailBufferKeepsTheEnd(t *testing.T) {
	b := &tailBuffer{max: 16}
	b.Write([]byte("first line\nsecond line\nthird\n"))
	if got := b.String(); got != "…third\n" {
		t.Fatalf("tail %q", got)
	}
}

func TestArgs(t *testing.T) {
	c := Command{
		Inputs:        []Input{{Path: "a.webm", Offset: 1500 * time.Millisecond, Args: []string{"-reinit_filter", "0"}}},
		FilterComplex: "[0:v]null[v]",
		Outputs:       []Output{{Path: "o.mp4", Maps: []string{"[v]"}, Args: []string{"-c:v", "libx264"}}},
	}
	got := strings.Join(c.Args(2), " ")
	want := "-hide_banner -nostdin -nostats -loglevel warning -progress pipe:1 -y -reinit_filter 0 -itsoffset 1.500 -i a.webm -filter_complex [0:v]null[v] -map [v] -threads 2 -c:v libx264 o.mp4"
	if got != want {
		t.Fatalf("args\n got %s\nwant %s", got, want)
	}
}
