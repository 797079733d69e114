package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
)

// xss is chat text that must appear literally, never as markup.
const xss = `<img src=x onerror=alert(1)>`

func (b *browser) click(what, sel string) {
	b.t.Helper()
	if err := b.do(10*time.Second, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)); err != nil {
		b.t.Fatalf("click %s (%s): %v", what, sel, err)
	}
}

// js runs a script for its effect (it may return a promise).
func (b *browser) js(what, script string) {
	b.t.Helper()
	if _, err := eval[any](b, script); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func evalString(b *browser, js string) string {
	b.t.Helper()
	s, err := eval[string](b, js)
	if err != nil {
		b.t.Fatalf("eval %s: %v", js, err)
	}
	return s
}

// enter presses Enter (with Shift when shift) the way a keyboard does: a keyDown that carries its
// text, so a handled keydown (preventDefault) types nothing. chromedp's kb.Enter sends a separate
// char event that a real browser would have suppressed, which leaves a stray newline behind.
func enter(shift bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: "Enter", Code: "Enter",
			WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13, Text: "\r", UnmodifiedText: "\r"}
		if shift {
			down.Modifiers = int64(chromedp.ModifierShift)
		}
		up := down
		up.Type, up.Text, up.UnmodifiedText = input.DispatchKeyEventTypeKeyUp, "", ""
		for _, ev := range []input.DispatchKeyEventParams{down, up} {
			if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// chatTexts is what the chat list shows, one entry per message: text, or "deleted".
const chatTexts = `JSON.stringify([...document.querySelectorAll('#chat-list li.msg')].map((li) =>
  li.classList.contains('deleted') ? 'deleted' : li.querySelector('.msg-text').textContent))`

// TestBrowsersChatAndHands drives the classroom interaction UI in two real browsers: a student
// chats (a private message too) and raises a hand; the instructor sees both, answers, lowers the
// hand and deletes a message; the student sees each change; rate limiting and the length limit show
// next to the composer; a reload brings the history back.
func TestBrowsersChatAndHands(t *testing.T) {
	srv := startTestServer(t, nil)
	const room = "e2e-chat"
	tok, err := srv.tokens.Mint(auth.Grant{Room: room, Identity: "prof", Name: "Prof. Ada", Role: rooms.RoleInstructor}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	prof := newBrowser(t, 1280, 720)
	sam := newBrowser(t, 1280, 720)
	samURL := srv.URL() + "/r/" + room + "?autojoin=1&name=Sam+Student"
	if err := prof.do(20*time.Second, chromedp.Navigate(srv.URL()+"/r/"+room+"?autojoin=1&token="+url.QueryEscape(tok))); err != nil {
		t.Fatalf("instructor opens the class: %v", err)
	}
	if err := sam.do(20*time.Second, chromedp.Navigate(samURL)); err != nil {
		t.Fatalf("student opens the class: %v", err)
	}
	for _, b := range []*browser{prof, sam} {
		b.waitFor("both in the class", `window.chalk && window.chalk.state().connected && window.chalk.state().participants.length === 2`, 20*time.Second)
	}
	samID := evalString(sam, `window.chalk.state().participantId`)
	prof.waitFor("no hand button for instructors", `document.getElementById('btn-hand').hidden`, 15*time.Second)
	sam.waitFor("a hand button for students", `!document.getElementById('btn-hand').hidden`, 15*time.Second)

	// Keyboard: C opens the chat with the focus in it (the composer with a mouse; headless Chromium
	// reports no fine pointer, like a phone, so the tab), Escape closes it and returns the focus to
	// the chat button.
	if err := sam.do(10*time.Second, chromedp.KeyEvent("c")); err != nil {
		t.Fatal(err)
	}
	sam.waitFor("C opens the chat, focus in it", `!document.getElementById('panel').hidden && document.activeElement.id === (matchMedia('(pointer: fine)').matches ? 'chat-input' : 'tab-chat')`, 15*time.Second)
	sam.screenshot("student-chat-empty")
	if err := sam.do(10*time.Second, chromedp.KeyEvent(kb.Escape)); err != nil {
		t.Fatal(err)
	}
	sam.waitFor("Escape closes it", `document.getElementById('panel').hidden && document.activeElement.id === 'btn-chat'`, 15*time.Second)

	// The student writes: the XSS string, two lines (Shift+Enter), and a private question.
	sam.click("chat button", "#btn-chat")
	if err := sam.do(10*time.Second,
		chromedp.WaitVisible(chromedp.ID("chat-input")),
		chromedp.SendKeys(chromedp.ID("chat-input"), xss), enter(false),
		chromedp.SendKeys(chromedp.ID("chat-input"), "line one"), enter(true),
		chromedp.SendKeys(chromedp.ID("chat-input"), "line two"), enter(false),
	); err != nil {
		t.Fatalf("student types: %v", err)
	}
	sam.waitFor("two messages shown", chatTexts+` === JSON.stringify([`+fmt.Sprintf("%q", xss)+`, "line one\nline two"])`, 15*time.Second)
	sam.js("choose Instructors only", `(() => { const s = document.getElementById('chat-to'); s.value = 'instructors'; s.dispatchEvent(new Event('change')); })()`)
	if err := sam.do(10*time.Second, chromedp.SendKeys(chromedp.ID("chat-input"), "Can we go over question 3 again?"), enter(false)); err != nil {
		t.Fatalf("student sends a private message: %v", err)
	}
	sam.waitFor("private message marked", `(() => { const li = [...document.querySelectorAll('#chat-list li.msg')].pop();
		return li && li.classList.contains('private') && li.classList.contains('own') && li.textContent.includes('To instructors'); })()`, 15*time.Second)
	sam.click("raise hand", "#btn-hand")
	sam.waitFor("hand button shows raised", `document.getElementById('btn-hand').getAttribute('aria-pressed') === 'true'`, 15*time.Second)
	sam.screenshot("student-chat-hand-raised")
	sam.click("people tab", "#tab-people")
	sam.waitFor("the student sees the queue with a Lower for their own hand", `(() => { const rows = document.querySelectorAll('#hands-list li');
		return rows.length === 1 && rows[0].querySelector('button').getAttribute('aria-label') === 'Lower your hand'; })()`, 15*time.Second)
	sam.screenshot("student-people")
	sam.click("chat tab", "#tab-chat")

	// The instructor: unread badge, hand badge, the hand on Sam's tile; then the messages, literally.
	prof.waitFor("unread badge 3 on the chat button", `(document.querySelector('#btn-chat .ctl-badge') || {}).textContent === '3'`, 15*time.Second)
	prof.waitFor("hand count on the people button", `(document.querySelector('#btn-people .ctl-badge') || {}).textContent === '1'`, 15*time.Second)
	prof.waitFor("hand on Sam's tile", fmt.Sprintf(`(() => { const h = document.querySelector('.tiles [data-participant-id=%q] .hand-badge'); return !!h && !h.hidden && h.textContent === '1'; })()`, samID), 15*time.Second)
	prof.screenshot("instructor-hand-on-tile")
	prof.click("chat button", "#btn-chat")
	prof.waitFor("unread badge cleared", `!document.querySelector('#btn-chat .ctl-badge')`, 15*time.Second)
	prof.waitFor("three messages, the XSS one as text", chatTexts+` === JSON.stringify([`+fmt.Sprintf("%q", xss)+`, "line one\nline two", "Can we go over question 3 again?"])`, 15*time.Second)
	if n, err := eval[float64](prof, `document.querySelectorAll('#chat-list img, #chat-list [onerror]').length`); err != nil || n != 0 {
		t.Fatalf("chat text became markup: %v elements (%v)", n, err)
	}
	prof.waitFor("the private message is marked for the instructor", `[...document.querySelectorAll('#chat-list li.msg.private')].length === 1`, 15*time.Second)
	if err := prof.do(10*time.Second, chromedp.SendKeys(chromedp.ID("chat-input"), "Yes, right after this slide."), enter(false)); err != nil {
		t.Fatalf("instructor answers: %v", err)
	}
	prof.waitFor("own answer shown", `[...document.querySelectorAll('#chat-list li.msg.own')].length === 1`, 15*time.Second)
	prof.screenshot("instructor-chat")

	// The hands list: Sam first; lower the hand from the list.
	prof.click("people tab", "#tab-people")
	prof.waitFor("Sam in the raised hands list", `(() => { const rows = document.querySelectorAll('#hands-list li'); return rows.length === 1 && rows[0].textContent.includes('Sam Student'); })()`, 15*time.Second)
	prof.waitFor("people list with roles", `document.querySelectorAll('#people-list li').length === 2 && document.querySelector('#people-list').textContent.includes('Instructor')`, 15*time.Second)
	prof.screenshot("instructor-people")
	if os.Getenv("CHALK_SCREENSHOTS") != "" { // a projector's full HD, for the eye only
		if err := prof.do(10*time.Second, chromedp.EmulateViewport(1920, 1080)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		prof.screenshot("instructor-people-1920x1080")
		if err := prof.do(10*time.Second, chromedp.EmulateViewport(1280, 720)); err != nil {
			t.Fatal(err)
		}
	}
	prof.click("lower Sam's hand", "#hands-list li button")
	prof.waitFor("hands list empty", `document.querySelectorAll('#hands-list li').length === 0 && !document.getElementById('hands-empty').hidden`, 15*time.Second)
	prof.waitFor("hand gone from the tile", fmt.Sprintf(`document.querySelector('.tiles [data-participant-id=%q] .hand-badge').hidden`, samID), 15*time.Second)
	sam.waitFor("student's hand button lowered", `document.getElementById('btn-hand').getAttribute('aria-pressed') === 'false'`, 15*time.Second)
	sam.waitFor("student told who lowered it", `window.chalk.state().banner === 'Prof. Ada lowered your hand.'`, 15*time.Second)

	// The student sees the answer with the instructor badge, and has no delete actions.
	sam.waitFor("answer from the instructor", `(() => { const li = [...document.querySelectorAll('#chat-list li.msg')].pop();
		return li && li.textContent.includes('Yes, right after this slide.') && !!li.querySelector('.role-badge'); })()`, 15*time.Second)
	if n, err := eval[float64](sam, `document.querySelectorAll('#chat-list .msg-del').length`); err != nil || n != 0 {
		t.Fatalf("student has %v delete buttons (%v)", n, err)
	}

	// The instructor deletes the XSS message; both see "Message deleted".
	xssID := evalString(prof, `document.querySelector('#chat-list li.msg').dataset.id`)
	prof.click("chat tab", "#tab-chat")
	prof.click("delete", fmt.Sprintf(`#chat-list li.msg[data-id=%q] .msg-del`, xssID))
	prof.click("confirm delete", fmt.Sprintf(`#chat-list li.msg[data-id=%q] .msg-confirm .btn-danger`, xssID))
	for name, b := range map[string]*browser{"instructor": prof, "student": sam} {
		b.waitFor(name+" sees the message deleted", fmt.Sprintf(`(() => { const li = document.querySelector('#chat-list li.msg[data-id=%q]');
			return !!li && li.classList.contains('deleted') && li.textContent.includes('Message deleted') && !li.textContent.includes('<img'); })()`, xssID), 15*time.Second)
	}

	// Length limit: counter near 1000, send refused over it (the server never sees it).
	sam.js("paste 1001 characters", `(() => { const i = document.getElementById('chat-input'); i.value = 'x'.repeat(1001); i.dispatchEvent(new Event('input')); })()`)
	sam.waitFor("counter over the limit, send disabled", `document.getElementById('chat-count').textContent.startsWith('1001 / 1000') && document.getElementById('chat-send').disabled`, 15*time.Second)
	sam.screenshot("student-too-long")

	// Rate limit: a burst past 5 messages is refused; the error shows under the composer and the
	// refused text comes back into the box.
	sam.js("back to Everyone", `(() => { const s = document.getElementById('chat-to'); s.value = ''; s.dispatchEvent(new Event('change')); })()`)
	// The server's bucket holds 5 messages and refills one per second: after 5 s quiet it is full
	// however fast the steps above ran, so exactly 5 of the 8 get through.
	time.Sleep(5*time.Second + 500*time.Millisecond)
	sam.js("send a burst", `(() => {
		const i = document.getElementById('chat-input');
		for (let n = 1; n <= 8; n++) {
			i.value = 'burst ' + n;
			i.dispatchEvent(new Event('input'));
			i.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true, cancelable: true}));
		}
	})()`)
	sam.waitFor("rate-limit error next to the composer", `document.getElementById('chat-error').textContent.includes('too fast') && document.getElementById('chat-input').value.startsWith('burst ')`, 15*time.Second)
	if got := evalString(sam, `window.chalk.state().banner`); strings.Contains(got, "fast") {
		t.Errorf("rate limit shown in the banner too: %q", got)
	}
	sam.screenshot("student-rate-limited")

	// A narrow window: the panel lies over the video and the controls still fit.
	if err := sam.do(10*time.Second, chromedp.EmulateViewport(400, 760)); err != nil {
		t.Fatal(err)
	}
	sam.waitFor("panel overlays in a narrow window", `getComputedStyle(document.getElementById('panel')).position === 'absolute'`, 15*time.Second)
	sam.waitFor("controls fit", `(() => { const c = document.querySelector('.controls'); return c.scrollWidth <= c.clientWidth; })()`, 15*time.Second)
	sam.screenshot("student-narrow-chat")

	// Auto-scroll only at the bottom: the instructor scrolls up and a new message leaves the view
	// where it is, with a "new messages" button that jumps down.
	prof.waitFor("the instructor's chat overflows", `(() => { const s = document.querySelector('#pane-chat .chat-scroll'); return s.scrollHeight > s.clientHeight + 100; })()`, 15*time.Second)
	prof.js("scroll up", `document.querySelector('#pane-chat .chat-scroll').scrollTop = 0`)
	time.Sleep(300 * time.Millisecond)  // let the scroll event land
	time.Sleep(1500 * time.Millisecond) // the burst emptied the rate-limit bucket: one message per second
	sam.js("clear the refused text", `(() => { const i = document.getElementById('chat-input'); i.value = ''; i.dispatchEvent(new Event('input')); })()`)
	if err := sam.do(10*time.Second, chromedp.SendKeys(chromedp.ID("chat-input"), "One more thing."), enter(false)); err != nil {
		t.Fatal(err)
	}
	prof.waitFor("new message below, view kept", `(() => { const s = document.querySelector('#pane-chat .chat-scroll'); const j = document.getElementById('chat-jump');
		return s.scrollTop === 0 && !j.hidden && j.textContent === '1 new message' && s.textContent.includes('One more thing.'); })()`, 15*time.Second)
	prof.screenshot("instructor-scrolled-up")
	prof.click("jump to new messages", "#chat-jump")
	prof.waitFor("at the bottom", `(() => { const s = document.querySelector('#pane-chat .chat-scroll');
		return document.getElementById('chat-jump').hidden && s.scrollHeight - s.scrollTop - s.clientHeight < 5; })()`, 15*time.Second)

	// History: a reload joins again and shows the same chat, the deletion and the private message kept.
	if err := sam.do(20*time.Second, chromedp.EmulateViewport(1280, 720), chromedp.Navigate(samURL)); err != nil {
		t.Fatalf("student reloads: %v", err)
	}
	sam.waitFor("rejoined", `window.chalk && window.chalk.state().connected && window.chalk.state().participants.length === 2`, 20*time.Second)
	sam.click("chat button", "#btn-chat")
	// The reload is a new session of the same user: the private question is still theirs to see, and
	// their earlier messages are still marked as their own.
	sam.waitFor("history restored", `(() => {
		const t = JSON.parse(`+chatTexts+`);
		return JSON.stringify(t) === JSON.stringify(['deleted', 'line one\nline two', 'Can we go over question 3 again?',
			'Yes, right after this slide.', 'burst 1', 'burst 2', 'burst 3', 'burst 4', 'burst 5', 'One more thing.']); })()`, 15*time.Second)
	sam.waitFor("own messages still marked after the reload", `(() => {
		const own = [...document.querySelectorAll('#chat-list li.msg.own .msg-text')].map((e) => e.textContent);
		return own.includes('line one\nline two') && own.includes('Can we go over question 3 again?') && !own.includes('Yes, right after this slide.'); })()`, 15*time.Second)
	sam.screenshot("student-history-after-reload")

	fails, err := eval[[]string](prof, classroomModelChecks)
	if err != nil {
		t.Fatalf("model checks: %v", err)
	}
	for _, f := range fails {
		t.Errorf("classroom model: %s", f)
	}
}

// classroomModelChecks exercises classroom.js and chat.js's linkifier in the page (no Node
// toolchain): snapshot and resync, the hand queue, caps, error routing and the messages actions
// send. It resolves to a list of failures.
const classroomModelChecks = `(async () => {
  const { Classroom, chatLength } = await import('/static/classroom.js');
  const { appendLinkified } = await import('/static/chat.js');
  const fails = [];
  const check = (what, ok) => { if (!ok) fails.push(what); };
  const sent = [];
  const c = new Classroom({ send: (type, data) => { sent.push([type, data || null]); return true; } });
  const seen = [];
  c.on('chat', (d) => seen.push(d));
  const people = (...ids) => new Map(ids.map((id) => [id, { id, name: id.toUpperCase(), role: id === 't' ? 'instructor' : 'student', tracks: [] }]));
  const msg = (id, from = 'a', text = 'hi') => ({ id, from, fromName: from, fromRole: 'student', text, at: new Date().toISOString() });

  c.reset({ me: 'a', participants: people('a', 'b', 't'), hands: ['b', 'gone', 'a'], chat: [msg('m1'), msg('m2', 'b')] });
  check('first snapshot counts nothing as fresh', seen.pop().fresh.length === 0);
  check('snapshot hands keep order and drop absent people', JSON.stringify(c.hands) === '["b","a"]');
  check('handRaised', c.handRaised && !c.isInstructor);
  c.event('chat', { message: msg('m3', 'b') });
  c.event('chat', { message: msg('m3', 'b') });
  check('a message id is added once', c.messages.length === 3);
  c.event('chat_deleted', { id: 'm2', by: 't' });
  check('deleted keeps its place without text', c.messages[1].deleted === true && c.messages[1].text === '');
  c.event('hand_raised', { participantId: 'b' });
  c.event('hand_lowered', { participantId: 'b', by: 't' });
  c.event('hand_raised', { participantId: 'b' });
  check('queue: lowered then raised again goes last', JSON.stringify(c.hands) === '["a","b"]');
  let handsNotices = 0;
  c.on('hands', () => handsNotices++);
  c.roster(people('a', 't'));
  check('leaving the room leaves the queue', JSON.stringify(c.hands) === '["a"]' && handsNotices === 1);
  c.roster(people('a', 't', 'b2'));
  c.event('hand_restored', { participantId: 'b2', hands: ['b2', 'a', 'gone'] });
  check('a restored hand takes its old place', JSON.stringify(c.hands) === '["b2","a"]' && handsNotices === 2);
  c.reset({ me: 'a', participants: people('a', 't'), hands: [], chat: [msg('m1'), msg('m3', 'b'), msg('m4', 't')] });
  check('resync reports missed messages as fresh', JSON.stringify(seen.pop().fresh) === '["m4"]');
  for (let i = 0; i < 600; i++) c.event('chat', { message: msg('x' + i) });
  check('the page keeps at most 500 messages', c.messages.length === 500 && c.byId.size === 500 && c.messages[499].id === 'x599');
  check('classroom errors are routed', c.error({ code: 'rate_limited', ref: 'chat' }) && !c.error({ code: 'bad_sdp', ref: 'offer' }));
  c.sendChat('  hello  ');
  c.sendChat('psst', 'instructors');
  c.lowerHand();
  c.lowerHand('a');
  c.lowerHand('b');
  c.deleteChat('m1');
  check('actions send the protocol messages', JSON.stringify(sent) === JSON.stringify([
    ['chat', { text: 'hello' }], ['chat', { text: 'psst', to: 'instructors' }], ['lower_hand', {}], ['lower_hand', {}],
    ['lower_hand', { participantId: 'b' }], ['chat_delete', { id: 'm1' }]]));
  check('length counts code points after trimming', chatLength('  \u{1F600}a  ') === 2);
  const p = document.createElement('p');
  const text = '(see https://x.test/a?q=1&r=2), https://en.wikipedia.org/wiki/Pi_(letter). or javascript:alert(1) <img src=x>';
  appendLinkified(p, text);
  const links = [...p.querySelectorAll('a')].map((a) => a.getAttribute('href'));
  check('http links only, trailing punctuation left out', JSON.stringify(links) === JSON.stringify(['https://x.test/a?q=1&r=2', 'https://en.wikipedia.org/wiki/Pi_(letter)']) &&
    p.querySelector('a').rel.includes('noopener'));
  check('no markup from text', !p.querySelector('img') && p.textContent === text);
  return fails;
})()`
