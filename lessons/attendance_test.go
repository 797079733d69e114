package lessons

import (
	"context"
	"encoding/csv"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
)

const secret = "a-test-secret-of-at-least-32-bytes!!"

// attendanceEnv is a store and the API over it, as cmd/chalk mounts it.
type attendanceEnv struct {
	store  *rooms.MemoryStore
	tokens *auth.Issuer
	base   string
}

func newAttendanceEnv(t *testing.T) *attendanceEnv {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	e := &attendanceEnv{store: rooms.NewMemoryStore()}
	e.tokens, _ = auth.NewIssuer(secret)
	srv := httptest.NewServer(New(Config{Store: e.store, Tokens: e.tokens, Logger: log}))
	t.Cleanup(srv.Close)
	e.base = srv.URL
	return e
}

func (e *attendanceEnv) token(t *testing.T, room, identity, name string, role rooms.Role) string {
	t.Helper()
	tok, err := e.tokens.Mint(auth.Grant{Room: room, Identity: identity, Name: name, Role: role}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// join puts identity in room as the signaling hub does (the store records the stay).
func (e *attendanceEnv) join(t *testing.T, room, identity, name string, role rooms.Role) {
	t.Helper()
	p := rooms.Participant{ID: "P-" + identity, Identity: identity, Name: name, Role: role, JoinedAt: time.Now()}
	if _, _, err := e.store.Join(context.Background(), room, p); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, url, bearer string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestAttendanceCSV(t *testing.T) {
	env := newAttendanceEnv(t)
	base := env.base
	env.join(t, "math", "prof", "prof", rooms.RoleInstructor)
	env.join(t, "math", "ada", "ada", rooms.RoleStudent)
	env.join(t, "math", "mallory", "=HYPERLINK(\"http://x\")", rooms.RoleStudent)
	if err := env.store.Leave(context.Background(), "math", "P-ada", rooms.ReasonLeft); err != nil {
		t.Fatal(err)
	}
	// Breakout rooms are rooms of their own; their attendance comes with the main room's.
	env.join(t, "math.b1", "bea", "Bea", rooms.RoleStudent)

	url := base + "/api/rooms/math/attendance.csv"
	resp, body := get(t, url, env.token(t, "math", "prof", "Prof", rooms.RoleInstructor))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), `filename="math-attendance.csv"`) {
		t.Fatalf("export: %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, body)
	}
	if !slices.Equal(rows[0], []string{"identity", "name", "role", "room", "joined_at", "left_at", "duration_seconds"}) {
		t.Fatalf("header %q", rows[0])
	}
	want := [][]string{ // identity, name, role, room, has left
		{"prof", "prof", "instructor", "math", ""},
		{"ada", "ada", "student", "math", "left"},
		{"mallory", `'=HYPERLINK("http://x")`, "student", "math", ""}, // a formula is defused
		{"bea", "Bea", "student", "math.b1", ""},
	}
	if len(rows) != len(want)+1 {
		t.Fatalf("%d rows, want %d:\n%s", len(rows)-1, len(want), body)
	}
	for i, w := range want {
		row := rows[i+1]
		if !slices.Equal(row[:4], w[:4]) {
			t.Errorf("row %d = %q, want %q", i+1, row, w)
		}
		joined, err := time.Parse(time.RFC3339, row[4])
		if err != nil || !strings.HasSuffix(row[4], "Z") || time.Since(joined) > time.Minute {
			t.Errorf("row %d: joined_at %q is not a recent RFC 3339 UTC time (%v)", i+1, row[4], err)
		}
		if left := row[5] != ""; left != (w[4] == "left") {
			t.Errorf("row %d: left_at %q", i+1, row[5])
		} else if left {
			if l, err := time.Parse(time.RFC3339, row[5]); err != nil || l.Before(joined) || !strings.HasSuffix(row[5], "Z") {
				t.Errorf("row %d: left_at %q (%v)", i+1, row[5], err)
			}
		}
		if d, err := strconv.Atoi(row[6]); err != nil || d < 0 || d > 60 {
			t.Errorf("row %d: duration_seconds %q", i+1, row[6])
		}
	}

	// ?token= works as well as the header, and a co-instructor may export too.
	if resp, body := get(t, url+"?token="+env.token(t, "math", "ta", "TA", rooms.RoleCoInstructor), ""); resp.StatusCode != 200 || !strings.Contains(body, "mallory") {
		t.Fatalf("export with ?token=: %d %s", resp.StatusCode, body)
	}

	other, _ := auth.NewIssuer(strings.Repeat("o", 40))
	forged, _ := other.Mint(auth.Grant{Room: "math", Identity: "eve", Role: rooms.RoleInstructor}, time.Hour)
	expired, _ := env.tokens.Mint(auth.Grant{Room: "math", Identity: "prof", Role: rooms.RoleInstructor}, -time.Hour)
	for _, tc := range []struct {
		what, path, token string
		code              int
		want              string
	}{
		{"no token", "/api/rooms/math/attendance.csv", "", 401, "token"},
		{"a student's token", "/api/rooms/math/attendance.csv", env.token(t, "math", "ada", "Ada", rooms.RoleStudent), 403, "only an instructor"},
		{"another room's token", "/api/rooms/math/attendance.csv", env.token(t, "art", "prof", "Prof", rooms.RoleInstructor), 403, "another room"},
		{"a forged token", "/api/rooms/math/attendance.csv", forged, 401, "not valid"},
		{"an expired token", "/api/rooms/math/attendance.csv", expired, 401, "expired"},
		{"a bad room name", "/api/rooms/no.dots/attendance.csv", env.token(t, "no.dots", "prof", "Prof", rooms.RoleInstructor), 404, "no such room"},
	} {
		resp, body := get(t, base+tc.path, tc.token)
		if resp.StatusCode != tc.code || !strings.Contains(body, tc.want) || strings.Contains(body, "mallory") {
			t.Errorf("%s: %d %q, want %d mentioning %q", tc.what, resp.StatusCode, body, tc.code, tc.want)
		}
		if tc.code == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: WWW-Authenticate %q", tc.what, resp.Header.Get("WWW-Authenticate"))
		}
	}
}

func TestAttendanceRow(t *testing.T) {
	joined := time.Date(2026, 3, 2, 9, 0, 0, 900_000_000, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		rec  rooms.AttendanceRecord
		now  time.Time
		want []string
	}{
		{rooms.AttendanceRecord{Room: "r", Identity: "u1", Name: "Ada", Role: rooms.RoleStudent, JoinedAt: joined, LeftAt: joined.Add(90*time.Minute + 500*time.Millisecond)},
			time.Time{}, []string{"u1", "Ada", "student", "r", "2026-03-02T08:00:00Z", "2026-03-02T09:30:01Z", "5400"}},
		{rooms.AttendanceRecord{Room: "r.b2", Identity: "-u2", Name: "+1 @x", Role: rooms.RoleCoInstructor, JoinedAt: joined},
			joined.Add(75 * time.Second), []string{"'-u2", "'+1 @x", "co_instructor", "r.b2", "2026-03-02T08:00:00Z", "", "75"}},
	} {
		if got := attendanceRow(tc.rec, tc.now); !slices.Equal(got, tc.want) {
			t.Errorf("attendanceRow(%+v) = %q, want %q", tc.rec, got, tc.want)
		}
	}
}
