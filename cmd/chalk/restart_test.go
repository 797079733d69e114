package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/recorder/mediatest"
	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/rooms/redistest"
	"github.com/chalk-edu/chalk/signaling/client"
)

// The restart test: course records written through the product survive `kill -9` of the process
// that acknowledged them. A real `chalk serve` records a short lesson and takes every record of
// restartRecords through its HTTP API, is killed with SIGKILL (no shutdown, no flush), and is started
// again on the same directories (embedded) or the same Redis; then every record must read back.
//
// To add a feature's records, add a line to restartRecords: apiRecord for "one request writes it,
// another reads it back", or a restartRecord with write and check functions for anything else.

// restartEnv is what records see: the running node, tokens for its room, and the lesson recorded
// before the records were written.
type restartEnv struct {
	base     string // http://127.0.0.1:port, of the node running now
	room     string
	lesson   string // id of the recorded lesson
	tokens   *auth.Issuer
	embedded bool // no Redis: the records are on local disk
}

func (e *restartEnv) token(t *testing.T, identity string, role rooms.Role) string {
	t.Helper()
	tok, err := e.tokens.Mint(auth.Grant{Room: e.room, Identity: identity, Name: "Name of " + identity, Role: role}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// expand fills {room} and {lesson} in a path or body.
func (e *restartEnv) expand(s string) string {
	return strings.NewReplacer("{room}", e.room, "{lesson}", e.lesson).Replace(s)
}

// do sends a request with a token of role and returns the status and body.
func (e *restartEnv) do(t *testing.T, role rooms.Role, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.base+e.expand(path), strings.NewReader(e.expand(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token(t, "u-"+string(role), role))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// restartRecord is one kind of course record: write puts it through the product and returns what
// check must find after the restart.
type restartRecord struct {
	name  string
	write func(t *testing.T, e *restartEnv) string
	check func(t *testing.T, e *restartEnv, written string)
}

// apiRecord is a record written with one request (as role) and read back with a GET of readPath
// (as readRole), whose body must then contain want. Paths and body may use {room} and {lesson}.
func apiRecord(name string, role rooms.Role, method, path, body string, readRole rooms.Role, readPath, want string) restartRecord {
	return restartRecord{
		name: name,
		write: func(t *testing.T, e *restartEnv) string {
			if code, b := e.do(t, role, method, path, body); code/100 != 2 {
				t.Fatalf("%s %s: %d %s", method, path, code, b)
			}
			return e.expand(want)
		},
		check: func(t *testing.T, e *restartEnv, want string) {
			code, b := e.do(t, readRole, "GET", readPath, "")
			if code != http.StatusOK || !strings.Contains(b, want) {
				t.Errorf("after the restart, GET %s: %d %.600s\nwant it to contain %s", readPath, code, b, want)
			}
		},
	}
}

const (
	instructor = rooms.RoleInstructor
	student    = rooms.RoleStudent
)

var restartRecords = []restartRecord{
	{"the recorded lesson", writeNothing, checkLesson},
	{"attendance, with a stay open at the kill", writeNothing, checkAttendance},
	apiRecord("a scheduled session", instructor, "POST", "/api/rooms/{room}/schedule",
		`{"title":"Kept across kill -9","start":"2027-05-04T09:00","timeZone":"Asia/Tokyo","durationMinutes":45}`,
		student, "/api/rooms/{room}/schedule", `"title":"Kept across kill -9","description":"","start":"2027-05-04T00:00:00Z"`),
	{"a cancelled session", writeCancelledSession, checkCancelledSession},
	apiRecord("a lesson's title and description", instructor, "PATCH", "/api/rooms/{room}/lessons/{lesson}", `{"title":"Kept title","description":"Kept."}`,
		student, "/api/rooms/{room}/library", `"title":"Kept title","customTitle":true,"description":"Kept."`),
	// Threads, questions, progress (restart_lessondata_test.go).
	{"a thread with the instructor's answer, pinned, and a last visit", writeThread, checkThread},
	{"a question and a student's answer", writeQuestion, checkQuestion},
	apiRecord("watch progress", student, "POST", "/api/rooms/{room}/lessons/{lesson}/progress", `{"watched":[[0,1.5]],"position":1.5}`,
		student, "/api/rooms/{room}/lessons/{lesson}/progress", `"watched":[[0,1.5]],"watchedSeconds":1.5`),
}

func writeNothing(*testing.T, *restartEnv) string { return "" }

func checkLesson(t *testing.T, e *restartEnv, _ string) {
	var list struct{ Lessons []rooms.Lesson }
	code, b := e.do(t, student, "GET", "/api/rooms/{room}/lessons", "")
	if json.Unmarshal([]byte(b), &list); code != 200 || len(list.Lessons) != 1 || list.Lessons[0].ID != e.lesson || list.Lessons[0].Status != "ready" {
		t.Errorf("after the restart the lessons are: %d %s; want %s, ready", code, b, e.lesson)
	}
}

func checkAttendance(t *testing.T, e *restartEnv, _ string) {
	code, csv := e.do(t, instructor, "GET", "/api/rooms/{room}/attendance.csv", "")
	if code != 200 {
		t.Fatalf("attendance: %d %s", code, csv)
	}
	for _, who := range []string{"u-prof", "u-ada"} {
		var row string
		for _, l := range strings.Split(csv, "\n") {
			if strings.HasPrefix(l, who+",") {
				row = l
			}
		}
		switch f := strings.Split(row, ","); {
		case row == "":
			t.Errorf("after the restart the attendance lacks %s:\n%s", who, csv)
		case e.embedded && f[5] == "":
			// Ada was in the room at the kill: the new process closes her stay when it starts.
			t.Errorf("after the restart %s's stay is still open: %s", who, row)
		}
	}
}

func writeCancelledSession(t *testing.T, e *restartEnv) string {
	code, b := e.do(t, instructor, "POST", "/api/rooms/{room}/schedule", `{"title":"Called off","start":"2027-01-01T10:00:00Z","durationMinutes":30}`)
	var s struct{ ID string }
	if json.Unmarshal([]byte(b), &s); code != 201 || s.ID == "" {
		t.Fatalf("create: %d %s", code, b)
	}
	if code, b := e.do(t, instructor, "PATCH", "/api/rooms/{room}/schedule/"+s.ID, `{"cancelled":true}`); code != 200 {
		t.Fatalf("cancel: %d %s", code, b)
	}
	return s.ID
}

func checkCancelledSession(t *testing.T, e *restartEnv, id string) {
	code, b := e.do(t, student, "GET", "/api/rooms/{room}/schedule.ics", "")
	if code != 200 || !strings.Contains(b, "UID:"+id+".") || !strings.Contains(b, "STATUS:CANCELLED") || !strings.Contains(b, "SEQUENCE:1") {
		t.Errorf("after the restart the feed lacks the cancelled session %s: %d\n%s", id, code, b)
	}
}

func TestCourseRecordsSurviveKill9(t *testing.T) {
	t.Run("Embedded", func(t *testing.T) { testRestart(t, "") })
	t.Run("Redis", func(t *testing.T) { testRestart(t, redistest.Start(t)) })
}

func testRestart(t *testing.T, redisURL string) {
	tokens, err := auth.NewIssuer(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	storage, data := t.TempDir(), t.TempDir()
	e := &restartEnv{room: "durable", tokens: tokens, embedded: redisURL == ""}
	p := startChalk(t, "first", storage, data, redisURL)
	e.base = p.base

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e.lesson = recordShortLesson(t, ctx, e, p)

	written := make([]string, len(restartRecords))
	for i, r := range restartRecords {
		written[i] = r.write(t, e)
	}
	if e.embedded {
		secondOnSameData(t, storage, data)
	}
	p.kill9(t)

	p = startChalk(t, "second", storage, data, redisURL)
	e.base = p.base
	for i, r := range restartRecords {
		t.Run(r.name, func(t *testing.T) { r.check(t, e, written[i]) })
	}
}

// recordShortLesson records a 2 s lesson the way an instructor does (start_recording, media through
// the SFU, stop_recording) with a student present, and waits until it is ready. The student stays
// connected, so her stay is open when the process is killed.
func recordShortLesson(t *testing.T, ctx context.Context, e *restartEnv, p *chalkProc) string {
	t.Helper()
	video := mediatest.VP8(t, mediatest.Video{Size: "320x240", FPS: 15, Duration: 2 * time.Second})
	audio := mediatest.Opus(t, mediatest.Audio{Duration: 2 * time.Second})
	ws := "ws://" + strings.TrimPrefix(p.base, "http://") + "/ws"
	dial := func(identity string, role rooms.Role, in *inbox) *client.Client {
		c, err := client.Dial(ctx, client.Options{URL: ws, Room: e.room, Name: identity, Token: e.token(t, identity, role),
			Audio: true, Video: true, OnMessage: in.onMessage})
		if err != nil {
			t.Fatalf("%s: %v", identity, err)
		}
		t.Cleanup(c.Close)
		return c
	}
	profIn, adaIn := newInbox(), newInbox()
	prof := dial("u-prof", instructor, profIn)
	dial("u-ada", student, adaIn)
	if err := prof.Send(ctx, "start_recording", struct{}{}); err != nil {
		t.Fatal(err)
	}
	adaIn.wait(t, "recording_started", 10*time.Second, nil)
	var wg sync.WaitGroup
	for _, play := range []struct {
		tr *mediatest.Track
		to *webrtc.TrackLocalStaticRTP
	}{{video, prof.Video}, {audio, prof.Audio}} {
		wg.Go(func() { play.tr.Play(ctx, 1, trackSink{play.to}) })
	}
	wg.Wait()
	if err := prof.Send(ctx, "stop_recording", struct{}{}); err != nil {
		t.Fatal(err)
	}
	var ready struct{ Lesson rooms.Lesson }
	json.Unmarshal(adaIn.wait(t, "lesson_updated", 2*time.Minute, func(d json.RawMessage) bool {
		return strings.Contains(string(d), `"status":"ready"`) || strings.Contains(string(d), `"status":"failed"`)
	}), &ready)
	if ready.Lesson.Status != "ready" {
		t.Fatalf("lesson: %+v", ready.Lesson)
	}
	prof.Close() // the instructor leaves: a closed stay; Ada stays
	return ready.Lesson.ID
}

// secondOnSameData checks that a second embedded `chalk serve` on a data directory in use refuses
// to start, and says why.
func secondOnSameData(t *testing.T, storage, data string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, chalkBinary(t), "serve", "-listen", "127.0.0.1:0", "-media-port", "0",
		"-media-tcp-port", "-1", "-media-bind", "127.0.0.1", "-dev", "-storage", storage, "-data", data).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another chalk serve uses "+data) {
		t.Errorf("a second chalk serve on %s: %v\n%s\nwant it to fail saying \"another chalk serve uses %s\"", data, err, out, data)
	}
}

// chalkProc is a `chalk serve` child process.
type chalkProc struct {
	name   string
	base   string
	cmd    *exec.Cmd
	exited chan struct{}
	log    string
}

// startChalk starts `chalk serve` on the given directories (and Redis, if redisURL is set) and
// waits until it is healthy.
func startChalk(t *testing.T, name, storage, data, redisURL string) *chalkProc {
	t.Helper()
	port := freeTCPPort(t)
	p := &chalkProc{name: name, base: "http://127.0.0.1:" + strconv.Itoa(port), exited: make(chan struct{}),
		log: filepath.Join(t.TempDir(), name+".log")}
	logFile, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	args := []string{"serve", "-listen", "127.0.0.1:" + strconv.Itoa(port), "-media-port", "0", "-media-tcp-port", "-1",
		"-media-bind", "127.0.0.1", "-token-secret", testSecret, "-node-id", name, "-storage", storage, "-data", data,
		"-dev", "-log-level", "info"}
	if redisURL != "" {
		args = append(args, "-redis", redisURL)
	}
	p.cmd = exec.Command(chalkBinary(t), args...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Signal(os.Interrupt)
			select {
			case <-p.exited:
			case <-time.After(10 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.exited
			}
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("%s log:\n%s", name, b)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(p.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-p.exited:
			b, _ := os.ReadFile(p.log)
			t.Fatalf("%s exited during start-up:\n%s", name, b)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not healthy after 20 s: %v", name, err)
		}
	}
}

// kill9 ends the process with SIGKILL: no shutdown code runs, nothing is flushed.
func (p *chalkProc) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still running 10 s after SIGKILL", p.name)
	}
}
