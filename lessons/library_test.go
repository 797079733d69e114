package lessons

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/recorder"
	"github.com/chalk-edu/chalk/recorder/storage"
	"github.com/chalk-edu/chalk/recorder/storage/miniotest"
	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/rooms/redistest"
)

// libraryFixture: room "chem" with an old lesson, a recent one the students attended, one still
// processing, and room "bio" with one lesson; objects in lesson storage, course records in Docs.
type libraryFixture struct {
	url     string
	tokens  *auth.Issuer
	store   rooms.Store
	docs    rooms.Docs
	objects storage.Store
}

const (
	oldLesson  = "chem-20250101-090000-aaaaaa"
	newLesson  = "chem-20250301-090000-bbbbbb"
	busyLesson = "chem-20250302-090000-cccccc"
	bioLesson  = "bio-20250301-090000-dddddd"
)

func newLibraryFixture(t *testing.T, store rooms.Store, docs rooms.Docs, objects storage.Store) *libraryFixture {
	t.Helper()
	ctx := context.Background()
	f := &libraryFixture{store: store, docs: docs, objects: objects}
	f.tokens, _ = auth.NewIssuer(secret)
	now := time.Now().UTC()
	dir := t.TempDir()
	put := func(lesson, name, data string) {
		p := filepath.Join(dir, lesson+"-"+strings.ReplaceAll(name, "/", "_"))
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := objects.Put(ctx, recorder.Prefix(lesson)+name, p, "application/octet-stream"); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []string{oldLesson, newLesson, bioLesson} {
		put(l, "lesson.mp4", "video of "+l)
		put(l, "poster.jpg", "poster of "+l)
		put(l, "manifest.json", `{"lesson":"`+l+`"}`)
		put(l, "tracks/prof-camera.webm", "track of "+l)
	}
	put(newLesson, "timeline.json", testTimeline)
	for _, l := range []rooms.Lesson{
		{ID: oldLesson, Room: "chem", Status: "ready", StartedAt: now.Add(-48 * time.Hour), Duration: 1800, Video: true, Preview: true, UpdatedAt: now},
		{ID: newLesson, Room: "chem", Status: "ready", StartedAt: now.Add(-10 * time.Minute), Duration: 3600, Video: true, Preview: true, UpdatedAt: now},
		{ID: busyLesson, Room: "chem", Status: "processing", StartedAt: now.Add(-5 * time.Minute), Duration: 600, Preview: true, UpdatedAt: now},
		{ID: bioLesson, Room: "bio", Status: "ready", StartedAt: now.Add(-time.Hour), Duration: 600, Video: true, UpdatedAt: now},
	} {
		if err := store.UpdateLesson(ctx, l.Room, l); err != nil {
			t.Fatal(err)
		}
	}
	// Two students and the instructor are in chem now (during newLesson and busyLesson, long after
	// oldLesson); a student in a breakout room counts for the main room's lessons only if recorded there.
	for _, p := range []rooms.Participant{
		{ID: "P-ada", Identity: "ada", Name: "Ada", Role: rooms.RoleStudent, JoinedAt: now},
		{ID: "P-bob", Identity: "bob", Name: "Bob", Role: rooms.RoleStudent, JoinedAt: now},
		{ID: "P-prof", Identity: "prof", Name: "Prof", Role: rooms.RoleInstructor, JoinedAt: now},
	} {
		if _, _, err := store.Join(ctx, "chem", p); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := store.Join(ctx, "chem.b1", rooms.Participant{ID: "P-cy", Identity: "cy", Name: "Cy", Role: rooms.RoleStudent, JoinedAt: now}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	srv := httptest.NewServer(New(Config{Store: store, Docs: docs, Objects: objects, Tokens: f.tokens, Logger: log}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// testTimeline is newLesson's timeline: chat (public, private, deleted), a quiz closed and one
// left open, breakout rooms, a screen share.
const testTimeline = `{"lesson":"` + newLesson + `","room":"chem","duration":3600,"events":[
{"t":0,"type":"recording_started"},
{"t":5,"type":"chat","data":{"type":"chat","chat":{"id":"c1","fromIdentity":"ada","fromName":"Ada","fromRole":"student","text":"Hello <b>all</b>"}}},
{"t":6,"type":"chat","data":{"type":"chat","chat":{"id":"c2","fromIdentity":"ada","fromName":"Ada","fromRole":"student","to":"instructors","text":"ada's private question"}}},
{"t":7,"type":"chat","data":{"type":"chat","chat":{"id":"c3","fromIdentity":"bob","fromName":"Bob","fromRole":"student","to":"instructors","text":"bob's private question"}}},
{"t":8,"type":"chat","data":{"type":"chat","chat":{"id":"c4","fromIdentity":"bob","fromName":"Bob","fromRole":"student","text":"rude words"}}},
{"t":9,"type":"chat_deleted","data":{"type":"chat_deleted","chatId":"c4"}},
{"t":10,"type":"poll_created","data":{"type":"poll_created","poll":{"id":"p1","question":"2+2?","options":["3","4"],"correct":[1]}}},
{"t":20,"type":"poll_closed","data":{"type":"poll_closed","pollId":"p1","poll":{"id":"p1","question":"2+2?","options":["3","4"],"correct":[1]},"pollResults":{"counts":[1,2],"voters":3,"votes":[{"identity":"ada"}]}}},
{"t":30,"type":"poll_created","data":{"type":"poll_created","poll":{"id":"p2","question":"Open quiz","options":["a","b"],"correct":[0]}}},
{"t":40,"type":"breakouts_opened","data":{"type":"breakouts_opened","breakouts":{"rooms":[{"number":1},{"number":2}]}}},
{"t":100,"type":"breakouts_closed","data":{"type":"breakouts_closed"}},
{"t":110,"type":"track_recording_started","participantId":"P-prof","data":{"participantId":"P-prof","name":"Prof","source":"screen"}},
{"t":150,"type":"track_recording_ended","participantId":"P-prof","data":{"participantId":"P-prof","name":"Prof","source":"screen","frames":10}},
{"t":3600,"type":"recording_stopped"}]}`

func (f *libraryFixture) token(t *testing.T, room, identity string, role rooms.Role) string {
	t.Helper()
	tok, err := f.tokens.Mint(auth.Grant{Room: room, Identity: identity, Name: strings.ToUpper(identity[:1]) + identity[1:], Role: role}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *libraryFixture) do(t *testing.T, method, path, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.url+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestLibraryMemoryLocal(t *testing.T) {
	objects, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	testLibrary(t, newLibraryFixture(t, rooms.NewMemoryStore(), rooms.NewMemoryDocs(), objects))
}

// TestLibraryRedisMinIO runs the same checks on a real Redis (store and course records) and a real
// MinIO (objects): deleting a lesson removes its objects from the bucket.
func TestLibraryRedisMinIO(t *testing.T) {
	ctx := context.Background()
	rs, err := rooms.NewRedisStore(ctx, redistest.Start(t), rooms.RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	srv := miniotest.Start(t)
	objects, err := storage.NewMinIO(storage.MinIOConfig{
		Endpoint: srv.Endpoint, AccessKey: miniotest.AccessKey, SecretKey: miniotest.SecretKey, Bucket: "lessons",
	})
	if err != nil {
		t.Fatal(err)
	}
	testLibrary(t, newLibraryFixture(t, rs, rs, objects))
}

func testLibrary(t *testing.T, f *libraryFixture) {
	ctx := context.Background()
	student, bob := f.token(t, "chem", "ada", rooms.RoleStudent), f.token(t, "chem", "bob", rooms.RoleStudent)
	prof, ta := f.token(t, "chem", "prof", rooms.RoleInstructor), f.token(t, "chem", "ta", rooms.RoleCoInstructor)
	bioProf := f.token(t, "bio", "prof", rooms.RoleInstructor)
	lessonPath := "/api/rooms/chem/lessons/" + newLesson

	library := func(t *testing.T, tok string) libraryMsg {
		t.Helper()
		code, body := f.do(t, "GET", "/api/rooms/chem/library", tok, "")
		var m libraryMsg
		if code != 200 || json.Unmarshal([]byte(body), &m) != nil {
			t.Fatalf("library: %d %s", code, body)
		}
		return m
	}
	ids := func(m libraryMsg) []string {
		var out []string
		for _, l := range m.Lessons {
			out = append(out, l.ID)
		}
		return out
	}

	t.Run("List", func(t *testing.T) {
		m := library(t, student)
		if m.Room != "chem" || m.Viewer.Identity != "ada" || m.Viewer.Moderator || !slices.Equal(ids(m), []string{busyLesson, newLesson, oldLesson}) {
			t.Fatalf("library = %+v", m)
		}
		busy, recent, old := m.Lessons[0], m.Lessons[1], m.Lessons[2]
		if recent.Title == "" || recent.CustomTitle || !strings.HasPrefix(recent.Title, "Lesson of ") || recent.Duration != 3600 ||
			recent.Poster != lessonPath+"/poster.jpg" || recent.Hidden || recent.Status != "ready" {
			t.Errorf("recent lesson = %+v", recent)
		}
		// Ada and Bob were in chem during the recent lessons and Cy in one of its breakout rooms;
		// the instructor is no student, and nobody was there two days ago.
		if recent.Attendance != 3 || busy.Attendance != 3 || old.Attendance != 0 {
			t.Errorf("attendance: recent %d, processing %d, old %d; want 3, 3, 0", recent.Attendance, busy.Attendance, old.Attendance)
		}
		if busy.Poster != "" || busy.Status != "processing" || !busy.Preview {
			t.Errorf("processing lesson = %+v", busy)
		}
		if m := library(t, prof); !m.Viewer.Moderator || m.Viewer.Role != rooms.RoleInstructor {
			t.Errorf("an instructor's viewer = %+v", m.Viewer)
		}
		// Empty room: an empty array.
		if code, body := f.do(t, "GET", "/api/rooms/empty/library", f.token(t, "empty", "x", rooms.RoleStudent), ""); code != 200 || !strings.Contains(body, `"lessons":[]`) {
			t.Errorf("empty library: %d %s", code, body)
		}
		// One lesson as the library shows it.
		code, body := f.do(t, "GET", lessonPath, student, "")
		if code != 200 || !strings.Contains(body, `"id":"`+newLesson+`"`) || !strings.Contains(body, `"viewer":{"identity":"ada"`) {
			t.Errorf("one lesson: %d %s", code, body)
		}
	})

	t.Run("Counts", func(t *testing.T) {
		// Ada watches half a minute and asks something; Bob does neither; the instructor's own
		// viewing is not a student's.
		for _, c := range []struct{ tok, path, body string }{
			{student, lessonPath + "/progress", `{"watched":[[0,30]],"position":30}`},
			{prof, lessonPath + "/progress", `{"watched":[[0,60]],"position":60}`},
			{student, lessonPath + "/threads", `{"at":12,"text":"Why?"}`},
		} {
			if code, body := f.do(t, "POST", c.path, c.tok, c.body); code != 200 && code != 201 {
				t.Fatalf("POST %s: %d %s", c.path, code, body)
			}
		}
		m := library(t, bob)
		if l := m.Lessons[1]; l.WatchCount != 1 || l.Threads != 1 || l.Questions != 0 {
			t.Errorf("counts = watched %d, threads %d, questions %d; want 1, 1, 0", l.WatchCount, l.Threads, l.Questions)
		}
		if l := m.Lessons[2]; l.WatchCount != 0 || l.Threads != 0 {
			t.Errorf("another lesson's counts = %+v", l)
		}
	})

	t.Run("Edit", func(t *testing.T) {
		code, body := f.do(t, "PATCH", lessonPath, prof, `{"title":"  Acids\n and   bases ","description":"Chapter 4: pH.\n\nRead pages 80-95."}`)
		var l LibraryLesson
		if code != 200 || json.Unmarshal([]byte(body), &l) != nil || l.Title != "Acids and bases" || !l.CustomTitle ||
			l.Description != "Chapter 4: pH.\n\nRead pages 80-95." || l.ID != newLesson {
			t.Fatalf("rename: %d %s", code, body)
		}
		// A co-instructor may edit; a field left out is kept.
		if code, body := f.do(t, "PATCH", lessonPath, ta, `{"description":"Chapter 4."}`); code != 200 || !strings.Contains(body, `"title":"Acids and bases"`) {
			t.Fatalf("co-instructor: %d %s", code, body)
		}
		if m := library(t, student); m.Lessons[1].Title != "Acids and bases" || m.Lessons[1].Description != "Chapter 4." {
			t.Fatalf("students see %+v", m.Lessons[1])
		}
		// An empty title goes back to the default.
		if code, body := f.do(t, "PATCH", lessonPath, prof, `{"title":""}`); code != 200 || !strings.Contains(body, `"customTitle":false`) || !strings.Contains(body, `"title":"Lesson of `) {
			t.Fatalf("reset title: %d %s", code, body)
		}
		for _, c := range []struct {
			what, method, path, token, body string
			code                            int
			want                            string
		}{
			{"a student renames", "PATCH", lessonPath, student, `{"title":"mine"}`, 403, "only an instructor"},
			{"a student deletes", "DELETE", lessonPath, student, ``, 403, "only an instructor"},
			{"no token", "PATCH", lessonPath, "", `{"title":"x"}`, 401, "token"},
			{"a forged token", "PATCH", lessonPath, "x.y.z", `{"title":"x"}`, 401, ""},
			{"another room's instructor", "PATCH", lessonPath, bioProf, `{"title":"x"}`, 403, "another room"},
			{"another room's lesson", "PATCH", "/api/rooms/chem/lessons/" + bioLesson, prof, `{"title":"x"}`, 404, "no such lesson"},
			{"another room's lesson deleted", "DELETE", "/api/rooms/chem/lessons/" + bioLesson, prof, ``, 404, "no such lesson"},
			{"an unknown lesson", "PATCH", "/api/rooms/chem/lessons/chem-nope", prof, `{"title":"x"}`, 404, "no such lesson"},
			{"bad JSON", "PATCH", lessonPath, prof, `{"title":`, 400, "JSON"},
			{"an unknown field", "PATCH", lessonPath, prof, `{"name":"x"}`, 400, "unknown field"},
			{"a wrong type", "PATCH", lessonPath, prof, `{"hidden":"yes"}`, 400, "JSON"},
			{"nothing to change", "PATCH", lessonPath, prof, `{}`, 400, "nothing to change"},
			{"a long title", "PATCH", lessonPath, prof, `{"title":"` + strings.Repeat("é", 201) + `"}`, 400, "201 characters"},
			{"a long description", "PATCH", lessonPath, prof, `{"description":"` + strings.Repeat("x", 5001) + `"}`, 400, "5001 characters"},
			{"a huge body", "PATCH", lessonPath, prof, `{"description":"` + strings.Repeat("x", 70000) + `"}`, 413, "larger"},
			{"delete while processing", "DELETE", "/api/rooms/chem/lessons/" + busyLesson, prof, ``, 409, "still processing"},
		} {
			code, body := f.do(t, c.method, c.path, c.token, c.body)
			if code != c.code || !strings.Contains(body, c.want) {
				t.Errorf("%s: %d %q; want %d mentioning %q", c.what, code, body, c.code, c.want)
			}
		}
		if m := library(t, student); m.Lessons[1].CustomTitle {
			t.Errorf("a refused change changed the lesson: %+v", m.Lessons[1])
		}
	})

	t.Run("Hidden", func(t *testing.T) {
		if code, body := f.do(t, "PATCH", lessonPath, prof, `{"hidden":true}`); code != 200 || !strings.Contains(body, `"hidden":true`) {
			t.Fatalf("hide: %d %s", code, body)
		}
		if m := library(t, student); slices.Contains(ids(m), newLesson) {
			t.Fatalf("a student's library lists the hidden lesson: %v", ids(m))
		}
		if m := library(t, prof); !slices.Contains(ids(m), newLesson) || !m.Lessons[1].Hidden {
			t.Fatalf("the instructor's library lacks the hidden lesson: %+v", m.Lessons)
		}
		// Every endpoint of the lesson is 404 for students, as if it did not exist.
		for _, p := range []string{"/api/rooms/chem/lessons", lessonPath, lessonPath + "/video", lessonPath + "/poster.jpg",
			lessonPath + "/manifest.json", lessonPath + "/replay", lessonPath + "/timeline.json"} {
			code, body := f.do(t, "GET", p, student, "")
			if p == "/api/rooms/chem/lessons" {
				if code != 200 || strings.Contains(body, newLesson) {
					t.Errorf("a student's lesson list: %d %s", code, body)
				}
				continue
			}
			if code != 404 || strings.Contains(body, "video of") {
				t.Errorf("student GET %s of a hidden lesson: %d %q; want 404", p, code, body)
			}
			if code, _ := f.do(t, "GET", p+"?token="+student, "", ""); code != 404 {
				t.Errorf("student GET %s?token= of a hidden lesson: %d", p, code)
			}
			if code, _ := f.do(t, "GET", p, ta, ""); code != 200 {
				t.Errorf("co-instructor GET %s of a hidden lesson: %d", p, code)
			}
		}
		if code, _ := f.do(t, "PATCH", lessonPath, prof, `{"hidden":false}`); code != 200 {
			t.Fatal("unhide")
		}
		if code, _ := f.do(t, "GET", lessonPath+"/video", student, ""); code != 200 {
			t.Fatalf("video after unhiding: %d", code)
		}
	})

	t.Run("Replay", func(t *testing.T) {
		replay := func(tok string) replayMsg {
			t.Helper()
			code, body := f.do(t, "GET", lessonPath+"/replay", tok, "")
			var m replayMsg
			if code != 200 || json.Unmarshal([]byte(body), &m) != nil {
				t.Fatalf("replay: %d %s", code, body)
			}
			if strings.Contains(body, "rude words") || strings.Contains(body, `"votes"`) {
				t.Fatalf("the replay has a deleted message or who voted what: %s", body)
			}
			return m
		}
		chatIDs := func(m replayMsg) (out []string) {
			for _, c := range m.Chat {
				out = append(out, c.ID)
			}
			return out
		}
		ada, b, p := replay(student), replay(bob), replay(prof)
		// Private messages: for their sender and the instructors.
		if got := chatIDs(ada); !slices.Equal(got, []string{"c1", "c2"}) {
			t.Errorf("Ada's chat = %v", got)
		}
		if got := chatIDs(b); !slices.Equal(got, []string{"c1", "c3"}) {
			t.Errorf("Bob's chat = %v", got)
		}
		if got := chatIDs(p); !slices.Equal(got, []string{"c1", "c2", "c3"}) {
			t.Errorf("the instructor's chat = %v", got)
		}
		if c := ada.Chat[0]; c.T != 5 || c.FromName != "Ada" || c.Text != "Hello <b>all</b>" {
			t.Errorf("chat message = %+v", c)
		}
		// The closed quiz with its results and answer; the open one without its answer for students.
		if len(ada.Polls) != 2 || !ada.Polls[0].Closed || ada.Polls[0].ClosedT != 20 || ada.Polls[0].Results == nil ||
			!slices.Equal(ada.Polls[0].Results.Counts, []int{1, 2}) || !slices.Equal(ada.Polls[0].Correct, []int{1}) {
			t.Errorf("closed poll = %+v", ada.Polls)
		}
		if ada.Polls[1].Closed || ada.Polls[1].Correct != nil || !ada.Polls[1].Quiz || !slices.Equal(p.Polls[1].Correct, []int{0}) {
			t.Errorf("open quiz: student %+v, instructor %+v", ada.Polls[1], p.Polls[1])
		}
		want := []replayChapter{{"breakouts", 40, 100, "Breakout rooms (2)"}, {"screen", 110, 150, "Prof shares their screen"}}
		if !slices.Equal(ada.Chapters, want) {
			t.Errorf("chapters = %+v, want %+v", ada.Chapters, want)
		}
		// The raw timeline is the instructors'.
		if code, body := f.do(t, "GET", lessonPath+"/timeline.json", student, ""); code != 403 || !strings.Contains(body, "/replay") {
			t.Errorf("a student's raw timeline: %d %s", code, body)
		}
		if code, body := f.do(t, "GET", lessonPath+"/timeline.json", prof, ""); code != 200 || !strings.Contains(body, "rude words") {
			t.Errorf("the instructor's raw timeline: %d", code)
		}
		// A lesson without a timeline yet.
		if code, _ := f.do(t, "GET", "/api/rooms/chem/lessons/"+oldLesson+"/replay", student, ""); code != 404 {
			t.Errorf("replay without a timeline: %d", code)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		// A course record of the lesson and its details.
		coll := "lesson/chem/" + newLesson + "/threads"
		if err := f.docs.UpdateDoc(ctx, coll, "t1", func([]byte) ([]byte, error) { return []byte(`{"text":"hi"}`), nil }); err != nil {
			t.Fatal(err)
		}
		if code, _ := f.do(t, "PATCH", lessonPath, prof, `{"title":"Doomed"}`); code != 200 {
			t.Fatal("rename")
		}
		if code, body := f.do(t, "DELETE", lessonPath, prof, ""); code != 204 {
			t.Fatalf("delete: %d %s", code, body)
		}
		if objs, err := f.objects.List(ctx, recorder.Prefix(newLesson)); err != nil || len(objs) != 0 {
			t.Errorf("objects left after the delete: %v, %v", objs, err)
		}
		if docs, err := f.docs.ListDocs(ctx, coll); err != nil || len(docs) != 0 {
			t.Errorf("course records left: %v, %v", docs, err)
		}
		if _, err := f.docs.GetDoc(ctx, metaCollection("chem"), newLesson); err == nil {
			t.Error("the lesson's details are left")
		}
		if m := library(t, prof); slices.Contains(ids(m), newLesson) || len(m.Lessons) != 2 {
			t.Errorf("library after the delete: %v", ids(m))
		}
		for _, p := range []string{lessonPath, lessonPath + "/video", lessonPath + "/replay"} {
			if code, _ := f.do(t, "GET", p, prof, ""); code != 404 {
				t.Errorf("GET %s after the delete: %d", p, code)
			}
		}
		if code, _ := f.do(t, "DELETE", lessonPath, prof, ""); code != 404 {
			t.Errorf("deleting twice: %d", code)
		}
		// The other lessons keep their objects.
		for _, l := range []string{oldLesson, bioLesson} {
			if objs, err := f.objects.List(ctx, recorder.Prefix(l)); err != nil || len(objs) != 4 {
				t.Errorf("%s's objects after deleting another lesson: %d, %v", l, len(objs), err)
			}
		}
	})
}
