// Command chalk runs a Chalk classroom server (`chalk serve`, the default) and mints join tokens
// (`chalk token`).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
)

const usage = `Chalk: a real-time virtual classroom server.

Usage:
  chalk [serve] [flags]   run the server (flags: chalk serve -h)
  chalk token [flags]     mint a join token and print a join link (flags: chalk token -h)
  chalk health [flags]    check a running node's /healthz (the container HEALTHCHECK)
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(args, stderr)
	case "token":
		err = token(args, stdout)
	case "health":
		err = health(args, stdout)
	case "help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "chalk: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "chalk %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

func serve(args []string, stderr io.Writer) error {
	cfg, err := parseServeConfig(args)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	ctx := context.Background()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	srv, err := newServer(ctx, cfg, log)
	if err != nil {
		return err
	}
	store := "embedded"
	if cfg.RedisURL != "" {
		store = "redis"
	}
	log.Info("chalk is running", "url", srv.URL(), "node", srv.cfg.NodeID, "state", store,
		"media_udp_port", cfg.MediaPort, "media_tcp_port", cfg.MediaTCPPort, "dev", cfg.Dev)
	if cfg.Dev {
		if err := printDevLinks(srv, stderr); err != nil {
			log.Warn("could not mint the instructor link", "err", err)
		}
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.serve() }()
	var sig os.Signal
	select {
	case err := <-errc:
		srv.close()
		return err
	case sig = <-sigs:
	}
	// SIGTERM (an orchestrator stopping the node) drains it: with other nodes alive, participants
	// move there first. SIGINT (Ctrl-C) stops at once.
	if sig == syscall.SIGTERM {
		srv.drain()
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.shutdown(sctx)
	return nil
}

// printDevLinks prints what a newcomer needs: a link for the instructor and one to share.
func printDevLinks(srv *server, w io.Writer) error {
	const room = "demo"
	tok, err := srv.tokens.Mint(auth.Grant{Room: room, Identity: "instructor", Name: "Instructor", Role: rooms.RoleInstructor}, auth.DefaultTTL)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n  Chalk dev mode\n  Instructor: %s/r/%s?token=%s\n  Students:   %s/r/%s\n\n", srv.URL(), room, url.QueryEscape(tok), srv.URL(), room)
	return nil
}

func token(args []string, stdout io.Writer) error {
	cfg, err := parseTokenConfig(args)
	if err != nil {
		return err
	}
	is, err := auth.NewIssuer(cfg.Secret)
	if err != nil {
		return err
	}
	tok, err := is.Mint(auth.Grant{Room: cfg.Room, Identity: cfg.Identity, Name: cfg.Name, Role: rooms.Role(cfg.Role)}, cfg.TTL)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n%s/r/%s?token=%s\n", tok, cfg.PublicURL, url.PathEscape(cfg.Room), url.QueryEscape(tok))
	return nil
}
