package web

import (
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// The room page carries the breakout rooms' bar, tab and pane, and stays within the CSP: no inline
// script or style anywhere in the page.
func TestRoomPageBreakouts(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler(Config{DevMode: true}).ServeHTTP(rec, httptest.NewRequest("GET", "/r/physics", nil))
	body := rec.Body.String()
	for _, s := range []string{
		`id="bo-bar"`, `role="timer"`, `id="bo-bar-help"`, `id="bo-notices"`,
		`id="tab-breakouts"`, `aria-controls="pane-breakouts"`, `id="pane-breakouts"`, `role="tabpanel"`,
		`id="btn-breakouts"`, `name="bo-mode"`, `id="bo-count"`, `id="bo-minutes"`, `id="bo-broadcast-input"`,
		`id="bo-close-confirm"`, `id="bo-choose-list"`, `id="bo-help"`,
	} {
		if !strings.Contains(body, s) {
			t.Errorf("room page lacks %s", s)
		}
	}
	for _, re := range []*regexp.Regexp{regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`), regexp.MustCompile(`\sstyle=`),
		regexp.MustCompile(`\son[a-z]+=`), regexp.MustCompile(`<style`)} {
		if m := re.FindString(body); m != "" {
			t.Errorf("room page has inline code or style (%q); the CSP would block it", m)
		}
	}
	// Every label points at a control that exists.
	for _, m := range regexp.MustCompile(`<label for="([^"]+)"`).FindAllStringSubmatch(body, -1) {
		if !strings.Contains(body, `id="`+m[1]+`"`) {
			t.Errorf("label for %q has no control", m[1])
		}
	}
}

func TestBreakoutAssetsServed(t *testing.T) {
	h := Handler(Config{DevMode: true})
	for _, name := range []string{"breakouts.js", "breakouts-pane.js", "breakouts-bar.js"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/static/v-"+version+"/"+name, nil))
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/javascript; charset=utf-8" {
			t.Errorf("%s: status %d, Content-Type %q", name, rec.Code, rec.Header().Get("Content-Type"))
		}
		if strings.Contains(rec.Body.String(), "innerHTML = `") {
			t.Errorf("%s builds markup from a template string; user text must go through textContent", name)
		}
	}
}
