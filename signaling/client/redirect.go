package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// MaxRedirects is how many redirects one Dial follows before it gives up (docs/protocol.md "Nodes").
const MaxRedirects = 3

// ErrNodeUnreachable: a node redirected us, and the node it named did not let us join (it may
// have died and not yet been noticed; ask the first node again soon).
var ErrNodeUnreachable = errors.New("client: the node serving the room could not be reached")

// Redirect is the server's word that another node serves the room: join again there.
type Redirect struct {
	URL    string `json:"url"` // the node's base URL
	Room   string `json:"room"`
	Reason string `json:"reason"`
	Visit  int    `json:"visit,omitempty"`
}

func (r *Redirect) Error() string {
	return fmt.Sprintf("client: redirected to %s (%s)", r.URL, r.Reason)
}

func parseRedirect(data json.RawMessage) *Redirect {
	var r Redirect
	json.Unmarshal(data, &r)
	return &r
}

// SocketURL is the WebSocket URL of the node: ws[s]://host/ws.
func (r *Redirect) SocketURL() string { return SocketURL(r.URL) }

// SocketURL turns a node's base URL (http[s]://host:port) into its /ws WebSocket URL.
func SocketURL(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	case "http":
		u.Scheme = "ws"
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/ws"
	return u.String()
}

// Options are o for joining again where the redirect says (same name, token and media).
func (r *Redirect) Options(o Options) Options {
	o.URL = r.SocketURL()
	if r.Room != "" {
		o.Room = r.Room
	}
	o.Visit = r.Visit
	return o
}

// URL is the socket URL this client joined at (after redirects).
func (c *Client) URL() string { return c.opts.URL }

// Redirected returns the redirect the server sent this client during its session, or nil. The
// socket closes after it; a caller rejoins with Dial(ctx, r.Options(opts)).
func (c *Client) Redirected() *Redirect {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.redirect
}
