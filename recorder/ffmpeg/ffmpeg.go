// Package ffmpeg runs ffmpeg and ffprobe as child processes: typed commands, context cancellation,
// progress read from `-progress`, and errors that carry the exit status and the tail of stderr.
package ffmpeg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNotFound: the ffmpeg or ffprobe binary is not installed (or not where it was configured).
var ErrNotFound = errors.New("ffmpeg: binary not found; install ffmpeg (Debian/Ubuntu package \"ffmpeg\")")

// Tool locates the binaries. The zero value looks both up on PATH when first used.
type Tool struct {
	FFmpeg  string // path or name of ffmpeg; "" means "ffmpeg" on PATH
	FFprobe string // path or name of ffprobe; "" means "ffprobe" on PATH
	// Threads caps the threads ffmpeg uses per command (0: ffmpeg's default, one per core).
	Threads int
	// Nice lowers ffmpeg's scheduling priority (1-19; 0 leaves it): work done beside a live class
	// must not take its CPU.
	Nice int
}

// Input is one `-i` of a command.
type Input struct {
	Path string
	// Offset delays the input's timestamps (`-itsoffset`): a track that began after the recording did.
	Offset time.Duration
	// Args go before `-i` (input options such as `-f lavfi`, `-reinit_filter 0`).
	Args []string
}

// Output is one output file of a command.
type Output struct {
	Path string
	Maps []string // `-map` values: "[v]", "0:a:0", …
	// Args go before the path: codecs, rates, `-movflags +faststart`, `-t`, ….
	Args []string
}

// Command is one ffmpeg run. Outputs are always overwritten.
type Command struct {
	Inputs        []Input
	FilterComplex string
	Outputs       []Output
	// Duration is the expected length of the output, so Progress can report a fraction. Optional.
	Duration time.Duration
	// OnProgress is called from a separate goroutine after each progress block ffmpeg writes (about
	// twice a second) and once at the end. Optional.
	OnProgress func(Progress)
	// Stdin feeds an input named "pipe:0". Optional.
	Stdin io.Reader
}

// Progress is one `-progress` report.
type Progress struct {
	OutTime  time.Duration // media time written so far
	Frame    int64
	Speed    float64 // media seconds per wall second; 0 when unknown
	Fraction float64 // OutTime / Command.Duration, in [0, 1]; 0 when Duration is unknown
	Done     bool    // the last report (progress=end)
}

// Error is a failed run: ffmpeg exited non-zero or was killed.
type Error struct {
	Tool     string // "ffmpeg" or "ffprobe"
	Args     []string
	ExitCode int    // -1 when killed by a signal
	Signal   string // the signal that killed it, if any
	Stderr   string // the last lines ffmpeg wrote to stderr
}

func (e *Error) Error() string {
	how := fmt.Sprintf("exited with status %d", e.ExitCode)
	if e.Signal != "" {
		how = "was killed by " + e.Signal
	}
	msg := fmt.Sprintf("%s %s", e.Tool, how)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

// stderrTail is how much of stderr an Error keeps: enough for ffmpeg's last few messages.
const stderrTail = 2048

// Run executes the command and waits for it. Cancelling ctx stops ffmpeg (SIGTERM, then SIGKILL
// after 3 s) and returns ctx's error; outputs may then be partial and must be discarded.
func (t *Tool) Run(ctx context.Context, c Command) error {
	bin, err := t.lookup(t.FFmpeg, "ffmpeg")
	if err != nil {
		return err
	}
	args := c.Args(t.Threads)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 3 * time.Second
	tail := &tailBuffer{max: stderrTail}
	cmd.Stderr = tail
	cmd.Stdin = c.Stdin
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("ffmpeg: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("ffmpeg: start %s: %w", bin, err)
	}
	if t.Nice > 0 {
		// Set right after the start, before ffmpeg opens its codecs and starts their threads, which
		// inherit it. Failing to lower a priority is not worth failing the run.
		_ = syscall.Setpriority(syscall.PRIO_PROCESS, cmd.Process.Pid, t.Nice)
	}
	parsed := make(chan struct{})
	go func() {
		defer close(parsed)
		readProgress(stdout, c.Duration, c.OnProgress)
	}()
	<-parsed // the pipe closes when ffmpeg exits (or is killed)
	err = cmd.Wait()
	if ctx.Err() != nil {
		return fmt.Errorf("ffmpeg: %w", ctx.Err())
	}
	if err != nil {
		return exitError("ffmpeg", args, err, tail.String())
	}
	return nil
}

// Args is the argument list Run passes to ffmpeg (exported for logs and tests).
func (c Command) Args(threads int) []string {
	args := []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning", "-progress", "pipe:1", "-y"}
	for _, in := range c.Inputs {
		args = append(args, in.Args...)
		if in.Offset != 0 {
			args = append(args, "-itsoffset", seconds(in.Offset))
		}
		args = append(args, "-i", in.Path)
	}
	if c.FilterComplex != "" {
		args = append(args, "-filter_complex", c.FilterComplex)
	}
	for _, out := range c.Outputs {
		for _, m := range out.Maps {
			args = append(args, "-map", m)
		}
		if threads > 0 {
			args = append(args, "-threads", strconv.Itoa(threads))
		}
		args = append(args, out.Args...)
		args = append(args, out.Path)
	}
	return args
}

// seconds formats d the way ffmpeg reads durations, to the millisecond.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}

// Seconds is seconds for callers that build filter expressions.
func Seconds(d time.Duration) string { return seconds(d) }

func (t *Tool) lookup(configured, name string) (string, error) {
	if configured == "" {
		configured = name
	}
	p, err := exec.LookPath(configured)
	if err != nil {
		return "", fmt.Errorf("%w (%s: %v)", ErrNotFound, configured, err)
	}
	return p, nil
}

func exitError(tool string, args []string, err error, stderr string) error {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return fmt.Errorf("%s: %w", tool, err)
	}
	e := &Error{Tool: tool, Args: args, ExitCode: ee.ExitCode(), Stderr: strings.TrimSpace(stderr)}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		e.Signal = ws.Signal().String()
	}
	return e
}

// readProgress parses ffmpeg's `-progress` output: blocks of key=value lines, each ended by a
// "progress=continue" or "progress=end" line.
func readProgress(r io.Reader, total time.Duration, fn func(Progress)) {
	sc := bufio.NewScanner(r)
	var p Progress
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "out_time_us", "out_time_ms": // both are microseconds (a historical misnomer)
			if us, err := strconv.ParseInt(val, 10, 64); err == nil && us >= 0 {
				p.OutTime = time.Duration(us) * time.Microsecond
			}
		case "frame":
			p.Frame, _ = strconv.ParseInt(val, 10, 64)
		case "speed":
			p.Speed, _ = strconv.ParseFloat(strings.TrimSuffix(val, "x"), 64)
		case "progress":
			p.Done = val == "end"
			if total > 0 {
				p.Fraction = min(1, max(0, p.OutTime.Seconds()/total.Seconds()))
			}
			if fn != nil {
				fn(p)
			}
		}
	}
	_, _ = io.Copy(io.Discard, r) // a long line stopped the scanner: keep the pipe from filling
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := string(b.buf)
	if len(b.buf) == b.max { // cut: start at a line boundary
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = "…" + s[i+1:]
		}
	}
	return s
}
