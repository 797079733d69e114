package web

import (
	"io"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestSchedulePage(t *testing.T) {
	dev := Handler(Config{DevMode: true, CheckToken: checkToken})
	prod := Handler(Config{CheckToken: checkToken})
	for _, c := range []struct {
		name, path string
		dev        bool
		status     int
		contains   []string
		absent     []string
	}{
		{"with a good token", "/r/math/schedule?token=good-math", false, 200,
			[]string{`data-room="math"`, "schedule.js", `id="upcoming"`, `id="past"`, `id="ics-link"`, `id="session-form"`, "Schedule of"}, nil},
		{"another room's token", "/r/art/schedule?token=good-math", false, 401,
			[]string{"This link is not valid.", "token signature is invalid &lt;script&gt;"}, []string{"<script>alert", "schedule.js"}},
		{"expired", "/r/math/schedule?token=old", false, 401, []string{"This link has expired."}, []string{"schedule.js"}},
		{"no token", "/r/math/schedule", false, 401, []string{"This page needs your personal link."}, []string{"schedule.js"}},
		{"no token in dev mode either", "/r/math/schedule", true, 401, []string{"This page needs your personal link."}, []string{"schedule.js"}},
		{"bad room name", "/r/a%3Cb%3E/schedule?token=x", true, 404, []string{"There is no classroom at this address."}, []string{"<b>"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := prod
			if c.dev {
				h = dev
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", c.path, nil))
			body, _ := io.ReadAll(rec.Result().Body)
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d:\n%s", rec.Code, c.status, body)
			}
			for _, s := range c.contains {
				if !strings.Contains(string(body), s) {
					t.Errorf("page lacks %q", s)
				}
			}
			for _, s := range c.absent {
				if strings.Contains(string(body), s) {
					t.Errorf("page contains %q", s)
				}
			}
			if c.status == 200 && (rec.Header().Get("Content-Security-Policy") == "" || rec.Header().Get("Referrer-Policy") != "no-referrer") {
				t.Errorf("page lacks its CSP or Referrer-Policy (the URL carries a token)")
			}
		})
	}
}

// The schedule's user text (titles, descriptions) reaches the page only as text: the script never
// assigns markup.
func TestScheduleScriptWritesTextOnly(t *testing.T) {
	src, err := staticFS.Open("schedule.js")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(src)
	if m := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write`).Find(b); m != nil {
		t.Fatalf("schedule.js uses %s", m)
	}
}
