package lessons

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/recorder/storage"
	"github.com/chalk-edu/chalk/recorder/storage/miniotest"
	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/rooms/redistest"
)

// The API of threads, questions and progress, over a real Redis (the store and the course records)
// and a real MinIO (the lessons' timelines), as cmd/chalk mounts it.

type dataEnv struct {
	redisURL string
	objects  storage.Store
	tokens   *auth.Issuer
	skew     atomic.Int64 // added to the service's clock, to pass the heartbeat rate limit

	url   string // the running node's
	store *rooms.RedisStore
	stop  func()
}

const (
	dataLesson    = "math-20250301-091500-aaaaaa" // 600 s, with a timeline in MinIO
	dataArtLesson = "art-20250301-091500-bbbbbb"
	dataPending   = "math-20250302-091500-cccccc" // still recording: no duration
	dataHidden    = "math-20250303-091500-dddddd" // hidden from students (library.go)
)

func newDataEnv(t *testing.T) *dataEnv {
	t.Helper()
	ctx := context.Background()
	e := &dataEnv{redisURL: redistest.Start(t)}
	e.tokens, _ = auth.NewIssuer(secret)
	srv := miniotest.Start(t)
	objects, err := storage.NewMinIO(storage.MinIOConfig{Endpoint: srv.Endpoint, AccessKey: miniotest.AccessKey, SecretKey: miniotest.SecretKey, Bucket: "lessons"})
	if err != nil {
		t.Fatal(err)
	}
	e.objects = objects
	putTimeline(t, objects, dataLesson, []timelineChat{
		{t: 42, msg: rooms.ChatMessage{ID: "c-7", From: "P-ben", FromIdentity: "ben", FromName: "Ben", FromRole: rooms.RoleStudent, Text: "What is the unit of k?"}},
	})
	e.start(t)
	started := time.Now().Add(-5 * time.Minute).UTC()
	for room, l := range map[string]rooms.Lesson{
		"math": {ID: dataLesson, Room: "math", Status: "ready", Duration: 600, StartedAt: started, Video: true},
		"art":  {ID: dataArtLesson, Room: "art", Status: "ready", Duration: 600, StartedAt: started},
	} {
		if err := e.store.UpdateLesson(ctx, room, l); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.store.UpdateLesson(ctx, "math", rooms.Lesson{ID: dataPending, Room: "math", Status: "recording", StartedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.UpdateLesson(ctx, "math", rooms.Lesson{ID: dataHidden, Room: "math", Status: "ready", Duration: 600, StartedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	e.must(t, 200, "PATCH", "/api/rooms/math/lessons/"+dataHidden, e.token(t, "math", "prof", "Prof", rooms.RoleInstructor), `{"hidden":true}`, nil)
	return e
}

// start runs a node: a store connected to the Redis, and the API over it (stop ends it).
func (e *dataEnv) start(t *testing.T) {
	t.Helper()
	store, err := rooms.NewRedisStore(context.Background(), e.redisURL, rooms.RedisOptions{KeyPrefix: "lessondata:"})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	svc := New(Config{Store: store, Docs: store, Objects: e.objects, Tokens: e.tokens, Logger: log})
	svc.now = func() time.Time { return time.Now().Add(time.Duration(e.skew.Load())) }
	hs := httptest.NewServer(svc)
	e.store, e.url = store, hs.URL
	e.stop = func() { hs.Close(); store.Close() }
	t.Cleanup(e.stop)
}

func (e *dataEnv) token(t *testing.T, room, identity, name string, role rooms.Role) string {
	t.Helper()
	tok, err := e.tokens.Mint(auth.Grant{Room: room, Identity: identity, Name: name, Role: role}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// call sends a request with an optional body and returns the status, the body and the headers.
func (e *dataEnv) call(t *testing.T, method, path, token, body string) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
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
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

// must sends a request that must answer want, and decodes its JSON body into out (if not nil).
func (e *dataEnv) must(t *testing.T, want int, method, path, token, body string, out any) {
	t.Helper()
	code, b, _ := e.call(t, method, path, token, body)
	if code != want {
		t.Fatalf("%s %s: %d %s; want %d", method, path, code, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

func TestLessonDataAPI(t *testing.T) {
	e := newDataEnv(t)
	L := "/api/rooms/math/lessons/" + dataLesson
	anaTok := e.token(t, "math", "ana", "Ana", rooms.RoleStudent)
	benTok := e.token(t, "math", "ben", "=HYPERLINK(\"x\")", rooms.RoleStudent)
	profTok := e.token(t, "math", "prof", "Prof. Lee", rooms.RoleInstructor)
	coTok := e.token(t, "math", "co", "Co", rooms.RoleCoInstructor)

	var thread Thread
	e.must(t, 201, "POST", L+"/threads", anaTok, `{"at":312.5,"text":"Why is the period independent of the mass?"}`, &thread)
	var question Question
	e.must(t, 201, "POST", L+"/questions", profTok, `{"at":60,"kind":"single","prompt":"Period for L = 1 m?","options":["1 s","2 s","3 s"],"correct":[1]}`, &question)
	var reply Reply
	e.must(t, 201, "POST", L+"/threads/"+thread.ID+"/replies", benTok, `{"text":"+1"}`, &reply)

	t.Run("Denials", func(t *testing.T) {
		artTok := e.token(t, "art", "ana", "Ana", rooms.RoleStudent)
		forged := strings.TrimSuffix(anaTok, anaTok[len(anaTok)-4:]) + "AAAA"
		T, Q, R := L+"/threads/"+thread.ID, L+"/questions/"+question.ID, "/replies/"+reply.ID
		type ep struct {
			method, path, body string
			moderator          bool
		}
		endpoints := []ep{
			{"GET", L + "/threads", "", false},
			{"POST", L + "/threads", `{"at":1,"text":"x"}`, false},
			{"POST", L + "/threads/seen", `{}`, false},
			{"PATCH", T, `{"text":"x"}`, false},
			{"DELETE", T, "", false},
			{"POST", T + "/replies", `{"text":"x"}`, false},
			{"PATCH", T + R, `{"text":"x"}`, false},
			{"DELETE", T + R, "", false},
			{"POST", T + "/pin", "", true},
			{"POST", T + "/unpin", "", true},
			{"POST", T + "/resolve", "", true},
			{"POST", T + "/reopen", "", true},
			{"POST", L + "/threads/from-chat", `{"chatId":"c-7"}`, true},
			{"GET", L + "/questions", "", false},
			{"POST", L + "/questions", `{"at":1,"kind":"single","prompt":"p","options":["a","b"]}`, true},
			{"PUT", Q, `{"at":1,"kind":"single","prompt":"p","options":["a","b"]}`, true},
			{"DELETE", Q, "", true},
			{"POST", Q + "/answer", `{"choices":[0]}`, false},
			{"GET", L + "/answers", "", true},
			{"POST", L + "/progress", `{"watched":[[0,1]],"position":1}`, false},
			{"GET", L + "/progress", "", false},
			{"GET", L + "/progress/all", "", true},
			{"GET", L + "/dropoff", "", true},
			{"GET", L + "/dropoff.svg", "", true},
			{"GET", "/api/rooms/math/analytics", "", true},
			{"GET", "/api/rooms/math/analytics.csv", "", true},
			{"GET", "/api/rooms/math/lesson-stats", "", false},
		}
		for _, ep := range endpoints {
			name := ep.method + " " + strings.ReplaceAll(strings.TrimPrefix(ep.path, L), "/", "_")
			checks := []struct {
				who, token, path string
				want             int
			}{
				{"no token", "", ep.path, 401},
				{"forged token", forged, ep.path, 401},
				{"another room's token", artTok, ep.path, 403},
			}
			if strings.Contains(ep.path, dataLesson) {
				// Another room's lesson through this room, an unknown id, a path-like id: nothing.
				checks = append(checks,
					struct {
						who, token, path string
						want             int
					}{"another room's lesson", profTok, strings.Replace(ep.path, dataLesson, dataArtLesson, 1), 404},
					struct {
						who, token, path string
						want             int
					}{"unknown lesson", profTok, strings.Replace(ep.path, dataLesson, "math-20990101-000000-zzzzzz", 1), 404},
					struct {
						who, token, path string
						want             int
					}{"the art lesson with an art token in the math room", artTok, strings.Replace(ep.path, dataLesson, dataArtLesson, 1), 403},
					struct {
						who, token, path string
						want             int
					}{"a student, on a hidden lesson", anaTok, strings.Replace(ep.path, dataLesson, dataHidden, 1), 404},
				)
			}
			if ep.moderator {
				checks = append(checks, struct {
					who, token, path string
					want             int
				}{"student", benTok, ep.path, 403})
			}
			for _, c := range checks {
				code, body, _ := e.call(t, ep.method, c.path, c.token, ep.body)
				if code != c.want {
					t.Errorf("%s as %s: %d %s; want %d", name, c.who, code, body, c.want)
				}
			}
		}
		// Nothing changed: the thread, its reply and the question are all there.
		var list threadList
		e.must(t, 200, "GET", L+"/threads", anaTok, "", &list)
		if len(list.Threads) != 1 || len(list.Threads[0].Replies) != 1 || list.Threads[0].Pinned {
			t.Fatalf("after the denials: %+v", list)
		}
		var qs struct{ Questions []Question }
		e.must(t, 200, "GET", L+"/questions", profTok, "", &qs)
		if len(qs.Questions) != 1 {
			t.Fatalf("after the denials: %+v", qs)
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		huge := `{"text":"` + strings.Repeat("x", maxBody) + `","at":1}`
		for _, c := range []struct {
			name, method, path, token, body string
			want                            int
		}{
			{"oversize text", "POST", L + "/threads", anaTok, `{"at":1,"text":"` + strings.Repeat("x", 2001) + `"}`, 400},
			{"oversize reply", "POST", L + "/threads/" + thread.ID + "/replies", anaTok, `{"text":"` + strings.Repeat("x", 2001) + `"}`, 400},
			{"at beyond the duration", "POST", L + "/threads", anaTok, `{"at":600.5,"text":"x"}`, 400},
			{"no at", "POST", L + "/threads", anaTok, `{"text":"x"}`, 400},
			{"bad JSON", "POST", L + "/threads", anaTok, `{"at":1,"text":`, 400},
			{"unknown field", "POST", L + "/threads", anaTok, `{"at":1,"text":"x","pinned":true}`, 400},
			{"two values", "POST", L + "/threads", anaTok, `{"at":1,"text":"x"} {}`, 400},
			{"no body", "POST", L + "/threads", anaTok, ``, 400},
			{"body over 64 KiB", "POST", L + "/threads", anaTok, huge, 413},
			{"a lesson still recording", "POST", "/api/rooms/math/lessons/" + dataPending + "/threads", anaTok, `{"at":0,"text":"x"}`, 409},
			{"unknown thread", "POST", L + "/threads/t-0000/replies", anaTok, `{"text":"x"}`, 404},
			{"unknown reply", "PATCH", L + "/threads/" + thread.ID + "/replies/r-0000", anaTok, `{"text":"x"}`, 404},
			{"question with one option", "POST", L + "/questions", profTok, `{"at":1,"kind":"single","prompt":"p","options":["a"]}`, 400},
			{"question past the end", "POST", L + "/questions", profTok, `{"at":700,"kind":"single","prompt":"p","options":["a","b"]}`, 400},
			{"answer out of range", "POST", L + "/questions/" + question.ID + "/answer", anaTok, `{"choices":[5]}`, 400},
			{"answer two of a single", "POST", L + "/questions/" + question.ID + "/answer", anaTok, `{"choices":[0,1]}`, 400},
			{"answer an unknown question", "POST", L + "/questions/q-0000/answer", anaTok, `{"choices":[0]}`, 404},
			{"range past the end", "POST", L + "/progress", anaTok, `{"watched":[[590,650]],"position":600}`, 400},
			{"negative range", "POST", L + "/progress", anaTok, `{"watched":[[-5,10]],"position":10}`, 400},
			{"reversed range", "POST", L + "/progress", anaTok, `{"watched":[[20,10]],"position":10}`, 400},
			{"range not a pair", "POST", L + "/progress", anaTok, `{"watched":[[1,2,3]],"position":10}`, 400},
			{"position past the end", "POST", L + "/progress", anaTok, `{"watched":[],"position":9999}`, 400},
			{"progress on a lesson still recording", "POST", "/api/rooms/math/lessons/" + dataPending + "/progress", anaTok, `{"watched":[[0,1]],"position":1}`, 409},
			{"promote an unknown chat message", "POST", L + "/threads/from-chat", profTok, `{"chatId":"c-404"}`, 404},
		} {
			code, body, _ := e.call(t, c.method, c.path, c.token, c.body)
			if code != c.want || len(body) < 10 {
				t.Errorf("%s: %d %s; want %d with a sentence", c.name, code, body, c.want)
			}
		}
	})

	t.Run("Threads", func(t *testing.T) {
		// Ana sees Ben's reply as unread; the instructor's answer marks the thread answered.
		var list threadList
		e.must(t, 200, "GET", L+"/threads", anaTok, "", &list)
		if list.Unread != 1 || !list.Threads[0].Replies[0].Unread || list.Threads[0].Unread {
			t.Fatalf("ana's first view: %+v", list)
		}
		e.must(t, 200, "POST", L+"/threads/seen", anaTok, `{"until":"`+list.Now.Format(time.RFC3339Nano)+`"}`, nil)
		var answer Reply
		e.must(t, 201, "POST", L+"/threads/"+thread.ID+"/replies", coTok, `{"text":"m cancels out"}`, &answer)
		if !answer.ByInstructor || answer.Author.Role != rooms.RoleCoInstructor {
			t.Fatalf("co-instructor's reply: %+v", answer)
		}
		e.must(t, 200, "GET", L+"/threads", anaTok, "", &list)
		th := list.Threads[0]
		if list.Unread != 1 || !th.Answered || th.Replies[0].Unread || !th.Replies[1].Unread {
			t.Fatalf("after seen and the answer: %+v", list)
		}
		// Moderation; edits; deletes.
		e.must(t, 200, "POST", L+"/threads/"+thread.ID+"/pin", profTok, "", &th)
		e.must(t, 200, "POST", L+"/threads/"+thread.ID+"/resolve", coTok, "", &th)
		if !th.Pinned || !th.Resolved {
			t.Fatalf("pinned and resolved: %+v", th)
		}
		e.must(t, 200, "POST", L+"/threads/"+thread.ID+"/reopen", profTok, "", &th)
		e.must(t, 403, "PATCH", L+"/threads/"+thread.ID, benTok, `{"text":"hijack"}`, nil)
		e.must(t, 200, "PATCH", L+"/threads/"+thread.ID, anaTok, `{"text":"Why no mass?","at":300}`, &th)
		if th.Text != "Why no mass?" || th.At != 300 || th.EditedAt == nil || th.Resolved {
			t.Fatalf("edited: %+v", th)
		}
		e.must(t, 403, "DELETE", L+"/threads/"+thread.ID+"/replies/"+answer.ID, benTok, "", nil)
		var other Thread
		e.must(t, 201, "POST", L+"/threads", benTok, `{"at":10,"text":"spam"}`, &other)
		e.must(t, 403, "DELETE", L+"/threads/"+other.ID, anaTok, "", nil)
		e.must(t, 204, "DELETE", L+"/threads/"+other.ID, profTok, "", nil)
		e.must(t, 404, "DELETE", L+"/threads/"+other.ID, profTok, "", nil)
		// From the live chat.
		var fromChat Thread
		e.must(t, 201, "POST", L+"/threads/from-chat", profTok, `{"chatId":"c-7"}`, &fromChat)
		if !fromChat.FromChat || fromChat.At != 42 || fromChat.Author.Identity != "ben" || fromChat.Text != "What is the unit of k?" {
			t.Fatalf("from chat: %+v", fromChat)
		}
		e.must(t, 409, "POST", L+"/threads/from-chat", coTok, `{"chatId":"c-7"}`, nil)
		e.must(t, 200, "GET", L+"/threads", benTok, "", &list)
		if len(list.Threads) != 2 || list.Threads[0].ID != fromChat.ID {
			t.Fatalf("sorted by moment: %+v", list.Threads)
		}
	})

	t.Run("Questions", func(t *testing.T) {
		var qs struct{ Questions []Question }
		e.must(t, 200, "GET", L+"/questions", anaTok, "", &qs)
		if q := qs.Questions[0]; q.Correct != nil || !q.HasCorrect || q.Answers != nil {
			t.Fatalf("before answering: %+v", q)
		}
		var q Question
		e.must(t, 200, "POST", L+"/questions/"+question.ID+"/answer", anaTok, `{"choices":[0]}`, &q)
		if q.MyAnswer == nil || q.MyAnswer.Correct == nil || *q.MyAnswer.Correct || len(q.Correct) != 1 || q.Correct[0] != 1 {
			t.Fatalf("answered: %+v", q)
		}
		e.must(t, 409, "POST", L+"/questions/"+question.ID+"/answer", anaTok, `{"choices":[1]}`, nil)
		e.must(t, 200, "POST", L+"/questions/"+question.ID+"/answer", benTok, `{"choices":[1]}`, nil)
		var all struct {
			Questions []Question
			People    []PersonAnswers
		}
		e.must(t, 200, "GET", L+"/answers", coTok, "", &all)
		if len(all.People) != 2 || *all.Questions[0].Answers != 2 {
			t.Fatalf("answers: %+v", all)
		}
		for _, p := range all.People {
			a := p.Answers[question.ID]
			if a.Correct == nil || *a.Correct != (p.Identity == "ben") {
				t.Fatalf("%s's answer: %+v", p.Identity, a)
			}
		}
		e.must(t, 200, "PUT", L+"/questions/"+question.ID, profTok, `{"at":90,"kind":"single","prompt":"Period?","options":["1 s","2 s","3 s"],"correct":[0]}`, &q)
		if q.At != 90 || *q.Answers != 2 {
			t.Fatalf("replaced: %+v", q)
		}
		var extra Question
		e.must(t, 201, "POST", L+"/questions", coTok, `{"at":500,"kind":"multiple","prompt":"Which?","options":["a","b","c"]}`, &extra)
		e.must(t, 204, "DELETE", L+"/questions/"+extra.ID, profTok, "", nil)
		e.must(t, 404, "PUT", L+"/questions/"+extra.ID, profTok, `{"at":1,"kind":"single","prompt":"p","options":["a","b"]}`, nil)
	})

	t.Run("Progress", func(t *testing.T) {
		var p Progress
		e.must(t, 200, "POST", L+"/progress", anaTok, `{"watched":[[0,14.5]],"position":14.5,"rate":1}`, &p)
		if p.WatchedSeconds != 14.5 || p.Position != 14.5 || p.Identity != "ana" {
			t.Fatalf("first heartbeat: %+v", p)
		}
		code, body, h := e.call(t, "POST", L+"/progress", anaTok, `{"watched":[[14.5,20]],"position":20}`)
		if code != 429 || h.Get("Retry-After") == "" {
			t.Fatalf("a heartbeat too soon: %d %s %v", code, body, h)
		}
		e.skew.Add(int64(15 * time.Second))
		// 15 s later: 30 + 4×15 = 90 s of new time at most; a claim of the whole lesson is cut.
		e.must(t, 200, "POST", L+"/progress?token="+anaTok, "", `{"watched":[[14.5,20],[60,600]],"position":600,"rate":2}`, &p)
		// (The budget counts the real time between the two requests too: a few milliseconds more.)
		if p.WatchedSeconds < 14.5+90 || p.WatchedSeconds > 14.5+91 || len(p.Watched) != 2 || p.Watched[1][0] != 60 {
			t.Fatalf("second heartbeat: %+v", p)
		}
		e.must(t, 200, "POST", L+"/progress", benTok, `{"watched":[[0,100]],"position":100}`, nil)
		e.must(t, 200, "POST", L+"/progress", profTok, `{"watched":[[0,120]],"position":120}`, nil)
		e.must(t, 200, "GET", L+"/progress", anaTok, "", &p)
		if p.WatchedSeconds < 104.5 || p.WatchedSeconds > 105.5 || p.Position != 600 || p.LastWatchedAt == nil {
			t.Fatalf("own progress: %+v", p)
		}
		var all struct {
			Duration float64
			Viewers  []Progress
		}
		e.must(t, 200, "GET", L+"/progress/all", coTok, "", &all)
		if all.Duration != 600 || len(all.Viewers) != 3 {
			t.Fatalf("all progress: %+v", all)
		}
		var d Dropoff
		e.must(t, 200, "GET", L+"/dropoff", profTok, "", &d)
		if d.Viewers != 2 || len(d.Minutes) != 10 || d.Minutes[0] != 2 || d.Minutes[1] != 2 || d.Minutes[2] != 1 || d.Minutes[3] != 0 {
			t.Fatalf("dropoff: %+v", d)
		}
		code, body, h = e.call(t, "GET", L+"/dropoff.svg?token="+profTok, "", "")
		if code != 200 || h.Get("Content-Type") != "image/svg+xml" || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") ||
			!strings.HasPrefix(string(body), "<svg") || !strings.Contains(string(body), "2 students watched") {
			t.Fatalf("dropoff.svg: %d %v %s", code, h, body)
		}
	})

	t.Run("PostLimit", func(t *testing.T) {
		// A script posting in a loop (here, empty posts) is cut off after the burst.
		tok := e.token(t, "math", "bot", "Bot", rooms.RoleStudent)
		for i := range postBurst {
			if code, body, _ := e.call(t, "POST", L+"/threads", tok, `{"at":1,"text":""}`); code != 400 {
				t.Fatalf("post %d: %d %s", i, code, body)
			}
		}
		code, body, h := e.call(t, "POST", L+"/threads/"+thread.ID+"/replies", tok, `{"text":"spam"}`)
		if code != 429 || h.Get("Retry-After") == "" {
			t.Fatalf("after the burst: %d %s", code, body)
		}
		e.must(t, 201, "POST", L+"/threads/"+thread.ID+"/replies", anaTok, `{"text":"not limited by the bot"}`, nil)
	})

	t.Run("Analytics", func(t *testing.T) {
		// Cy attended live and never watched; Ana and Ben watched (previous subtest).
		p := rooms.Participant{ID: "P-cy", Identity: "cy", Name: "Cy", Role: rooms.RoleStudent, JoinedAt: time.Now()}
		if _, _, err := e.store.Join(context.Background(), "math", p); err != nil {
			t.Fatal(err)
		}
		var ov Overview
		e.must(t, 200, "GET", "/api/rooms/math/analytics", profTok, "", &ov)
		if len(ov.Lessons) != 3 || ov.Lessons[0].ID != dataLesson || ov.Lessons[0].Viewers != 2 || ov.Lessons[0].LiveAttendees != 1 {
			t.Fatalf("lessons: %+v", ov.Lessons)
		}
		names := []string{}
		for _, s := range ov.Students {
			names = append(names, s.Identity)
		}
		if fmt.Sprint(names) != "[ben ana cy]" { // by name: "=HYPERLINK…" sorts before "Ana"
			t.Fatalf("students: %v", names)
		}
		if cy := ov.Students[2]; cy.Lessons[0].LiveSeconds <= 0 || cy.Lessons[0].WatchedSeconds != 0 {
			t.Fatalf("cy: %+v", cy)
		}
		code, body, h := e.call(t, "GET", "/api/rooms/math/analytics.csv", coTok, "")
		if code != 200 || h.Get("Content-Type") != "text/csv; charset=utf-8" {
			t.Fatalf("csv: %d %s", code, body)
		}
		rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
		if err != nil || len(rows) != 1+3*3 || strings.Join(rows[0], ",") != strings.Join(overviewColumns, ",") {
			t.Fatalf("csv rows: %v, %v", rows, err)
		}
		if rows[1][1] != `'=HYPERLINK("x")` || rows[1][2] != dataLesson || rows[1][6] != "1.7" || rows[1][7] != "16.7" {
			t.Fatalf("ben's row: %q", rows[1])
		}
		var st struct{ Lessons map[string]LessonStats }
		e.must(t, 200, "GET", "/api/rooms/math/lesson-stats", anaTok, "", &st)
		if s := st.Lessons[dataLesson]; s.Viewers != 2 || s.LiveAttendees != 1 || s.Threads != 2 || s.Questions != 1 || len(st.Lessons) != 2 {
			t.Fatalf("lesson stats: %+v", st) // the lesson and the pending one; not the hidden one
		}
		e.must(t, 200, "GET", "/api/rooms/math/lesson-stats", profTok, "", &st)
		if _, ok := st.Lessons[dataHidden]; !ok {
			t.Fatalf("the instructor's lesson stats lack the hidden lesson: %+v", st)
		}
		// The library's watch count is the same figure.
		var lib struct{ Lessons []LibraryLesson }
		e.must(t, 200, "GET", "/api/rooms/math/library", anaTok, "", &lib)
		counted := 0
		for _, l := range lib.Lessons {
			if l.ID == dataLesson && l.WatchCount == 2 {
				counted++
			}
		}
		if counted != 1 {
			t.Fatalf("library watch count: %+v", lib)
		}
	})
}

// TestConcurrentReplies: 50 replies to one thread at once, through the API on a real Redis, all land.
func TestConcurrentReplies(t *testing.T) {
	e := newDataEnv(t)
	L := "/api/rooms/math/lessons/" + dataLesson
	prof := e.token(t, "math", "prof", "Prof", rooms.RoleInstructor)
	var th Thread
	e.must(t, 201, "POST", L+"/threads", prof, `{"at":1,"text":"Questions about the homework here"}`, &th)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := e.tokens.Mint(auth.Grant{Room: "math", Identity: fmt.Sprintf("s%02d", i), Name: "S", Role: rooms.RoleStudent}, time.Hour)
			if err != nil {
				errs <- err.Error()
				return
			}
			req, _ := http.NewRequest("POST", e.url+L+"/threads/"+th.ID+"/replies", strings.NewReader(fmt.Sprintf(`{"text":"reply %d"}`, i)))
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 201 {
				errs <- fmt.Sprintf("reply %d: %d %s", i, resp.StatusCode, b)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var list threadList
	e.must(t, 200, "GET", L+"/threads", prof, "", &list)
	seen := map[string]bool{}
	for _, r := range list.Threads[0].Replies {
		seen[r.Text] = true
	}
	if len(list.Threads[0].Replies) != n || len(seen) != n {
		t.Fatalf("%d replies landed (%d distinct), want %d", len(list.Threads[0].Replies), len(seen), n)
	}
}

// TestLessonDataSurvivesANewNode: everything posted through one node is read back whole through
// another, started after the first one stopped: no course record lives in a node's memory.
func TestLessonDataSurvivesANewNode(t *testing.T) {
	e := newDataEnv(t)
	L := "/api/rooms/math/lessons/" + dataLesson
	ana := e.token(t, "math", "ana", "Ana", rooms.RoleStudent)
	prof := e.token(t, "math", "prof", "Prof", rooms.RoleInstructor)
	var th Thread
	e.must(t, 201, "POST", L+"/threads", ana, `{"at":12,"text":"Where does 9.81 come from?"}`, &th)
	e.must(t, 201, "POST", L+"/threads/"+th.ID+"/replies", prof, `{"text":"Gravity at sea level."}`, nil)
	e.must(t, 200, "POST", L+"/threads/"+th.ID+"/pin", prof, "", nil)
	e.must(t, 201, "POST", L+"/threads/from-chat", prof, `{"chatId":"c-7"}`, nil)
	e.must(t, 200, "POST", L+"/threads/seen", ana, "", nil)
	var q Question
	e.must(t, 201, "POST", L+"/questions", prof, `{"at":30,"kind":"multiple","prompt":"Units of g?","options":["m/s²","N/kg","kg"],"correct":[0,1]}`, &q)
	e.must(t, 200, "POST", L+"/questions/"+q.ID+"/answer", ana, `{"choices":[0,1]}`, nil)
	e.must(t, 200, "POST", L+"/progress", ana, `{"watched":[[0,45]],"position":45}`, nil)

	read := func() (threads, questions, progress, answers []byte) {
		_, threads, _ = e.call(t, "GET", L+"/threads", ana, "")
		_, questions, _ = e.call(t, "GET", L+"/questions", ana, "")
		_, progress, _ = e.call(t, "GET", L+"/progress/all", prof, "")
		_, answers, _ = e.call(t, "GET", L+"/answers", prof, "")
		return
	}
	t1, q1, p1, a1 := read()
	e.stop()
	e.start(t)
	t2, q2, p2, a2 := read()
	// The thread list carries the server's "now"; everything else must be byte for byte the same.
	var l1, l2 threadList
	json.Unmarshal(t1, &l1)
	json.Unmarshal(t2, &l2)
	l1.Now, l2.Now = time.Time{}, time.Time{}
	if fmt.Sprint(l1) != fmt.Sprint(l2) || len(l2.Threads) != 2 || l2.LastSeen == nil || !l2.Threads[0].Pinned || !l2.Threads[0].Answered || !l2.Threads[1].FromChat {
		t.Fatalf("threads before and after:\n%+v\n%+v", l1, l2)
	}
	for _, c := range [][3][]byte{{[]byte("questions"), q1, q2}, {[]byte("progress"), p1, p2}, {[]byte("answers"), a1, a2}} {
		if string(c[1]) != string(c[2]) || len(c[2]) < 50 {
			t.Errorf("%s before and after:\n%s\n%s", c[0], c[1], c[2])
		}
	}
}
