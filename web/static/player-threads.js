// player-threads.js — the Threads pane of the player (docs/api.md "Threads"): discussion threads
// anchored to moments of the lesson. Anyone posts at the current moment and replies; moderators
// pin, resolve and delete; a moderator's reply is marked as the instructor's answer. Threads and
// replies new since the viewer's last visit are marked, and counted on the tab; the page marks them
// seen once the pane has been shown. Clicking a thread's time seeks there. The list is fetched
// again every little while, so replies from others come in.

import { $, el, api, lessonPath, clock, shortWhen, initials } from './lesson-common.js';
import { icons } from './lesson-icons.js';

const REFRESH_MS = 15000;
const MAX_TEXT = 2000;

function iconEl(tag, cls, icon) {
  const e = el(tag, cls);
  e.innerHTML = icons[icon];
  return e;
}

export class ThreadsView {
  /**
   * @param {{viewer: {identity: string, moderator: boolean}, now: () => number, seek: (t: number) => void,
   *          showing: () => boolean, setBadge: (n: number) => void, onChange: (threads: any[]) => void}} opts
   */
  constructor({ viewer, now, seek, showing, setBadge, onChange }) {
    this.viewer = viewer;
    this.now = now;
    this.seek = seek;
    this.showing = showing;
    this.setBadge = setBadge;
    this.onChange = onChange;
    this.threads = [];
    this.unread = 0;
    this.serverNow = '';
    this.available = true;
    this.openReplies = new Set(); // threads whose reply box is open: a refresh keeps it open
    this.list = $('thread-list');
    this.input = $('thread-input');
    this.err = $('thread-error');
    $('thread-send').innerHTML = icons.send;
    $('thread-form').addEventListener('submit', (ev) => { ev.preventDefault(); this.post(); });
    this.input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) { ev.preventDefault(); this.post(); }
    });
    this.input.addEventListener('input', () => this.updateComposer());
    this.updateComposer();
  }

  async load() {
    try {
      const data = await api(lessonPath('/threads'));
      this.available = true;
      this.threads = data.threads || [];
      this.unread = data.unread || 0;
      this.serverNow = data.now || '';
      this.render();
      if (this.showing()) this.markSeen();
    } catch (err) {
      if (err.status === 404 && !this.threads.length) {
        this.available = false;
        $('threads-empty').textContent = 'Discussion threads are not available on this server yet.';
        $('thread-form').hidden = true;
      } else {
        this.showError(err.message);
      }
    }
    clearTimeout(this.timer);
    if (this.available) this.timer = setTimeout(() => this.load(), REFRESH_MS);
  }

  /** The pane was shown: what it shows is now seen. */
  visibilityChanged() {
    if (this.showing() && this.unread) this.markSeen();
  }

  async markSeen() {
    if (!this.unread || this.seeing) return;
    this.seeing = true;
    try {
      await api(lessonPath('/threads/seen'), { method: 'POST', body: this.serverNow ? { until: this.serverNow } : {} });
      this.unread = 0;
      this.setBadge(0);
    } catch {
      // Counted as unread again next time: nothing lost.
    } finally {
      this.seeing = false;
    }
  }

  updateComposer() {
    $('thread-at-label').textContent = `Comment at ${clock(this.moment())}`;
    const n = [...this.input.value.trim()].length;
    $('thread-count').textContent = n > MAX_TEXT - 200 ? `${n} / ${MAX_TEXT}` : '';
    $('thread-send').disabled = !n || n > MAX_TEXT;
    this.input.style.height = 'auto';
    this.input.style.height = `${this.input.scrollHeight + 2}px`;
  }

  /** The moment a comment posted now is anchored to (what the label says, to a tenth). */
  moment() { return Math.round(this.now() * 10) / 10; }

  focusComposer() {
    this.updateComposer();
    this.input.focus();
  }

  showError(text) { this.err.textContent = text; }

  async post() {
    const text = this.input.value.trim();
    if (!text) return;
    const at = this.moment();
    $('thread-send').disabled = true;
    this.showError('');
    try {
      const t = await api(lessonPath('/threads'), { method: 'POST', body: { at, text } });
      this.input.value = '';
      this.threads = [...this.threads.filter((x) => x.id !== t.id), t].sort(byMoment);
      this.render();
      this.highlight(t.id);
    } catch (err) {
      this.showError(err.message);
    }
    this.updateComposer();
  }

  /** Scroll to a thread and flash it (a click on its marker). */
  highlight(id) {
    const li = this.list.querySelector(`li.thread[data-id="${CSS.escape(id)}"]`);
    if (!li) return;
    li.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    li.classList.remove('flash');
    void li.offsetWidth; // restart the animation
    li.classList.add('flash');
  }

  render() {
    $('threads-empty').hidden = this.threads.length > 0;
    this.setBadge(this.showing() ? 0 : this.unread);
    const focused = document.activeElement && this.list.contains(document.activeElement) ? document.activeElement.dataset.focusKey : null;
    const drafts = new Map([...this.list.querySelectorAll('textarea[data-thread]')].map((t) => [t.dataset.thread, t.value]));
    this.list.replaceChildren(...this.threads.map((t) => this.renderThread(t, drafts.get(t.id))));
    if (focused) {
      const again = this.list.querySelector(`[data-focus-key="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
    this.onChange(this.threads);
  }

  renderThread(t, draft) {
    const me = this.viewer.identity;
    const mod = this.viewer.moderator;
    const li = el('li', 'thread');
    li.dataset.id = t.id;
    li.classList.toggle('pinned', !!t.pinned);
    li.classList.toggle('resolved', !!t.resolved);
    li.classList.toggle('unread', !!t.unread);

    const head = el('div', 'thread-head');
    const chip = el('button', 'time-chip', clock(t.at));
    chip.type = 'button';
    chip.title = `Play from ${clock(t.at)}`;
    chip.setAttribute('aria-label', `Play from ${clock(t.at)}`);
    chip.dataset.focusKey = `seek-${t.id}`;
    chip.addEventListener('click', () => this.seek(t.at));
    head.append(chip);
    head.append(this.author(t.author, t.author && t.author.identity === me));
    if (t.unread) head.append(el('span', 'new-dot', 'New'));
    li.append(head);

    const tags = el('div', 'thread-tags');
    if (t.pinned) tags.append(tagEl('tag-pinned', 'pin', 'Pinned'));
    if (t.answered) tags.append(tagEl('tag-answered', 'check', 'Answered'));
    if (t.resolved) tags.append(tagEl('tag-resolved', 'check', 'Resolved'));
    if (t.fromChat) tags.append(tagEl('tag-chat', 'chat', 'From the live chat'));
    if (tags.children.length) li.append(tags);

    li.append(el('p', 'thread-text', t.text));

    const replies = el('ol', 'thread-replies');
    for (const r of t.replies || []) {
      const ri = el('li', 'reply');
      ri.classList.toggle('by-instructor', !!r.byInstructor);
      ri.classList.toggle('unread', !!r.unread);
      const rh = el('div', 'reply-head');
      rh.append(this.author(r.author, r.author && r.author.identity === me));
      if (r.byInstructor) rh.append(el('span', 'answer-tag', 'Instructor’s answer'));
      if (r.unread) rh.append(el('span', 'new-dot', 'New'));
      const when = el('time', 'msg-time', shortWhen(r.createdAt));
      when.dateTime = r.createdAt;
      rh.append(when);
      ri.append(rh, el('p', 'thread-text', r.text));
      if (mod || (r.author && r.author.identity === me)) {
        const del = iconEl('button', 'msg-del reply-del', 'trash');
        del.type = 'button';
        del.title = 'Delete reply';
        del.setAttribute('aria-label', 'Delete this reply');
        del.addEventListener('click', () => this.act(`/threads/${t.id}/replies/${r.id}`, 'DELETE'));
        rh.append(del);
      }
      replies.append(ri);
    }
    if (replies.children.length) li.append(replies);

    const actions = el('div', 'thread-actions');
    const replyBtn = iconEl('button', 'link-btn', 'reply');
    replyBtn.type = 'button';
    replyBtn.append(el('span', '', 'Reply'));
    replyBtn.dataset.focusKey = `reply-${t.id}`;
    actions.append(replyBtn);
    if (mod) {
      actions.append(this.actionBtn(t.pinned ? 'Unpin' : 'Pin', `/threads/${t.id}/${t.pinned ? 'unpin' : 'pin'}`, `pin-${t.id}`));
      actions.append(this.actionBtn(t.resolved ? 'Reopen' : 'Resolve', `/threads/${t.id}/${t.resolved ? 'reopen' : 'resolve'}`, `resolve-${t.id}`));
    }
    if (mod || (t.author && t.author.identity === me)) {
      const del = this.actionBtn('Delete', '', `delete-${t.id}`);
      del.classList.add('danger');
      del.onclick = () => this.confirmDelete(li, t, del);
      actions.append(del);
    }
    const when = el('time', 'msg-time thread-when', shortWhen(t.createdAt));
    when.dateTime = t.createdAt;
    actions.append(when);
    li.append(actions);

    const form = el('form', 'reply-form');
    form.noValidate = true;
    const box = el('textarea');
    box.rows = 1;
    box.placeholder = mod ? 'Answer as the instructor' : 'Reply to this thread';
    box.setAttribute('aria-label', `Reply to the thread at ${clock(t.at)}`);
    box.dataset.thread = t.id;
    box.dataset.focusKey = `box-${t.id}`;
    box.value = draft || '';
    const send = iconEl('button', 'send-btn', 'send');
    send.type = 'submit';
    send.setAttribute('aria-label', 'Send reply');
    const err = el('p', 'chat-error');
    err.setAttribute('role', 'alert');
    const row = el('div', 'composer-box');
    row.append(box, send);
    form.append(row, err);
    form.hidden = !this.openReplies.has(t.id);
    replyBtn.addEventListener('click', () => {
      form.hidden = !form.hidden;
      if (form.hidden) this.openReplies.delete(t.id);
      else { this.openReplies.add(t.id); box.focus(); }
    });
    box.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) { ev.preventDefault(); form.requestSubmit(); }
    });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const text = box.value.trim();
      if (!text) return;
      send.disabled = true;
      try {
        await api(lessonPath(`/threads/${t.id}/replies`), { method: 'POST', body: { text } });
        box.value = '';
        this.openReplies.delete(t.id);
        await this.load();
      } catch (e) {
        err.textContent = e.message;
        send.disabled = false;
      }
    });
    li.append(form);
    return li;
  }

  author(a, mine) {
    const span = el('span', 'thread-author');
    const av = el('span', 'avatar-xs', initials(a ? a.name : '?'));
    av.setAttribute('aria-hidden', 'true');
    span.append(av, el('span', 'msg-name', mine ? 'You' : (a ? a.name : 'Someone')));
    if (a && a.role === 'instructor') span.append(el('span', 'role-badge', 'Instructor'));
    if (a && a.role === 'co_instructor') span.append(el('span', 'role-badge', 'Co-instructor'));
    return span;
  }

  actionBtn(label, path, key) {
    const b = el('button', 'link-btn', label);
    b.type = 'button';
    b.dataset.focusKey = key;
    if (path) b.addEventListener('click', () => this.act(path, 'POST'));
    return b;
  }

  confirmDelete(li, t, btn) {
    if (li.querySelector('.msg-confirm')) return;
    const box = el('div', 'msg-confirm');
    box.setAttribute('role', 'group');
    box.setAttribute('aria-label', 'Delete this thread?');
    box.append(el('span', '', 'Delete the thread and its replies?'));
    const yes = el('button', 'btn btn-small btn-danger', 'Delete');
    const no = el('button', 'btn btn-small btn-secondary', 'Cancel');
    yes.type = no.type = 'button';
    no.addEventListener('click', () => { box.remove(); btn.focus(); });
    yes.addEventListener('click', () => this.act(`/threads/${t.id}`, 'DELETE'));
    box.append(yes, no);
    li.append(box);
    yes.focus();
  }

  async act(path, method) {
    this.showError('');
    try {
      await api(lessonPath(path), { method });
      await this.load();
    } catch (err) {
      this.showError(err.message);
    }
  }
}

function tagEl(cls, icon, text) {
  const t = el('span', `thread-tag ${cls}`);
  t.innerHTML = icons[icon];
  t.append(el('span', '', text));
  return t;
}

const byMoment = (a, b) => a.at - b.at || Date.parse(a.createdAt) - Date.parse(b.createdAt);
