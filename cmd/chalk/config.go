package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/chalk-edu/chalk/signaling"
)

// serveConfig is everything `chalk serve` can be told. Each field is a flag whose default comes from
// a CHALK_* environment variable; README.md's configuration table lists the same, keep them in step.
type serveConfig struct {
	Listen          string
	MediaPort       int
	MediaTCPPort    int
	MediaBind       string
	PublicIPs       []string
	RedisURL        string
	Storage         string
	Data            string      // course records without Redis; default <Storage>/records
	MinIO           minioConfig // empty Endpoint: lessons stay in the storage directory
	AutoRecord      bool
	Dev             bool
	TokenSecret     string
	PublicURL       string
	NodeID          string
	LogLevel        slog.Level
	VideoLastN      int // in rooms with more than VideoLastNAbove cameras, students get the last N speakers' cameras
	VideoLastNAbove int
	TURN            turnConfig // embedded TURN server and external TURN URLs (turn.go)
	Pprof           bool       // serve /debug/pprof/ on the HTTP listener (profiling under load)
	NoMediaBatch    bool       // one sendto per forwarded packet instead of one sendmmsg per fan-out (sfu/batchconn.go)

	NodeURL      string        // with Redis: the base URL clients reach this node at (redirects)
	DrainTimeout time.Duration // with Redis: how long SIGTERM waits for sessions to move to other nodes
	NodeCapacity int           // with Redis: participants before this node's rooms spill to edge nodes; 0: no limit
}

// env reads defaults from the environment and remembers the first malformed value.
type env struct{ err error }

func (e *env) str(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func (e *env) int(name string, def int) int {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil && e.err == nil {
		e.err = fmt.Errorf("%s=%q is not a number", name, v)
	}
	return n
}

func (e *env) bool(name string, def bool) bool {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil && e.err == nil {
		e.err = fmt.Errorf("%s=%q is not true or false", name, v)
	}
	return b
}

func parseServeConfig(args []string) (serveConfig, error) {
	var c serveConfig
	var e env
	fs := flag.NewFlagSet("chalk serve", flag.ContinueOnError)
	fs.StringVar(&c.Listen, "listen", e.str("CHALK_LISTEN", ":8080"), "HTTP address for the web client, /ws, /healthz and /metrics (env CHALK_LISTEN)")
	fs.IntVar(&c.MediaPort, "media-port", e.int("CHALK_MEDIA_PORT", 7882), "the one UDP port all WebRTC media uses (env CHALK_MEDIA_PORT)")
	fs.IntVar(&c.MediaTCPPort, "media-tcp-port", e.int("CHALK_MEDIA_TCP_PORT", 7881), "TCP port for ICE-TCP, the fallback when UDP is blocked; -1 disables (env CHALK_MEDIA_TCP_PORT)")
	fs.StringVar(&c.MediaBind, "media-bind", e.str("CHALK_MEDIA_BIND", ""), "bind media to this one local IP; empty: all interfaces (env CHALK_MEDIA_BIND)")
	publicIPs := fs.String("public-ip", e.str("CHALK_PUBLIC_IP", ""), "public IPs mapped 1:1 to this host (NAT), comma-separated; advertised instead of local addresses (env CHALK_PUBLIC_IP)")
	fs.StringVar(&c.RedisURL, "redis", e.str("CHALK_REDIS_URL", ""), "Redis URL (redis://host:6379/0) for shared classroom state; empty: embedded in-process store (env CHALK_REDIS_URL)")
	fs.StringVar(&c.Storage, "storage", e.str("CHALK_STORAGE", "chalk-data"), "local directory for recordings and lessons (env CHALK_STORAGE)")
	fs.StringVar(&c.Data, "data", e.str("CHALK_DATA", ""), "directory for course records (lesson list, attendance, schedule, threads, progress) when there is no Redis; default: records in the storage directory (env CHALK_DATA)")
	fs.BoolVar(&c.Dev, "dev", e.bool("CHALK_DEV", false), "dev mode: students join by link with a name only, and an instructor link is printed (env CHALK_DEV)")
	fs.StringVar(&c.TokenSecret, "token-secret", e.str("CHALK_TOKEN_SECRET", ""), "HS256 secret for join tokens, at least 32 bytes; required unless -dev (env CHALK_TOKEN_SECRET)")
	fs.StringVar(&c.PublicURL, "public-url", e.str("CHALK_PUBLIC_URL", ""), "base URL printed in links, e.g. https://class.example.org; default http://localhost:<port> (env CHALK_PUBLIC_URL)")
	fs.StringVar(&c.NodeID, "node-id", e.str("CHALK_NODE_ID", ""), "this node's id in shared state; default: hostname plus a random suffix (env CHALK_NODE_ID)")
	fs.StringVar(&c.MinIO.Endpoint, "minio", e.str("CHALK_MINIO_ENDPOINT", ""), "MinIO/S3 endpoint (host:port) for lessons; empty: lessons are kept in the storage directory (env CHALK_MINIO_ENDPOINT)")
	fs.StringVar(&c.MinIO.Bucket, "minio-bucket", e.str("CHALK_MINIO_BUCKET", "chalk-lessons"), "bucket for lessons, created if missing (env CHALK_MINIO_BUCKET)")
	fs.BoolVar(&c.MinIO.Secure, "minio-tls", e.bool("CHALK_MINIO_TLS", false), "reach MinIO over HTTPS (env CHALK_MINIO_TLS)")
	c.MinIO.AccessKey = e.str("CHALK_MINIO_ACCESS_KEY", "")
	c.MinIO.SecretKey = e.str("CHALK_MINIO_SECRET_KEY", "")
	fs.BoolVar(&c.AutoRecord, "auto-record", e.bool("CHALK_AUTO_RECORD", false), "start recording a room when an instructor joins it (env CHALK_AUTO_RECORD)")
	fs.IntVar(&c.VideoLastN, "video-last-n", e.int("CHALK_VIDEO_LAST_N", signaling.DefaultVideoLastN), "in a large room a student receives only the cameras of this many recent speakers (and instructors' and screen shares); 0: everyone's (env CHALK_VIDEO_LAST_N)")
	fs.IntVar(&c.VideoLastNAbove, "video-last-n-above", e.int("CHALK_VIDEO_LAST_N_ABOVE", signaling.DefaultVideoLastNAbove), "a room is large when it has more cameras than this (env CHALK_VIDEO_LAST_N_ABOVE)")

	fs.StringVar(&c.NodeURL, "node-url", e.str("CHALK_NODE_URL", ""), "with -redis: the base URL clients reach this node itself at (not a load balancer), e.g. https://node-1.class.example.org; default: -public-url, else the listen address (env CHALK_NODE_URL)")
	fs.IntVar(&c.NodeCapacity, "node-capacity", e.int("CHALK_NODE_CAPACITY", 0), "with -redis: participants this node takes before a room hosted here spills to other nodes, which relay its media (a cascaded lecture); 0: no limit (env CHALK_NODE_CAPACITY)")
	drain := fs.String("drain-timeout", e.str("CHALK_DRAIN_TIMEOUT", "30s"), "with -redis: on SIGTERM, how long to wait for participants to move to other nodes (env CHALK_DRAIN_TIMEOUT)")
	finishTURN := c.TURN.flags(fs, &e)
	mediaBatch := fs.Bool("media-batch", e.bool("CHALK_MEDIA_BATCH", true), "send each forwarded packet's copies with one sendmmsg instead of a sendto each (env CHALK_MEDIA_BATCH)")
	fs.BoolVar(&c.Pprof, "pprof", e.bool("CHALK_PPROF", false), "serve Go's profiler at /debug/pprof/ on the HTTP address; off by default, never on a public port (env CHALK_PPROF)")
	level := fs.String("log-level", e.str("CHALK_LOG_LEVEL", "info"), "debug, info, warn or error (env CHALK_LOG_LEVEL)")
	if e.err != nil {
		return c, e.err
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c.PublicIPs = splitList(*publicIPs)
	finishTURN()
	if err := c.TURN.validate(); err != nil {
		return c, err
	}
	c.NoMediaBatch = !*mediaBatch
	var err error
	if c.DrainTimeout, err = time.ParseDuration(*drain); err != nil || c.DrainTimeout < 0 {
		return c, fmt.Errorf("drain timeout %q: use a duration such as 30s", *drain)
	}
	if err := c.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		return c, fmt.Errorf("log level %q: use debug, info, warn or error", *level)
	}
	if !c.Dev && c.TokenSecret == "" {
		return c, fmt.Errorf("CHALK_TOKEN_SECRET (or -token-secret) is required outside dev mode; for a local try-out run with -dev")
	}
	if c.Storage == "" {
		return c, fmt.Errorf("CHALK_STORAGE (or -storage) must name a directory")
	}
	if c.MinIO.Endpoint != "" && (c.MinIO.AccessKey == "" || c.MinIO.SecretKey == "") {
		return c, fmt.Errorf("CHALK_MINIO_ACCESS_KEY and CHALK_MINIO_SECRET_KEY are required with -minio")
	}
	return c, nil
}

// minioConfig locates the lesson bucket. The keys come from the environment only, never flags,
// so they do not show in process listings.
type minioConfig struct {
	Endpoint, AccessKey, SecretKey, Bucket string
	Secure                                 bool
}

type tokenConfig struct {
	Room, Identity, Name, Role, Secret, PublicURL string
	TTL                                           time.Duration
}

func parseTokenConfig(args []string) (tokenConfig, error) {
	var c tokenConfig
	var e env
	fs := flag.NewFlagSet("chalk token", flag.ContinueOnError)
	fs.StringVar(&c.Room, "room", "", "room the token admits to (required)")
	fs.StringVar(&c.Identity, "identity", "", "stable user id, e.g. a student number (required)")
	fs.StringVar(&c.Name, "name", "", "display name; empty: the user types one")
	fs.StringVar(&c.Role, "role", "student", "instructor, co_instructor or student")
	fs.DurationVar(&c.TTL, "ttl", 6*time.Hour, "how long the token is valid")
	fs.StringVar(&c.Secret, "token-secret", e.str("CHALK_TOKEN_SECRET", ""), "the server's token secret (env CHALK_TOKEN_SECRET)")
	fs.StringVar(&c.PublicURL, "public-url", e.str("CHALK_PUBLIC_URL", "http://localhost:8080"), "base URL for the printed link (env CHALK_PUBLIC_URL)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.Room == "" || c.Identity == "" {
		return c, fmt.Errorf("-room and -identity are required")
	}
	if c.Secret == "" {
		return c, fmt.Errorf("CHALK_TOKEN_SECRET (or -token-secret) is required: use the server's secret")
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
