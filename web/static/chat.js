// chat.js — the Chat pane: the message list (sender, instructor badge, time, own and private
// messages marked, "Message deleted"), an instructor's delete action, the composer (Everyone or
// Instructors only, Enter sends, Shift+Enter breaks the line, a counter near the limit) and server
// errors shown under the composer. User text only ever reaches the page as text nodes.

import { icons } from './icons.js';
import { MAX_CHAT_CHARS, chatLength } from './classroom.js';

const COUNTER_FROM = MAX_CHAT_CHARS - 200; // show the counter from here on
const GROUP_MS = 5 * 60 * 1000; // one header for a sender's messages within this time
const BOTTOM_SLACK = 48; // px from the end that still count as "at the bottom"
const URL_RE = /\bhttps?:\/\/[^\s<>"]+/gi;

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });

const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** An element holding one of our fixed icons (never user content). */
function iconEl(tag, cls, icon) {
  const e = el(tag, cls);
  e.innerHTML = icons[icon];
  return e;
}

/** Trailing punctuation belongs to the sentence, not the address; a ")" only when unbalanced. */
function trimURL(u) {
  const count = (ch) => u.split(ch).length - 1;
  for (let n = 0; n < 32 && u; n++) {
    const end = u[u.length - 1];
    if (!(/[.,;:!?'’”\]}]/.test(end) || (end === ')' && count('(') < count(')')))) break;
    u = u.slice(0, -1);
  }
  return u;
}

/** Append text to parent, with http(s) addresses as links; everything else stays a text node. */
export function appendLinkified(parent, text) {
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    const url = trimURL(match[0]);
    parent.append(text.slice(last, match.index));
    const a = el('a', '', url);
    a.href = url;
    a.target = '_blank';
    a.rel = 'noopener noreferrer nofollow';
    parent.append(a);
    last = match.index + url.length;
  }
  parent.append(text.slice(last));
}

function dayKey(d) { return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`; }

function dayLabel(d) {
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (dayKey(d) === dayKey(today)) return 'Today';
  if (dayKey(d) === dayKey(yesterday)) return 'Yesterday';
  return dayFmt.format(d);
}

export class ChatView {
  /**
   * @param {{classroom: import('./classroom.js').Classroom, panel: import('./panel.js').SidePanel}} opts
   */
  constructor({ classroom, panel }) {
    this.classroom = classroom;
    this.panel = panel;
    this.scroller = document.querySelector('#pane-chat .chat-scroll');
    this.list = $('chat-list');
    this.empty = $('chat-empty');
    this.jump = $('chat-jump');
    this.form = $('chat-form');
    this.input = $('chat-input');
    this.to = $('chat-to');
    this.count = $('chat-count');
    this.err = $('chat-error');
    this.sendBtn = $('chat-send');
    this.unread = 0;
    this.below = 0; // new messages below the view while scrolled up
    this.stick = true; // follow new messages (the reader is at the bottom)
    // Sent but not yet seen back, newest last: a refused message goes back into the composer.
    this.pending = [];
    this.instructor = false;

    this.input.dataset.autofocus = '';
    this.sendBtn.innerHTML = icons.send;
    this.sendBtn.title = 'Send (Enter)';
    this.input.setAttribute('aria-describedby', 'chat-help chat-count chat-error');
    this.input.addEventListener('keydown', (ev) => {
      // isComposing: Enter that confirms an IME candidate (Chinese, Japanese…) must not send.
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
        ev.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener('input', () => { this.showError(''); this.updateComposer(); });
    this.form.addEventListener('submit', (ev) => { ev.preventDefault(); this.submit(); });
    this.to.addEventListener('change', () => this.updateComposer());
    this.scroller.addEventListener('scroll', () => {
      if (!this.panel.showing('chat')) return;
      this.stick = this.atBottom();
      if (this.stick) this.setBelow(0);
    });
    this.jump.addEventListener('click', () => { this.scrollToEnd(); this.input.focus(); });

    classroom.on('chat', (d) => this.onChat(d));
    classroom.on('error', (e) => this.onError(e));
    classroom.on('roster', () => {
      if (classroom.isInstructor !== this.instructor) this.renderAll(); // delete actions come and go
    });
    this.updateComposer();
  }

  /** The panel opened, closed or changed tab. */
  visibilityChanged() {
    if (!this.panel.showing('chat')) return;
    this.setUnread(0);
    if (this.stick) this.scrollToEnd();
  }

  onChat({ kind, message, fresh }) {
    const me = this.classroom.me;
    if (kind === 'reset') {
      this.renderAll();
      // Left the class (no me): nothing is unread. Otherwise count what was missed meanwhile.
      this.setUnread(this.panel.showing('chat') || !me ? 0 : this.unread + fresh.filter((id) => {
        const m = this.classroom.byId.get(id);
        return m && !this.classroom.isMine(m) && !m.deleted;
      }).length);
      return;
    }
    if (kind === 'delete') {
      const li = this.list.querySelector(`li.msg[data-id="${CSS.escape(message.id)}"]`);
      if (!li) return;
      const focused = li.contains(document.activeElement);
      li.replaceWith(this.renderMessage(message, this.previous(message)));
      if (focused) this.list.focus(); // the delete button that had the focus is gone
      return;
    }
    // A new message.
    const own = this.classroom.isMine(message);
    const follow = own || (this.panel.showing('chat') ? this.atBottom() : this.stick);
    this.appendMessage(message, this.previous(message));
    this.trim();
    this.empty.hidden = true;
    if (own) {
      const i = this.pending.findIndex((p) => p.text === message.text);
      if (i >= 0) this.pending.splice(i, 1);
      // The error line stays: a refusal of a later message may have arrived before this one.
    } else if (!this.panel.showing('chat')) {
      this.setUnread(this.unread + 1);
    }
    if (follow) this.scrollToEnd();
    else this.setBelow(this.below + 1);
  }

  previous(m) {
    const msgs = this.classroom.messages;
    const i = msgs.indexOf(m);
    return i > 0 ? msgs[i - 1] : null;
  }

  renderAll() {
    this.instructor = this.classroom.isInstructor;
    const msgs = this.classroom.messages;
    // A snapshot is history, not news: keep screen readers from reading it all out.
    this.list.setAttribute('aria-live', 'off');
    requestAnimationFrame(() => this.list.removeAttribute('aria-live'));
    this.list.replaceChildren();
    msgs.forEach((m, i) => this.appendMessage(m, i > 0 ? msgs[i - 1] : null));
    this.empty.hidden = msgs.length > 0;
    this.setBelow(0);
    if (this.stick) this.scrollToEnd();
  }

  appendMessage(m, prev) {
    const at = new Date(m.at);
    const prevAt = prev ? new Date(prev.at) : null;
    if (!isNaN(at) && (prevAt ? dayKey(prevAt) !== dayKey(at) : dayLabel(at) !== 'Today')) {
      const sep = el('li', 'day-sep', dayLabel(at));
      sep.dataset.before = m.id;
      this.list.append(sep);
    }
    this.list.append(this.renderMessage(m, prev));
  }

  /** Drop what the model no longer keeps (the oldest messages beyond its cap). */
  trim() {
    for (let n = 0; n < 100; n++) {
      const first = this.list.firstElementChild;
      const id = first && (first.dataset.id || first.dataset.before);
      if (!first || this.classroom.byId.has(id)) return;
      first.remove();
    }
  }

  renderMessage(m, prev) {
    const c = this.classroom;
    const own = c.isMine(m);
    const priv = m.to === 'instructors';
    const grouped = prev && prev.from === m.from && (prev.to || '') === (m.to || '') &&
      Date.parse(m.at) - Date.parse(prev.at) < GROUP_MS;
    const li = el('li', 'msg');
    li.dataset.id = m.id;
    li.classList.toggle('own', own);
    li.classList.toggle('private', priv);
    li.classList.toggle('deleted', !!m.deleted);
    li.classList.toggle('cont', !!grouped);

    // A grouped message keeps its header for screen readers only.
    const head = el('div', grouped ? 'msg-head visually-hidden' : 'msg-head');
    head.append(el('span', 'msg-name', own ? 'You' : m.fromName));
    if (m.fromRole === 'instructor') head.append(el('span', 'role-badge', 'Instructor'));
    if (m.fromRole === 'co_instructor') head.append(el('span', 'role-badge', 'Co-instructor'));
    if (priv) {
      const tag = iconEl('span', 'msg-private', 'lock');
      tag.append(el('span', '', 'To instructors'));
      head.append(tag);
    }
    const at = new Date(m.at);
    if (!isNaN(at)) {
      const t = el('time', 'msg-time', timeFmt.format(at));
      t.dateTime = m.at;
      t.title = fullFmt.format(at);
      head.append(t);
    }
    li.append(head);

    const bubble = el('div', 'msg-bubble');
    if (m.deleted) {
      bubble.append(el('p', 'msg-text', 'Message deleted'));
    } else {
      const p = el('p', 'msg-text');
      appendLinkified(p, m.text);
      bubble.append(p);
      if (c.isInstructor) {
        const del = iconEl('button', 'msg-del', 'trash');
        del.type = 'button';
        del.title = 'Delete message';
        del.setAttribute('aria-label', `Delete message from ${own ? 'you' : m.fromName}`);
        del.addEventListener('click', () => this.confirmDelete(li, m));
        bubble.append(del);
      }
    }
    li.append(bubble);
    return li;
  }

  /** Deleting is for everyone and cannot be undone: ask once, in place. */
  confirmDelete(li, m) {
    if (li.querySelector('.msg-confirm')) return;
    const box = el('div', 'msg-confirm');
    box.setAttribute('role', 'group');
    box.setAttribute('aria-label', 'Delete this message?');
    box.append(el('span', '', 'Delete for everyone?'));
    const yes = el('button', 'btn btn-small btn-danger', 'Delete');
    const no = el('button', 'btn btn-small btn-secondary', 'Cancel');
    yes.type = no.type = 'button';
    const cancel = () => {
      box.remove();
      const del = li.querySelector('.msg-del');
      if (del) del.focus();
    };
    yes.addEventListener('click', () => {
      if (!this.classroom.deleteChat(m.id)) this.showError('You are offline; the message was not deleted.');
      yes.disabled = no.disabled = true;
      yes.textContent = 'Deleting…';
      // The chat_deleted event redraws the message; an error brings the actions back.
    });
    no.addEventListener('click', cancel);
    box.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') { ev.preventDefault(); cancel(); } });
    box.append(yes, no);
    li.append(box);
    yes.focus();
  }

  onError({ code, message, ref }) {
    if (ref === 'chat') {
      // Errors carry no message id. The newest unconfirmed message is the refused one when people
      // send one at a time; it goes back only into an empty box, never over new text.
      const refused = this.pending.pop();
      if (refused && !this.input.value.trim()) {
        this.input.value = refused.text;
        this.to.value = refused.to;
        this.updateComposer();
      }
      switch (code) {
        case 'rate_limited':
          return this.showError('You are sending messages too fast. Wait a moment, then press Enter to send again.');
        case 'bad_message':
          return this.showError(`The message was not sent: ${message || 'the server refused it'}.`);
        default:
          return this.showError(`The message was not sent (${message || code}). Try again.`);
      }
    }
    if (ref === 'chat_delete') {
      for (const b of this.list.querySelectorAll('.msg-confirm')) b.remove();
      switch (code) {
        case 'not_found': return this.showError('That message no longer exists.');
        case 'forbidden': return this.showError('Only instructors can delete messages.');
        default: return this.showError(`The message was not deleted (${message || code}).`);
      }
    }
  }

  showError(text) {
    if (this.err.textContent !== text) this.err.textContent = text;
  }

  submit() {
    const text = this.input.value;
    const n = chatLength(text);
    if (!n) return;
    if (n > MAX_CHAT_CHARS) {
      this.showError(`Your message is ${n} characters; the limit is ${MAX_CHAT_CHARS}. Shorten it or send it in two parts.`);
      return;
    }
    if (!this.classroom.sendChat(text, this.to.value)) {
      this.showError('You are offline, so the message was not sent. It is still here: send it again once you are reconnected.');
      return;
    }
    this.pending.push({ text: text.trim(), to: this.to.value });
    if (this.pending.length > 20) this.pending.shift();
    this.input.value = '';
    this.showError('');
    this.updateComposer();
    this.stick = true;
  }

  updateComposer() {
    const priv = this.to.value === 'instructors';
    this.form.classList.toggle('private', priv);
    this.input.placeholder = priv ? 'Private message to the instructors' : 'Message everyone';
    const n = chatLength(this.input.value);
    const over = n > MAX_CHAT_CHARS;
    this.count.textContent = n >= COUNTER_FROM ? `${n} / ${MAX_CHAT_CHARS}` : '';
    this.count.title = over ? `${n - MAX_CHAT_CHARS} characters over the limit` : '';
    this.count.classList.toggle('over', over);
    this.sendBtn.disabled = n === 0 || over;
    // Grow with the text up to five lines (CSS max-height), then scroll inside.
    this.input.style.height = 'auto';
    this.input.style.height = `${this.input.scrollHeight + 2}px`;
  }

  setUnread(n) {
    this.unread = n;
    this.panel.setBadge('chat', n);
  }

  setBelow(n) {
    this.below = n;
    this.jump.hidden = !n;
    if (n) {
      this.jump.innerHTML = icons.arrowDown;
      this.jump.append(el('span', '', n === 1 ? '1 new message' : `${n} new messages`));
    }
  }

  atBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight <= BOTTOM_SLACK;
  }

  scrollToEnd() {
    this.stick = true;
    this.setBelow(0);
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }
}
