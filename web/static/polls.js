// polls.js — the Polls pane. Instructors: the "New poll" form (poll-form.js), then each poll as a
// card with live result bars (count and share of voters), how many have voted, who answered what
// (not for anonymous polls; collapsible) and a Close button. Students: a card per open poll to vote
// on (radio buttons or checkboxes, "Vote", then "Change vote" until it closes; the recorded vote is
// marked), and once closed its results, the correct answer and whether they were right. A new or
// just-closed poll brings the pane forward for students unless they are typing in the chat. Cards
// are kept per poll and updated in place, so live results never take the keyboard focus away.
// Question, options and names reach the page only as text.

import { icons } from './icons.js';
import { PollForm, letter, letters } from './poll-form.js';

const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function iconEl(cls, icon) {
  const e = el('span', cls);
  e.innerHTML = icons[icon];
  return e;
}

const pct = (n, of) => (of > 0 ? Math.round((n * 100) / of) : 0);
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** What a student is told about a closed poll: right or wrong for a quiz, their choice otherwise. */
export function verdict(p) {
  const mine = p.myChoices || [];
  const correct = p.correct || [];
  const answer = correct.length > 1 ? `the correct answers are ${letters(correct)}` : `the correct answer is ${letters(correct)}`;
  if (!p.quiz) return { tone: '', text: mine.length ? `You chose ${letters(mine)}.` : 'You did not vote.' };
  if (!mine.length) return { tone: 'missed', text: `You did not answer; ${answer}.` };
  if (p.myCorrect) return { tone: 'right', text: 'You got it right!' };
  return { tone: 'wrong', text: `Not quite: you chose ${letters(mine)}, and ${answer}.` };
}

/** Put nodes into list in this order, moving only what is out of place (a moved node loses focus). */
function place(list, nodes) {
  nodes.forEach((n, i) => {
    if (list.children[i] !== n) list.insertBefore(n, list.children[i] || null);
  });
  while (list.children.length > nodes.length) list.lastElementChild.remove();
}

export class PollsView {
  /**
   * @param {{classroom: import('./classroom.js').Classroom, panel: import('./panel.js').SidePanel,
   *          announce: (text: string) => void, notify: (text: string) => void, busy: () => boolean}} opts
   * busy says the student is using another pane (typing a chat message): a new poll then only
   * counts on the badge instead of switching the panel to Polls.
   */
  constructor({ classroom, panel, announce, notify, busy }) {
    this.classroom = classroom;
    this.panel = panel;
    this.announce = announce;
    this.notify = notify;
    this.busy = busy;
    this.pane = $('pane-polls');
    this.empty = $('polls-empty');
    this.openList = $('polls-open');
    this.openHeading = $('polls-open-heading');
    this.closedList = $('polls-closed');
    this.closedHeading = $('polls-closed-heading');
    this.form = new PollForm({ classroom });
    this.cards = new Map(); // poll id -> {mode, li, heading, update(poll), error(text)}
    this.unseen = new Set(); // polls that opened or closed while the pane was not showing
    this.instructor = null;

    classroom.on('polls', (d) => this.onPolls(d));
    classroom.on('error', (e) => this.onError(e));
    classroom.on('roster', () => {
      if (classroom.isInstructor !== this.instructor) this.sync();
      else for (const card of this.cards.values()) if (card.mode === 'instructor-open') card.update(classroom.polls.get(card.id));
    });
    this.sync();
  }

  /** The panel opened, closed or changed tab. */
  visibilityChanged() {
    if (!this.panel.showing('polls')) return;
    this.unseen.clear();
    this.drawBadge();
  }

  drawBadge() { this.panel.setBadge('polls', this.unseen.size); }

  onPolls(d) {
    const c = this.classroom;
    this.form.onPolls(d);
    switch (d.kind) {
      case 'reset':
        this.sync();
        if (d.mine) this.focusCard(d.mine);
        this.news(d.fresh.filter((id) => c.polls.get(id).createdBy !== c.me));
        return;
      case 'created':
        this.sync();
        if (d.mine) {
          this.focusCard(d.id);
          this.announce('Poll started. Results appear here as students vote.');
        } else {
          this.news([d.id]);
        }
        return;
      case 'closed':
        this.sync();
        if (d.fresh) this.news([d.id]);
        return;
      default: { // voted, results, pending: one card, or all of them
        for (const [id, card] of this.cards) {
          if (!d.id || id === d.id) card.update(c.polls.get(id));
        }
      }
    }
  }

  /** Polls that opened or closed: count them, say so, and bring the pane forward for students. */
  news(ids) {
    const c = this.classroom;
    if (!c.me || !ids.length) return;
    if (!this.panel.showing('polls')) for (const id of ids) this.unseen.add(id);
    this.drawBadge();
    const p = c.polls.get(ids[ids.length - 1]);
    if (p.closed) this.announce(`Poll closed: ${p.question} ${c.isInstructor ? '' : verdict(p).text}`);
    else if (c.isInstructor) this.announce(`${c.name(p.createdBy) || 'Another instructor'} started a poll: ${p.question}`);
    else this.announce(`New poll: ${p.question}`);
    if (c.isInstructor) return;
    if (!this.panel.showing('polls') && !this.busy()) this.panel.open('polls'); // the view, not the focus
    const card = this.cards.get(p.id);
    if (card && this.panel.showing('polls')) this.reveal(card.li);
  }

  /** Scroll the pane (only the pane) so that li is in view. */
  reveal(li) {
    const pane = this.pane;
    const top = li.getBoundingClientRect().top - pane.getBoundingClientRect().top + pane.scrollTop;
    if (top < pane.scrollTop || top + li.offsetHeight > pane.scrollTop + pane.clientHeight) {
      pane.scrollTop = Math.max(0, top - 8);
    }
  }

  focusCard(id) {
    const card = this.cards.get(id);
    if (card && this.panel.showing('polls')) card.heading.focus();
  }

  onError(e) {
    if (e.ref !== 'poll_vote' && e.ref !== 'poll_close') return;
    const card = this.cards.get(e.pollId);
    const text = e.ref === 'poll_vote' ? voteError(e) : closeError(e);
    if (card && this.panel.showing('polls')) card.error(text);
    else this.notify(text);
  }

  /** Bring the cards in line with the model: build what is new or changed state, update the rest. */
  sync() {
    const c = this.classroom;
    const inst = c.isInstructor;
    if (inst !== this.instructor) { // joined, or a role we did not know: every card looks different
      this.instructor = inst;
      this.form.setAllowed(inst);
      for (const card of this.cards.values()) card.li.remove();
      this.cards.clear();
    }
    const polls = c.pollList.reverse(); // newest first
    const keep = new Set(polls.map((p) => p.id));
    for (const [id, card] of this.cards) {
      if (!keep.has(id)) { card.li.remove(); this.cards.delete(id); }
    }
    const open = [];
    const closed = [];
    let focus = null;
    for (const p of polls) {
      let mode = `${inst ? 'instructor' : 'student'}-${p.closed ? 'closed' : 'open'}`;
      // A student's result card is drawn once; a later view with their vote (after a failed read) redraws it.
      if (mode === 'student-closed') mode += JSON.stringify([p.myChoices || [], p.myCorrect]);
      let card = this.cards.get(p.id);
      if (!card || card.mode !== mode) {
        if (card && card.li.contains(document.activeElement)) focus = p.id;
        if (card) card.li.remove();
        card = this.build(p, mode);
        this.cards.set(p.id, card);
      } else {
        card.update(p);
      }
      (p.closed ? closed : open).push(card.li);
    }
    place(this.openList, open);
    place(this.closedList, closed);
    this.openHeading.textContent = inst ? `Open (${open.length})` : open.length === 1 ? 'Open poll' : `Open polls (${open.length})`;
    this.openHeading.hidden = !open.length;
    this.closedHeading.textContent = `Closed (${closed.length})`;
    this.closedHeading.hidden = !closed.length;
    this.empty.hidden = polls.length > 0;
    this.empty.textContent = inst
      ? 'No polls yet. Ask the class a question: everyone answers on their own screen and you see the results here as they come in.'
      : 'No polls yet. When your instructor asks the class a question, it appears here.';
    if (focus) this.cards.get(focus).heading.focus();
    for (const id of this.unseen) if (!keep.has(id)) this.unseen.delete(id);
    this.drawBadge();
  }

  build(p, mode) {
    const card = mode === 'student-open' ? this.voteCard(p) : mode.startsWith('student-closed') ? this.outcomeCard(p) : this.instructorCard(p);
    card.mode = mode;
    card.id = p.id;
    return card;
  }

  /** The parts every card has: state, quiz and anonymous tags, one or several answers, the question. */
  head(p) {
    const li = el('li', 'poll-card');
    li.dataset.pollId = p.id;
    li.classList.toggle('closed', !!p.closed);
    const meta = el('div', 'poll-meta');
    meta.append(el('span', `poll-tag ${p.closed ? 'tag-closed' : 'tag-open'}`, p.closed ? 'Closed' : 'Open'));
    if (p.quiz) meta.append(el('span', 'poll-tag tag-quiz', 'Quiz'));
    if (p.anonymous) meta.append(el('span', 'poll-tag tag-anon', 'Anonymous'));
    meta.append(el('span', 'poll-kind', p.multiple ? 'Several answers' : 'One answer'));
    const heading = el('h3', 'poll-question', p.question);
    heading.id = `poll-q-${p.id}`;
    heading.tabIndex = -1; // where the focus goes when the card is rebuilt or just created
    li.append(meta, heading);
    return { li, heading };
  }

  /** Result bars, one per option, with count and share of voters; correct and own choices marked. */
  results(p, { mine = [] } = {}) {
    const correct = p.correct || [];
    const ol = el('ol', 'poll-results');
    const rows = p.options.map((text, i) => {
      const li = el('li', 'poll-row');
      li.classList.toggle('correct', correct.includes(i));
      li.classList.toggle('mine', mine.includes(i));
      const head = el('div', 'poll-row-head');
      const tag = el('span', 'opt-letter', letter(i));
      tag.setAttribute('aria-hidden', 'true');
      // The marks flow after the text and wrap under it in a narrow panel.
      const label = el('span', 'poll-row-text', text);
      if (correct.includes(i)) {
        const ok = iconEl('poll-mark mark-correct', 'check');
        ok.append(el('span', '', 'Correct'));
        label.append(' ', ok);
      }
      if (mine.includes(i)) label.append(' ', el('span', 'mine-tag', 'Your vote'));
      const num = el('span', 'poll-num');
      num.setAttribute('aria-hidden', 'true');
      const count = el('span', 'poll-count');
      const share = el('span', 'poll-pct');
      num.append(count, ' · ', share);
      const said = el('span', 'visually-hidden');
      head.append(tag, label, num, said);
      const bar = el('div', 'poll-bar');
      bar.setAttribute('aria-hidden', 'true');
      const fill = el('span', 'poll-fill');
      bar.append(fill);
      li.append(head, bar);
      ol.append(li);
      return { count, share, said, fill };
    });
    const update = (q) => {
      const r = q.results || { counts: [], voters: 0 };
      rows.forEach((row, i) => {
        const n = r.counts[i] || 0;
        const share = pct(n, r.voters);
        row.count.textContent = String(n);
        row.share.textContent = `${share}%`;
        row.said.textContent = `: ${n} ${n === 1 ? 'vote' : 'votes'}, ${share}%`;
        row.fill.style.width = `${share}%`;
      });
    };
    update(p);
    return { el: ol, update };
  }

  /** A student's open poll: choose, Vote, change the vote until it closes. */
  voteCard(p) {
    const c = this.classroom;
    const { li, heading } = this.head(p);
    const hint = el('p', 'poll-hint', p.multiple ? 'Choose all that apply.' : 'Choose one.');
    hint.id = `poll-hint-${p.id}`;
    const form = el('form', 'poll-vote');
    form.noValidate = true;
    const set = el('fieldset', 'poll-choices');
    set.setAttribute('aria-labelledby', heading.id);
    set.setAttribute('aria-describedby', hint.id);
    const inputs = p.options.map((text, i) => {
      const label = el('label', 'poll-choice');
      const input = el('input');
      input.type = p.multiple ? 'checkbox' : 'radio';
      input.name = `poll-${p.id}`;
      input.value = String(i);
      const tag = el('span', 'opt-letter', letter(i));
      tag.setAttribute('aria-hidden', 'true');
      const words = el('span', 'poll-choice-text', text);
      words.append(' ', el('span', 'mine-tag', 'Your vote'));
      label.append(input, tag, words);
      set.append(label);
      return input;
    });
    const actions = el('div', 'poll-actions');
    const btn = el('button', 'btn btn-primary', 'Vote');
    btn.type = 'submit';
    const status = el('p', 'poll-status');
    status.setAttribute('aria-live', 'polite');
    actions.append(btn, status);
    const err = el('p', 'poll-error');
    err.setAttribute('role', 'alert');
    form.append(set, actions, err);
    li.append(hint, form);

    const chosen = () => inputs.filter((x) => x.checked).map((x) => Number(x.value));
    let shown = null; // the recorded vote the boxes were last set from
    const update = (q) => {
      p = q;
      const mine = q.myChoices || [];
      // The boxes follow the recorded vote (first draw, a vote from before a reload) unless the
      // student has chosen something else since.
      if (shown === null || same(chosen(), shown)) inputs.forEach((x, i) => { x.checked = mine.includes(i); });
      shown = mine.slice();
      inputs.forEach((x, i) => x.parentElement.classList.toggle('mine', mine.includes(i)));
      li.classList.toggle('voted', mine.length > 0);
      const pending = c.isPending('poll_vote', q.id);
      const sel = chosen();
      // Voted and nothing new chosen: no button, just the receipt. The focus stays in the card.
      const idle = !pending && mine.length > 0 && same(sel, mine);
      if (idle && document.activeElement === btn) (inputs.find((x) => x.checked) || heading).focus();
      btn.hidden = idle;
      btn.textContent = pending ? 'Sending…' : mine.length ? 'Change vote' : 'Vote';
      btn.disabled = pending || !sel.length;
      const text = pending ? 'Sending your vote…' : mine.length
        ? `Your vote: ${letters(mine)}. You can change it until the poll closes.`
        : 'You have not voted yet.';
      if (status.textContent !== text) status.textContent = text;
    };
    form.addEventListener('change', () => { err.textContent = ''; update(p); });
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const sel = chosen();
      if (!sel.length) { err.textContent = 'Choose an option first.'; return; }
      if (c.isPending('poll_vote', p.id) || same(sel, p.myChoices || [])) return; // Enter on a radio, nothing new
      err.textContent = c.vote(p.id, sel) ? '' : 'You are offline, so your vote was not sent. Vote again once you are reconnected.';
    });
    update(p);
    return { li, heading, update, error: (text) => { err.textContent = text; } };
  }

  /** A student's closed poll: right or wrong (quiz), their choice, everyone's results. */
  outcomeCard(p) {
    const { li, heading } = this.head(p);
    const v = verdict(p);
    const line = el('p', `poll-verdict${v.tone ? ` ${v.tone}` : ''}`);
    if (v.tone === 'right') line.append(iconEl('verdict-icon', 'check'));
    if (v.tone === 'wrong') line.append(iconEl('verdict-icon', 'close'));
    line.append(el('span', '', v.text));
    const res = this.results(p, { mine: p.myChoices || [] });
    const voters = el('p', 'poll-voters', votersText(p));
    li.append(line, res.el, voters);
    return {
      li, heading, error: () => {},
      update: (q) => { res.update(q); voters.textContent = votersText(q); },
    };
  }

  /** An instructor's poll: live results, who answered what, Close. */
  instructorCard(p) {
    const c = this.classroom;
    const { li, heading } = this.head(p);
    if (p.quiz && !p.closed) {
      // The instructor's screen is often on the projector: the answer shows only when asked for.
      li.classList.add('hide-answer');
      const reveal = el('button', 'btn btn-small btn-secondary poll-reveal', 'Show answer');
      reveal.type = 'button';
      reveal.setAttribute('aria-pressed', 'false');
      reveal.addEventListener('click', () => {
        const show = li.classList.toggle('hide-answer') === false;
        reveal.setAttribute('aria-pressed', String(show));
        reveal.textContent = show ? 'Hide answer' : 'Show answer';
      });
      li.querySelector('.poll-meta').append(reveal);
    }
    const res = this.results(p);
    const foot = el('div', 'poll-foot');
    const voters = el('p', 'poll-voters');
    foot.append(voters);
    li.append(res.el, foot);
    let answers = null;
    let summary = null;
    let list = null;
    let missing = null;
    if (p.anonymous) {
      li.append(el('p', 'poll-note', 'Anonymous: nobody, you included, sees who chose what.'));
    } else {
      answers = el('details', 'poll-answers');
      summary = el('summary');
      list = el('ul', 'poll-answer-list');
      missing = el('p', 'poll-missing');
      answers.append(summary, list, missing);
      li.append(answers);
    }
    let closeBtn = null;
    const err = el('p', 'poll-error');
    err.setAttribute('role', 'alert');
    if (!p.closed) {
      closeBtn = el('button', 'btn btn-primary poll-close', 'Close poll');
      closeBtn.type = 'button';
      closeBtn.title = `Stop the voting. Everyone then sees the results${p.quiz ? ' and the answer' : ''}.`;
      closeBtn.addEventListener('click', () => {
        err.textContent = c.closePoll(p.id) ? '' : 'You are offline, so the poll is still open. Close it again once you are reconnected.';
      });
      foot.append(closeBtn);
    }
    foot.after(err);

    const update = (q) => {
      p = q;
      res.update(q);
      const r = q.results || { counts: [], voters: 0 };
      const students = [...c.participants.values()].filter((x) => x.role === 'student');
      voters.textContent = q.closed || r.voters > students.length ? votersText(q)
        : `${r.voters} of ${students.length} ${students.length === 1 ? 'student' : 'students'} voted`;
      if (answers) {
        const votes = r.votes || [];
        summary.textContent = `Who answered what (${votes.length})`;
        list.replaceChildren(...votes.map((v) => {
          const row = el('li', 'poll-answer');
          row.append(el('span', 'poll-answer-name', v.name || v.identity), el('span', 'poll-answer-choice', letters(v.choices)));
          if (q.quiz) {
            const right = v.correct === true;
            const mark = iconEl(`poll-mark ${right ? 'mark-correct' : 'mark-wrong'}`, right ? 'check' : 'close');
            mark.append(el('span', 'visually-hidden', right ? 'right' : 'wrong'));
            row.append(mark);
          }
          return row;
        }));
        const voted = new Set(votes.map((v) => v.identity));
        const waiting = q.closed ? [] : students.filter((s) => !voted.has(s.identity)).map((s) => s.name);
        missing.textContent = waiting.length ? `Not answered yet: ${waiting.join(', ')}` : '';
        missing.hidden = !waiting.length;
      }
      if (closeBtn) {
        const pending = c.isPending('poll_close', q.id);
        closeBtn.disabled = pending;
        closeBtn.textContent = pending ? 'Closing…' : 'Close poll';
      }
    };
    update(p);
    return { li, heading, update, error: (text) => { err.textContent = text; } };
  }
}

function votersText(p) {
  const n = (p.results && p.results.voters) || 0;
  return n === 1 ? '1 person voted' : `${n} people voted`;
}

function voteError({ code, message }) {
  switch (code) {
    case 'poll_closed': return 'This poll has closed, so your vote was not recorded.';
    case 'rate_limited': return 'You are voting too fast. Wait a moment, then vote again.';
    case 'not_found': return 'This poll no longer exists.';
    case 'forbidden': return 'Instructors do not vote in polls.';
    case 'bad_message': return `Your vote was not recorded: ${message || 'the server refused it'}.`;
    default: return `Your vote was not recorded (${message || code}). Try again.`;
  }
}

function closeError({ code, message }) {
  switch (code) {
    case 'not_found': return 'This poll no longer exists.';
    case 'forbidden': return 'Only instructors can close polls.';
    default: return `The poll was not closed (${message || code}). Try again.`;
  }
}
