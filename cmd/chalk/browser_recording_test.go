package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/recorder/ffmpeg"
	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/signaling/client"
)

// recordedFor is how long TestBrowsersRecordALesson records.
const recordedFor = 10 * time.Second

// TestBrowsersRecordALesson records a class of two Chromiums with fake camera and microphone: an
// instructor (a signaling client in the same room: recording is room-wide) starts and stops the
// recording over the WebSocket, the lesson is announced ready, and the student's page then fetches
// the lesson video through the HTTP API with its own token, as a player would (Range, token in the
// URL). The video, downloaded the same way, is H.264 + AAC and lasts the recording.
func TestBrowsersRecordALesson(t *testing.T) {
	srv := startTestServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const room = "e2e-record"
	mint := func(identity, name string, role rooms.Role) string {
		tok, err := srv.tokens.Mint(auth.Grant{Room: room, Identity: identity, Name: name, Role: role}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	profTok, samTok := mint("prof", "Prof. Ada", rooms.RoleInstructor), mint("sam", "Sam Student", rooms.RoleStudent)

	prof, sam := newBrowser(t, 1280, 720), newBrowser(t, 1280, 720)
	for _, p := range []struct {
		b        *browser
		who, tok string
	}{{prof, "instructor", profTok}, {sam, "student", samTok}} {
		if err := p.b.do(20*time.Second, chromedp.Navigate(srv.URL()+"/r/"+room+"?autojoin=1&token="+url.QueryEscape(p.tok))); err != nil {
			t.Fatalf("%s opens the class: %v", p.who, err)
		}
	}
	for _, b := range []*browser{prof, sam} {
		b.waitFor("both in the class", `window.chalk && window.chalk.state().connected && window.chalk.state().participants.length === 2`, 20*time.Second)
		b.waitFor("media flowing", `(async () => { const s = await `+mediaStats+`; return s.video > 0 && s.audio > 0; })()`, 30*time.Second)
	}

	// The instructor's recording controls, as a signaling client in the room.
	in := newInbox()
	ctl, err := client.Dial(ctx, client.Options{URL: srv.wsURL(), Room: room, Name: "Prof. Ada (controls)", Token: mint("prof-ctl", "Prof. Ada", rooms.RoleInstructor), OnMessage: in.onMessage})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctl.Close)
	if err := ctl.Send(ctx, "start_recording", struct{}{}); err != nil {
		t.Fatal(err)
	}
	var started struct {
		Recording rooms.Recording `json:"recording"`
	}
	json.Unmarshal(in.wait(t, "recording_started", 10*time.Second, nil), &started)
	startedAt := time.Now()
	time.Sleep(recordedFor)
	if err := ctl.Send(ctx, "stop_recording", struct{}{}); err != nil {
		t.Fatal(err)
	}
	in.wait(t, "recording_stopped", 10*time.Second, nil)
	recorded := time.Since(startedAt)

	var ready struct {
		Lesson rooms.Lesson `json:"lesson"`
	}
	json.Unmarshal(in.wait(t, "lesson_updated", 3*time.Minute, func(d json.RawMessage) bool {
		return strings.Contains(string(d), `"status":"ready"`) || strings.Contains(string(d), `"status":"failed"`)
	}), &ready)
	if ready.Lesson.ID != started.Recording.ID || ready.Lesson.Status != "ready" || !ready.Lesson.Video {
		t.Fatalf("lesson = %+v", ready.Lesson)
	}

	// The student's page lists the lesson and fetches its video: whole with the token in a header,
	// and the first 64 KiB with the token in the URL, as a <video src> asks.
	api := "/api/rooms/" + room + "/lessons"
	video := api + "/" + ready.Lesson.ID + "/video"
	type fetched struct {
		Status int    `json:"status"`
		Size   int    `json:"size"`
		Type   string `json:"type"`
		Body   string `json:"body"`
	}
	fetchJS := func(path, init string) fetched {
		t.Helper()
		js := fmt.Sprintf(`(async () => { const r = await fetch(%q, %s); const b = await r.arrayBuffer();
			return JSON.stringify({status: r.status, size: b.byteLength, type: r.headers.get('Content-Type'),
				body: r.headers.get('Content-Type') === 'application/json' ? new TextDecoder().decode(b) : ''}); })()`, path, init)
		var f fetched
		if err := json.Unmarshal([]byte(evalString(sam, js)), &f); err != nil {
			t.Fatalf("fetch %s: %v", path, err)
		}
		return f
	}
	bearer := fmt.Sprintf(`{headers: {Authorization: 'Bearer ' + %q}}`, samTok)
	list := fetchJS(api, bearer)
	if list.Status != 200 || !strings.Contains(list.Body, ready.Lesson.ID) {
		t.Fatalf("the page's lesson list: %+v", list)
	}
	whole := fetchJS(video, bearer)
	if whole.Status != 200 || whole.Size == 0 || whole.Type != "video/mp4" {
		t.Fatalf("the page's video fetch: %+v", whole)
	}
	part := fetchJS(video+"?token="+url.QueryEscape(samTok), `{headers: {Range: 'bytes=0-65535'}}`)
	if part.Status != 206 || part.Size != min(65536, whole.Size) {
		t.Fatalf("the page's range fetch: %+v (whole: %d bytes)", part, whole.Size)
	}

	// The same video downloaded through the API and probed.
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL()+video, nil)
	req.Header.Set("Authorization", "Bearer "+samTok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "lesson.mp4")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(out, resp.Body)
	resp.Body.Close()
	out.Close()
	if err != nil || resp.StatusCode != 200 || n != int64(whole.Size) {
		t.Fatalf("download: %d, %d bytes (the page got %d), %v", resp.StatusCode, n, whole.Size, err)
	}
	probe, err := (&ffmpeg.Tool{}).Probe(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if v, a := probe.StreamsOf("video"), probe.StreamsOf("audio"); len(v) != 1 || v[0].Codec != "h264" || len(a) != 1 || a[0].Codec != "aac" {
		t.Fatalf("lesson.mp4 streams = %+v", probe.Streams)
	}
	// The recorded time is the server's: from when its recorder started to when it stopped, which the
	// lesson reports. The instructor's client only sees the two events, each possibly delayed by
	// whatever its read loop was doing (a renegotiation under load), so it is a sanity check.
	serverRecorded := time.Duration(ready.Lesson.Duration * float64(time.Second))
	t.Logf("lesson %s: %d bytes, lasts %v, recorded %v (the client saw %v)", ready.Lesson.ID, whole.Size, probe.Duration,
		serverRecorded.Round(time.Millisecond), recorded.Round(time.Millisecond))
	if d := probe.Duration - serverRecorded; d < -recordedTolerance || d > recordedTolerance {
		t.Errorf("lesson.mp4 lasts %v; the recording lasted %v", probe.Duration, serverRecorded)
	}
	if d := serverRecorded - recorded; d < -clientSkew || d > clientSkew {
		t.Errorf("the server recorded %v; the client saw %v between recording_started and recording_stopped", serverRecorded, recorded)
	}
}

// recordedTolerance bounds the lesson video's length against the recorded time.
const recordedTolerance = 500 * time.Millisecond

// clientSkew bounds how far the client's view of the recording's length may be from the server's.
const clientSkew = time.Second
