// breakouts-pane.js — the Rooms pane of the side panel. Instructors: set up breakout rooms (count,
// names, random / manual / self-select assignment, timer) and, while they are open, run them (time
// left and more time, a message to every room, the rooms with who is assigned and who asks for help,
// visit any room, move students, close all). Students: where they are, "Ask for help" in a breakout,
// the room chooser when they may choose, and the instructors' messages. Names reach the page as text.

import { icons } from './icons.js';
import { chatLength } from './classroom.js';
import {
  MAX_BREAKOUTS, MAX_BREAKOUT_NAME, MAX_BROADCAST_CHARS, MAX_MINUTES, formatRemaining, describeBreakoutError,
} from './breakouts.js';

const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function button(text, cls, onClick) {
  const b = el('button', cls, text);
  b.type = 'button';
  b.addEventListener('click', onClick);
  return b;
}

function iconEl(icon) {
  const e = el('span', 'bo-icon');
  e.innerHTML = icons[icon]; // a fixed icon, never user content
  e.setAttribute('aria-hidden', 'true');
  return e;
}

const collator = new Intl.Collator(undefined, { sensitivity: 'base', numeric: true });
const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

function clock(at) {
  const d = new Date(at);
  return isNaN(d) ? '' : timeFmt.format(d);
}

/** Rebuild list with nodes, keeping the keyboard focus on the control with the same data-key. */
function replaceKeepingFocus(list, nodes) {
  const a = document.activeElement;
  const key = a && list.contains(a) ? a.dataset.key : null;
  list.replaceChildren(...nodes);
  if (key) {
    const again = list.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

/** A <select> of the main room and every breakout; value is the breakout number as a string. */
function roomSelect(model, count, value, label, key) {
  const s = el('select', 'bo-select');
  s.dataset.key = key;
  s.setAttribute('aria-label', label);
  s.append(new Option('Main room', '0'));
  for (let n = 1; n <= count; n++) {
    const r = model.breakout(n);
    const named = r && r.name && r.name !== `Breakout ${n}`;
    s.append(new Option(named ? `${n} · ${r.name}` : `Breakout ${n}`, String(n)));
  }
  s.value = String(value || 0);
  return s;
}

export class BreakoutsPane {
  /**
   * @param {{breakouts: import('./breakouts.js').Breakouts, classroom: import('./classroom.js').Classroom,
   *          panel: import('./panel.js').SidePanel, notify: (text: string) => void}} opts
   * notify shows an error when this pane is hidden.
   */
  constructor({ breakouts, classroom, panel, notify }) {
    this.model = breakouts;
    this.classroom = classroom;
    this.panel = panel;
    this.notify = notify;
    this.tab = $('tab-breakouts');
    this.names = []; // typed room names, by index
    this.manual = new Map(); // identity -> breakout chosen in the setup form
    // identity -> breakout chosen in the live view, not yet moved there (a select changes on every
    // arrow key, so a move waits for its button)
    this.drafts = new Map();
    this.students = new Map(); // identity -> name: the students seen in the main room, and assigned ones
    this.present = new Set(); // identities of the students in the main room now (as far as we can see)
    this.opening = false;
    this.broadcastText = ''; // sent, not yet seen back
    this.timer = null;

    this.setupForm();
    this.liveControls();
    $('bo-help').addEventListener('click', () => this.askHelp());

    breakouts.on('plan', (d) => this.onPlan(d));
    breakouts.on('broadcast', (b) => this.onBroadcast(b));
    breakouts.on('asking', () => this.renderStudent());
    breakouts.on('error', (e) => this.onError(e));
    classroom.on('roster', () => this.onRoster());
  }

  get instructor() { return this.classroom.isInstructor; }

  // ---- setup (instructors, breakouts closed) ----

  setupForm() {
    const count = $('bo-count');
    count.addEventListener('input', () => { this.renderNames(); this.renderManual(); this.showError('bo-setup-error', ''); });
    for (const r of document.querySelectorAll('input[name="bo-mode"]')) {
      r.addEventListener('change', () => {
        this.renderManual();
        this.showError('bo-setup-error', '');
        if (this.mode() === 'manual') $('bo-manual').scrollIntoView({ block: 'nearest' });
      });
    }
    $('bo-minutes').addEventListener('input', () => this.showError('bo-setup-error', ''));
    $('bo-setup').addEventListener('submit', (ev) => { ev.preventDefault(); this.open(); });
    this.renderNames();
  }

  /** The count typed, clamped for drawing the names and selects; NaN when it is not a number. */
  count() {
    const n = Number($('bo-count').value);
    return Number.isInteger(n) ? n : NaN;
  }

  mode() {
    const r = document.querySelector('input[name="bo-mode"]:checked');
    return r ? r.value : 'random';
  }

  renderNames() {
    const n = Math.min(Math.max(this.count() || 0, 0), MAX_BREAKOUTS);
    $('bo-count-help').textContent = this.hint();
    const list = $('bo-names');
    const rows = [];
    for (let i = 0; i < n; i++) {
      const li = el('li', 'bo-name-row');
      const id = `bo-name-${i + 1}`;
      const label = el('label', 'visually-hidden', `Name of breakout ${i + 1}`);
      label.htmlFor = id;
      const input = el('input', 'bo-name-input');
      input.id = id;
      input.dataset.key = id;
      input.maxLength = MAX_BREAKOUT_NAME;
      input.autocomplete = 'off';
      input.placeholder = `Breakout ${i + 1}`;
      input.value = this.names[i] || '';
      input.addEventListener('input', () => { this.names[i] = input.value; });
      li.append(el('span', 'bo-num', String(i + 1)), label, input);
      rows.push(li);
    }
    replaceKeepingFocus(list, rows);
  }

  /** "About 3 per room" under the count, from the students in the main room. */
  hint() {
    const n = this.count();
    const s = this.present.size;
    if (!s || !(n >= 1)) return '1 to 50';
    const lo = Math.floor(s / n);
    const hi = Math.ceil(s / n);
    if (!hi) return `${s} students: some rooms stay empty`;
    return `${s} student${s === 1 ? '' : 's'}: ${lo === hi ? lo : `${lo}–${hi}`} per room`;
  }

  renderManual() {
    const manual = this.mode() === 'manual';
    $('bo-manual').hidden = !manual;
    $('bo-count-help').textContent = this.hint();
    if (!manual) return;
    const n = Math.min(Math.max(this.count() || 0, 0), MAX_BREAKOUTS);
    const people = [...this.present].map((id) => ({ id, name: this.students.get(id) || id }))
      .sort((a, b) => collator.compare(a.name, b.name));
    $('bo-manual-empty').hidden = people.length > 0;
    replaceKeepingFocus($('bo-manual-list'), people.map((p) => {
      const li = el('li', 'bo-assign-row');
      li.dataset.identity = p.id;
      li.append(el('span', 'bo-person', p.name));
      let v = this.manual.get(p.id) || 0;
      if (v > n) v = 0;
      const s = roomSelect(this.model, n, v, `Room for ${p.name}`, `manual-${p.id}`);
      s.addEventListener('change', () => this.manual.set(p.id, Number(s.value)));
      li.append(s);
      return li;
    }));
  }

  open() {
    const count = this.count();
    if (!(count >= 1 && count <= MAX_BREAKOUTS)) {
      this.showError('bo-setup-error', `Choose between 1 and ${MAX_BREAKOUTS} rooms.`);
      $('bo-count').focus();
      return;
    }
    const minText = $('bo-minutes').value.trim();
    const minutes = minText === '' ? 0 : Number(minText);
    if (!(Number.isInteger(minutes) && minutes >= 0 && minutes <= MAX_MINUTES)) {
      this.showError('bo-setup-error', `The timer is in whole minutes, 1 to ${MAX_MINUTES} (24 hours); leave it empty for no timer.`);
      $('bo-minutes').focus();
      return;
    }
    const mode = this.mode();
    let assignments = null;
    if (mode === 'manual') {
      assignments = {};
      for (const id of this.present) {
        const n = this.manual.get(id) || 0;
        if (n >= 1 && n <= count) assignments[id] = n;
      }
    }
    const ok = this.model.openRooms({ count, names: this.names, assignments, random: mode === 'random',
      selfSelect: mode === 'self', minutes });
    if (!ok) {
      this.showError('bo-setup-error', 'You are offline; try again once you are reconnected.');
      return;
    }
    this.opening = true;
    this.showError('bo-setup-error', '');
    this.renderSetupButton();
  }

  renderSetupButton() {
    const b = $('bo-open');
    b.disabled = this.opening;
    b.textContent = this.opening ? 'Opening…' : `Open ${this.count() === 1 ? '1 room' : 'rooms'}`;
  }

  // ---- live (instructors, breakouts open) ----

  liveControls() {
    for (const b of document.querySelectorAll('[data-extend]')) {
      b.addEventListener('click', () => {
        this.showError('bo-extend-error', '');
        if (!this.model.extend(Number(b.dataset.extend))) this.showError('bo-extend-error', 'You are offline; try again once you are reconnected.');
      });
    }
    const input = $('bo-broadcast-input');
    input.addEventListener('input', () => { this.showError('bo-broadcast-error', ''); $('bo-broadcast-note').textContent = ''; });
    $('bo-broadcast').addEventListener('submit', (ev) => { ev.preventDefault(); this.sendBroadcast(); });
    $('bo-close').addEventListener('click', () => {
      $('bo-close').hidden = true;
      $('bo-close-confirm').hidden = false;
      $('bo-close-yes').focus();
    });
    const cancel = () => {
      $('bo-close-confirm').hidden = true;
      $('bo-close').hidden = false;
      $('bo-close').focus();
    };
    $('bo-close-no').addEventListener('click', cancel);
    $('bo-close-confirm').addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') { ev.preventDefault(); ev.stopPropagation(); cancel(); }
    });
    $('bo-close-yes').addEventListener('click', () => {
      this.showError('bo-close-error', '');
      if (!this.model.closeRooms()) {
        this.showError('bo-close-error', 'You are offline; try again once you are reconnected.');
        return;
      }
      $('bo-close-yes').disabled = true;
      $('bo-close-yes').textContent = 'Closing…';
    });
  }

  sendBroadcast() {
    const input = $('bo-broadcast-input');
    const n = chatLength(input.value);
    if (!n) {
      this.showError('bo-broadcast-error', 'Write the message first.');
      input.focus();
      return;
    }
    if (n > MAX_BROADCAST_CHARS) {
      this.showError('bo-broadcast-error', `The message is ${n} characters; the limit is ${MAX_BROADCAST_CHARS}.`);
      return;
    }
    if (!this.model.broadcast(input.value)) {
      this.showError('bo-broadcast-error', 'You are offline; the message was not sent.');
      return;
    }
    this.broadcastText = input.value.trim();
    $('bo-broadcast-send').disabled = true;
    $('bo-broadcast-note').textContent = 'Sending…';
  }

  onBroadcast(b) {
    this.renderMessages();
    if (b.from === this.classroom.me && this.broadcastText && b.text === this.broadcastText) {
      this.broadcastText = '';
      $('bo-broadcast-input').value = '';
      $('bo-broadcast-send').disabled = false;
      $('bo-broadcast-note').textContent = `Sent to all rooms at ${clock(b.at)}.`;
    }
  }

  /** "14:46 left" next to the heading of the live view. */
  statusTime() {
    const left = this.model.remaining();
    const t = $('bo-status-time');
    t.textContent = left === null ? 'No timer' : left > 0 ? `${formatRemaining(left)} left` : 'Closing…';
    t.classList.toggle('warn', left !== null && left <= 60000);
  }

  renderLive() {
    const m = this.model;
    const p = m.plan;
    $('bo-status-heading').textContent = p.rooms.length === 1 ? '1 breakout room open' : `${p.rooms.length} breakout rooms open`;
    this.statusTime();
    // With a timer the buttons say enough ("+5 min" next to the time left); without, say what they start.
    const noTimer = m.remaining() === null;
    $('bo-extend-label').textContent = noTimer ? 'Start a timer' : 'Add time';
    $('bo-extend-label').classList.toggle('visually-hidden', !noTimer);
    const byRoom = new Map();
    for (const a of p.assignments || []) {
      if (!byRoom.has(a.breakout)) byRoom.set(a.breakout, []);
      byRoom.get(a.breakout).push(a.name || this.students.get(a.identity) || a.identity);
    }
    replaceKeepingFocus($('bo-rooms'), p.rooms.map((r) => {
      const n = r.number;
      const here = p.current === n;
      const li = el('li', 'bo-room');
      li.dataset.breakout = String(n);
      li.classList.toggle('here', here);
      li.classList.toggle('has-help', !!r.help);
      const names = (byRoom.get(n) || []).sort(collator.compare);
      const main = el('div', 'bo-room-main');
      main.append(el('span', 'bo-room-name', r.name || `Breakout ${n}`));
      main.append(el('span', names.length ? 'bo-room-people' : 'bo-room-people empty',
        here ? `You are here${names.length ? ` · ${names.join(', ')}` : ''}` : names.length ? names.join(', ') : 'Nobody assigned yet'));
      let action;
      if (here) {
        action = button('Back to main', 'btn btn-small btn-secondary', () => this.visitOrDismiss('visit', 0));
        action.dataset.key = 'return';
        action.setAttribute('aria-label', 'Return to the main room');
      } else {
        action = button('Join', `btn btn-small ${r.help ? 'btn-help' : 'btn-secondary'}`, () => this.visitOrDismiss('visit', n));
        action.dataset.key = `join-${n}`;
        action.setAttribute('aria-label', `Join ${m.label(n)}`);
      }
      const head = el('div', 'bo-room-head');
      head.append(el('span', 'bo-num', String(n)), main, action);
      li.append(head);
      if (r.help) {
        const help = el('div', 'bo-help-row');
        help.append(iconEl('hand'));
        const text = el('span', 'bo-help-text', `${r.help.name || 'Someone'} asks for help`);
        text.append(el('span', 'bo-help-time', clock(r.help.at)));
        help.append(text);
        const dismiss = button('Dismiss', 'btn btn-small btn-secondary', () => this.visitOrDismiss('dismiss', n));
        dismiss.dataset.key = `dismiss-${n}`;
        dismiss.setAttribute('aria-label', `Dismiss the help request of ${m.label(n)}`);
        help.append(dismiss);
        li.append(help);
      }
      return li;
    }));
    this.renderAssign();
  }

  visitOrDismiss(what, n) {
    this.showError('bo-rooms-error', '');
    this.model.origin.set(what === 'visit' ? 'breakout_visit' : 'breakout_help_done', 'pane');
    const ok = what === 'visit' ? this.model.visit(n) : this.model.helpDone(n);
    if (!ok) this.showError('bo-rooms-error', 'You are offline; try again once you are reconnected.');
  }

  /** Every student we know of, with a room select and a Move button (breakouts_assign). */
  renderAssign() {
    const m = this.model;
    const assigned = m.assignmentMap();
    const ids = new Set([...assigned.keys(), ...this.present]);
    const people = [...ids].map((id) => ({ id, name: this.students.get(id) || id, n: assigned.get(id) || 0 }))
      .sort((a, b) => collator.compare(a.name, b.name));
    for (const [id, n] of this.drafts) if (!ids.has(id) || assigned.get(id) === n || (!n && !assigned.has(id))) this.drafts.delete(id);
    $('bo-assign-empty').hidden = people.length > 0;
    replaceKeepingFocus($('bo-assign-list'), people.map((p) => {
      const li = el('li', 'bo-assign-row');
      li.dataset.identity = p.id;
      li.append(el('span', 'bo-person', p.name));
      const want = this.drafts.has(p.id) ? this.drafts.get(p.id) : p.n;
      const s = roomSelect(m, m.plan.rooms.length, want, `Room for ${p.name}`, `assign-${p.id}`);
      const move = button('Move', 'btn btn-small btn-primary', () => {
        this.showError('bo-assign-error', '');
        if (!m.assign({ [p.id]: Number(s.value) })) this.showError('bo-assign-error', 'You are offline; try again once you are reconnected.');
        else move.textContent = 'Moving…';
      });
      move.dataset.key = `move-${p.id}`;
      move.setAttribute('aria-label', `Move ${p.name}`);
      move.hidden = want === p.n;
      s.addEventListener('change', () => {
        const n = Number(s.value);
        if (n === p.n) this.drafts.delete(p.id);
        else this.drafts.set(p.id, n);
        move.hidden = n === p.n;
        move.textContent = 'Move';
      });
      li.append(s, move);
      return li;
    }));
  }

  // ---- students ----

  askHelp() {
    this.showError('bo-student-error', '');
    this.model.origin.set('breakout_help', 'pane');
    if (!this.model.askHelp()) this.showError('bo-student-error', 'You are offline; try again once you are reconnected.');
  }

  renderStudent() {
    const m = this.model;
    const p = m.plan;
    const cur = p.current;
    let you;
    if (cur) you = `You are in ${m.label(cur)}.`;
    else if (p.selfSelect) you = 'You are in the main room. Choose a room below.';
    else if (p.assigned) you = `You are assigned to ${m.label(p.assigned)}.`;
    else you = 'You are in the main room: your instructor has not assigned you to a room.';
    $('bo-you').textContent = you;

    const room = cur ? m.breakout(cur) : null;
    $('bo-help-box').hidden = !cur;
    const help = room && room.help;
    const b = $('bo-help');
    b.disabled = !!help || m.asking;
    b.setAttribute('aria-pressed', String(!!help));
    b.classList.toggle('requested', !!help);
    b.replaceChildren(iconEl('hand'), document.createTextNode(help ? 'Help requested' : m.asking ? 'Asking…' : 'Ask for help'));
    $('bo-help-status').textContent = help
      ? `${help.participantId === this.classroom.me ? 'You' : help.name} asked at ${clock(help.at)}. The instructors have been told; one will join this room.`
      : 'The instructors will be told that your room needs help.';

    $('bo-choose').hidden = !p.selfSelect;
    if (!p.selfSelect) return;
    const rows = p.rooms.map((r) => {
      const li = el('li', 'bo-room');
      li.classList.toggle('here', cur === r.number);
      li.dataset.breakout = String(r.number);
      const here = cur === r.number;
      const main = el('div', 'bo-room-main');
      main.append(el('span', 'bo-room-name', r.name || `Breakout ${r.number}`));
      const count = r.assigned === 1 ? '1 person' : `${r.assigned} people`;
      main.append(el('span', 'bo-room-people', here ? `You are here · ${count}` : count));
      const head = el('div', 'bo-room-head');
      head.append(el('span', 'bo-num', String(r.number)), main);
      if (!here) {
        const join = button('Join', 'btn btn-small btn-primary', () => this.choose(r.number));
        join.dataset.key = `choose-${r.number}`;
        join.setAttribute('aria-label', `Join ${m.label(r.number)}`);
        head.append(join);
      }
      li.append(head);
      return li;
    });
    if (cur) {
      const li = el('li', 'bo-room');
      const main = el('div', 'bo-room-main');
      main.append(el('span', 'bo-room-name', 'Main room'), el('span', 'bo-room-people', 'Everyone not in a breakout room'));
      const back = button('Go back', 'btn btn-small btn-secondary', () => this.choose(0));
      back.dataset.key = 'choose-0';
      back.setAttribute('aria-label', 'Go back to the main room');
      const head = el('div', 'bo-room-head');
      head.append(iconEl('home'), main, back);
      li.append(head);
      rows.push(li);
    }
    replaceKeepingFocus($('bo-choose-list'), rows);
  }

  choose(n) {
    this.showError('bo-student-error', '');
    if (!this.model.choose(n)) this.showError('bo-student-error', 'You are offline; try again once you are reconnected.');
  }

  // ---- shared ----

  renderMessages() {
    const list = this.model.plan.broadcasts;
    const show = this.model.open && list.length > 0;
    $('bo-messages').hidden = !show;
    if (!show) return;
    $('bo-messages-list').replaceChildren(...list.slice().reverse().map((b) => {
      const li = el('li', 'bo-message');
      const head = el('div', 'bo-message-head');
      head.append(el('span', 'bo-message-from', b.fromName || 'Instructor'), el('time', 'bo-message-time', clock(b.at)));
      li.append(head, el('p', 'bo-message-text', b.text));
      return li;
    }));
  }

  onRoster() {
    // Only in the main room do we see the students the setup is about.
    const m = this.model;
    const inMain = !m.plan.room || m.room === m.plan.room || !m.room;
    if (inMain && this.classroom.me) {
      this.present = new Set();
      for (const p of this.classroom.participants.values()) {
        if (p.role !== 'student') continue;
        this.present.add(p.identity);
        this.students.set(p.identity, p.name);
      }
    }
    this.render();
  }

  onPlan({ opened, closed, reset }) {
    const m = this.model;
    for (const a of m.plan.assignments || []) if (a.name) this.students.set(a.identity, a.name);
    if (opened) this.manual.clear();
    if (opened || closed) this.drafts.clear();
    // A request in flight is answered by this plan or lost with a socket; either way, ready again.
    this.opening = false;
    if (reset && this.broadcastText) {
      this.broadcastText = '';
      $('bo-broadcast-send').disabled = false;
      $('bo-broadcast-note').textContent = '';
    }
    if (closed || opened || reset) {
      $('bo-close-confirm').hidden = true;
      $('bo-close').hidden = false;
      $('bo-close-yes').disabled = false;
      $('bo-close-yes').textContent = 'Close now';
      $('bo-broadcast-note').textContent = '';
    }
    // After the first view of the room the main room's list is the model's roster.
    if (m.room === m.plan.room) this.onRoster();
    else this.render();
    // The instructor's pane follows: setup becomes the live view and back again, with the focus.
    if ((opened || closed) && this.panel.showing('breakouts') && this.instructor) {
      $('pane-breakouts').scrollTop = 0;
      const target = opened ? $('bo-status-heading') : $('bo-count');
      if (this.panel.root.contains(document.activeElement) || document.activeElement === document.body) target.focus({ preventScroll: true });
    }
  }

  render() {
    const m = this.model;
    const p = m.plan;
    const instructor = this.instructor;
    const joined = !!this.classroom.me;
    // Students have the tab only while breakouts are open; instructors always.
    const tab = joined && (instructor || p.open);
    this.tab.hidden = !tab;
    // (Not while a move replaces the view: the classroom is empty for a moment, then back.)
    if (!tab && joined && this.panel.showing('breakouts')) this.panel.close(false);
    $('bo-setup').hidden = !instructor || p.open;
    $('bo-live').hidden = !instructor || !p.open;
    $('bo-student').hidden = instructor || !p.open;
    if (instructor && !p.open) {
      const note = $('bo-closed-note');
      note.hidden = !p.generation;
      note.textContent = p.closeReason === 'timer' ? 'The last breakout rooms ended when their time was up.'
        : 'The last breakout rooms were closed. Everyone is back in the main room.';
      this.renderManual();
      this.renderSetupButton();
    }
    if (instructor && p.open) this.renderLive();
    if (!instructor && p.open) this.renderStudent();
    this.renderMessages();
    const help = instructor ? m.helpRequests().length : 0;
    this.panel.setBadge('breakouts', help, 'help');
    this.tick();
  }

  /** Once a second while a timer runs: the time in the status line. */
  tick() {
    clearTimeout(this.timer);
    const m = this.model;
    if (!m.open || m.remaining() === null || !this.instructor) return;
    this.statusTime();
    this.timer = setTimeout(() => this.tick(), 500); // in step with the bar's countdown
  }

  onError(e) {
    const m = this.model;
    const text = describeBreakoutError(e);
    const target = {
      breakouts_open: 'bo-setup-error', breakouts_extend: 'bo-extend-error', breakouts_broadcast: 'bo-broadcast-error',
      breakouts_close: 'bo-close-error', breakouts_assign: 'bo-assign-error', breakout_visit: 'bo-rooms-error',
      breakout_help_done: 'bo-rooms-error', breakout_choose: 'bo-student-error', breakout_help: 'bo-student-error',
    }[e.ref];
    if (e.ref === 'breakouts_open') { this.opening = false; this.renderSetupButton(); }
    if (e.ref === 'breakouts_close') {
      $('bo-close-yes').disabled = false;
      $('bo-close-yes').textContent = 'Close now';
    }
    if (e.ref === 'breakouts_broadcast') {
      this.broadcastText = '';
      $('bo-broadcast-send').disabled = false;
      $('bo-broadcast-note').textContent = '';
    }
    if (e.ref === 'breakouts_assign') { this.drafts.clear(); this.render(); } // the selects show the plan again
    if (e.ref === 'breakout_help') this.renderStudent();
    if ((m.origin.get(e.ref) || 'pane') !== 'pane') return; // the bar shows it
    if (this.panel.showing('breakouts')) this.showError(target, text);
    else this.notify(text);
  }

  showError(id, text) {
    const e = $(id);
    if (e.textContent !== text) e.textContent = text;
  }
}
