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

// shot takes a screenshot once the result bars have finished growing (only when screenshots are on).
func shot(b *browser, name string) {
	if os.Getenv("CHALK_SCREENSHOTS") == "" {
		return
	}
	time.Sleep(500 * time.Millisecond)
	b.screenshot(name)
}

// pollCard is a script expression for the first card in a list (#polls-open or #polls-closed).
func pollCard(list string) string {
	return fmt.Sprintf(`document.querySelector('#%s li.poll-card')`, list)
}

// pollNums is what a card's result rows say ("1 · 100%" each), as JSON.
func pollNums(list string) string {
	return `JSON.stringify([...(` + pollCard(list) + ` || document.createElement('i')).querySelectorAll('.poll-num')].map((e) => e.textContent))`
}

// TestBrowsersPolls drives polls and quizzes in two real browsers: the instructor's form refuses a
// bad draft next to its fields, then starts a quiz; the student's pane comes forward, the student
// votes and changes the vote, and the instructor's bars and answers list follow; a reload keeps the
// open poll and the vote; closing shows the student the answer and that they were right; an
// anonymous multiple-choice poll shows the instructor counts and no names.
func TestBrowsersPolls(t *testing.T) {
	srv := startTestServer(t, nil)
	const room = "e2e-polls"
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

	// The model's rules and the form's checks, inside the page.
	fails, err := eval[[]string](prof, pollModelChecks)
	if err != nil {
		t.Fatalf("poll model checks: %v", err)
	}
	for _, f := range fails {
		t.Errorf("polls model: %s", f)
	}

	// The instructor opens the Polls pane (Q) and the form; an empty draft is refused in place.
	if err := prof.do(10*time.Second, chromedp.KeyEvent("q")); err != nil {
		t.Fatal(err)
	}
	prof.waitFor("Q opens the Polls pane", `!document.getElementById('panel').hidden && document.getElementById('tab-polls').getAttribute('aria-selected') === 'true'`, 15*time.Second)
	prof.click("new poll", "#poll-new-btn")
	prof.waitFor("the form, focus in the question", `!document.getElementById('poll-form').hidden && document.activeElement.id === 'poll-question'`, 15*time.Second)
	prof.click("start an empty poll", "#poll-start")
	prof.waitFor("errors next to the fields", `document.getElementById('poll-question-error').textContent === 'Write the question.' &&
		document.getElementById('poll-options-error').textContent === 'Options A and B are empty: fill them in.' &&
		document.getElementById('poll-question').getAttribute('aria-invalid') === 'true'`, 15*time.Second)
	shot(prof, "polls-instructor-form-errors")

	// Type the quiz with the keyboard: Enter goes from the question to the options and, on the last
	// one, adds an option. A repeated option is refused until it is fixed.
	opt := func(n int) chromedp.CSS {
		return chromedp.CSS(fmt.Sprintf("#poll-option-rows li:nth-child(%d) .opt-text", n))
	}
	if err := prof.do(15*time.Second,
		chromedp.SendKeys(chromedp.ID("poll-question"), "Which planet is the largest?"), enter(false),
		chromedp.SendKeys(opt(1), "Mars"), enter(false),
		chromedp.SendKeys(opt(2), "Jupiter"), enter(false),
		chromedp.SendKeys(opt(3), "Mars"),
	); err != nil {
		t.Fatalf("instructor types the poll: %v", err)
	}
	prof.waitFor("three options, the repeat refused", `document.querySelectorAll('#poll-option-rows li').length === 3 &&
		document.getElementById('poll-options-error').textContent === 'Options A and C are the same.'`, 15*time.Second)
	prof.js("fix option C", `(() => { const i = document.querySelector('#poll-option-rows li:nth-child(3) .opt-text'); i.value = 'Venus'; i.dispatchEvent(new Event('input', {bubbles: true})); })()`)
	prof.click("quiz", "label:has(#poll-quiz)")
	prof.click("start without a correct answer", "#poll-start")
	prof.waitFor("asked for the correct answer", `document.getElementById('poll-options-error').textContent.startsWith('Tick the correct answer')`, 15*time.Second)
	prof.click("B is correct", "#poll-option-rows li:nth-child(2) .correct-toggle")
	prof.waitFor("no errors left", `document.getElementById('poll-options-error').textContent === '' && document.getElementById('poll-question-error').textContent === ''`, 15*time.Second)
	if n, err := eval[float64](sam, `window.chalk.state().polls.length`); err != nil || n != 0 {
		t.Fatalf("a refused draft reached the server: the student has %v polls (%v)", n, err)
	}
	shot(prof, "polls-instructor-form")
	prof.click("start the quiz", "#poll-start")
	prof.waitFor("the form closes and the quiz is open", `document.getElementById('poll-form').hidden &&
		`+pollCard("polls-open")+`?.querySelector('.poll-question').textContent === 'Which planet is the largest?' &&
		`+pollNums("polls-open")+` === JSON.stringify(['0 · 0%', '0 · 0%', '0 · 0%'])`, 15*time.Second)

	// The student's pane comes forward by itself with the question, unanswered.
	sam.waitFor("the Polls pane opens for the student", `!document.getElementById('panel').hidden && document.getElementById('tab-polls').getAttribute('aria-selected') === 'true' &&
		`+pollCard("polls-open")+`?.textContent.includes('Which planet is the largest?') && document.getElementById('poll-new').hidden`, 15*time.Second)
	sam.waitFor("radio buttons, nothing chosen, Vote disabled", `(() => { const c = `+pollCard("polls-open")+`;
		const r = c.querySelectorAll('input[type=radio]'); return r.length === 3 && ![...r].some((x) => x.checked) && c.querySelector('button[type=submit]').disabled; })()`, 15*time.Second)
	shot(sam, "polls-student-open")

	// Vote A, then change to B.
	vote := func(option int, want string) {
		t.Helper()
		sam.click("choose", fmt.Sprintf("#polls-open li.poll-card .poll-choice:nth-child(%d)", option))
		sam.click("vote", "#polls-open li.poll-card button[type=submit]")
		sam.waitFor("vote recorded: "+want, fmt.Sprintf(`(() => { const c = `+pollCard("polls-open")+`;
			const mine = [...c.querySelectorAll('.poll-choice')].map((l) => l.classList.contains('mine'));
			return mine.filter(Boolean).length === 1 && mine[%d] && c.querySelector('.poll-status').textContent.startsWith(%q) &&
				c.querySelector('button[type=submit]').hidden; })()`, option-1, "Your vote: "+want), 15*time.Second)
	}
	vote(1, "A")
	prof.waitFor("live count for A", pollNums("polls-open")+` === JSON.stringify(['1 · 100%', '0 · 0%', '0 · 0%']) &&
		`+pollCard("polls-open")+`.querySelector('.poll-voters').textContent === '1 of 1 student voted'`, 15*time.Second)
	vote(2, "B")
	shot(sam, "polls-student-voted")
	prof.waitFor("the count follows the changed vote", pollNums("polls-open")+` === JSON.stringify(['0 · 0%', '1 · 100%', '0 · 0%'])`, 15*time.Second)
	prof.click("who answered what", "#polls-open li.poll-card details.poll-answers summary")
	prof.waitFor("Sam answered B, right", `(() => { const rows = `+pollCard("polls-open")+`.querySelectorAll('.poll-answer');
		return rows.length === 1 && rows[0].querySelector('.poll-answer-name').textContent === 'Sam Student' &&
			rows[0].querySelector('.poll-answer-choice').textContent === 'B' && rows[0].textContent.includes('right'); })()`, 15*time.Second)
	prof.waitFor("the answer is not on the (projected) screen until asked for", `(() => { const c = `+pollCard("polls-open")+`;
		return c.classList.contains('hide-answer') && getComputedStyle(c.querySelector('.mark-correct')).display === 'none' &&
			getComputedStyle(c.querySelector('.poll-answer .mark-correct')).display === 'none'; })()`, 15*time.Second)
	shot(prof, "polls-instructor-live")
	prof.click("show answer", "#polls-open li.poll-card .poll-reveal")
	prof.waitFor("the answer shows", `(() => { const c = `+pollCard("polls-open")+`;
		return !c.classList.contains('hide-answer') && getComputedStyle(c.querySelector('.mark-correct')).display !== 'none' &&
			c.querySelector('.poll-reveal').getAttribute('aria-pressed') === 'true'; })()`, 15*time.Second)
	if os.Getenv("CHALK_SCREENSHOTS") != "" { // a projector's full HD, for the eye only
		if err := prof.do(10*time.Second, chromedp.EmulateViewport(1920, 1080)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		shot(prof, "polls-instructor-live-1920x1080")
		if err := prof.do(10*time.Second, chromedp.EmulateViewport(1280, 720)); err != nil {
			t.Fatal(err)
		}
	}

	// A reload mid-poll: the open poll is back, with the vote marked and its box ticked.
	if err := sam.do(20*time.Second, chromedp.Navigate(samURL)); err != nil {
		t.Fatalf("student reloads: %v", err)
	}
	sam.waitFor("rejoined", `window.chalk && window.chalk.state().connected && window.chalk.state().participants.length === 2`, 20*time.Second)
	sam.waitFor("the open poll with the vote on B", `(() => { const c = `+pollCard("polls-open")+`;
		if (!c || document.getElementById('panel').hidden) return false;
		const labels = [...c.querySelectorAll('.poll-choice')];
		return labels[1].classList.contains('mine') && labels[1].querySelector('input').checked && !labels[0].querySelector('input').checked &&
			c.querySelector('button[type=submit]').hidden && c.querySelector('.poll-status').textContent.startsWith('Your vote: B'); })()`, 15*time.Second)
	shot(sam, "polls-student-after-reload")
	prof.waitFor("the instructor still counts one vote", pollNums("polls-open")+` === JSON.stringify(['0 · 0%', '1 · 100%', '0 · 0%'])`, 15*time.Second)

	// The instructor closes the quiz: final results for both, the answer and "right" for the student.
	prof.click("close the poll", "#polls-open li.poll-card .poll-close")
	prof.waitFor("the quiz moves to Closed", `!`+pollCard("polls-open")+` && `+pollNums("polls-closed")+` === JSON.stringify(['0 · 0%', '1 · 100%', '0 · 0%'])`, 15*time.Second)
	sam.waitFor("the student sees they were right", `(() => { const c = `+pollCard("polls-closed")+`;
		if (!c) return false;
		const rows = c.querySelectorAll('.poll-row');
		return c.querySelector('.poll-verdict.right')?.textContent === 'You got it right!' &&
			rows[1].classList.contains('correct') && rows[1].classList.contains('mine') && rows[1].textContent.includes('Correct') &&
			!rows[0].classList.contains('correct') && `+pollNums("polls-closed")+` === JSON.stringify(['0 · 0%', '1 · 100%', '0 · 0%']); })()`, 15*time.Second)
	shot(sam, "polls-student-quiz-result")
	shot(prof, "polls-instructor-closed")

	// A student writing in the chat keeps the chat when the next poll opens; the Polls badge counts it.
	sam.click("chat tab", "#tab-chat")
	if err := sam.do(10*time.Second, chromedp.SendKeys(chromedp.ID("chat-input"), "half a thought")); err != nil {
		t.Fatal(err)
	}

	// An anonymous poll with several answers: counts for the instructor, never a name.
	prof.click("new poll", "#poll-new-btn")
	if err := prof.do(15*time.Second,
		chromedp.SendKeys(chromedp.ID("poll-question"), "Which topics should we review?"), enter(false),
		chromedp.SendKeys(opt(1), "Vectors"), enter(false),
		chromedp.SendKeys(opt(2), "Matrices"), enter(false),
		chromedp.SendKeys(opt(3), "Limits "+xss),
	); err != nil {
		t.Fatalf("instructor types the second poll: %v", err)
	}
	prof.click("several answers", `label:has(input[name=poll-kind][value=multiple])`)
	prof.click("anonymous", "label:has(#poll-anonymous)")
	prof.click("start", "#poll-start")
	prof.waitFor("the anonymous poll is open", pollCard("polls-open")+`?.querySelector('.poll-question').textContent === 'Which topics should we review?'`, 15*time.Second)
	sam.waitFor("the chat stays, the Polls badge says 1", `document.getElementById('tab-chat').getAttribute('aria-selected') === 'true' &&
		document.getElementById('chat-input').value === 'half a thought' && document.querySelector('#tab-polls .count-badge').textContent === '1' &&
		document.querySelector('#btn-polls .ctl-badge')?.textContent === '1'`, 15*time.Second)
	shot(sam, "polls-student-badge-while-chatting")
	sam.click("polls tab", "#tab-polls")
	sam.waitFor("badge cleared", `document.querySelector('#tab-polls .count-badge').hidden`, 15*time.Second)
	sam.waitFor("checkboxes for several answers", `(() => { const c = `+pollCard("polls-open")+`;
		return !!c && c.querySelectorAll('input[type=checkbox]').length === 3 && c.textContent.includes('Choose all that apply.'); })()`, 15*time.Second)
	sam.click("Vectors", "#polls-open li.poll-card .poll-choice:nth-child(1)")
	sam.click("Limits", "#polls-open li.poll-card .poll-choice:nth-child(3)")
	sam.click("vote", "#polls-open li.poll-card button[type=submit]")
	sam.waitFor("two choices recorded", pollCard("polls-open")+`.querySelector('.poll-status').textContent.startsWith('Your vote: A and C')`, 15*time.Second)
	prof.waitFor("counts without names", `(() => { const c = `+pollCard("polls-open")+`;
		return `+pollNums("polls-open")+` === JSON.stringify(['1 · 100%', '0 · 0%', '1 · 100%']) && c.querySelector('.poll-voters').textContent === '1 of 1 student voted' &&
			!c.querySelector('details.poll-answers') && !c.textContent.includes('Sam') && c.textContent.includes('Anonymous'); })()`, 15*time.Second)
	if n, err := eval[float64](prof, `document.querySelectorAll('#pane-polls img, #pane-polls [onerror]').length`); err != nil || n != 0 {
		t.Fatalf("poll text became markup: %v elements (%v)", n, err)
	}
	if s, err := eval[string](prof, `JSON.stringify(window.chalk.state().polls.find((p) => p.anonymous).results)`); err != nil || s != `{"counts":[1,0,1],"voters":1}` {
		t.Errorf("anonymous poll results on the instructor's page = %s (%v); want counts only", s, err)
	}
	shot(prof, "polls-instructor-anonymous")

	// A narrow window: the pane lies over the video, the controls (with Polls) still fit.
	if err := sam.do(10*time.Second, chromedp.EmulateViewport(400, 760)); err != nil {
		t.Fatal(err)
	}
	sam.waitFor("controls fit", `(() => { const c = document.querySelector('.controls'); return c.scrollWidth <= c.clientWidth; })()`, 15*time.Second)
	shot(sam, "polls-student-narrow")
	prof.click("close the anonymous poll", "#polls-open li.poll-card .poll-close")
	sam.waitFor("the student sees the results of their choices", `(() => { const c = `+pollCard("polls-closed")+`;
		return !!c && c.querySelector('.poll-verdict').textContent === 'You chose A and C.' && c.querySelectorAll('.poll-row.mine').length === 2; })()`, 15*time.Second)
	shot(sam, "polls-student-narrow-closed")
}

// pollModelChecks exercises the polls in classroom.js, the form's checks (poll-form.js) and the
// student's verdict (polls.js) in the page: polls applied by id whatever the order, late results
// ignored, errors attributed to the poll they are about, snapshots, and the server's limits. It
// resolves to a list of failures.
const pollModelChecks = `(async () => {
  const { Classroom } = await import('/static/classroom.js');
  const { checkPoll, letters } = await import('/static/poll-form.js');
  const { verdict } = await import('/static/polls.js');
  const fails = [];
  const check = (what, ok) => { if (!ok) fails.push(what); };
  const sent = [];
  const c = new Classroom({ send: (type, data) => { sent.push([type, data || null]); return true; } });
  const news = [];
  c.on('polls', (d) => news.push(d));
  const errors = [];
  c.on('error', (e) => errors.push(e));
  const people = new Map(['a', 't'].map((id) => [id, { id, identity: id, name: id, role: id === 't' ? 'instructor' : 'student', tracks: [] }]));
  const poll = (id, extra = {}) => ({ id, question: 'Q ' + id, options: ['x', 'y', 'z'], multiple: false, anonymous: false, quiz: false,
    createdBy: 't', createdAt: new Date().toISOString(), closed: false, ...extra });

  c.reset({ me: 'a', participants: people, hands: [], chat: [], polls: [poll('p0', { closed: true }), poll('p1', { myChoices: [1] })] });
  check('first join: open polls are news, closed history is not', JSON.stringify(news.pop().fresh) === '["p1"]');
  c.event('poll_created', { seq: 9, poll: poll('p1') });
  check('a poll_created for a known poll changes nothing', JSON.stringify(c.polls.get('p1').myChoices) === '[1]');
  c.event('poll_results', { pollId: 'p1', results: { counts: [0, 2, 0], voters: 2 } });
  check('live results applied', c.polls.get('p1').results.voters === 2);
  c.event('poll_closed', { seq: 10, poll: poll('p1', { closed: true, results: { counts: [0, 3, 0], voters: 3 }, myChoices: [1] }) });
  c.event('poll_results', { pollId: 'p1', results: { counts: [9, 9, 9], voters: 9 } });
  c.event('poll_created', { seq: 11, poll: poll('p1') });
  check('closed is final: late results and a repeated creation are ignored', c.polls.get('p1').closed && c.polls.get('p1').results.voters === 3);
  check('polls listed oldest first', JSON.stringify(c.pollList.map((p) => p.id)) === '["p0","p1"]');

  c.event('poll_created', { seq: 12, poll: poll('p2') });
  c.event('poll_created', { seq: 13, poll: poll('p3') });
  c.vote('p2', [0]);
  c.vote('p3', [2]);
  check('votes pending', c.isPending('poll_vote', 'p2') && c.isPending('poll_vote', 'p3'));
  c.error({ code: 'rate_limited', ref: 'poll_vote', message: 'slow down' });
  check('an error is about the oldest unanswered vote', errors.pop().pollId === 'p2' && !c.isPending('poll_vote', 'p2'));
  c.event('poll_voted', { pollId: 'p3', choices: [2] });
  check('poll_voted records the vote', JSON.stringify(c.polls.get('p3').myChoices) === '[2]' && !c.isPending('poll_vote'));
  check('no vote recorded for the refused one', c.polls.get('p2').myChoices === undefined);
  c.closePoll('p3');
  c.error({ code: 'not_found', ref: 'poll_close' });
  check('a close error names its poll', errors.pop().pollId === 'p3');

  c.reset({ me: 'a', participants: people, hands: [], chat: [], polls: [poll('p1', { closed: true }), poll('p2', { closed: true }), poll('p3'), poll('p4')] });
  check('resync: polls that closed or opened meanwhile are news', JSON.stringify(news.pop().fresh) === '["p2","p4"]');
  c.createPoll({ question: 'New?', options: ['x', 'y'], multiple: false, anonymous: false, correct: [] });
  check('create sends only what is set', JSON.stringify(sent[sent.length - 1]) === JSON.stringify(['poll_create', { question: 'New?', options: ['x', 'y'] }]));
  c.reset({ me: 'a', participants: people, hands: [], chat: [], polls: [poll('p3'), poll('p4')] });
  check('a create lost with the socket is reported', news.pop().lost === 'New?' && !c.isPending('poll_create'));
  c.createPoll({ question: 'New?', options: ['x', 'y'], multiple: true, anonymous: true, correct: [0, 1] });
  c.reset({ me: 'a', participants: people, hands: [], chat: [], polls: [poll('p3'), poll('p4'), poll('p5', { question: 'New?' })] });
  check('a create that made it before the socket went is found', news.pop().mine === 'p5');
  check('actions send the protocol messages', JSON.stringify(sent.slice(0, 3)) === JSON.stringify([
    ['poll_vote', { pollId: 'p2', choices: [0] }], ['poll_vote', { pollId: 'p3', choices: [2] }], ['poll_close', { pollId: 'p3' }]]) &&
    JSON.stringify(sent[4][1]) === JSON.stringify({ question: 'New?', options: ['x', 'y'], multiple: true, anonymous: true, correct: [0, 1] }));
  c.createPoll({ question: 'One more?', options: ['x', 'y'] });
  c.error({ code: 'too_many_polls', ref: 'poll_create', message: '10 polls are open' });
  check('a create error names the question and ends the wait', errors.pop().question === 'One more?' && !c.isPending('poll_create'));
  for (let i = 0; i < 70; i++) c.event('poll_closed', { poll: poll('old' + i, { closed: true }) });
  check('the page keeps at most 50 polls, open ones always', c.polls.size === 50 && c.polls.has('p3') && c.polls.has('p4'));

  const draft = (extra = {}) => ({ question: ' Why? ', options: ['a', 'b'], multiple: false, anonymous: false, quiz: false, correct: [], ...extra });
  const r = checkPoll(draft({ quiz: true, multiple: true, correct: [1, 0] }));
  check('a good draft passes, trimmed, correct answers ascending', r.ok && r.spec.question === 'Why?' && JSON.stringify(r.spec.correct) === '[0,1]');
  check('question limit in code points', checkPoll(draft({ question: '\u{1F600}'.repeat(300) })).ok &&
    checkPoll(draft({ question: 'x'.repeat(301) })).errors.question === 'The question is 301 characters; the limit is 300.');
  check('option limit', checkPoll(draft({ options: ['a', 'y'.repeat(101)] })).errors.options[0].text === 'Option B is 101 characters; the limit is 100.');
  check('empty options, one message', checkPoll(draft({ options: ['', ' ', 'c'] })).errors.options.map((e) => e.text).join('|') ===
    'Options A and B are empty: fill them in or remove them.|Options A and B are empty: fill them in or remove them.');
  check('options the same after trimming', checkPoll(draft({ options: ['a', ' a '] })).errors.options[0].text === 'Options A and B are the same.');
  check('2 to 10 options', !checkPoll(draft({ options: ['a'] })).ok && !checkPoll(draft({ options: 'abcdefghijk'.split('') })).ok &&
    checkPoll(draft({ options: 'abcdefghij'.split('') })).ok);
  check('a quiz needs a correct answer', !checkPoll(draft({ quiz: true })).ok && !checkPoll(draft({ quiz: true, correct: [0, 1] })).ok);
  check('correct answers only for a quiz', JSON.stringify(checkPoll(draft({ correct: [1] })).spec.correct) === '[]');
  check('letters', letters([0, 2, 3]) === 'A, C and D' && letters([1]) === 'B');
  check('verdicts', verdict({ quiz: true, myChoices: [1], myCorrect: true, correct: [1] }).tone === 'right' &&
    verdict({ quiz: true, myChoices: [0], myCorrect: false, correct: [1, 2] }).text === 'Not quite: you chose A, and the correct answers are B and C.' &&
    verdict({ quiz: true, correct: [0] }).text === 'You did not answer; the correct answer is A.' &&
    verdict({ quiz: false }).text === 'You did not vote.');
  return fails;
})()`
