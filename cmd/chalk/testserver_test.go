package main

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"
)

const testSecret = "test-secret-0123456789abcdef-0123456789"

// startTestServer runs a whole Chalk node in-process on 127.0.0.1 with free ports.
func startTestServer(t testing.TB, mutate func(*serveConfig)) *server {
	t.Helper()
	cfg := serveConfig{
		Listen: "127.0.0.1:0", MediaPort: 0, MediaTCPPort: 0, MediaBind: "127.0.0.1",
		Dev: true, TokenSecret: testSecret, Storage: t.TempDir(), NodeID: "test", LogLevel: slog.LevelWarn,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	level := cfg.LogLevel
	if os.Getenv("CHALK_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	srv, err := newServer(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	go srv.serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.shutdown(ctx)
	})
	return srv
}

func (s *server) wsURL() string { return "ws://" + s.ln.Addr().String() + "/ws" }
