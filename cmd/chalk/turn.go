package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/webrtc/v4"

	"github.com/chalk-edu/chalk/turnserver"
)

// turnConfig is how clients behind firewalls reach the SFU: the embedded TURN server (any of the
// three ports set) and/or external TURN servers (coturn) sharing the credential secret.
type turnConfig struct {
	UDPPort, TCPPort, TLSPort int    // embedded server's listen ports; 0: off
	Cert, Key                 string // PEM files for TLSPort
	Host                      string // host clients dial, in the URLs handed out
	RelayIP                   string // local address of the relay sockets
	Realm                     string
	Secret                    string
	TTL                       time.Duration
	URLs                      []string // external TURN/STUN servers
}

func (c *turnConfig) embedded() bool { return c.UDPPort > 0 || c.TCPPort > 0 || c.TLSPort > 0 }

func (e *env) duration(name string, def time.Duration) time.Duration {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil && e.err == nil {
		e.err = fmt.Errorf("%s=%q is not a duration such as 1h", name, v)
	}
	return d
}

// flags registers the TURN flags; the returned function finishes parsing after fs.Parse.
func (c *turnConfig) flags(fs *flag.FlagSet, e *env) func() {
	fs.IntVar(&c.UDPPort, "turn-udp-port", e.int("CHALK_TURN_UDP_PORT", 0), "embedded TURN server's UDP port, e.g. 3478; 0: off (env CHALK_TURN_UDP_PORT)")
	fs.IntVar(&c.TCPPort, "turn-tcp-port", e.int("CHALK_TURN_TCP_PORT", 0), "embedded TURN server's TCP port, e.g. 3478 or 443; 0: off (env CHALK_TURN_TCP_PORT)")
	fs.IntVar(&c.TLSPort, "turn-tls-port", e.int("CHALK_TURN_TLS_PORT", 0), "embedded TURN server's TLS port (turns:), e.g. 5349 or 443; needs -turn-cert and -turn-key; 0: off (env CHALK_TURN_TLS_PORT)")
	fs.StringVar(&c.Cert, "turn-cert", e.str("CHALK_TURN_CERT", ""), "PEM certificate file for the TURN TLS port (env CHALK_TURN_CERT)")
	fs.StringVar(&c.Key, "turn-key", e.str("CHALK_TURN_KEY", ""), "PEM key file for the TURN TLS port (env CHALK_TURN_KEY)")
	fs.StringVar(&c.Host, "turn-host", e.str("CHALK_TURN_HOST", ""), "host name or IP clients use to reach the embedded TURN server (must match the TLS certificate); default: the host of -public-url, else the first -public-ip (env CHALK_TURN_HOST)")
	fs.StringVar(&c.RelayIP, "turn-relay-ip", e.str("CHALK_TURN_RELAY_IP", ""), "local IP for relay sockets, on which the SFU must be reachable; default: -media-bind, else this host's first non-loopback IPv4 (env CHALK_TURN_RELAY_IP)")
	fs.StringVar(&c.Realm, "turn-realm", e.str("CHALK_TURN_REALM", "chalk"), "TURN realm (env CHALK_TURN_REALM)")
	fs.StringVar(&c.Secret, "turn-secret", e.str("CHALK_TURN_SECRET", ""), "shared secret for TURN credentials (coturn's static-auth-secret); required with -turn-url; default for the embedded server: random per process (env CHALK_TURN_SECRET)")
	fs.DurationVar(&c.TTL, "turn-ttl", e.duration("CHALK_TURN_TTL", turnserver.DefaultTTL), "how long a TURN credential handed out at join may open a relay (env CHALK_TURN_TTL)")
	urls := fs.String("turn-url", e.str("CHALK_TURN_URLS", ""), "external TURN/STUN URLs handed to clients, comma-separated, e.g. turns:turn.example.org:443?transport=tcp (env CHALK_TURN_URLS)")
	return func() { c.URLs = splitList(*urls) }
}

func (c *turnConfig) validate() error {
	for name, p := range map[string]int{"udp": c.UDPPort, "tcp": c.TCPPort, "tls": c.TLSPort} {
		if p < 0 || p > 65535 {
			return fmt.Errorf("-turn-%s-port %d is not a port (0 turns it off)", name, p)
		}
	}
	if c.TLSPort > 0 && (c.Cert == "" || c.Key == "") {
		return errors.New("-turn-tls-port needs -turn-cert and -turn-key (CHALK_TURN_CERT, CHALK_TURN_KEY)")
	}
	if len(c.URLs) > 0 && c.Secret == "" {
		return errors.New("-turn-url needs -turn-secret (CHALK_TURN_SECRET), the secret the TURN servers share")
	}
	for _, u := range c.URLs {
		if _, err := stun.ParseURI(u); err != nil { // what a client would refuse
			return fmt.Errorf("-turn-url %q: %w", u, err)
		}
	}
	if c.TTL <= 0 {
		return fmt.Errorf("-turn-ttl %s must be positive", c.TTL)
	}
	if c.RelayIP != "" && net.ParseIP(c.RelayIP) == nil {
		return fmt.Errorf("-turn-relay-ip %q is not an IP address", c.RelayIP)
	}
	return nil
}

// iceServers hands each participant the TURN URLs with credentials minted for their identity.
type iceServers struct {
	urls  []string
	creds turnserver.Credentials
}

func (s iceServers) forIdentity(identity string) []webrtc.ICEServer {
	if len(s.urls) == 0 {
		return []webrtc.ICEServer{}
	}
	user, pass := s.creds.Mint(identity, time.Now())
	return []webrtc.ICEServer{{URLs: s.urls, Username: user, Credential: pass}}
}

// newTURN starts the embedded TURN server if configured and returns what clients are told.
func newTURN(cfg serveConfig, mediaPorts []int, log *slog.Logger, m *turnserver.Metrics) (*turnserver.Server, iceServers, error) {
	tc := cfg.TURN
	secret := tc.Secret
	if secret == "" {
		secret = randomHex(32) // embedded only (validate): credentials are checked by this process alone
	}
	ice := iceServers{creds: turnserver.Credentials{Secret: []byte(secret), TTL: tc.TTL}}
	if !tc.embedded() {
		ice.urls = tc.URLs
		return nil, ice, nil
	}
	relayIP, err := turnRelayIP(tc.RelayIP, cfg.MediaBind)
	if err != nil {
		return nil, ice, err
	}
	var public []net.IP
	for _, p := range cfg.PublicIPs {
		if ip := net.ParseIP(p); ip != nil {
			public = append(public, ip)
		}
	}
	sc := turnserver.Config{
		Realm: tc.Realm, Credentials: ice.creds, RelayIP: relayIP, MediaPorts: mediaPorts, PublicIPs: public,
		Logger: log, Metrics: m,
	}
	listen := func(port int) string {
		if port == 0 {
			return ""
		}
		return net.JoinHostPort(cfg.MediaBind, strconv.Itoa(port))
	}
	sc.UDPAddr, sc.TCPAddr, sc.TLSAddr = listen(tc.UDPPort), listen(tc.TCPPort), listen(tc.TLSPort)
	if tc.TLSPort > 0 {
		cert, err := tls.LoadX509KeyPair(tc.Cert, tc.Key)
		if err != nil {
			return nil, ice, fmt.Errorf("TURN TLS certificate: %w", err)
		}
		sc.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	srv, err := turnserver.New(sc)
	if err != nil {
		return nil, ice, err
	}
	host := turnHost(tc.Host, cfg, relayIP)
	if tc.UDPPort > 0 {
		ice.urls = append(ice.urls, fmt.Sprintf("turn:%s?transport=udp", net.JoinHostPort(host, strconv.Itoa(tc.UDPPort))))
	}
	if tc.TCPPort > 0 {
		ice.urls = append(ice.urls, fmt.Sprintf("turn:%s?transport=tcp", net.JoinHostPort(host, strconv.Itoa(tc.TCPPort))))
	}
	if tc.TLSPort > 0 {
		ice.urls = append(ice.urls, fmt.Sprintf("turns:%s?transport=tcp", net.JoinHostPort(host, strconv.Itoa(tc.TLSPort))))
	}
	ice.urls = append(ice.urls, tc.URLs...)
	log.Info("embedded TURN server", "urls", ice.urls, "relay_ip", relayIP, "credential_ttl", tc.TTL)
	return srv, ice, nil
}

// turnRelayIP is where relay sockets bind: an address the SFU listens on.
func turnRelayIP(flagIP, mediaBind string) (net.IP, error) {
	for _, s := range []string{flagIP, mediaBind} {
		if ip := net.ParseIP(s); ip != nil && !ip.IsUnspecified() {
			return ip, nil
		}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("TURN relay IP: %w", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP, nil
		}
	}
	return nil, errors.New("TURN relay IP: this host has no non-loopback IPv4 address; set -turn-relay-ip")
}

// turnHost is the host in the URLs handed out: what clients can reach from outside.
func turnHost(flagHost string, cfg serveConfig, relayIP net.IP) string {
	if flagHost != "" {
		return flagHost
	}
	if u, err := url.Parse(cfg.PublicURL); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	if len(cfg.PublicIPs) > 0 {
		return cfg.PublicIPs[0]
	}
	return relayIP.String()
}
