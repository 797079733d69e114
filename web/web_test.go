package web

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func checkToken(room, token string) error {
	switch token {
	case "good-" + room:
		return nil
	case "old":
		return errors.New("token is expired")
	default:
		return errors.New(`token signature is invalid <script>alert(1)</script>`)
	}
}

func TestHandler(t *testing.T) {
	dev := Handler(Config{DevMode: true, CheckToken: checkToken})
	prod := Handler(Config{CheckToken: checkToken})

	tests := []struct {
		name       string
		h          http.Handler
		method     string
		path       string
		status     int
		ctype      string
		contains   []string
		notContain []string
	}{
		{"landing", prod, "GET", "/", 200, "text/html; charset=utf-8",
			[]string{`id="join-form"`, "landing.js", "join link"}, nil},
		{"landing dev mode has no join-link note", dev, "GET", "/", 200, "text/html; charset=utf-8",
			[]string{`id="join-form"`}, []string{"join link only"}},
		{"room in dev mode without token", dev, "GET", "/r/physics-101?name=Ada", 200, "text/html; charset=utf-8",
			[]string{`data-room="physics-101"`, `data-dev="true"`, "app.js", `role="status"`,
				`role="tablist"`, `id="chat-input"`, `role="log"`, `id="hands-list"`, `id="btn-hand"`,
				`id="pane-polls"`, `id="poll-form"`, `id="btn-polls"`}, nil},
		{"room with a good token", prod, "GET", "/r/math_2?token=good-math_2", 200, "text/html; charset=utf-8",
			[]string{`data-room="math_2"`, `data-dev="false"`}, nil},
		{"room without token outside dev mode", prod, "GET", "/r/math", 401, "text/html; charset=utf-8",
			[]string{"This class needs a personal join link.", "Ask your instructor"}, []string{"app.js"}},
		{"room with a bad token", prod, "GET", "/r/math?token=forged", 401, "text/html; charset=utf-8",
			[]string{"This join link is not valid.", "Ask your instructor for a new link.",
				"token signature is invalid &lt;script&gt;"}, []string{"<script>alert", "app.js"}},
		{"room with an expired token", prod, "GET", "/r/math?token=old", 401, "text/html; charset=utf-8",
			[]string{"This join link has expired.", "Ask your instructor for a new link.", "token is expired"}, nil},
		{"bad token refused in dev mode too", dev, "GET", "/r/math?token=forged", 401, "text/html; charset=utf-8",
			[]string{"This join link is not valid."}, nil},
		{"room name with a dot", dev, "GET", "/r/bad.name", 404, "text/html; charset=utf-8",
			[]string{"There is no classroom at this address."}, nil},
		{"room name with an encoded slash", dev, "GET", "/r/a%2Fb", 404, "text/html; charset=utf-8", nil, nil},
		{"room name too long", dev, "GET", "/r/" + strings.Repeat("a", 65), 404, "text/html; charset=utf-8", nil, nil},
		{"room name of 64 chars", dev, "GET", "/r/" + strings.Repeat("a", 64), 200, "text/html; charset=utf-8", nil, nil},
		{"unknown page", dev, "GET", "/nope", 404, "text/html; charset=utf-8", []string{"This page does not exist."}, nil},
		{"script", dev, "GET", "/static/app.js", 200, "text/javascript; charset=utf-8", []string{"window.chalk"}, nil},
		{"versioned script", dev, "GET", "/static/v-" + version + "/signaling.js", 200, "text/javascript; charset=utf-8",
			[]string{"export class Signaling"}, nil},
		{"stylesheet", dev, "GET", "/static/app.css", 200, "text/css; charset=utf-8", []string{"--bg"}, nil},
		{"icon", dev, "GET", "/static/favicon.svg", 200, "image/svg+xml", []string{"<svg"}, nil},
		{"no directory listing", dev, "GET", "/static/", 404, "", nil, nil},
		{"no escape from static", dev, "GET", "/static/..%2fweb.go", 404, "", nil, nil},
		{"missing asset", dev, "GET", "/static/nope.js", 404, "", nil, nil},
		{"HEAD on a page", prod, "HEAD", "/", 200, "text/html; charset=utf-8", nil, nil},
		{"POST is not allowed", dev, "POST", "/r/math", 405, "", nil, nil},
		{"empty room name", dev, "GET", "/r/", 404, "text/html; charset=utf-8", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tc.h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d; body:\n%s", res.StatusCode, tc.status, body)
			}
			if tc.ctype != "" && res.Header.Get("Content-Type") != tc.ctype {
				t.Errorf("Content-Type = %q, want %q", res.Header.Get("Content-Type"), tc.ctype)
			}
			for _, s := range tc.contains {
				if !strings.Contains(string(body), s) {
					t.Errorf("body lacks %q:\n%s", s, body)
				}
			}
			for _, s := range tc.notContain {
				if strings.Contains(string(body), s) {
					t.Errorf("body contains %q:\n%s", s, body)
				}
			}
			if strings.Contains(string(body), "goroutine ") || strings.Contains(string(body), ".go:") {
				t.Errorf("body looks like a stack trace:\n%s", body)
			}
		})
	}
}

func TestStaticCaching(t *testing.T) {
	h := Handler(Config{DevMode: true})
	get := func(path, etag string) *http.Response {
		req := httptest.NewRequest("GET", path, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Result()
	}

	res := get("/static/v-"+version+"/app.css", "")
	if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("current version: Cache-Control = %q, want immutable", cc)
	}
	res = get("/static/v-000000000000/app.css", "")
	if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("old version: status %d, Cache-Control %q; want 200, no-cache", res.StatusCode, res.Header.Get("Cache-Control"))
	}
	res = get("/static/app.css", "")
	etag := res.Header.Get("ETag")
	if res.Header.Get("Cache-Control") != "no-cache" || etag == "" {
		t.Fatalf("unversioned: Cache-Control %q, ETag %q", res.Header.Get("Cache-Control"), etag)
	}
	if res = get("/static/app.css", etag); res.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation: status %d, want 304", res.StatusCode)
	}
}

func TestPagesReferenceCurrentAssets(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler(Config{DevMode: true}).ServeHTTP(rec, httptest.NewRequest("GET", "/r/x", nil))
	body := rec.Body.String()
	if !strings.Contains(body, "/static/v-"+version+"/app.js") {
		t.Errorf("room page does not load the versioned app.js:\n%s", body)
	}
	for _, h := range []string{"Content-Security-Policy", "Referrer-Policy"} {
		if rec.Header().Get(h) == "" {
			t.Errorf("room page lacks %s", h)
		}
	}
}

// The side panel's panes are siblings: each opens where the previous one closed. (A merge once
// left the Polls pane unclosed, so the Breakouts pane lived inside it and never showed.)
func TestPanelPanesAreSiblings(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler(Config{DevMode: true}).ServeHTTP(rec, httptest.NewRequest("GET", "/r/x", nil))
	body := rec.Body.String()
	tags := regexp.MustCompile(`<section\b[^>]*>|</section>`).FindAllString(body, -1)
	paneID := regexp.MustCompile(`\bid="(pane-[a-z]+)"`)
	depth, paneDepth, panes := 0, -1, 0
	for _, tag := range tags {
		if tag == "</section>" {
			depth--
			continue
		}
		if m := paneID.FindStringSubmatch(tag); m != nil {
			if paneDepth >= 0 && depth != paneDepth {
				t.Errorf("%s opens at depth %d, the first pane at %d: a pane above it is not closed", m[1], depth, paneDepth)
			}
			paneDepth = depth
			panes++
		}
		depth++
	}
	if depth != 0 || panes < 4 {
		t.Errorf("sections end at depth %d (want 0), %d panes (want chat, people, polls, breakouts at least)", depth, panes)
	}
}

func TestRoomPageMayConnectToTheClusterNodes(t *testing.T) {
	h := Handler(Config{DevMode: true, NodeURLs: func() []string {
		return []string{"https://chalk-0.class.example.org", "http://127.0.0.1:8081", "bad url ;", "ftp://x"}
	}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/r/bio", nil))
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "connect-src 'self' wss://chalk-0.class.example.org ws://127.0.0.1:8081;") {
		t.Fatalf("room page CSP %q does not let the socket reach the nodes (and only them)", csp)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if got := rec.Header().Get("Content-Security-Policy"); got != pageCSP {
		t.Fatalf("landing page CSP %q, want the strict one", got)
	}
}
