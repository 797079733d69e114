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
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/recorder"
	"github.com/chalk-edu/chalk/recorder/storage"
	"github.com/chalk-edu/chalk/recorder/storage/miniotest"
	"github.com/chalk-edu/chalk/rooms"
)

// lessonFixture is a store with lessons of two rooms and their objects in lesson storage.
type lessonFixture struct {
	url    string
	tokens *auth.Issuer
	video  []byte // math's lesson.mp4
}

const (
	mathLesson    = "math-20250101-100000-aaaaaa"
	artLesson     = "art-20250101-100000-bbbbbb"
	pendingLesson = "math-20250102-100000-cccccc"    // in the store, nothing stored yet
	orphanLesson  = "math-20250103-100000-dddddd"    // stored, but no room lists it
	groupLesson   = "math_b1-20250104-100000-eeeeee" // of breakout room math.b1
)

func newLessonFixture(t *testing.T, objects storage.Store) *lessonFixture {
	t.Helper()
	ctx := context.Background()
	store := rooms.NewMemoryStore()
	tokens, _ := auth.NewIssuer(secret)
	video := make([]byte, 300_000)
	for i := range video {
		video[i] = byte(i * 7 / 3)
	}
	dir := t.TempDir()
	put := func(lesson, name string, data []byte) {
		p := filepath.Join(dir, lesson+"-"+strings.ReplaceAll(name, "/", "_"))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := objects.Put(ctx, recorder.Prefix(lesson)+name, p, "application/octet-stream"); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []string{mathLesson, artLesson, orphanLesson, groupLesson} {
		put(l, "lesson.mp4", append([]byte(l), video...))
		put(l, "manifest.json", []byte(`{"lesson":"`+l+`"}`))
		put(l, "job.json", []byte(`{"secret":"journal"}`))
		put(l, "tracks/prof-camera-1.webm", []byte("original track"))
	}
	for room, ls := range map[string][]rooms.Lesson{
		"math":    {{ID: mathLesson, Room: "math", Status: "ready", Video: true}, {ID: pendingLesson, Room: "math", Status: "recording"}},
		"art":     {{ID: artLesson, Room: "art", Status: "ready", Video: true}},
		"math.b1": {{ID: groupLesson, Room: "math.b1", Status: "ready", Video: true}},
	} {
		for _, l := range ls {
			if err := store.UpdateLesson(ctx, room, l); err != nil {
				t.Fatal(err)
			}
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	srv := httptest.NewServer(New(Config{Store: store, Tokens: tokens, Logger: log, Objects: objects}))
	t.Cleanup(srv.Close)
	return &lessonFixture{url: srv.URL, tokens: tokens, video: append([]byte(mathLesson), video...)}
}

func (f *lessonFixture) token(t *testing.T, room string, role rooms.Role) string {
	t.Helper()
	tok, err := f.tokens.Mint(auth.Grant{Room: room, Identity: "u-" + room, Name: "U", Role: role}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// do sends a request without following redirects and returns the response with its body read.
func (f *lessonFixture) do(t *testing.T, method, path, bearer string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	c := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestLessonAPILocal(t *testing.T) {
	s, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	testLessonAPI(t, newLessonFixture(t, s))
}

// TestLessonAPIMinIO runs the same checks with the objects in a real MinIO: Range requests become
// ranged reads of the object.
func TestLessonAPIMinIO(t *testing.T) {
	srv := miniotest.Start(t)
	s, err := storage.NewMinIO(storage.MinIOConfig{
		Endpoint: srv.Endpoint, AccessKey: miniotest.AccessKey, SecretKey: miniotest.SecretKey, Bucket: "lessons",
	})
	if err != nil {
		t.Fatal(err)
	}
	testLessonAPI(t, newLessonFixture(t, s))
}

func testLessonAPI(t *testing.T, f *lessonFixture) {
	student, prof := f.token(t, "math", rooms.RoleStudent), f.token(t, "math", rooms.RoleInstructor)
	artTok := f.token(t, "art", rooms.RoleStudent)
	videoPath := "/api/rooms/math/lessons/" + mathLesson + "/video"

	t.Run("List", func(t *testing.T) {
		for _, tok := range []string{student, prof} {
			resp, body := f.do(t, "GET", "/api/rooms/math/lessons", tok, nil)
			var got lessonListMsg
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &got) != nil {
				t.Fatalf("list: %d %s", resp.StatusCode, body)
			}
			if got.Room != "math" || len(got.Lessons) != 2 || got.Lessons[0].ID != mathLesson || got.Lessons[1].ID != pendingLesson {
				t.Fatalf("list = %+v", got)
			}
		}
		// A breakout room's lessons are its own, for the main room's tokens.
		resp, body := f.do(t, "GET", "/api/rooms/math.b1/lessons", student, nil)
		if resp.StatusCode != 200 || !strings.Contains(string(body), groupLesson) || strings.Contains(string(body), mathLesson) {
			t.Fatalf("breakout list: %d %s", resp.StatusCode, body)
		}
		if resp, body := f.do(t, "GET", "/api/rooms/math.b1/lessons/"+groupLesson+"/video", student, map[string]string{"Range": "bytes=0-5"}); resp.StatusCode != 206 || string(body) != groupLesson[:6] {
			t.Fatalf("breakout video: %d %q", resp.StatusCode, body)
		}
		// ?token= works too; a room without lessons lists none (an empty array, not null).
		resp, body = f.do(t, "GET", "/api/rooms/bio/lessons?token="+f.token(t, "bio", rooms.RoleStudent), "", nil)
		if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"room":"bio","lessons":[]}` {
			t.Fatalf("empty list: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("Video", func(t *testing.T) {
		resp, body := f.do(t, "GET", videoPath, student, nil)
		if resp.StatusCode != 200 || !bytes.Equal(body, f.video) || resp.Header.Get("Content-Type") != "video/mp4" ||
			resp.Header.Get("Accept-Ranges") != "bytes" || resp.Header.Get("ETag") == "" || resp.Header.Get("Last-Modified") == "" {
			t.Fatalf("video: %d, %d bytes of %d, %v", resp.StatusCode, len(body), len(f.video), resp.Header)
		}
		etag := resp.Header.Get("ETag")
		// The same object under its file name.
		if resp, body := f.do(t, "GET", "/api/rooms/math/lessons/"+mathLesson+"/lesson.mp4", prof, nil); resp.StatusCode != 200 || !bytes.Equal(body, f.video) {
			t.Fatalf("lesson.mp4: %d, %d bytes", resp.StatusCode, len(body))
		}
		// A player seeks: Range, by header and with the token in the URL as a <video> sends it.
		for _, c := range []struct {
			rng      string
			from, to int // inclusive
		}{{"bytes=100-199", 100, 199}, {"bytes=250000-", 250000, len(f.video) - 1}, {"bytes=-10", len(f.video) - 10, len(f.video) - 1}} {
			resp, body := f.do(t, "GET", videoPath+"?token="+student, "", map[string]string{"Range": c.rng})
			want := fmt.Sprintf("bytes %d-%d/%d", c.from, c.to, len(f.video))
			if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != want || !bytes.Equal(body, f.video[c.from:c.to+1]) {
				t.Fatalf("range %s: %d %q, %d bytes; want 206 %q", c.rng, resp.StatusCode, resp.Header.Get("Content-Range"), len(body), want)
			}
		}
		if resp, _ := f.do(t, "GET", videoPath, student, map[string]string{"Range": "bytes=999999999-"}); resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
			t.Fatalf("range past the end: %d", resp.StatusCode)
		}
		if resp, body := f.do(t, "GET", videoPath, student, map[string]string{"If-None-Match": etag}); resp.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Fatalf("revalidation: %d, %d bytes", resp.StatusCode, len(body))
		}
		if resp, body := f.do(t, "HEAD", videoPath, student, nil); resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != int64(len(f.video)) {
			t.Fatalf("HEAD: %d, length %d", resp.StatusCode, resp.ContentLength)
		}
		resp, body = f.do(t, "GET", "/api/rooms/math/lessons/"+mathLesson+"/manifest.json", student, nil)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), mathLesson) {
			t.Fatalf("manifest: %d %v %s", resp.StatusCode, resp.Header, body)
		}
	})

	t.Run("Denied", func(t *testing.T) {
		cases := []struct {
			name, path, bearer string
			want               int
		}{
			{"list without a token", "/api/rooms/math/lessons", "", 401},
			{"video without a token", videoPath, "", 401},
			{"list with a bad token", "/api/rooms/math/lessons", "not-a-token", 401},
			{"video with a bad token", videoPath + "?token=forged", "", 401},
			{"list with another room's token", "/api/rooms/math/lessons", artTok, 403},
			{"video with another room's token", videoPath, artTok, 403},
			{"another room's token in the URL", videoPath + "?token=" + artTok, "", 403},
			// The lesson exists, stored and listed — for art: math's token must not reach it
			// through math's path, and art's token must not reach it through art's path with
			// math's lesson.
			{"another room's lesson", "/api/rooms/math/lessons/" + artLesson + "/video", student, 404},
			{"this room's lesson through another room", "/api/rooms/art/lessons/" + mathLesson + "/video", artTok, 404},
			{"a stored lesson no room lists", "/api/rooms/math/lessons/" + orphanLesson + "/video", prof, 404},
			{"a listed lesson not stored yet", "/api/rooms/math/lessons/" + pendingLesson + "/video", student, 404},
			{"an unknown lesson", "/api/rooms/math/lessons/nope/video", student, 404},
			{"the journal", "/api/rooms/math/lessons/" + mathLesson + "/job.json", prof, 404},
			{"an original track", "/api/rooms/math/lessons/" + mathLesson + "/tracks/prof-camera-1.webm", prof, 404},
			{"an original track, slash escaped", "/api/rooms/math/lessons/" + mathLesson + "/tracks%2Fprof-camera-1.webm", prof, 404},
			{"escaped dot-dot in the object", "/api/rooms/math/lessons/" + mathLesson + "/..%2F" + artLesson + "%2Flesson.mp4", student, 404},
			{"escaped dot-dot in the id", "/api/rooms/math/lessons/..%2F" + artLesson + "/video", student, 404},
			{"escaped absolute id", "/api/rooms/math/lessons/%2Flessons%2F" + artLesson + "/video", student, 404},
			{"a dot id", "/api/rooms/math/lessons/%2E%2E/video", student, 404},
			{"a bad room name", "/api/rooms/ma.th/lessons", student, 404},
			{"a bad breakout room name", "/api/rooms/math.b1.b2/lessons", student, 404},
			{"another room's breakout", "/api/rooms/math.b1/lessons", artTok, 403},
			{"a breakout's lesson through the main room", "/api/rooms/math/lessons/" + groupLesson + "/video", student, 404},
			{"the main room's lesson through a breakout", "/api/rooms/math.b1/lessons/" + mathLesson + "/video", student, 404},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				resp, body := f.do(t, "GET", c.path, c.bearer, nil)
				if resp.StatusCode != c.want {
					t.Fatalf("%s: %d %s; want %d", c.path, resp.StatusCode, body, c.want)
				}
				if c.want == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("401 without WWW-Authenticate: %v", resp.Header)
				}
			})
		}
		// Paths the router cleans (literal dot-dot) redirect to the cleaned path, which is then
		// checked like any other: followed to the end, none gives an object's bytes.
		follow := &http.Client{Timeout: 30 * time.Second}
		for _, p := range []string{
			"/api/rooms/math/lessons/" + mathLesson + "/../" + artLesson + "/video",
			"/api/rooms/math/lessons/../../art/lessons/" + artLesson + "/video",
			"/api/rooms/math/lessons/" + mathLesson + "/./video/../../../../" + artLesson + "/lesson.mp4",
		} {
			req, _ := http.NewRequest("GET", f.url+p, nil)
			req.Header.Set("Authorization", "Bearer "+student)
			resp, err := follow.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode < 400 || bytes.Contains(body, f.video[len(mathLesson):len(mathLesson)+100]) {
				t.Errorf("%s: ended at %s with %d %.200q", p, resp.Request.URL.Path, resp.StatusCode, body)
			}
		}
	})
}
