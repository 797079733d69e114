package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pion/webrtc/v4"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/recorder/mediatest"
	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/signaling/client"
)

// TestBrowsersWatchALesson records a real 10 s lesson (an instructor's Go client publishing VP8 and
// Opus through the SFU, a chat message and a quiz during it), then watches it in Chromium as a
// student who never attended: the player plays, stops at the question the instructor placed at
// 0:03 and takes the answer, seeks, posts a comment at 0:05; a second student replies in another
// Chromium; the first seeks away and clicks the thread's marker on the seek bar, which brings
// playback back to 0:05. The instructor's analytics page then shows the student's progress and
// answer. With CHALK_SCREENSHOTS=dir it saves the library, the player and the analytics pages.
func TestBrowsersWatchALesson(t *testing.T) {
	srv := startTestServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const room = "e2e-watch"
	begin := time.Now()
	mark := func(what string) { t.Logf("%5.1f s: %s", time.Since(begin).Seconds(), what) }
	mint := func(identity, name string, role rooms.Role) string {
		tok, err := srv.tokens.Mint(auth.Grant{Room: room, Identity: identity, Name: name, Role: role}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	profTok, samTok, kimTok := mint("prof", "Prof. Ada Byron", rooms.RoleInstructor), mint("sam", "Sam Okafor", rooms.RoleStudent), mint("kim", "Kim Lee", rooms.RoleStudent)

	// ---- a real lesson: 10 s of the instructor's camera and voice, a chat line and a quiz ----
	mark("start")
	video := mediatest.VP8(t, mediatest.Video{Size: "640x360", FPS: 15, Duration: 10 * time.Second})
	audio := mediatest.Opus(t, mediatest.Audio{Duration: 10 * time.Second})
	mark("media generated")
	// The three browsers start meanwhile, one after another (each takes a core for a moment).
	type launched struct {
		b   *browser
		err error
	}
	browsers := make(chan launched, 3)
	chromium := chromiumPath(t)
	go func() {
		for _, size := range [][2]int{{1600, 900}, {1280, 800}, {1600, 900}} {
			b, err := launchBrowser(t, chromium, size[0], size[1])
			browsers <- launched{b, err}
		}
	}()
	profIn, liveIn := newInbox(), newInbox()
	prof, err := client.Dial(ctx, client.Options{URL: srv.wsURL(), Room: room, Name: "Prof. Ada Byron", Token: profTok, Audio: true, Video: true, OnMessage: profIn.onMessage})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prof.Close)
	live, err := client.Dial(ctx, client.Options{URL: srv.wsURL(), Room: room, Name: "Lou Live", Token: mint("lou", "Lou Live", rooms.RoleStudent), OnMessage: liveIn.onMessage})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(live.Close)
	if err := prof.Send(ctx, "start_recording", struct{}{}); err != nil {
		t.Fatal(err)
	}
	var started struct {
		Recording rooms.Recording `json:"recording"`
	}
	json.Unmarshal(profIn.wait(t, "recording_started", 10*time.Second, nil), &started)
	var wg sync.WaitGroup
	for _, p := range []struct {
		tr *mediatest.Track
		to *webrtc.TrackLocalStaticRTP
	}{{video, prof.Video}, {audio, prof.Audio}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.tr.Play(ctx, 1, trackSink{p.to})
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	send := func(c *client.Client, typ string, data any) {
		t.Helper()
		if err := c.Send(ctx, typ, data); err != nil {
			t.Fatal(err)
		}
	}
	send(prof, "chat", map[string]string{"text": "Welcome! Today: why a pendulum's period does not depend on its mass."})
	send(live, "chat", map[string]string{"text": "Does the length of the string matter?"})
	send(prof, "poll_create", map[string]any{"question": "Which changes the period?", "options": []string{"The mass", "The length"}, "correct": []int{1}})
	var created struct {
		Poll struct {
			ID string `json:"id"`
		} `json:"poll"`
	}
	json.Unmarshal(liveIn.wait(t, "poll_created", 10*time.Second, nil), &created)
	send(live, "poll_vote", map[string]any{"pollId": created.Poll.ID, "choices": []int{1}})
	liveIn.wait(t, "poll_voted", 10*time.Second, nil)
	send(prof, "poll_close", map[string]string{"pollId": created.Poll.ID})
	wg.Wait()
	send(prof, "stop_recording", struct{}{})
	mark("recording stopped")
	var ready struct {
		Lesson rooms.Lesson `json:"lesson"`
	}
	json.Unmarshal(profIn.wait(t, "lesson_updated", 2*time.Minute, func(d json.RawMessage) bool {
		return strings.Contains(string(d), `"status":"ready"`) || strings.Contains(string(d), `"status":"failed"`)
	}), &ready)
	if ready.Lesson.Status != "ready" || !ready.Lesson.Video {
		t.Fatalf("lesson = %+v", ready.Lesson)
	}
	lesson := ready.Lesson.ID
	mark("lesson ready")
	var bs []*browser
	for range 3 {
		select {
		case l := <-browsers:
			if l.err != nil {
				t.Fatalf("start chromium: %v", l.err)
			}
			bs = append(bs, l.b)
		case <-ctx.Done():
			t.Fatal("the browsers did not start")
		}
	}
	sam, kim, profB := bs[0], bs[1], bs[2]
	mark("browsers started")
	t.Logf("lesson %s ready: %.1f s", lesson, ready.Lesson.Duration)

	// The instructor names the lesson and places a question at 0:03 (through the API the pages use).
	api := func(method, path, tok, body string, want int) string {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, srv.URL()+path, bytes.NewBufferString(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		return string(b)
	}
	lessonAPI := "/api/rooms/" + room + "/lessons/" + lesson
	api("PATCH", lessonAPI, profTok, `{"title":"Pendulums and periods","description":"Why the period of a pendulum depends on its length and not on its mass. Watch before Thursday's lab."}`, 200)
	api("POST", lessonAPI+"/questions", profTok, `{"at":3,"kind":"single","prompt":"Which one changes the period of a pendulum?","options":["Its mass","The length of its string","How hard you push it"],"correct":[1]}`, 201)

	// ---- Sam, who never attended, watches ----
	player := srv.URL() + "/r/" + room + "/lessons/" + lesson + "?token=" + url.QueryEscape(samTok)
	if err := sam.do(20*time.Second, chromedp.Navigate(player)); err != nil {
		t.Fatal(err)
	}
	sam.waitFor("the player loads the video", `window.chalkPlayer && window.chalkPlayer.state().ready && window.chalkPlayer.state().readyState >= 1`, 20*time.Second)
	sam.waitFor("the question marker is on the seek bar", `window.chalkPlayer.state().markers.some((m) => m.kind === 'question' && m.t === 3)`, 10*time.Second)
	if err := sam.do(10*time.Second, chromedp.Click(chromedp.CSS("#btn-play"), chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	// Playback stops at 0:03 and asks.
	sam.waitFor("the question at 0:03 pauses playback", `(() => { const s = window.chalkPlayer.state(); return s.asking && s.paused && s.currentTime >= 2.9 && s.currentTime < 4; })()`, 20*time.Second)
	mark("question asked")
	sam.screenshot("player-question")
	if err := sam.do(10*time.Second,
		chromedp.Click(chromedp.CSS(`#question-options label:nth-of-type(2)`), chromedp.NodeVisible),
		chromedp.Click(chromedp.CSS("#question-submit"), chromedp.NodeVisible),
	); err != nil {
		t.Fatal(err)
	}
	sam.waitFor("the answer is judged right", `!document.getElementById('question-verdict').hidden && document.getElementById('question-verdict').classList.contains('right')`, 10*time.Second)
	// Leaving the question sends the first heartbeat (on pause it already did).
	if err := sam.do(10*time.Second, chromedp.Click(chromedp.CSS("#question-continue"), chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	sam.waitFor("playback resumes past the question", `!window.chalkPlayer.state().paused && window.chalkPlayer.state().currentTime > 3.3`, 10*time.Second)
	sam.waitFor("the chat replay shows the class's messages by now", `window.chalkPlayer.state().chat >= 2`, 10*time.Second)

	// Sam seeks to 0:05 on the seek bar, pauses and comments there.
	seekTo := func(b *browser, sec float64) {
		t.Helper()
		xy, err := eval[[]float64](b, fmt.Sprintf(`(() => { const r = document.getElementById('seek').getBoundingClientRect();
			const d = window.chalkPlayer.state().duration; return [r.left + r.width * %f / d, r.top + r.height / 2]; })()`, sec))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.do(10*time.Second, chromedp.MouseClickXY(xy[0], xy[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := sam.do(10*time.Second, chromedp.Click(chromedp.CSS("#btn-play"), chromedp.NodeVisible)); err != nil { // pause
		t.Fatal(err)
	}
	seekTo(sam, 5)
	sam.waitFor("the seek bar took playback to 0:05", `(() => { const s = window.chalkPlayer.state(); return s.paused && Math.abs(s.currentTime - 5) < 0.3; })()`, 10*time.Second)
	sam.waitFor("the composer says 0:05", `document.getElementById('thread-at-label').textContent === 'Comment at 0:05'`, 5*time.Second)
	if err := sam.do(10*time.Second,
		chromedp.SendKeys(chromedp.CSS("#thread-input"), "Why does the mass cancel out here?"),
		chromedp.Click(chromedp.CSS("#thread-send"), chromedp.NodeVisible),
	); err != nil {
		t.Fatal(err)
	}
	sam.waitFor("the thread is listed and marked on the seek bar at 0:05", `window.chalkPlayer.state().markers.some((m) => m.kind === 'thread' && Math.abs(m.t - 5) < 0.3)`, 10*time.Second)

	// ---- Kim replies from another browser ----
	mark("commented")
	if err := kim.do(20*time.Second, chromedp.Navigate(srv.URL()+"/r/"+room+"/lessons/"+lesson+"?token="+url.QueryEscape(kimTok))); err != nil {
		t.Fatal(err)
	}
	kim.waitFor("Kim sees Sam's thread", `[...document.querySelectorAll('#thread-list .thread-text')].some((p) => p.textContent.includes('mass cancel'))`, 20*time.Second)
	if err := kim.do(10*time.Second,
		chromedp.Click(chromedp.CSS(`#thread-list li.thread .link-btn`), chromedp.NodeVisible),
		chromedp.SendKeys(chromedp.CSS(`#thread-list li.thread .reply-form textarea`), "It appears on both sides of F = ma, so it divides out."),
		chromedp.Click(chromedp.CSS(`#thread-list li.thread .reply-form .send-btn`), chromedp.NodeVisible),
	); err != nil {
		t.Fatal(err)
	}
	kim.waitFor("Kim's reply is posted", `[...document.querySelectorAll('#thread-list .reply .thread-text')].some((p) => p.textContent.includes('divides out'))`, 10*time.Second)

	mark("replied")
	// ---- Sam seeks away, sees the reply, and clicks the marker to go back to 0:05 ----
	seekTo(sam, 8.5)
	sam.waitFor("Sam is at 0:08", `Math.abs(window.chalkPlayer.state().currentTime - 8.5) < 0.4`, 10*time.Second)
	if err := sam.do(10*time.Second, chromedp.Click(chromedp.CSS("#tab-chat"), chromedp.NodeVisible), chromedp.Click(chromedp.CSS("#tab-threads"), chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	sam.waitFor("Kim's reply reaches Sam", `[...document.querySelectorAll('#thread-list .reply .thread-text')].some((p) => p.textContent.includes('divides out'))`, 20*time.Second)
	if err := sam.do(10*time.Second, chromedp.Click(chromedp.CSS(`#seek-markers .marker-thread`), chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	sam.waitFor("the marker took playback back to 0:05", `Math.abs(window.chalkPlayer.state().currentTime - 5) < 0.3`, 10*time.Second)
	got, err := eval[float64](sam, `window.chalkPlayer.state().currentTime`)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after clicking the thread marker: currentTime = %.2f s", got)
	sam.waitFor("the frame at 0:05 is decoded", `(() => { const v = document.getElementById('video'); return !v.seeking && v.readyState >= 2; })()`, 10*time.Second)
	sam.screenshot("player")
	for _, tab := range []string{"chat", "polls", "chapters"} {
		if err := sam.do(10*time.Second, chromedp.Click(chromedp.CSS("#tab-"+tab), chromedp.NodeVisible)); err != nil {
			t.Fatal(err)
		}
		sam.screenshot("player-" + tab)
	}
	if n, err := eval[int](sam, `document.querySelectorAll('#poll-list .poll-card.closed .poll-row.correct').length`); err != nil || n != 1 {
		t.Errorf("the Polls pane at 0:05 shows %d closed quiz answers (%v); want the quiz closed at about 0:04 with its answer", n, err)
	}
	sam.waitFor("a heartbeat was accepted", `window.chalkPlayer.state().heartbeats >= 1`, 20*time.Second)

	// ---- the instructor's view: library and analytics ----
	mark("marker clicked")
	if err := profB.do(20*time.Second, chromedp.Navigate(srv.URL()+"/r/"+room+"/lessons?token="+url.QueryEscape(profTok))); err != nil {
		t.Fatal(err)
	}
	profB.waitFor("the library lists the lesson with its counts", `(() => { const l = window.chalkLibrary && window.chalkLibrary.lessons()[0];
		return !!l && l.title === 'Pendulums and periods' && l.watchCount >= 1 && l.threads === 1 && !!document.querySelector('.lesson-card img') && document.querySelector('.lesson-card img').naturalWidth > 0; })()`, 20*time.Second)
	profB.screenshot("library")
	if err := profB.do(20*time.Second, chromedp.Navigate(srv.URL()+"/r/"+room+"/lessons/"+lesson+"/analytics?token="+url.QueryEscape(profTok))); err != nil {
		t.Fatal(err)
	}
	profB.waitFor("the analytics show Sam's progress and right answer", `(() => {
		const row = document.querySelector('tr[data-identity="sam"]');
		if (!row) return false;
		const pct = parseInt(row.querySelector('.an-pct').textContent, 10);
		const answer = row.querySelector('.an-answer');
		return pct > 0 && !!answer && answer.classList.contains('right') && answer.textContent.includes('B')
			&& document.querySelector('.an-chart') && document.querySelector('.an-chart').naturalWidth > 0; })()`, 20*time.Second)
	pct, _ := eval[string](profB, `document.querySelector('tr[data-identity="sam"] .an-pct').textContent`)
	t.Logf("the instructor's analytics: Sam watched %s and answered B (right)", pct)
	profB.screenshot("analytics")
	if err := profB.do(20*time.Second, chromedp.Navigate(srv.URL()+"/r/"+room+"/analytics?token="+url.QueryEscape(profTok))); err != nil {
		t.Fatal(err)
	}
	profB.waitFor("the course overview lists Sam", `!!document.querySelector('tr[data-identity="sam"]')`, 20*time.Second)
	profB.screenshot("course-analytics")

	mark("instructor pages")
	// A student cannot open the analytics.
	if err := sam.do(20*time.Second, chromedp.Navigate(srv.URL()+"/r/"+room+"/lessons/"+lesson+"/analytics?token="+url.QueryEscape(samTok))); err != nil {
		t.Fatal(err)
	}
	sam.waitFor("a student is told analytics are the instructors'", `document.getElementById('analytics-status').textContent.includes('for the instructors')`, 10*time.Second)
}
