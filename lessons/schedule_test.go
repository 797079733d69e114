package lessons

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/rooms/redistest"
)

// scheduleEnv is the API over one engine of course records, as cmd/chalk mounts it.
type scheduleEnv struct {
	store  rooms.Store
	docs   rooms.Docs
	tokens *auth.Issuer
	base   string
}

// scheduleEngines are the engines the schedule runs on in production: Redis, and the embedded
// store with its records on disk.
var scheduleEngines = []struct {
	name string
	open func(t *testing.T) (rooms.Store, rooms.Docs)
}{
	{"Redis", func(t *testing.T) (rooms.Store, rooms.Docs) {
		s, err := rooms.NewRedisStore(t.Context(), redistest.Start(t), rooms.RedisOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s, s
	}},
	{"Disk", func(t *testing.T) (rooms.Store, rooms.Docs) {
		d, err := rooms.OpenDiskDocs(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		s, err := rooms.NewDurableMemoryStore(t.Context(), d, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(); d.Close() })
		return s, d
	}},
}

func newScheduleEnv(t *testing.T, store rooms.Store, docs rooms.Docs) *scheduleEnv {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	e := &scheduleEnv{store: store, docs: docs}
	e.tokens, _ = auth.NewIssuer(secret)
	srv := httptest.NewServer(New(Config{Store: store, Docs: docs, Tokens: e.tokens, Logger: log, PublicURL: "https://class.example.org"}))
	t.Cleanup(srv.Close)
	e.base = srv.URL
	return e
}

func (e *scheduleEnv) token(t *testing.T, room string, role rooms.Role, ttl time.Duration) string {
	t.Helper()
	tok, err := e.tokens.Mint(auth.Grant{Room: room, Identity: "u-" + string(role), Name: "N", Role: role}, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// call sends a request with a JSON body (a string is sent as is) and returns the status and body.
func (e *scheduleEnv) call(t *testing.T, method, path, token string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func (e *scheduleEnv) list(t *testing.T, token string) scheduleList {
	t.Helper()
	code, body := e.call(t, "GET", "/api/rooms/math/schedule", token, nil)
	if code != http.StatusOK {
		t.Fatalf("list: %d %s", code, body)
	}
	var l scheduleList
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestScheduleAPI(t *testing.T) {
	for _, eng := range scheduleEngines {
		t.Run(eng.name, func(t *testing.T) {
			store, docs := eng.open(t)
			testScheduleAPI(t, newScheduleEnv(t, store, docs))
		})
	}
}

func testScheduleAPI(t *testing.T, e *scheduleEnv) {
	ctx := context.Background()
	prof := e.token(t, "math", rooms.RoleInstructor, time.Hour)
	ta := e.token(t, "math", rooms.RoleCoInstructor, time.Hour)
	student := e.token(t, "math", rooms.RoleStudent, time.Hour)

	create := func(tok string, body any) ScheduledSession {
		t.Helper()
		code, b := e.call(t, "POST", "/api/rooms/math/schedule", tok, body)
		if code != http.StatusCreated {
			t.Fatalf("create %v: %d %s", body, code, b)
		}
		var s ScheduledSession
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	// Local times read in the zone they were planned in, daylight saving time included.
	winter := create(prof, map[string]any{"title": "Limits, part 1", "start": "2026-01-15T09:00", "timeZone": "Europe/Paris", "durationMinutes": 90})
	summer := create(ta, map[string]any{"title": "Limits, part 2", "start": "2026-07-01T09:00", "timeZone": "Europe/Paris", "durationMinutes": 60,
		"description": "Bring questions; chapter 3, \"series\""})
	ny := create(prof, map[string]any{"title": "Office hours", "start": "2026-03-10T17:30:00-04:00", "timeZone": "America/New_York", "durationMinutes": 30})
	for _, c := range []struct {
		s         ScheduledSession
		start     string
		end       string
		createdBy string
	}{
		{winter, "2026-01-15T08:00:00Z", "2026-01-15T09:30:00Z", "u-instructor"},
		{summer, "2026-07-01T07:00:00Z", "2026-07-01T08:00:00Z", "u-co_instructor"},
		{ny, "2026-03-10T21:30:00Z", "2026-03-10T22:00:00Z", "u-instructor"},
	} {
		if got := c.s.Start.Format(time.RFC3339) + " " + c.s.End.Format(time.RFC3339); got != c.start+" "+c.end {
			t.Errorf("%s: %s, want %s %s", c.s.Title, got, c.start, c.end)
		}
		if c.s.CreatedBy != c.createdBy || c.s.Status != "ended" || c.s.Sequence != 0 {
			t.Errorf("%s: %+v", c.s.Title, c.s)
		}
	}
	live := create(prof, map[string]any{"title": "Now", "start": time.Now().Add(-10 * time.Minute).Format(time.RFC3339), "durationMinutes": 60})
	soon := create(prof, map[string]any{"title": "Soon", "start": time.Now().Add(10 * time.Minute).Format(time.RFC3339), "durationMinutes": 60})
	later := create(prof, map[string]any{"title": "Later", "start": time.Now().Add(48 * time.Hour).Format(time.RFC3339), "durationMinutes": 60})
	if live.Status != "live" || soon.Status != "soon" || later.Status != "upcoming" || live.TimeZone != "UTC" {
		t.Fatalf("statuses: %s %s %s (zone %s)", live.Status, soon.Status, later.Status, live.TimeZone)
	}

	// A student reads the schedule in start order, and may change nothing.
	l := e.list(t, student)
	if l.CanEdit || !e.list(t, ta).CanEdit {
		t.Fatalf("canEdit: a student's %v, a co-instructor's %v", l.CanEdit, !l.CanEdit)
	}
	var titles []string
	for _, s := range l.Sessions {
		titles = append(titles, s.Title)
	}
	if got := strings.Join(titles, "|"); got != "Limits, part 1|Office hours|Limits, part 2|Now|Soon|Later" {
		t.Fatalf("order: %s", got)
	}
	before := e.list(t, prof)
	for _, c := range []struct{ method, path string }{
		{"POST", "/api/rooms/math/schedule"},
		{"PATCH", "/api/rooms/math/schedule/" + winter.ID},
		{"DELETE", "/api/rooms/math/schedule/" + winter.ID},
	} {
		code, body := e.call(t, c.method, c.path, student, map[string]any{"title": "Mine", "start": "2026-01-01T09:00", "durationMinutes": 5, "cancelled": true})
		if code != http.StatusForbidden || !strings.Contains(string(body), "only an instructor or co-instructor") {
			t.Errorf("student %s %s: %d %s", c.method, c.path, code, body)
		}
	}
	if after := e.list(t, prof); fmt.Sprint(after.Sessions) != fmt.Sprint(before.Sessions) {
		t.Fatalf("a refused change changed the schedule")
	}

	// Who may read: a token of this room, nobody else.
	expired := e.token(t, "math", rooms.RoleStudent, -time.Minute)
	other := e.token(t, "art", rooms.RoleInstructor, time.Hour)
	for _, c := range []struct {
		name, path, token string
		code              int
	}{
		{"no token", "/api/rooms/math/schedule", "", http.StatusUnauthorized},
		{"another room's token", "/api/rooms/math/schedule", other, http.StatusForbidden},
		{"forged", "/api/rooms/math/schedule", student[:len(student)-4] + "AAAA", http.StatusUnauthorized},
		{"expired", "/api/rooms/math/schedule", expired, http.StatusUnauthorized},
		{"a breakout room", "/api/rooms/math.b1/schedule", student, http.StatusNotFound},
		{"feed without a token", "/api/rooms/math/schedule.ics", "", http.StatusUnauthorized},
		{"feed, another room's token", "/api/rooms/math/schedule.ics", other, http.StatusForbidden},
		{"another room's change", "/api/rooms/art/schedule/" + winter.ID, other, http.StatusNotFound},
	} {
		method := "GET"
		if strings.HasPrefix(c.name, "another room's change") {
			method = "DELETE"
		}
		if code, body := e.call(t, method, c.path, c.token, nil); code != c.code {
			t.Errorf("%s: %d %s, want %d", c.name, code, body, c.code)
		}
	}

	// Bad input is refused with a sentence.
	for _, c := range []struct {
		name string
		body any
		code int
		says string
	}{
		{"no body", nil, 400, "needs a JSON body"},
		{"not JSON", "{title", 400, "not valid JSON"},
		{"unknown field", `{"title":"x","start":"2026-01-01T09:00","durationMinutes":5,"room":"art"}`, 400, "unknown field"},
		{"no title", map[string]any{"start": "2026-01-01T09:00", "durationMinutes": 5}, 400, "needs a title"},
		{"blank title", map[string]any{"title": "  ", "start": "2026-01-01T09:00", "durationMinutes": 5}, 400, "must not be empty"},
		{"long title", map[string]any{"title": strings.Repeat("é", 201), "start": "2026-01-01T09:00", "durationMinutes": 5}, 400, "at most 200"},
		{"control character", map[string]any{"title": "a\x07b", "start": "2026-01-01T09:00", "durationMinutes": 5}, 400, "control character"},
		{"bad start", map[string]any{"title": "x", "start": "tomorrow", "durationMinutes": 5}, 400, "is not a time"},
		{"year 1999", map[string]any{"title": "x", "start": "1999-01-01T09:00:00Z", "durationMinutes": 5}, 400, "between the years"},
		{"bad zone", map[string]any{"title": "x", "start": "2026-01-01T09:00", "timeZone": "Mars/Olympus", "durationMinutes": 5}, 400, "not a known IANA zone"},
		{"Local zone", map[string]any{"title": "x", "start": "2026-01-01T09:00", "timeZone": "Local", "durationMinutes": 5}, 400, "IANA zone"},
		{"no duration", map[string]any{"title": "x", "start": "2026-01-01T09:00", "durationMinutes": 0}, 400, "durationMinutes must be"},
		{"too long", map[string]any{"title": "x", "start": "2026-01-01T09:00", "durationMinutes": 721}, 400, "durationMinutes must be"},
		{"unknown lesson", map[string]any{"title": "x", "start": "2026-01-01T09:00", "durationMinutes": 5, "lessonId": "art-1"}, 400, "not a lesson of this room"},
		{"oversize", `{"title":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "over 64 KiB"},
	} {
		code, body := e.call(t, "POST", "/api/rooms/math/schedule", prof, c.body)
		if code != c.code || !strings.Contains(string(body), c.says) {
			t.Errorf("%s: %d %q, want %d saying %q", c.name, code, body, c.code, c.says)
		}
	}

	// Edit, cancel, delete.
	code, body := e.call(t, "PATCH", "/api/rooms/math/schedule/"+winter.ID, ta, map[string]any{"title": "Limits (moved)", "start": "2026-01-16T10:00"})
	var upd ScheduledSession
	if json.Unmarshal(body, &upd); code != 200 || upd.Title != "Limits (moved)" || upd.Start.Format(time.RFC3339) != "2026-01-16T09:00:00Z" ||
		upd.DurationMinutes != 90 || upd.Sequence != 1 || !upd.UpdatedAt.After(winter.UpdatedAt) || upd.CreatedBy != "u-instructor" {
		t.Fatalf("edit: %d %s", code, body)
	}
	code, body = e.call(t, "PATCH", "/api/rooms/math/schedule/"+ny.ID, prof, map[string]any{"cancelled": true})
	if json.Unmarshal(body, &upd); code != 200 || upd.Status != "cancelled" || !upd.Cancelled || upd.Sequence != 1 {
		t.Fatalf("cancel: %d %s", code, body)
	}
	for _, c := range []struct {
		method, id string
		body       any
		code       int
	}{
		{"PATCH", "nope", map[string]any{"cancelled": true}, 404},
		{"PATCH", winter.ID, map[string]any{"durationMinutes": -1}, 400},
		{"DELETE", strings.Repeat("x", 300), nil, 404},
		{"DELETE", later.ID, nil, 204},
		{"DELETE", later.ID, nil, 404},
	} {
		if code, body := e.call(t, c.method, "/api/rooms/math/schedule/"+c.id, prof, c.body); code != c.code {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.id[:min(len(c.id), 10)], code, body, c.code)
		}
	}

	// Recordings: the lesson that started in a session's window, or the one a moderator linked.
	lesson := func(id, status string, at time.Time) {
		if err := e.store.UpdateLesson(ctx, "math", rooms.Lesson{ID: id, Room: "math", Status: status, StartedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	lesson("math-early", "ready", summer.Start.Add(-20*time.Minute)) // too early for the session
	lesson("math-failed", "failed", summer.Start.Add(time.Minute))   // never linked
	lesson("math-summer", "ready", summer.Start.Add(3*time.Minute))
	lesson("math-summer2", "ready", summer.Start.Add(30*time.Minute)) // a second recording: further from the start
	lesson("math-live", "recording", time.Now().Add(-5*time.Minute))
	byTitle := map[string]ScheduledSession{}
	for _, s := range e.list(t, student).Sessions {
		byTitle[s.Title] = s
	}
	if s := byTitle["Limits, part 2"]; s.LessonID != "math-summer" || s.LessonLinked {
		t.Errorf("summer session links %q (linked %v), want math-summer found by time", s.LessonID, s.LessonLinked)
	}
	if s := byTitle["Now"]; s.LessonID != "math-live" {
		t.Errorf("live session links %q", s.LessonID)
	}
	if s := byTitle["Limits (moved)"]; s.LessonID != "" {
		t.Errorf("a session without a recording links %q", s.LessonID)
	}
	// A lesson the library hides from students links to nothing for them (but still for moderators).
	if _, err := rooms.UpdateJSON(ctx, e.docs, "room/math/lessonmeta", "math-summer", func(m *map[string]any, _ bool) error {
		*m = map[string]any{"hidden": true}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]string{student: "math-summer2", prof: "math-summer"} {
		for _, s := range e.list(t, tok).Sessions {
			if s.Title == "Limits, part 2" && s.LessonID != want {
				t.Errorf("with the lesson hidden, the session links %q, want %q", s.LessonID, want)
			}
		}
	}
	if _, err := rooms.UpdateJSON(ctx, e.docs, "room/math/lessonmeta", "math-summer", func(*map[string]any, bool) error { return rooms.ErrDeleteDoc }); err != nil {
		t.Fatal(err)
	}
	code, body = e.call(t, "PATCH", "/api/rooms/math/schedule/"+winter.ID, prof, map[string]any{"lessonId": "math-early"})
	if json.Unmarshal(body, &upd); code != 200 || upd.LessonID != "math-early" || !upd.LessonLinked {
		t.Fatalf("link: %d %s", code, body)
	}

	// The feed: the same sessions, each pointing at its recording or its live room.
	code, body = e.call(t, "GET", "/api/rooms/math/schedule.ics?token="+student, "", nil)
	if code != 200 {
		t.Fatalf("feed: %d %s", code, body)
	}
	events := parseICS(t, body)
	if len(events) != 5 {
		t.Fatalf("feed has %d events, want 5: %s", len(events), body)
	}
	ev := map[string]map[string]string{}
	for _, e := range events {
		ev[e["SUMMARY"]] = e
	}
	if e := ev[`Limits\, part 2`]; e["URL"] != "https://class.example.org/r/math/lessons/math-summer?token="+student ||
		e["DTSTART"] != "20260701T070000Z" || e["DTEND"] != "20260701T080000Z" || e["STATUS"] != "CONFIRMED" ||
		!strings.HasPrefix(e["DESCRIPTION"], `Bring questions\; chapter 3\, "series"\n\nWatch the recording: https://`) {
		t.Errorf("recorded session in the feed: %v", e)
	}
	if e := ev["Office hours"]; e["STATUS"] != "CANCELLED" || e["SEQUENCE"] != "1" || e["URL"] != "https://class.example.org/r/math?token="+student {
		t.Errorf("cancelled session in the feed: %v", e)
	}
	if e := ev["Soon"]; !strings.Contains(e["DESCRIPTION"], "Join the live class: https://class.example.org/r/math?token=") {
		t.Errorf("upcoming session in the feed: %v", e)
	}
}

// parseICS checks the framing of a feed (CRLF, lines of at most 75 octets, one calendar) and
// returns its events' properties, unfolded.
func parseICS(t *testing.T, b []byte) []map[string]string {
	t.Helper()
	s := string(b)
	if !strings.HasSuffix(s, "\r\n") || strings.Contains(strings.ReplaceAll(s, "\r\n", ""), "\n") {
		t.Fatalf("lines must end in CRLF and only there")
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n") {
		if len(l) > 75 {
			t.Fatalf("line of %d octets: %q", len(l), l)
		}
		if strings.HasPrefix(l, " ") {
			lines[len(lines)-1] += l[1:]
			continue
		}
		lines = append(lines, l)
	}
	if lines[0] != "BEGIN:VCALENDAR" || lines[len(lines)-1] != "END:VCALENDAR" || lines[1] != "VERSION:2.0" {
		t.Fatalf("not one calendar: %q", lines)
	}
	var out []map[string]string
	var cur map[string]string
	for _, l := range lines {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("line without a value: %q", l)
		}
		switch {
		case l == "BEGIN:VEVENT":
			cur = map[string]string{}
		case l == "END:VEVENT":
			for _, req := range []string{"UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY", "URL", "STATUS"} {
				if cur[req] == "" {
					t.Errorf("event %v lacks %s", cur, req)
				}
			}
			out = append(out, cur)
			cur = nil
		case cur != nil:
			cur[name] = value
		}
	}
	return out
}

func TestScheduleICSGolden(t *testing.T) {
	at := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	sessions := []ScheduledSession{
		{ID: "s1", Title: "Analysis; limits, series", Description: "Chapter 3\nBring a pen, and C:\\notes", Start: at,
			End: at.Add(90 * time.Minute), UpdatedAt: at.Add(-time.Hour), LessonID: "math-20260302-080100-abcdef"},
		{ID: "s2", Title: "Ünïcödé " + strings.Repeat("é", 40), Start: at.Add(24 * time.Hour), End: at.Add(25 * time.Hour),
			UpdatedAt: at, Cancelled: true, Sequence: 2},
	}
	got := scheduleICS("math", "https://class.example.org", "TOKEN", sessions)
	const golden = "testdata/schedule.ics"
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("feed differs from %s:\n%s", golden, got)
	}
	events := parseICS(t, got)
	if events[0]["SUMMARY"] != `Analysis\; limits\, series` ||
		events[0]["DESCRIPTION"] != `Chapter 3\nBring a pen\, and C:\\notes\n\nWatch the recording: https://class.example.org/r/math/lessons/math-20260302-080100-abcdef?token=TOKEN` {
		t.Fatalf("escaping: %v", events[0])
	}
	if events[1]["SUMMARY"] != "Ünïcödé "+strings.Repeat("é", 40) || events[1]["STATUS"] != "CANCELLED" {
		t.Fatalf("folding lost or split characters: %q", events[1]["SUMMARY"])
	}
}
