// Command chalk-load drives a Chalk server over its real signaling with Pion clients sending
// synthetic media, and prints one JSON line per run: delivery, latency, join time, and the server's
// CPU per forwarded packet next to the raw UDP floor of the same machine. See docs/performance.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const usage = `chalk-load: load a Chalk server and measure it (docs/performance.md).

Usage:
  chalk-load [flags]          run -scenario lecture|seminar|breakouts
  chalk-load floor [flags]    measure only the raw UDP send floor
`

func main() {
	os.Exit(mainErr(os.Args[1:], os.Stdout, os.Stderr))
}

func mainErr(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "floor" {
		args = append([]string{"-scenario", "floor"}, args[1:]...)
	}
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "chalk-load: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out, err := execute(ctx, o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "chalk-load: %v\n", err)
		return 1
	}
	line, _ := json.Marshal(out)
	fmt.Fprintln(stdout, string(line))
	return 0
}

type options struct {
	config
	serverBin  string
	serverArgs []string
	serverCPUs []int
	loadCPUs   []int
	pprof      bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("chalk-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	fs.StringVar(&o.URL, "url", "", "base URL of a running server (http://127.0.0.1:8080); empty: start one from -server-bin")
	fs.StringVar(&o.TokenSecret, "token-secret", os.Getenv("CHALK_TOKEN_SECRET"), "the server's token secret, to join with tokens (instructor for publishers); empty with -url: dev mode, join by name (env CHALK_TOKEN_SECRET)")
	fs.StringVar(&o.Scenario, "scenario", "lecture", "lecture (1 publisher, -n students), seminar (-n all publishing), breakouts (-n rooms of 4), floor")
	fs.IntVar(&o.N, "n", 0, "students (lecture, default 200), participants (seminar, default 12) or rooms of 4 (breakouts, default 10)")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "measurement window")
	fs.DurationVar(&o.Warmup, "warmup", 5*time.Second, "wait after everyone receives media, before measuring")
	fs.DurationVar(&o.JoinTimeout, "join-timeout", 90*time.Second, "bound on joining everyone and their first media")
	fs.DurationVar(&o.Grace, "grace", time.Second, "wait after sending stops, for retransmissions in flight")
	fs.IntVar(&o.JoinConc, "join-concurrency", 8, "joins in flight at once")
	fs.IntVar(&o.VideoKbps, "video-kbps", 1200, "each publisher's video bitrate")
	fs.IntVar(&o.FPS, "fps", 30, "video frames per second")
	fs.Float64Var(&o.Pace, "pace", 2.5, "pace each video frame's packets at this multiple of -video-kbps, as a browser's pacer does (libwebrtc: 2.5); 0: send a frame's packets back to back")
	fs.DurationVar(&o.KeyEvery, "keyframe-every", 0, "send a keyframe at least this often (0: only when the server asks, as browsers do)")
	fs.DurationVar(&o.Floor, "floor", 2*time.Second, "measure the raw UDP floor for this long per variant before the run (0: skip)")
	fs.StringVar(&o.serverBin, "server-bin", "", "chalk binary to start when -url is empty (default: next to chalk-load, then PATH)")
	serverArgs := fs.String("server-args", "", "more flags for the started server, space-separated (e.g. -media-batch=false)")
	serverCPU := fs.String("server-cpu", "", "pin the started server to these CPUs (e.g. 0); the floor's sender runs on the first")
	loadCPU := fs.String("load-cpu", "", "pin the load generator to these CPUs (e.g. 1)")
	fs.BoolVar(&o.pprof, "server-pprof", false, "start the server with -pprof (implied by -profile-dir)")
	fs.StringVar(&o.ProfileDir, "profile-dir", "", "save the server's CPU profile over the window and its allocs profile here (needs /debug/pprof)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.serverArgs = strings.Fields(*serverArgs)
	var err error
	if o.serverCPUs, err = parseCPUs(*serverCPU); err != nil {
		return o, err
	}
	if o.loadCPUs, err = parseCPUs(*loadCPU); err != nil {
		return o, err
	}
	if o.N == 0 {
		o.N = map[string]int{"lecture": 200, "seminar": 12, "breakouts": 10}[o.Scenario]
	}
	if o.Scenario != "floor" && o.N <= 0 {
		return o, fmt.Errorf("-n must be positive")
	}
	if o.Pace < 0 {
		return o, fmt.Errorf("-pace must be 0 or positive")
	}
	if o.FPS <= 0 || o.VideoKbps <= 0 {
		return o, fmt.Errorf("-fps and -video-kbps must be positive")
	}
	if o.URL != "" && len(o.serverCPUs) > 0 {
		return o, fmt.Errorf("-server-cpu pins a server chalk-load starts; it cannot be used with -url")
	}
	o.FloorCPU = -1
	if len(o.serverCPUs) > 0 {
		o.FloorCPU = o.serverCPUs[0]
	}
	if o.ProfileDir != "" {
		o.pprof = true
	}
	return o, nil
}

// execute pins, starts the server if asked, and runs the scenario (or only the floor).
func execute(ctx context.Context, o options, log io.Writer) (any, error) {
	if len(o.loadCPUs) > 0 {
		if err := pinProcess(o.loadCPUs); err != nil {
			return nil, err
		}
	}
	if o.Scenario == "floor" {
		return measureFloor(ctx, max(o.Floor, 100*time.Millisecond), o.FloorCPU)
	}
	if o.URL == "" {
		if o.TokenSecret == "" {
			o.TokenSecret = randomHex(32)
		}
		srv, err := startServer(ctx, o.serverBin, o.serverArgs, o.serverCPUs, o.TokenSecret, o.pprof)
		if err != nil {
			return nil, err
		}
		defer srv.stop()
		o.URL = srv.url
	}
	o.Log = slog.New(slog.NewTextHandler(log, nil))
	o.Log.Info("chalk-load", "scenario", o.Scenario, "n", o.N, "url", o.URL, "duration", o.Duration)
	res, err := run(ctx, o.config)
	if err != nil {
		return nil, err
	}
	res.ServerCPU, res.LoadCPU = cpuList(o.serverCPUs), cpuList(o.loadCPUs)
	return res, nil
}

func parseCPUs(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("CPU list %q: want numbers like 0 or 0,1", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func cpuList(cpus []int) string {
	var s []string
	for _, c := range cpus {
		s = append(s, strconv.Itoa(c))
	}
	return strings.Join(s, ",")
}
