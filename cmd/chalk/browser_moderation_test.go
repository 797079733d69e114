package main

import (
	"fmt"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
)

// menuAction opens the People actions menu for a participant and picks the item labelled label.
func menuAction(b *browser, participantID, label string) {
	b.t.Helper()
	b.click("actions menu", fmt.Sprintf(`#people-list [data-participant-id=%q] .more-btn`, participantID))
	b.waitFor("menu item "+label, fmt.Sprintf(`[...document.querySelectorAll('.mod-menu .menu-item')].some((b) => b.textContent === %q)`, label), 15*time.Second)
	b.js("pick "+label, fmt.Sprintf(`[...document.querySelectorAll('.mod-menu .menu-item')].find((b) => b.textContent === %q).click()`, label))
}

// TestBrowsersModerationLobbyRecording drives the moderation UI in two real browsers: the instructor
// turns the lobby on, a student waits and is admitted, the instructor records (the student sees REC),
// mutes the student (who cannot unmute), spotlights the student (both grids show the tile large) and
// stops recording (REC goes away; the instructor is told the lesson is ready).
func TestBrowsersModerationLobbyRecording(t *testing.T) {
	srv := startTestServer(t, nil)
	const room = "e2e-mod"
	tok, err := srv.tokens.Mint(auth.Grant{Room: room, Identity: "prof", Name: "Prof. Ada", Role: rooms.RoleInstructor}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	prof := newBrowser(t, 1280, 720)
	sam := newBrowser(t, 1280, 720)
	if err := prof.do(20*time.Second, chromedp.Navigate(srv.URL()+"/r/"+room+"?autojoin=1&token="+url.QueryEscape(tok))); err != nil {
		t.Fatalf("instructor opens the class: %v", err)
	}
	prof.waitFor("instructor in the class", `window.chalk && window.chalk.state().connected`, 20*time.Second)
	prof.waitFor("a Record button for the instructor", `!document.getElementById('btn-record').hidden`, 15*time.Second)

	// The instructor turns the lobby on from the room settings in the People pane.
	prof.click("people button", "#btn-people")
	prof.click("room settings", "#mod-settings summary")
	prof.js("lobby on", `(() => { const s = document.getElementById('set-lobby'); s.value = 'on'; s.dispatchEvent(new Event('change')); })()`)
	prof.waitFor("lobby on", `window.chalk.state().settings.lobby === 'on' && !document.getElementById('set-lobby').disabled`, 15*time.Second)

	// A student arrives and waits.
	if err := sam.do(20*time.Second, chromedp.Navigate(srv.URL()+"/r/"+room+"?autojoin=1&name=Sam+Student")); err != nil {
		t.Fatalf("student opens the class: %v", err)
	}
	sam.waitFor("the waiting screen", `!document.getElementById('lobby-wait').hidden &&
		document.getElementById('lobby-wait-heading').textContent === 'Waiting for the instructor to let you in'`, 20*time.Second)
	if pcs, err := eval[bool](sam, `!window.chalk.pcs().publish && !window.chalk.pcs().subscribe`); err != nil || !pcs {
		t.Fatalf("peer connections while waiting: %v %v", pcs, err)
	}
	sam.screenshot("mod-student-waiting")
	prof.waitFor("the student in the lobby list", `document.querySelectorAll('#lobby-list li').length === 1 &&
		document.querySelector('#lobby-list .person-name').textContent === 'Sam Student'`, 15*time.Second)
	prof.screenshot("mod-instructor-lobby")
	prof.click("admit", "#lobby-list .btn-primary")
	sam.waitFor("admitted", `window.chalk.state().connected && window.chalk.state().participants.length === 2 && document.getElementById('lobby-wait').hidden`, 20*time.Second)
	prof.waitFor("lobby empty, student in class", `document.querySelectorAll('#lobby-list li').length === 0 && window.chalk.state().participants.length === 2`, 15*time.Second)
	samID := evalString(sam, `window.chalk.state().participantId`)
	sam.waitFor("no Record button for students", `document.getElementById('btn-record').hidden`, 15*time.Second)

	// Recording: the student sees REC.
	prof.waitFor("Record enabled", `(() => { const b = document.getElementById('btn-record'); return !b.hidden && !b.disabled; })()`, 15*time.Second)
	prof.click("record", "#btn-record")
	if ok, _ := eval[bool](prof, `new Promise((done) => { const t0 = Date.now(); const f = () => window.chalk.state().recording ? done(true) : Date.now() - t0 > 20000 ? done(false) : setTimeout(f, 200); f(); })`); !ok {
		t.Fatalf("recording did not start within 20 s; inline error: %q", evalString(prof, `document.getElementById('rec-error').textContent`))
	}
	sam.waitFor("REC for the student", `!document.getElementById('rec').hidden && /^\d+:\d\d$/.test(document.getElementById('rec-time').textContent)`, 20*time.Second)
	prof.waitFor("Stop recording button", `document.getElementById('btn-record').getAttribute('aria-pressed') === 'true' && !document.getElementById('rec').hidden`, 15*time.Second)

	// Mute: the student's microphone shows muted and stays muted when the student tries to unmute.
	prof.waitFor("the student's microphone is on", fmt.Sprintf(`window.chalk.state().participants.some((p) => p.id === %q && p.tracks.some((t) => t.source === 'microphone' && !t.muted))`, samID), 20*time.Second)
	prof.click("students may not unmute", "#set-unmute")
	prof.waitFor("students may not unmute", `window.chalk.state().settings.studentsMayUnmute === false && !document.getElementById('set-unmute').disabled`, 15*time.Second)
	menuAction(prof, samID, "Mute microphone")
	sam.waitFor("told who muted them", `window.chalk.state().banner.includes('Prof. Ada muted your microphone')`, 15*time.Second)
	sam.waitFor("the student's mic shows muted", `document.getElementById('btn-mic').getAttribute('aria-pressed') === 'true' && document.getElementById('btn-mic').classList.contains('held')`, 15*time.Second)
	sam.click("try to unmute", "#btn-mic")
	sam.waitFor("cannot unmute", `document.getElementById('btn-mic').getAttribute('aria-pressed') === 'true' && window.chalk.state().banner.includes('when they allow it')`, 15*time.Second)
	prof.waitFor("instructor sees the student muted", fmt.Sprintf(`window.chalk.state().participants.some((p) => p.id === %q && p.tracks.some((t) => t.source === 'microphone' && t.muted))`, samID), 15*time.Second)
	sam.screenshot("mod-student-muted-rec")

	// Spotlight: both grids show the student's tile on the stage.
	menuAction(prof, samID, "Spotlight for everyone")
	onStage := fmt.Sprintf(`!!document.querySelector('#grid.layout-spotlight .stage [data-participant-id=%q]')`, samID)
	prof.waitFor("spotlight on the instructor's grid", onStage, 15*time.Second)
	sam.waitFor("spotlight on the student's grid", onStage, 15*time.Second)
	prof.screenshot("mod-instructor-spotlight")
	sam.screenshot("mod-student-spotlight")

	// Student chat and screen sharing off: the student's composer writes to the instructors only,
	// the screen button is disabled.
	prof.click("students may not chat", "#set-chat")
	prof.waitFor("student chat off", `window.chalk.state().settings.studentChat === false && !document.getElementById('set-chat').disabled`, 15*time.Second)
	prof.click("students may not share", "#set-screen")
	prof.waitFor("student screen share off", `window.chalk.state().settings.studentScreenShare === false && !document.getElementById('set-screen').disabled`, 15*time.Second)
	sam.waitFor("screen button disabled", `document.getElementById('btn-screen').disabled`, 15*time.Second)
	sam.click("chat button", "#btn-chat")
	sam.waitFor("chat to instructors only, with a note", `!document.getElementById('chat-note').hidden &&
		document.getElementById('chat-to').value === 'instructors' && document.querySelector('#chat-to option[value=""]').disabled`, 15*time.Second)
	sam.screenshot("mod-student-chat-off")

	// Stop recording: REC goes away; the lesson is made and the instructor told.
	prof.click("stop recording", "#btn-record")
	sam.waitFor("REC gone for the student", `document.getElementById('rec').hidden`, 20*time.Second)
	prof.waitFor("REC gone for the instructor", `document.getElementById('rec').hidden`, 15*time.Second)
	prof.waitFor("Lesson ready", `!document.getElementById('lesson-note').hidden && document.getElementById('lesson-note-text').textContent.startsWith('Lesson ready')`, 2*time.Minute)
	prof.screenshot("mod-instructor-lesson-ready")
	// A few seconds of recording: the duration is in seconds, not nanoseconds.
	if txt := evalString(prof, `document.getElementById('lesson-note-text').textContent`); !regexp.MustCompile(`\(0:\d\d\)`).MatchString(txt) {
		t.Errorf("lesson notice = %q, want a duration under a minute", txt)
	}
	if v, err := eval[bool](sam, `document.getElementById('lesson-note').hidden`); err != nil || !v {
		t.Errorf("the student sees the lesson notice: %v %v", v, err)
	}

	// A co-instructor has an instructor's classroom powers in the page too: delete buttons on chat
	// messages, no raise-hand button, the co-instructor badge; made a student again, they go away.
	prof.js("send a chat line", `(() => { const i = document.getElementById('chat-input'); i.value = 'Welcome back';
		i.dispatchEvent(new Event('input')); document.getElementById('chat-form').requestSubmit(); })()`)
	sam.waitFor("the line arrives", `window.chalk.state().chat.some((m) => m.text === 'Welcome back')`, 15*time.Second)
	menuAction(prof, samID, "Make co-instructor")
	sam.waitFor("co-instructor powers", `document.querySelectorAll('#chat-list .msg-del').length > 0 && document.getElementById('btn-hand').hidden`, 15*time.Second)
	menuAction(prof, samID, "Make student")
	sam.waitFor("student again", `document.querySelectorAll('#chat-list .msg-del').length === 0 && !document.getElementById('btn-hand').hidden`, 15*time.Second)
}
