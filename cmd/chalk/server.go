package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/cluster"
	"github.com/chalk-edu/chalk/lessons"
	"github.com/chalk-edu/chalk/recorder"
	"github.com/chalk-edu/chalk/recorder/storage"
	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/sfu"
	"github.com/chalk-edu/chalk/signaling"
	"github.com/chalk-edu/chalk/turnserver"
	"github.com/chalk-edu/chalk/web"
)

// server is one Chalk node: the HTTP front (web client, /ws, /healthz, /metrics), the SFU and the
// classroom state store, assembled from a serveConfig.
type server struct {
	cfg     serveConfig
	log     *slog.Logger
	ln      net.Listener
	http    *http.Server
	store   rooms.Store
	sfu     *sfu.SFU
	hub     *signaling.Hub
	tokens  *auth.Issuer
	rec     *recorder.Service
	docs    rooms.Docs         // course records: lesson details, threads, progress, schedule
	turn    *turnserver.Server // nil: no embedded TURN server
	disk    *rooms.DiskDocs    // the file behind docs without Redis; nil with Redis
	lessons storage.Store      // the lessons' objects, recorded here and served by the lesson API
	stopRec context.CancelFunc // ends the recorder's processing loop
	recDone chan struct{}
	reg     *cluster.Registry  // with Redis: this node's membership in the cluster (cluster.go)
	stopReg context.CancelFunc // ends the registry's heartbeat
	regDone chan struct{}
	drainBy time.Time // after a SIGTERM drain: when the drain time runs out (zero: no drain)
}

func newServer(ctx context.Context, cfg serveConfig, log *slog.Logger) (*server, error) {
	s := &server{cfg: cfg, log: log}
	if cfg.NodeID == "" {
		host, _ := os.Hostname()
		cfg.NodeID = host + "-" + randomHex(3)
		s.cfg.NodeID = cfg.NodeID
	}
	secret := cfg.TokenSecret
	if secret == "" { // dev mode only (parseServeConfig enforces it): tokens die with the process
		secret = randomHex(32)
	}
	var err error
	if s.tokens, err = auth.NewIssuer(secret); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Storage, 0o755); err != nil {
		return nil, fmt.Errorf("storage directory: %w", err)
	}

	if cfg.Data == "" {
		cfg.Data = filepath.Join(cfg.Storage, "records")
		s.cfg.Data = cfg.Data
	}
	if cfg.RedisURL == "" {
		// Embedded: live state in memory, course records (the lesson list and attendance included)
		// in a file that survives a restart.
		if s.disk, err = rooms.OpenDiskDocs(cfg.Data); err != nil {
			return nil, err
		}
		ms, err := rooms.NewDurableMemoryStore(ctx, s.disk, log)
		if err != nil {
			s.close()
			return nil, err
		}
		s.store, s.docs = ms, s.disk
	} else {
		rs, err := rooms.NewRedisStore(ctx, cfg.RedisURL, rooms.RedisOptions{})
		if err != nil {
			return nil, err
		}
		s.store, s.docs = rs, rs
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	sfuMetrics, sigMetrics, turnMetrics := sfu.NewMetrics(), signaling.NewMetrics(), turnserver.NewMetrics()
	if err := errors.Join(sfuMetrics.Register(reg), sigMetrics.Register(reg), turnMetrics.Register(reg)); err != nil {
		s.close()
		return nil, fmt.Errorf("register metrics: %w", err)
	}

	s.sfu, err = sfu.New(sfu.Config{
		UDPPort: cfg.MediaPort, TCPPort: cfg.MediaTCPPort, BindIP: cfg.MediaBind,
		NAT1To1IPs: cfg.PublicIPs, IncludeLoopback: cfg.Dev || isLoopback(cfg.MediaBind), NoBatchWrites: cfg.NoMediaBatch,
		Logger: log, Metrics: sfuMetrics,
	})
	if err != nil {
		s.close()
		return nil, err
	}
	var ice iceServers
	if s.turn, ice, err = newTURN(cfg, s.sfu.UDPPorts(), log, turnMetrics); err != nil {
		s.close()
		return nil, err
	}
	var hub *signaling.Hub // the recorder reports lesson progress through it
	var nodeURLs func() []string
	if cfg.RedisURL != "" {
		// Listen first: the node URL the registry advertises may come from the listen address.
		if s.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			s.close()
			return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
		}
		if err := s.joinCluster(ctx, &hub, reg); err != nil {
			s.close()
			return nil, fmt.Errorf("join the cluster: %w", err)
		}
		nodeURLs = s.nodeURLs()
	}
	if s.lessons, err = newLessonStore(cfg); err != nil {
		s.close()
		return nil, err
	}
	if s.rec, err = newRecorder(cfg, s.lessons, log, func(m recorder.Manifest) { hub.LessonUpdated(m) }); err != nil {
		s.close()
		return nil, err
	}
	hub = signaling.NewHub(signaling.Config{
		Store: s.store, SFU: s.sfu, Tokens: s.tokens, DevMode: cfg.Dev, Node: cfg.NodeID,
		Logger: log, Metrics: sigMetrics, Recorder: s.rec, AutoRecord: cfg.AutoRecord,
		VideoLastN: cfg.VideoLastN, VideoLastNAbove: cfg.VideoLastNAbove,
		ICEServers: ice.forIdentity,
		Router:     s.router(), OriginPatterns: originPatterns(nodeURLs), Edge: s.edge(),
	})
	s.hub = hub
	s.runCluster()
	recCtx, stopRec := context.WithCancel(context.Background())
	s.stopRec, s.recDone = stopRec, make(chan struct{})
	go func() {
		defer close(s.recDone)
		s.rec.Run(recCtx) // also resumes lessons a previous run left unfinished
	}()

	mux := http.NewServeMux()
	mux.Handle("GET /ws", s.hub)
	mux.HandleFunc("GET /relay", s.hub.ServeRelay) // other nodes relaying rooms hosted here (cascading)
	mux.Handle("/api/", lessons.New(lessons.Config{
		Store: s.store, Docs: s.docs, Objects: s.lessons, Tokens: s.tokens, Logger: log, PublicURL: cfg.PublicURL,
	}))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	if cfg.Pprof {
		mountPprof(mux)
	}
	mux.Handle("/", web.Handler(web.Config{DevMode: cfg.Dev, NodeURLs: nodeURLs, CheckToken: func(room, token string) error {
		_, err := s.tokens.Check(token, room)
		return err
	}}))
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}

	if s.ln == nil {
		if s.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			s.close()
			return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
		}
	}
	return s, nil
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	// Reading a snapshot proves the state store answers, which is what a load balancer needs to know.
	if _, err := s.store.Snapshot(ctx, "healthz"); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]string{"status": "unavailable", "error": err.Error()})
		return
	}
	json.NewEncoder(w).Encode(map[string]string{"status": "ok", "node": s.cfg.NodeID})
}

// URL is the base URL links should use.
func (s *server) URL() string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	_, port, _ := net.SplitHostPort(s.ln.Addr().String())
	return "http://localhost:" + port
}

// serve runs the HTTP server until shutdown.
func (s *server) serve() error {
	if err := s.http.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// shutdown says goodbye to every participant, stops HTTP, then releases media sockets and the store.
func (s *server) shutdown(ctx context.Context) {
	if err := s.hub.Close(ctx); err != nil {
		s.log.Warn("sessions did not all end in time", "err", err)
	}
	s.waitLessons() // after a drain, the classes recorded here become lessons before we exit
	if err := s.http.Shutdown(ctx); err != nil {
		s.log.Warn("http shutdown", "err", err)
	}
	if s.stopRec != nil {
		// Processing in progress is cut short; the journal makes the next start finish it.
		s.stopRec()
		<-s.recDone
	}
	s.close()
}

// newLessonStore is where lessons are kept: MinIO when configured, else the storage directory.
func newLessonStore(cfg serveConfig) (storage.Store, error) {
	var store storage.Store
	var err error
	if cfg.MinIO.Endpoint != "" {
		store, err = storage.NewMinIO(storage.MinIOConfig{
			Endpoint: cfg.MinIO.Endpoint, AccessKey: cfg.MinIO.AccessKey, SecretKey: cfg.MinIO.SecretKey,
			Bucket: cfg.MinIO.Bucket, Secure: cfg.MinIO.Secure,
		})
	} else {
		store, err = storage.NewLocal(filepath.Join(cfg.Storage, "lessons"))
	}
	if err != nil {
		return nil, fmt.Errorf("lesson storage: %w", err)
	}
	return store, nil
}

// newRecorder sets up this node's recorder: work files under the storage directory, lessons in
// store.
func newRecorder(cfg serveConfig, store storage.Store, log *slog.Logger, onUpdate func(recorder.Manifest)) (*recorder.Service, error) {
	return recorder.New(recorder.Config{
		Dir: filepath.Join(cfg.Storage, "recordings"), Store: store, Logger: log, OnUpdate: onUpdate,
	})
}

func (s *server) close() {
	s.stopCluster()
	if s.turn != nil {
		s.turn.Close()
	}
	if s.sfu != nil {
		s.sfu.Close()
	}
	if s.store != nil {
		s.store.Close()
	}
	if s.disk != nil {
		if err := s.disk.Close(); err != nil {
			s.log.Warn("close the course records", "err", err)
		}
	}
	if s.ln != nil {
		s.ln.Close()
	}
}

func isLoopback(ip string) bool {
	p := net.ParseIP(ip)
	return p != nil && p.IsLoopback()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
