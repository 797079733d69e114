// Package web serves Chalk's browser client: the landing page, the classroom page and the embedded
// static assets (plain ES modules and CSS, no build step).
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"log"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"
)

// Config for the web client handler.
type Config struct {
	DevMode bool
	// CheckToken validates a join token for a room; nil error means OK. Called for /r/{room}?token=…
	// and, outside dev mode, a missing or bad token renders a clear error page (HTTP 401) instead of the app.
	CheckToken func(room, token string) error
	// NodeURLs lists the base URLs of the cluster's nodes (with Redis): a classroom page may open its
	// socket on any of them, as a redirect tells it (docs/protocol.md "Nodes"). Nil: this server only.
	NodeURLs func() []string
}

//go:embed static templates
var files embed.FS

var (
	staticFS  = mustSub(files, "static")
	templates = template.Must(template.ParseFS(files, "templates/*.html"))
	// version names the embedded assets; pages load them under /static/v-{version}/ so that browsers
	// may cache them forever and still pick up a new build.
	version = assetVersion(staticFS)
	// roomName is the rule from docs/protocol.md (join.room).
	roomName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// Pages get a strict Content-Security-Policy: everything comes from this server, media from the
// peer connections. 'self' covers ws:/wss: to the same host.
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"media-src 'self' blob: mediastream:; connect-src 'self'; object-src 'none'; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'"

type handler struct {
	cfg Config
}

// Handler returns the web client: GET / (landing), GET /r/{room} (classroom) and GET /static/….
func Handler(cfg Config) http.Handler {
	h := &handler{cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.landing)
	mux.HandleFunc("GET /r/{room}", h.room)
	mux.HandleFunc("GET /r/{room}/lessons", h.lessonPage("library.html", false))
	mux.HandleFunc("GET /r/{room}/lessons/{id}", h.lessonPage("player.html", true))
	mux.HandleFunc("GET /r/{room}/lessons/{id}/analytics", h.lessonPage("analytics.html", true))
	mux.HandleFunc("GET /r/{room}/analytics", h.lessonPage("analytics.html", false))

	mux.HandleFunc("GET /r/{room}/schedule", h.schedule)
	mux.HandleFunc("GET /static/", h.static)
	mux.HandleFunc("/", h.notFound)
	return mux
}

// pageData is what every template sees.
type pageData struct {
	Title   string
	Asset   string // prefix for versioned assets, e.g. /static/v-0123abcd/
	DevMode bool
	Room    string
	Lesson  string // lesson pages: the lesson's id
	// Error pages.
	Heading string
	Message string
	Detail  string
	Link    string
	LinkTxt string
}

func (h *handler) page(w http.ResponseWriter, status int, name string, d pageData) {
	d.Asset = "/static/v-" + version + "/"
	d.DevMode = h.cfg.DevMode
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, d); err != nil {
		log.Printf("web: render %s: %v", name, err)
		http.Error(w, "Something went wrong on the server. Please reload the page.", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	if hd.Get("Content-Security-Policy") == "" { // the classroom page may have widened connect-src
		hd.Set("Content-Security-Policy", pageCSP)
	}
	hd.Set("X-Content-Type-Options", "nosniff")
	// Join links carry a token in the query string: never leak it in a Referer.
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self)")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (h *handler) landing(w http.ResponseWriter, r *http.Request) {
	h.page(w, http.StatusOK, "landing.html", pageData{Title: "Chalk — virtual classroom"})
}

func (h *handler) room(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if !roomName.MatchString(room) {
		h.page(w, http.StatusNotFound, "error.html", pageData{
			Title:   "No such classroom",
			Heading: "There is no classroom at this address.",
			Message: "Room names use only letters, digits, “-” and “_” (at most 64). Check the link, or start from the home page.",
			Link:    "/", LinkTxt: "Go to the home page",
		})
		return
	}
	token := r.URL.Query().Get("token")
	switch {
	case token == "" && !h.cfg.DevMode:
		h.unauthorized(w, "This class needs a personal join link.", "Ask your instructor for your link to this class.", "")
		return
	case token != "" && h.cfg.CheckToken != nil:
		// A bad token is refused in dev mode too: the server would refuse it at join anyway.
		if err := h.cfg.CheckToken(room, token); err != nil {
			heading := "This join link is not valid."
			if strings.Contains(strings.ToLower(err.Error()), "expired") {
				heading = "This join link has expired."
			}
			h.unauthorized(w, heading, "Ask your instructor for a new link.", err.Error())
			return
		}
	}
	if h.cfg.NodeURLs != nil {
		w.Header().Set("Content-Security-Policy", roomCSP(h.cfg.NodeURLs()))
	}
	h.page(w, http.StatusOK, "room.html", pageData{Title: room + " — Chalk", Room: room})
}

// roomCSP is pageCSP with the WebSocket origins of the cluster's nodes added to connect-src. Node
// URLs are stable per node (docs/deploy.md "Node URLs"), so a page keeps reaching a node that
// restarts; a node added after the page loaded is reachable after a reload.
func roomCSP(nodeURLs []string) string {
	var extra []string
	for _, raw := range nodeURLs {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || strings.ContainsAny(u.Host, " ;'") {
			continue
		}
		switch u.Scheme {
		case "https":
			extra = append(extra, "wss://"+u.Host)
		case "http":
			extra = append(extra, "ws://"+u.Host)
		}
	}
	if len(extra) == 0 {
		return pageCSP
	}
	return strings.Replace(pageCSP, "connect-src 'self'", "connect-src 'self' "+strings.Join(extra, " "), 1)
}

func (h *handler) unauthorized(w http.ResponseWriter, heading, msg, detail string) {
	h.page(w, http.StatusUnauthorized, "error.html", pageData{
		Title: "Cannot join — Chalk", Heading: heading, Message: msg, Detail: detail,
	})
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "Method not allowed.", http.StatusMethodNotAllowed)
		return
	}
	h.page(w, http.StatusNotFound, "error.html", pageData{
		Title:   "Page not found — Chalk",
		Heading: "This page does not exist.",
		Message: "The address may be mistyped or out of date.",
		Link:    "/", LinkTxt: "Go to the home page",
	})
}

// static serves embedded assets. /static/v-{version}/x is cached for a year (the version changes
// with the content); /static/x, or an old version, must be revalidated (ETag) on every use.
func (h *handler) static(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	cache := "no-cache"
	if v, rest, ok := strings.Cut(name, "/"); ok && strings.HasPrefix(v, "v-") {
		name = rest
		if v == "v-"+version {
			cache = "public, max-age=31536000, immutable"
		}
	}
	name = path.Clean(name)
	if !fs.ValidPath(name) || name == "." {
		http.NotFound(w, r)
		return
	}
	data, err := fs.ReadFile(staticFS, name)
	if err != nil { // includes directories: no listings
		http.NotFound(w, r)
		return
	}
	ctype, ok := contentTypes[path.Ext(name)]
	if !ok {
		ctype = "application/octet-stream"
	}
	sum := sha256.Sum256(data)
	hd := w.Header()
	hd.Set("Content-Type", ctype)
	hd.Set("Cache-Control", cache)
	hd.Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
	hd.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
}

// contentTypes is fixed here rather than taken from the host's mime.types, which differ between
// systems (application/javascript vs text/javascript).
var contentTypes = map[string]string{
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".json": "application/json",
	".txt":  "text/plain; charset=utf-8",
}

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return s
}

// assetVersion hashes every embedded asset (names and contents) into a short version string.
func assetVersion(f fs.FS) string {
	hash := sha256.New()
	err := fs.WalkDir(f, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(f, p)
		if err != nil {
			return err
		}
		hash.Write([]byte(p))
		hash.Write([]byte{0})
		hash.Write(data)
		return nil
	})
	if err != nil {
		panic(err)
	}
	return hex.EncodeToString(hash.Sum(nil))[:12]
}
