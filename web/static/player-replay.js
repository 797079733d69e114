// player-replay.js — the class as it happened, in step with the video (docs/api.md ".../replay"):
// the Chat pane shows each message once playback passes its moment; the Polls pane shows each poll
// from when it was asked and its results from when it was closed; the Chapters pane lists the
// breakout rooms and screen shares (and the lesson's questions). Clicking a time seeks there.
// New items that arrive while their pane is not showing count on its tab.

import { $, el, clock } from './lesson-common.js';
import { icons } from './lesson-icons.js';

const letter = (i) => String.fromCharCode(65 + i);
const pct = (n, of) => (of > 0 ? Math.round((n * 100) / of) : 0);

export class ReplayView {
  /**
   * @param {{seek: (t: number) => void, showing: (pane: string) => boolean, setBadge: (pane: string, n: number) => void}} opts
   */
  constructor({ seek, showing, setBadge }) {
    this.seek = seek;
    this.showing = showing;
    this.setBadge = setBadge;
    this.data = { chat: [], polls: [], chapters: [] };
    this.shownChat = 0; // how many chat messages are on screen (a prefix: they are in time order)
    this.pollState = new Map(); // poll id -> 'hidden' | 'open' | 'closed'
    this.unseen = { chat: 0, polls: 0 };
    this.questions = [];
  }

  set(data) {
    this.data = { chat: data.chat || [], polls: data.polls || [], chapters: data.chapters || [] };
    this.data.chat.sort((a, b) => a.t - b.t);
    $('chat-list').replaceChildren();
    $('poll-list').replaceChildren();
    this.shownChat = 0;
    this.pollState.clear();
    this.renderChapters();
  }

  /** Playback is at t: show what happened until then. A jump back hides what is in the future. */
  at(t, { quiet = false } = {}) {
    this.syncChat(t, quiet);
    this.syncPolls(t, quiet);
    const foot = $('chat-foot');
    const total = this.data.chat.length;
    foot.textContent = total ? `${this.shownChat} of ${total} messages · up to ${clock(t)}` : '';
    this.markChapter(t);
  }

  syncChat(t, quiet) {
    const list = $('chat-list');
    const chat = this.data.chat;
    let n = 0;
    while (n < chat.length && chat[n].t <= t + 0.05) n++;
    if (n === this.shownChat) return;
    const scroller = list.parentElement;
    const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 60;
    if (n < this.shownChat) {
      while (list.children.length > n) list.lastElementChild.remove();
    } else {
      for (let i = this.shownChat; i < n; i++) list.append(this.renderChat(chat[i], chat[i - 1]));
      if (!quiet && !this.showing('chat')) this.bump('chat', n - this.shownChat);
    }
    this.shownChat = n;
    $('chat-empty').hidden = n > 0;
    $('chat-empty').textContent = chat.length ? 'The class’s chat appears here as the video reaches each message.' : 'Nobody wrote in the chat during this class.';
    if (atBottom || quiet) scroller.scrollTop = scroller.scrollHeight;
  }

  renderChat(m, prev) {
    const li = el('li', 'msg');
    li.dataset.id = m.id;
    li.classList.toggle('private', m.to === 'instructors');
    const grouped = prev && prev.fromIdentity === m.fromIdentity && m.t - prev.t < 120 && (prev.to || '') === (m.to || '');
    li.classList.toggle('cont', !!grouped);
    const head = el('div', grouped ? 'msg-head visually-hidden' : 'msg-head');
    head.append(el('span', 'msg-name', m.fromName));
    if (m.fromRole === 'instructor') head.append(el('span', 'role-badge', 'Instructor'));
    if (m.fromRole === 'co_instructor') head.append(el('span', 'role-badge', 'Co-instructor'));
    if (m.to === 'instructors') {
      const tag = el('span', 'msg-private');
      tag.innerHTML = icons.lock;
      tag.append(el('span', '', 'To instructors'));
      head.append(tag);
    }
    li.append(head);
    const bubble = el('div', 'msg-bubble');
    bubble.append(el('p', 'msg-text', m.text));
    const chip = el('button', 'time-chip time-chip-sm', clock(m.t));
    chip.type = 'button';
    chip.title = `Play from ${clock(m.t)}`;
    chip.setAttribute('aria-label', `Play from ${clock(m.t)}`);
    chip.addEventListener('click', () => this.seek(m.t));
    bubble.append(chip);
    li.append(bubble);
    return li;
  }

  syncPolls(t, quiet) {
    const list = $('poll-list');
    let visible = 0;
    let fresh = 0;
    for (const p of this.data.polls) {
      const state = t + 0.05 < p.t ? 'hidden' : p.closed && t + 0.05 >= p.closedT ? 'closed' : 'open';
      if (state !== 'hidden') visible++;
      if (this.pollState.get(p.id) === state) continue;
      if (state !== 'hidden' && (this.pollState.get(p.id) || 'hidden') === 'hidden') fresh++;
      this.pollState.set(p.id, state);
      const old = list.querySelector(`li[data-id="${CSS.escape(p.id)}"]`);
      if (state === 'hidden') { if (old) old.remove(); continue; }
      const card = this.renderPoll(p, state);
      if (old) old.replaceWith(card);
      else {
        // Keep the order of asking.
        const after = [...list.children].find((li) => this.data.polls.find((q) => q.id === li.dataset.id).t > p.t);
        list.insertBefore(card, after || null);
      }
    }
    $('polls-empty').hidden = visible > 0;
    $('polls-empty').textContent = this.data.polls.length ? 'The class’s polls appear here at the moment they were asked.' : 'No polls were run during this class.';
    if (fresh && !quiet && !this.showing('polls')) this.bump('polls', fresh);
  }

  renderPoll(p, state) {
    const li = el('li', `poll-card${state === 'closed' ? ' closed' : ''}`);
    li.dataset.id = p.id;
    const meta = el('div', 'poll-meta');
    meta.append(el('span', `poll-tag${state === 'open' ? ' tag-open' : ''}`, state === 'open' ? 'Open' : 'Closed'));
    if (p.quiz) meta.append(el('span', 'poll-tag tag-quiz', 'Quiz'));
    meta.append(el('span', 'poll-kind', p.multiple ? 'Several answers' : 'One answer'));
    const chip = el('button', 'time-chip time-chip-sm', clock(p.t));
    chip.type = 'button';
    chip.title = `Play from ${clock(p.t)}`;
    chip.setAttribute('aria-label', `Play from ${clock(p.t)}, when the poll was asked`);
    chip.addEventListener('click', () => this.seek(p.t));
    meta.append(chip);
    li.append(meta);
    li.append(el('p', 'poll-question', p.question));
    const results = state === 'closed' && p.results;
    const ol = el('ol', 'poll-results');
    p.options.forEach((opt, i) => {
      const row = el('li', 'poll-row');
      const correct = state === 'closed' && (p.correct || []).includes(i);
      row.classList.toggle('correct', correct);
      const head = el('div', 'poll-row-head');
      const text = el('span', 'poll-row-text');
      text.append(el('span', 'opt-letter', letter(i)), ' ', opt);
      if (correct) {
        const mark = el('span', 'poll-mark mark-correct');
        mark.innerHTML = icons.check;
        mark.append(el('span', '', 'Correct'));
        text.append(' ', mark);
      }
      head.append(text);
      if (results) {
        const n = results.counts[i] || 0;
        const num = el('span', 'poll-num');
        num.append(el('span', 'poll-pct', `${pct(n, results.voters)}%`), ` · ${n}`);
        head.append(num);
      }
      row.append(head);
      if (results) {
        const bar = el('div', 'poll-bar');
        const fill = el('span', 'poll-fill');
        fill.style.width = `${pct(results.counts[i] || 0, results.voters)}%`;
        bar.append(fill);
        row.append(bar);
      }
      ol.append(row);
    });
    li.append(ol);
    if (results) li.append(el('p', 'poll-voters', `${results.voters} ${results.voters === 1 ? 'person' : 'people'} voted · closed at ${clock(p.closedT)}`));
    else if (p.closed) li.append(el('p', 'poll-note', `Results at ${clock(p.closedT)}, when the poll was closed.`));
    else li.append(el('p', 'poll-note', 'This poll was still open when the recording stopped.'));
    return li;
  }

  bump(pane, n) {
    this.unseen[pane] += n;
    this.setBadge(pane, this.unseen[pane]);
  }

  /** The panel changed tab: the pane now showing has nothing unseen. */
  visibilityChanged() {
    for (const pane of ['chat', 'polls']) {
      if (this.showing(pane) && this.unseen[pane]) {
        this.unseen[pane] = 0;
        this.setBadge(pane, 0);
      }
    }
  }

  /** The lesson's questions, listed with the chapters. */
  setQuestions(qs) {
    this.questions = qs;
    this.renderChapters();
  }

  renderChapters() {
    const items = [{ t: 0, title: 'Start of the lesson', kind: 'start' }];
    for (const c of this.data.chapters) items.push({ t: c.t, end: c.end, title: c.title, kind: c.kind });
    for (const q of this.questions) items.push({ t: q.at, title: `Question: ${q.prompt}`, kind: 'question' });
    items.sort((a, b) => a.t - b.t);
    const list = $('chapter-list');
    list.replaceChildren(...items.map((c) => {
      const li = el('li', `chapter chapter-${c.kind}`);
      li.dataset.t = c.t;
      const b = el('button', 'chapter-btn');
      b.type = 'button';
      b.append(el('span', 'time-chip', clock(c.t)));
      const txt = el('span', 'chapter-text');
      txt.append(el('span', 'chapter-title', c.title));
      if (c.end > c.t) txt.append(el('span', 'chapter-len', `${clock(c.t)}–${clock(c.end)}`));
      b.append(txt);
      b.addEventListener('click', () => this.seek(c.t));
      li.append(b);
      return li;
    }));
    this.chapterMarks = items;
  }

  markChapter(t) {
    for (const li of $('chapter-list').children) {
      const c = this.chapterMarks.find((x) => String(x.t) === li.dataset.t);
      li.classList.toggle('now', !!c && c.end > c.t && t >= c.t && t < c.end);
    }
  }
}
