package web

import (
	"io/fs"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestLessonPages(t *testing.T) {
	dev := Handler(Config{DevMode: true, CheckToken: checkToken})
	for _, tc := range []struct {
		name, path string
		status     int
		contains   []string
		notContain []string
	}{
		{"library", "/r/chem/lessons?token=good-chem", 200,
			[]string{`data-room="chem"`, "library.js", `id="library-list"`, `data-page="/schedule"`, `data-page="/analytics"`}, nil},
		{"player", "/r/chem/lessons/chem-20250301-090000-bbbbbb?token=good-chem&t=5", 200,
			[]string{`data-lesson="chem-20250301-090000-bbbbbb"`, "player.js", `<video id="video"`, `id="seek"`, `role="slider"`,
				`id="pane-threads"`, `id="pane-chat"`, `id="pane-polls"`, `id="pane-chapters"`, `id="question"`}, nil},
		{"lesson analytics", "/r/chem/lessons/chem-1/analytics?token=good-chem", 200,
			[]string{"analytics.js", `data-lesson="chem-1"`, "Lesson analytics", `id="link-player"`}, []string{"Download CSV"}},
		{"course analytics", "/r/chem/analytics?token=good-chem", 200,
			[]string{"analytics.js", `data-lesson=""`, "Course analytics", "Download CSV"}, nil},
		// The pages read the API with the page's token: even dev mode needs one.
		{"no token, dev mode", "/r/chem/lessons", 401, []string{"Lessons need your personal link."}, []string{"library.js"}},
		{"a bad token", "/r/chem/lessons/x?token=forged", 401,
			[]string{"This link is not valid.", "&lt;script&gt;"}, []string{"<script>alert", "player.js"}},
		{"an expired token", "/r/chem/analytics?token=old", 401, []string{"This link has expired."}, nil},
		{"another room's token", "/r/chem/lessons?token=good-bio", 401, []string{"not valid"}, []string{"library.js"}},
		{"a bad room", "/r/ch.em/lessons?token=good-ch.em", 404, []string{"There is no lesson at this address."}, nil},
		{"a bad lesson id", "/r/chem/lessons/..%2Fx?token=good-chem", 404, []string{"There is no lesson at this address."}, nil},
		{"a lesson id with markup", "/r/chem/lessons/%3Cb%3E?token=good-chem", 404, nil, []string{"<b>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			dev.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
			body := rec.Body.String()
			if rec.Code != tc.status {
				t.Fatalf("%s: %d, want %d\n%s", tc.path, rec.Code, tc.status, body)
			}
			for _, s := range tc.contains {
				if !strings.Contains(body, s) {
					t.Errorf("%s lacks %q", tc.path, s)
				}
			}
			for _, s := range tc.notContain {
				if strings.Contains(body, s) {
					t.Errorf("%s contains %q", tc.path, s)
				}
			}
			if rec.Header().Get("Content-Security-Policy") != pageCSP || rec.Header().Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("%s headers: %v", tc.path, rec.Header())
			}
		})
	}
}

// Every module a page or module imports is an embedded asset (no build step catches a typo).
func TestModuleImportsResolve(t *testing.T) {
	imp := regexp.MustCompile(`(?m)^\s*(?:import|export)\b[^'"]*from\s+'\./([^']+)'|^import\s+'\./([^']+)'`)
	seen := 0
	err := fs.WalkDir(staticFS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") {
			return err
		}
		src, _ := fs.ReadFile(staticFS, p)
		for _, m := range imp.FindAllStringSubmatch(string(src), -1) {
			name := m[1] + m[2]
			seen++
			if _, err := fs.Stat(staticFS, name); err != nil {
				t.Errorf("%s imports ./%s, which is not in web/static", p, name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 30 { // the pattern must keep seeing the imports it checks
		t.Errorf("found only %d imports", seen)
	}
	for _, page := range []string{"library.html", "player.html", "analytics.html"} {
		src, _ := fs.ReadFile(files, "templates/"+page)
		for _, m := range regexp.MustCompile(`\{\{\.Asset\}\}([a-z0-9-]+\.js)`).FindAllStringSubmatch(string(src), -1) {
			if _, err := fs.Stat(staticFS, m[1]); err != nil {
				t.Errorf("%s loads %s, which is not in web/static", page, m[1])
			}
		}
	}
}
