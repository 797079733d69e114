package main

import (
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
)

// framesFrom resolves to the video frames this page decoded from participant pid: the inbound-rtp
// stream of the track pid's tile shows, or -1 when there is no such tile or track.
func framesFrom(pid string) string {
	return fmt.Sprintf(`(async () => {
  const v = document.querySelector('.tiles [data-participant-id=%q] video');
  const t = v && v.srcObject && v.srcObject.getVideoTracks()[0];
  const pc = window.chalk.pcs().subscribe;
  if (!t || !pc) return -1;
  let n = -1;
  (await pc.getStats()).forEach((r) => { if (r.type === 'inbound-rtp' && r.trackIdentifier === t.id) n = r.framesDecoded || 0; });
  return n;
})()`, pid)
}

// participantsAre: the page's participant ids, sorted, are exactly ids.
func participantsAre(ids ...string) string {
	return fmt.Sprintf(`JSON.stringify(window.chalk.state().participants.map((p) => p.id).sort()) === JSON.stringify(%s.sort())`, jsStrings(ids))
}

func jsStrings(ss []string) string {
	out := "["
	for i, s := range ss {
		if i > 0 {
			out += ","
		}
		out += fmt.Sprintf("%q", s)
	}
	return out + "]"
}

// setSelect picks a value in a <select> the way a user does: value, then a change event.
func setSelect(sel, value string) string {
	return fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q; s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`, sel, value)
}

// press clicks like click, with a deadline for a machine busy with three browsers.
func (b *browser) press(what, sel string) {
	b.t.Helper()
	if err := b.do(30*time.Second, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)); err != nil {
		b.t.Fatalf("click %s (%s): %v", what, sel, err)
	}
}

// openRoomsPane shows the Rooms pane: the control-bar button toggles the panel, so click it only
// when the panel is closed, and the tab when it is open on another pane.
func openRoomsPane(b *browser) {
	b.t.Helper()
	if open, _ := eval[bool](b, `!document.getElementById('panel').hidden`); open {
		b.press("the rooms tab", "#tab-breakouts")
	} else {
		b.press("the rooms button", "#btn-breakouts")
	}
	b.waitFor("the rooms pane open", `!document.getElementById('panel').hidden && !document.getElementById('pane-breakouts').hidden`, 30*time.Second)
}

// TestBrowsersBreakouts runs a poll and breakout rooms in three real browsers without a page reload: both
// students vote in a poll and see its results; then the
// instructor opens two named rooms with a timer and puts one student in each; each student sees only
// their room and the countdown; one asks for help, the instructor sees it, joins, broadcasts to all
// rooms and closes them; both students are back with everyone and decode each other's video again.
// A second round lets the students choose a room under a one-minute timer (the last-minute warning).
func TestBrowsersBreakouts(t *testing.T) {
	srv := startTestServer(t, nil)
	const room = "e2e-breakouts"
	tok, err := srv.tokens.Mint(auth.Grant{Room: room, Identity: "prof", Name: "Prof. Ada", Role: rooms.RoleInstructor}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	prof := newBrowser(t, 1280, 720)
	ann := newBrowser(t, 1280, 720)
	ben := newBrowser(t, 1280, 720)
	base := srv.URL() + "/r/" + room + "?autojoin=1"
	for _, p := range []struct {
		b   *browser
		url string
	}{{prof, base + "&token=" + url.QueryEscape(tok)}, {ann, base + "&name=Ann+Lee"}, {ben, base + "&name=Ben+Okafor"}} {
		if err := p.b.do(30*time.Second, chromedp.Navigate(p.url)); err != nil {
			t.Fatalf("open the class: %v", err)
		}
	}
	everyone := []*browser{prof, ann, ben}
	for _, b := range everyone {
		b.waitFor("all three in the class", `window.chalk && window.chalk.state().connected && window.chalk.state().participants.length === 3`, 40*time.Second)
		b.js("mark the page", `window.__noReload = 'still here'`)
	}
	profID := evalString(prof, `window.chalk.state().participantId`)
	annID := evalString(ann, `window.chalk.state().participantId`)
	benID := evalString(ben, `window.chalk.state().participantId`)
	annIdentity := evalString(ann, `window.chalk.state().participants.find((p) => p.id === window.chalk.state().participantId).identity`)
	benIdentity := evalString(ben, `window.chalk.state().participants.find((p) => p.id === window.chalk.state().participantId).identity`)
	ann.waitFor("Ann decodes Ben's video in the main room", framesFrom(benID)+`.then((n) => n > 0)`, 60*time.Second)

	// A poll in the main room: both students vote, the instructor sees the live count, and closing
	// shows everyone the results.
	prof.press("the polls button", "#btn-polls")
	prof.press("new poll", "#poll-new-btn")
	if err := prof.do(30*time.Second,
		chromedp.SendKeys(chromedp.ID("poll-question"), "Ready for group work?"),
		chromedp.SendKeys(chromedp.CSS("#poll-option-rows li:nth-child(1) .opt-text"), "Yes"),
		chromedp.SendKeys(chromedp.CSS("#poll-option-rows li:nth-child(2) .opt-text"), "Not yet"),
	); err != nil {
		t.Fatalf("instructor types the poll: %v", err)
	}
	prof.press("start the poll", "#poll-start")
	for i, s := range []*browser{ann, ben} {
		s.waitFor("the poll reaches the student", pollCard("polls-open")+`?.querySelector('.poll-question').textContent === 'Ready for group work?'`, 30*time.Second)
		s.press("choose", fmt.Sprintf("#polls-open li.poll-card .poll-choice:nth-child(%d)", i+1))
		s.press("vote", "#polls-open li.poll-card button[type=submit]")
	}
	prof.waitFor("one vote each, live", pollNums("polls-open")+` === JSON.stringify(['1 · 50%', '1 · 50%'])`, 30*time.Second)
	prof.press("close the poll", "#polls-open li.poll-card .poll-close")
	for _, s := range []*browser{ann, ben} {
		s.waitFor("the student sees the results", pollNums("polls-closed")+` === JSON.stringify(['1 · 50%', '1 · 50%'])`, 30*time.Second)
	}
	for _, b := range []*browser{prof, ann, ben} {
		b.press("close the side panel", "#panel-close")
		b.waitFor("panel closed", `document.getElementById('panel').hidden`, 30*time.Second)
	}

	// A chat line in the main room: the breakouts have their own chat, and it comes back after.
	prof.js("send a chat line", `window.chalk && document.getElementById('chat-input') && (() => {
		const i = document.getElementById('chat-input'); i.value = 'Welcome to the main room'; i.dispatchEvent(new Event('input'));
		document.getElementById('chat-form').requestSubmit(); })()`)
	ann.waitFor("the main room's chat line", `window.chalk.state().chat.some((m) => m.text === 'Welcome to the main room')`, 40*time.Second)

	// Students have no Rooms tab or button while nothing is open; instructors do.
	ann.waitFor("no breakouts button for a student yet", `document.getElementById('btn-breakouts').hidden && document.getElementById('bo-bar').hidden`, 30*time.Second)
	prof.waitFor("a breakouts button for the instructor", `!document.getElementById('btn-breakouts').hidden`, 30*time.Second)

	// The instructor sets up two rooms, names the first, puts one student in each, 10 minutes.
	openRoomsPane(prof)
	prof.waitFor("the setup form", `!document.getElementById('bo-setup').hidden && document.getElementById('tab-breakouts').getAttribute('aria-selected') === 'true'`, 30*time.Second)
	prof.press("manual assignment", `input[name="bo-mode"][value="manual"]`)
	prof.waitFor("both students listed for assignment", fmt.Sprintf(`document.querySelectorAll('#bo-manual-list [data-identity]').length === 2 &&
		!!document.querySelector('#bo-manual-list [data-identity=%q]') && !!document.querySelector('#bo-manual-list [data-identity=%q]')`, annIdentity, benIdentity), 30*time.Second)
	prof.js("Ann to room 1", setSelect(fmt.Sprintf(`#bo-manual-list [data-identity=%q] select`, annIdentity), "1"))
	prof.js("Ben to room 2", setSelect(fmt.Sprintf(`#bo-manual-list [data-identity=%q] select`, benIdentity), "2"))
	prof.press("room names", ".bo-names-box summary")
	if err := prof.do(10*time.Second,
		chromedp.SendKeys(chromedp.ID("bo-name-1"), "Group Newton"),
		chromedp.SendKeys(chromedp.ID("bo-minutes"), "10"),
	); err != nil {
		t.Fatalf("instructor types: %v", err)
	}
	prof.screenshot("breakouts-1-instructor-setup")
	prof.press("open rooms", "#bo-open")

	// Each student is in their own room: only themselves in the list and the grid, the countdown on.
	ann.waitFor("Ann moved to breakout 1", `window.chalk.breakouts().current === 1 && window.chalk.breakouts().room === 'e2e-breakouts.b1'`, 30*time.Second)
	ben.waitFor("Ben moved to breakout 2", `window.chalk.breakouts().current === 2`, 30*time.Second)
	ann.waitFor("Ann sees only her room", participantsAre(annID)+` && document.querySelectorAll('.tiles .tile').length === 1 && document.querySelectorAll('#people-list li').length === 1`, 40*time.Second)
	ben.waitFor("Ben sees only his room", participantsAre(benID)+` && document.querySelectorAll('.tiles .tile').length === 1`, 40*time.Second)
	prof.waitFor("the instructor stays in the main room without the students", participantsAre(profID), 40*time.Second)
	ann.waitFor("the count is of this room", `document.getElementById('count').textContent === '1 in this room'`, 30*time.Second)
	ann.waitFor("the breakout's own chat", `window.chalk.state().chat.length === 0 && document.querySelectorAll('#chat-list li.msg').length === 0`, 30*time.Second)
	for name, b := range map[string]*browser{"Ann": ann, "Ben": ben} {
		b.waitFor(name+" sees the countdown", `(() => { const t = document.getElementById('bo-timer');
			return !t.hidden && /^(9|10):\d\d left$/.test(document.getElementById('bo-timer-text').textContent); })()`, 30*time.Second)
	}
	ann.waitFor("Ann sees where she is", `document.getElementById('bo-where').textContent === 'Breakout 1 · Group Newton' &&
		[...document.querySelectorAll('.bo-notice')].some((n) => n.textContent.includes('You are in Breakout 1 · Group Newton'))`, 30*time.Second)
	ben.waitFor("Ben sees where he is", `document.getElementById('bo-where').textContent === 'Breakout 2'`, 30*time.Second)
	ann.screenshot("breakouts-2-student-moved")
	prof.waitFor("the live view lists both rooms with who is in them", `!document.getElementById('bo-live').hidden &&
		document.querySelectorAll('#bo-rooms > li').length === 2 &&
		document.querySelector('#bo-rooms li[data-breakout="1"]').textContent.includes('Ann Lee') &&
		document.querySelector('#bo-rooms li[data-breakout="2"]').textContent.includes('Ben Okafor')`, 30*time.Second)
	prof.screenshot("breakouts-3-instructor-live")

	// Ann asks for help: she sees that it was asked; the instructor sees it and joins.
	ann.press("ask for help", "#bo-bar-help")
	ann.waitFor("Ann's help is requested", `(() => { const b = document.getElementById('bo-bar-help');
		return b.getAttribute('aria-pressed') === 'true' && b.textContent === 'Help requested'; })()`, 30*time.Second)
	prof.waitFor("the instructor sees the request", `document.querySelector('#bo-rooms li[data-breakout="1"]').classList.contains('has-help') &&
		[...document.querySelectorAll('.bo-notice-help')].some((n) => n.textContent.includes('Ann Lee asks for help')) &&
		(document.querySelector('#btn-breakouts .ctl-badge') || {}).textContent === '1'`, 30*time.Second)
	ann.screenshot("breakouts-4-student-asked-help")
	prof.screenshot("breakouts-5-instructor-help")
	prof.press("join from the help notice", ".bo-notice-help .btn-primary")
	prof.waitFor("the instructor is in breakout 1 with Ann", `window.chalk.breakouts().current === 1 && `+participantsAre(profID, annID), 40*time.Second)
	prof.waitFor("the instructor's bar says visiting, with the way back", `document.getElementById('bo-where').textContent === 'Visiting Breakout 1 · Group Newton' && !document.getElementById('bo-bar-return').hidden`, 30*time.Second)
	ann.waitFor("Ann sees the instructor arrive and her request cleared", participantsAre(profID, annID)+` &&
		document.getElementById('bo-bar-help').getAttribute('aria-pressed') === 'false' &&
		[...document.querySelectorAll('.bo-notice')].some((n) => n.textContent.includes('Prof. Ada joined this room'))`, 40*time.Second)
	ann.waitFor("Ann decodes the instructor's video in the breakout", framesFrom(profID)+`.then((n) => n > 0)`, 30*time.Second)
	ann.screenshot("breakouts-6-student-instructor-joined")

	// A message to all rooms, and more time.
	before := evalString(prof, `window.chalk.breakouts().endsAt`)
	openRoomsPane(prof)
	prof.waitFor("the live view", `!document.getElementById('bo-live').hidden`, 30*time.Second)
	prof.press("+5 min", `[data-extend="300"]`)
	prof.waitFor("the timer moved 5 minutes later", fmt.Sprintf(`Date.parse(window.chalk.breakouts().endsAt) - Date.parse(%q) === 300000`, before), 30*time.Second)
	if err := prof.do(10*time.Second, chromedp.SendKeys(chromedp.ID("bo-broadcast-input"), "Two more minutes, then we share answers.")); err != nil {
		t.Fatal(err)
	}
	prof.press("send to all rooms", "#bo-broadcast-send")
	prof.waitFor("the instructor sees it sent", `document.getElementById('bo-broadcast-note').textContent.startsWith('Sent to all rooms') && document.getElementById('bo-broadcast-input').value === ''`, 30*time.Second)
	for name, b := range map[string]*browser{"Ann": ann, "Ben": ben} {
		b.waitFor(name+" sees the message", `[...document.querySelectorAll('.bo-notice-broadcast')].some((n) => n.textContent.includes('Two more minutes, then we share answers.') && n.textContent.includes('Prof. Ada'))`, 30*time.Second)
		b.waitFor(name+" sees the extended countdown", `/^1[45]:\d\d left$/.test(document.getElementById('bo-timer-text').textContent)`, 30*time.Second)
	}
	ben.screenshot("breakouts-7-student-broadcast")
	if os.Getenv("CHALK_SCREENSHOTS") != "" { // a projector's full HD and a phone, for the eye only
		for _, sz := range [][2]int64{{1920, 1080}, {400, 760}} {
			for name, b := range map[string]*browser{"student": ben, "instructor": prof} {
				if err := b.do(10*time.Second, chromedp.EmulateViewport(sz[0], sz[1])); err != nil {
					t.Fatal(err)
				}
				time.Sleep(500 * time.Millisecond)
				b.screenshot(fmt.Sprintf("breakouts-8-%s-%dx%d", name, sz[0], sz[1]))
			}
		}
		for _, b := range []*browser{ben, prof} {
			if err := b.do(10*time.Second, chromedp.EmulateViewport(1280, 720)); err != nil {
				t.Fatal(err)
			}
		}
	}

	// The instructor moves Ben to the first room: a select, then its Move button.
	prof.js("choose room 1 for Ben", setSelect(fmt.Sprintf(`#bo-assign-list [data-identity=%q] select`, benIdentity), "1"))
	prof.press("move Ben", fmt.Sprintf(`#bo-assign-list [data-identity=%q] button`, benIdentity))
	ben.waitFor("Ben is in room 1 with Ann and the instructor", `window.chalk.breakouts().current === 1 && `+participantsAre(profID, annID, benID), 40*time.Second)
	ann.waitFor("Ann sees Ben arrive", participantsAre(profID, annID, benID), 30*time.Second)
	prof.waitFor("the list says where Ben is", fmt.Sprintf(`document.querySelector('#bo-rooms li[data-breakout="1"]').textContent.includes('Ben Okafor') &&
		document.querySelector('#bo-assign-list [data-identity=%q] select').value === '1' && document.querySelector('#bo-assign-list [data-identity=%q] button').hidden`, benIdentity, benIdentity), 30*time.Second)

	// The instructor closes the rooms (with a confirmation): everyone is back, with sound and video.
	prof.press("close all rooms", "#bo-close")
	prof.press("confirm", "#bo-close-yes")
	for name, b := range map[string]*browser{"instructor": prof, "Ann": ann, "Ben": ben} {
		b.waitFor(name+" is back in the main room with everyone", `window.chalk.breakouts().current === 0 && !window.chalk.breakouts().open && `+
			participantsAre(profID, annID, benID)+` && document.querySelectorAll('.tiles .tile').length === 3 && document.getElementById('bo-bar').hidden`, 30*time.Second)
	}
	ann.waitFor("the count is of the class again", `document.getElementById('count').textContent === '3 in class'`, 30*time.Second)
	ann.waitFor("Ann is told she is back", `[...document.querySelectorAll('.bo-notice')].some((n) => n.textContent.includes('Back in the main room'))`, 30*time.Second)
	ann.waitFor("the main room's chat is back", `window.chalk.state().chat.some((m) => m.text === 'Welcome to the main room')`, 30*time.Second)
	for _, c := range []struct {
		b    *browser
		name string
		from string
	}{{ann, "Ann", benID}, {ben, "Ben", annID}} {
		c.b.waitFor(c.name+" decodes the other student's video again", framesFrom(c.from)+`.then((n) => n > 0)`, 40*time.Second)
		first, err := eval[float64](c.b, framesFrom(c.from))
		if err != nil {
			t.Fatal(err)
		}
		c.b.waitFor(c.name+"'s decoded frames keep increasing", fmt.Sprintf(`%s.then((n) => n >= %d)`, framesFrom(c.from), int(first)+20), 30*time.Second)
	}
	ann.screenshot("breakouts-9-student-back")

	// Round two: students choose, one-minute timer (so the last-minute warning is on at once).
	openRoomsPane(prof)
	prof.waitFor("the setup form again", `!document.getElementById('bo-setup').hidden && !document.getElementById('bo-closed-note').hidden`, 30*time.Second)
	prof.press("students choose", `input[name="bo-mode"][value="self"]`)
	prof.js("one minute", `(() => { const i = document.getElementById('bo-minutes'); i.value = '1'; i.dispatchEvent(new Event('input')); })()`)
	prof.press("open rooms", "#bo-open")
	ann.waitFor("Ann is offered a choice", `!document.getElementById('bo-bar').hidden && [...document.querySelectorAll('.bo-notice')].some((n) => n.textContent.includes('Choose the room'))`, 40*time.Second)
	ann.waitFor("the last-minute warning", `document.getElementById('bo-timer').classList.contains('warn') && [...document.querySelectorAll('.bo-notice-warn')].length === 1`, 30*time.Second)
	ann.press("choose a room", ".bo-notice .btn-primary")
	ann.waitFor("the chooser", `!document.getElementById('bo-choose').hidden && document.querySelectorAll('#bo-choose-list li').length === 2`, 30*time.Second)
	ann.screenshot("breakouts-10-student-chooser")
	// The chooser is redrawn whenever the roster or plan changes, so click it from the page: a
	// synthetic pointer click aimed at a node that was just replaced never lands.
	ann.js("join room 2", `document.querySelector('#bo-choose-list li[data-breakout="2"] button').click()`)
	ann.waitFor("Ann chose room 2", `window.chalk.breakouts().current === 2 && `+participantsAre(annID), 40*time.Second)
	ann.screenshot("breakouts-11-student-chose-warning")
	prof.press("close all rooms", "#bo-close")
	prof.press("confirm", "#bo-close-yes")
	ann.waitFor("Ann is back", `window.chalk.breakouts().current === 0 && `+participantsAre(profID, annID, benID), 30*time.Second)

	for _, b := range everyone {
		b.waitFor("no page reload at any point", `window.__noReload === 'still here'`, 5*time.Second)
	}

	fails, err := eval[[]string](ann, breakoutsModelChecks)
	if err != nil {
		t.Fatalf("model checks: %v", err)
	}
	for _, f := range fails {
		t.Errorf("breakouts model: %s", f)
	}
}

// breakoutsModelChecks exercises breakouts.js in the page: version order, the countdown's clock
// skew, labels, errors and the messages the actions send. It resolves to a list of failures.
const breakoutsModelChecks = `(async () => {
  const { Breakouts, formatRemaining, sayRemaining, describeBreakoutError } = await import('/static/breakouts.js');
  const fails = [];
  const check = (what, ok) => { if (!ok) fails.push(what); };
  const sent = [];
  let now = 1_000_000;
  const m = new Breakouts({ send: (type, data) => { sent.push([type, data]); return true; }, now: () => now });
  const seen = [];
  m.on('plan', (d) => seen.push(d));
  const iso = (ms) => new Date(ms).toISOString();
  // The server's clock is 30 s ahead of ours; the timer ends 90 s after its serverTime.
  const plan = (version, extra = {}) => ({ room: 'c', generation: 1, version, open: true, selfSelect: false,
    rooms: [{ number: 1, room: 'c.b1', name: 'Breakout 1', assigned: 1, help: null },
      { number: 2, room: 'c.b2', name: 'Lab', assigned: 0, help: null }],
    endsAt: iso(now + 30000 + 90000), serverTime: iso(now + 30000), current: 1, assigned: 1, broadcasts: [], closeReason: '', ...extra });
  m.reset(plan(3), 'c.b1', { from: 'c', reason: 'assigned' });
  check('reset reports the move and the opening', seen.length === 1 && seen[0].moved.reason === 'assigned' && seen[0].opened);
  check('countdown corrected for skew', m.remaining() === 90000);
  now += 31000;
  check('countdown runs on the local clock', m.remaining() === 59000 && formatRemaining(m.remaining()) === '0:59');
  m.message('breakouts', plan(2, { open: false }));
  check('an older version is ignored', m.open && seen.length === 1);
  m.message('breakouts', plan(4, { open: false, endsAt: null, current: 0 }));
  check('a newer version is applied and reports the close', !m.open && seen.length === 2 && seen[1].closed && m.remaining() === null);
  m.reset(plan(4, { generation: 2 }), 'c.b1');
  check('joined always replaces, a new generation is an opening', m.open && seen[2].opened && !seen[2].moved);
  check('in a breakout by the room name', m.inBreakout && (m.room = 'c', !m.inBreakout) && (m.room = 'c.b12', m.inBreakout));
  check('labels', m.label(1) === 'Breakout 1' && m.label(2) === 'Breakout 2 · Lab' && m.label(0) === 'Main room');
  check('remaining in words', sayRemaining(61000) === '1 minute' && sayRemaining(1000) === '1 second' && sayRemaining(600000) === '10 minutes');
  check('hours', formatRemaining(3723000) === '1:02:03');
  check('breakout errors are routed', m.error({ code: 'conflict', ref: 'breakout_help' }) && !m.error({ code: 'bad_sdp', ref: 'offer' }));
  check('a help conflict explains itself', describeBreakoutError({ code: 'conflict', ref: 'breakout_help' }).includes('raise your hand'));
  let asking = 0;
  m.on('asking', () => asking++);
  sent.length = 0;
  m.openRooms({ count: 3, names: ['A', '', ''], assignments: { 'guest-x': 2 }, minutes: 5 });
  m.openRooms({ count: 2, selfSelect: true });
  m.assign({ 'guest-x': 0 });
  m.assign({}, true);
  m.extend(300);
  m.broadcast('  hi  ');
  m.visit(0);
  m.choose(2);
  m.askHelp();
  m.helpDone(1);
  m.closeRooms();
  check('asking is reported and ends with the next plan', asking === 1 && m.asking && (m.message('breakouts', plan(9)), !m.asking));
  check('actions send the protocol messages', JSON.stringify(sent) === JSON.stringify([
    ['breakouts_open', { count: 3, names: ['A'], assignments: { 'guest-x': 2 }, durationSeconds: 300 }],
    ['breakouts_open', { count: 2, selfSelect: true }],
    ['breakouts_assign', { generation: 2, assignments: { 'guest-x': 0 } }],
    ['breakouts_assign', { generation: 2, random: true }],
    ['breakouts_extend', { seconds: 300, generation: 2 }],
    ['breakouts_broadcast', { text: 'hi', generation: 2 }],
    ['breakout_visit', { breakout: 0, generation: 2 }],
    ['breakout_choose', { breakout: 2, generation: 2 }],
    ['breakout_help', { generation: 2 }],
    ['breakout_help_done', { breakout: 1, generation: 2 }],
    ['breakouts_close', { generation: 2 }]]));
  m.clear();
  check('clear forgets the plan', !m.open && m.room === '' && m.plan.rooms.length === 0);
  return fails;
})()`
