package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// health is `chalk health`: GET /healthz of a running node and fail unless it answers 200. It is
// the container image's HEALTHCHECK, so the runtime image needs no curl or wget.
func health(args []string, stdout io.Writer) error {
	var e env
	fs := flag.NewFlagSet("chalk health", flag.ContinueOnError)
	listen := fs.String("listen", e.str("CHALK_LISTEN", ":8080"), "the node's HTTP address, as given to serve (env CHALK_LISTEN)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(*listen)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", *listen, err)
	}
	if host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	u := "http://" + net.JoinHostPort(host, port) + "/healthz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s %s", u, resp.Status, body)
	}
	fmt.Fprintf(stdout, "%s", body)
	return nil
}
