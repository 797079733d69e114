// breakouts-bar.js — what breakout rooms show outside the side panel: the bar at the top of the room
// (where you are, the countdown with a warning near the end, "Ask for help", an instructor's "Return
// to main room"), and the notices: the room you were moved to, breakouts opening, an instructors'
// message to all rooms, a help request (instructors), an instructor arriving in your room, the last
// minute. The page title follows the room you are in.

import { icons } from './icons.js';
import { formatRemaining, sayRemaining, describeBreakoutError } from './breakouts.js';

const $ = (id) => document.getElementById(id);
const WARN_MS = 60 * 1000; // the countdown turns amber, and a notice says so, in the last minute
const ROOM_NOTICE_MS = 7000;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function iconEl(icon) {
  const e = el('span', 'bo-icon');
  e.innerHTML = icons[icon]; // a fixed icon, never user content
  e.setAttribute('aria-hidden', 'true');
  return e;
}

/**
 * Notices over the top of the video: a title, a line of text, optional action buttons and a close
 * button. They never take the keyboard focus; each has a key, and a new notice replaces one with
 * the same key.
 */
class Notices {
  constructor(root) {
    this.root = root;
    this.byKey = new Map();
  }

  /**
   * @param {{key: string, kind?: string, title: string, text?: string, from?: string,
   *          actions?: {label: string, primary?: boolean, run: () => void}[], hideAfter?: number, alert?: boolean}} n
   */
  show({ key, kind = 'info', title, text = '', from = '', actions = [], hideAfter = 0, alert = false }) {
    this.hide(key);
    const box = el('div', `bo-notice bo-notice-${kind}`);
    box.dataset.key = key;
    if (alert) box.setAttribute('role', 'alert');
    const body = el('div', 'bo-notice-body');
    body.append(el('p', 'bo-notice-title', title));
    if (from) body.append(el('p', 'bo-notice-from', from));
    if (text) body.append(el('p', 'bo-notice-text', text));
    if (actions.length) {
      const row = el('div', 'bo-notice-actions');
      for (const a of actions) {
        const b = el('button', `btn btn-small ${a.primary ? 'btn-primary' : 'btn-secondary'}`, a.label);
        b.type = 'button';
        b.addEventListener('click', () => { this.hide(key); a.run(); });
        row.append(b);
      }
      body.append(row);
    }
    const close = el('button', 'icon-btn bo-notice-close');
    close.type = 'button';
    close.innerHTML = icons.close;
    close.setAttribute('aria-label', 'Dismiss');
    close.title = 'Dismiss';
    close.addEventListener('click', () => this.hide(key));
    box.append(body, close);
    this.root.append(box);
    const timer = hideAfter ? setTimeout(() => this.hide(key), hideAfter) : null;
    this.byKey.set(key, { box, timer });
    return box;
  }

  hide(key) {
    const n = this.byKey.get(key);
    if (!n) return;
    clearTimeout(n.timer);
    n.box.remove();
    this.byKey.delete(key);
  }

  clear() {
    for (const key of [...this.byKey.keys()]) this.hide(key);
  }
}

export class BreakoutsBar {
  /**
   * @param {{breakouts: import('./breakouts.js').Breakouts, classroom: import('./classroom.js').Classroom,
   *          openPane: () => void, announce: (text: string) => void}} opts
   */
  constructor({ breakouts, classroom, openPane, announce }) {
    this.model = breakouts;
    this.classroom = classroom;
    this.openPane = openPane;
    this.announce = announce;
    this.notices = new Notices($('bo-notices'));
    this.bar = $('bo-bar');
    this.timer = null;
    this.warned = ''; // the generation and deadline the last-minute notice was shown for
    this.instructors = null; // instructor ids in our breakout, to notice one arriving
    this.instructorsRoom = ''; // the room they are of
    this.helpShown = false; // our breakout's help request was pending at the last plan
    this.mainTitle = document.title;

    $('bo-bar').querySelector('.bo-where-icon').innerHTML = icons.people;
    $('bo-bar-help').addEventListener('click', () => {
      this.error('');
      breakouts.origin.set('breakout_help', 'bar');
      if (!breakouts.askHelp()) this.error('You are offline; try again once you are reconnected.');
    });
    $('bo-bar-return').addEventListener('click', () => this.visit(0));
    $('bo-bar-more').addEventListener('click', () => this.openPane());
    $('bo-bar-help-count').addEventListener('click', () => this.openPane());

    breakouts.on('plan', (d) => this.onPlan(d));
    breakouts.on('asking', () => this.render());
    breakouts.on('broadcast', (b) => this.onBroadcast(b));
    breakouts.on('help', (h) => this.onHelp(h));
    breakouts.on('error', (e) => {
      if (breakouts.origin.get(e.ref) === 'bar') this.error(describeBreakoutError(e));
      if (e.ref === 'breakout_help') this.render();
    });
    classroom.on('roster', () => { this.render(); this.watchInstructors(); });
  }

  visit(n) {
    this.error('');
    this.model.origin.set('breakout_visit', 'bar');
    if (!this.model.visit(n)) this.error('You are offline; try again once you are reconnected.');
  }

  error(text) {
    const e = $('bo-bar-error');
    if (e.textContent !== text) e.textContent = text;
  }

  get instructor() { return this.classroom.isInstructor; }

  onPlan({ moved, opened, closed }) {
    const m = this.model;
    const p = m.plan;
    this.error('');
    if (!m.room) { // left the class
      this.notices.clear();
      this.render();
      return;
    }
    if (moved) this.movedNotice(moved, opened);
    else if (opened && !this.instructor) this.openedNotice();
    else if (closed && this.instructor) {
      this.notices.show({ key: 'room', kind: 'room', title: 'Breakout rooms closed',
        text: p.closeReason === 'timer' ? 'Time is up: everyone is back in the main room.' : 'Everyone is back in the main room.',
        hideAfter: ROOM_NOTICE_MS });
    }
    if (!p.open) {
      this.notices.hide('warn');
      this.notices.hide('choose');
      for (const key of [...this.notices.byKey.keys()]) if (key.startsWith('help-') || key.startsWith('broadcast-')) this.notices.hide(key);
    }
    // A help request answered (or dismissed) elsewhere needs no more notice.
    for (const key of [...this.notices.byKey.keys()]) {
      if (key.startsWith('help-') && !(m.breakout(Number(key.slice(5))) || {}).help) this.notices.hide(key);
    }
    if (p.current) this.notices.hide('choose');
    // A student sees their room's help request arrive (it was sent) and go (an instructor came).
    const help = p.current && !this.instructor ? (m.breakout(p.current) || {}).help : null;
    if (help && !this.helpShown && !moved) {
      const who = help.participantId === this.classroom.me ? 'You asked' : `${help.name || 'Someone'} asked`;
      this.notices.show({ key: 'asked', kind: 'help', title: 'Help requested',
        text: `${who} for help. The instructors have been told; one of them will join this room.`, hideAfter: ROOM_NOTICE_MS });
    }
    if (!help) this.notices.hide('asked');
    this.helpShown = !!help;
    this.watchInstructors();
    this.render();
  }

  movedNotice({ reason }, opened) {
    const m = this.model;
    const cur = m.current;
    const only = 'Only the people in this room see and hear you now.';
    let title;
    let text;
    if (cur) {
      title = `${this.instructor ? 'You are visiting' : 'You are in'} ${m.label(cur)}`;
      if (reason === 'assigned' && m.plan.selfSelect) text = `You chose this room. ${only}`;
      else if (reason === 'assigned' && opened) text = `Your instructor opened breakout rooms. ${only}`;
      else if (reason === 'assigned') text = `Your instructor moved you to this room. ${only}`;
      else text = only;
    } else {
      title = 'Back in the main room';
      text = reason === 'timer' ? 'Time is up: the breakout rooms have closed.'
        : reason === 'closed' ? 'The breakout rooms have closed.'
          : reason === 'assigned' && !this.instructor && !m.plan.selfSelect ? 'Your instructor moved you back to the main room.'
            : 'Everyone in the main room sees and hears you again.';
    }
    this.notices.show({ key: 'room', kind: 'room', title, text, hideAfter: ROOM_NOTICE_MS });
    this.announce(`${title}. ${text}`);
  }

  openedNotice() {
    const p = this.model.plan;
    if (p.current) return; // moved: that notice says it
    if (p.selfSelect) {
      this.notices.show({ key: 'choose', kind: 'room', title: 'Breakout rooms are open',
        text: 'Choose the room you want to join.', actions: [{ label: 'Choose a room', primary: true, run: () => this.openPane() }] });
      this.announce('Breakout rooms are open. Choose the room you want to join.');
    } else {
      this.notices.show({ key: 'room', kind: 'room', title: 'Breakout rooms are open',
        text: 'You stay in the main room for now.', hideAfter: ROOM_NOTICE_MS });
    }
  }

  onBroadcast(b) {
    if (b.from === this.classroom.me) return; // the sender sees it in the pane
    this.notices.show({ key: `broadcast-${b.at}`, kind: 'broadcast', title: `Message from ${b.fromName || 'the instructor'}`,
      text: b.text, from: 'To all breakout rooms', alert: true });
    // Only the newest few stay: an instructor sending several should not bury the video.
    const keys = [...this.notices.byKey.keys()].filter((k) => k.startsWith('broadcast-'));
    for (const k of keys.slice(0, -2)) this.notices.hide(k);
  }

  onHelp(h) {
    if (!this.instructor) return;
    const where = this.model.label(h.breakout);
    this.notices.show({ key: `help-${h.breakout}`, kind: 'help', title: `${h.name || 'Someone'} asks for help`,
      text: `in ${where}`, alert: true,
      actions: [{ label: 'Join', primary: true, run: () => this.visit(h.breakout) },
        { label: 'Later', run: () => {} }] });
  }

  /** A student in a breakout learns when an instructor comes in (their help request is answered). */
  watchInstructors() {
    const c = this.classroom;
    const m = this.model;
    if (!c.me || !m.inBreakout || this.instructor) {
      this.instructors = null;
      return;
    }
    const now = new Set([...c.participants.values()].filter((p) => p.role === 'instructor').map((p) => p.id));
    if (this.instructors && this.instructorsRoom === m.room) {
      for (const id of now) {
        if (this.instructors.has(id)) continue;
        const name = c.name(id) || 'An instructor';
        this.notices.show({ key: 'instructor', kind: 'room', title: `${name} joined this room`, hideAfter: ROOM_NOTICE_MS });
        this.announce(`${name} joined this room.`);
      }
    }
    this.instructors = now;
    this.instructorsRoom = m.room;
  }

  render() {
    const m = this.model;
    const p = m.plan;
    const c = this.classroom;
    const cur = m.current;
    const show = !!c.me && !!m.room && (p.open || cur > 0);
    this.bar.hidden = !show;
    this.title();
    clearTimeout(this.timer);
    if (!show) return;
    const instructor = this.instructor;
    let where;
    if (cur) where = instructor ? `Visiting ${m.label(cur)}` : m.label(cur);
    else if (instructor) where = `Main room · ${p.rooms.length === 1 ? '1 breakout room' : `${p.rooms.length} breakout rooms`} open`;
    else if (p.selfSelect) where = 'Main room · breakout rooms are open';
    else where = 'Main room · breakout rooms are open';
    $('bo-where').textContent = where;
    this.bar.classList.toggle('in-breakout', cur > 0);

    // Students in a breakout: ask for help, and see that it was asked.
    const help = cur ? (m.breakout(cur) || {}).help : null;
    const hb = $('bo-bar-help');
    hb.hidden = instructor || !cur;
    hb.disabled = !!help || m.asking;
    hb.setAttribute('aria-pressed', String(!!help));
    hb.classList.toggle('requested', !!help);
    hb.replaceChildren(iconEl('hand'), el('span', '', help ? 'Help requested' : m.asking ? 'Asking…' : 'Ask for help'));
    hb.title = help ? `${help.participantId === c.me ? 'You' : help.name} asked for help; an instructor will join this room.`
      : 'Ask an instructor to come to this room';

    // Instructors: how many rooms ask for help, and the way back from a visit.
    const asks = instructor ? m.helpRequests().length : 0;
    const chip = $('bo-bar-help-count');
    chip.hidden = !asks;
    chip.replaceChildren(iconEl('hand'), el('span', '', asks === 1 ? '1 room asks for help' : `${asks} rooms ask for help`));
    $('bo-bar-return').hidden = !instructor || !cur;

    const more = $('bo-bar-more');
    more.hidden = false;
    more.textContent = instructor ? 'Manage rooms' : p.selfSelect ? (cur ? 'Change room' : 'Choose a room') : 'Details';
    more.classList.toggle('btn-primary', !instructor && p.selfSelect && !cur);
    more.classList.toggle('btn-secondary', !(!instructor && p.selfSelect && !cur));
    this.tick();
  }

  /** The countdown, twice a second while a timer runs (display only: the server closes the rooms). */
  tick() {
    clearTimeout(this.timer);
    const m = this.model;
    const left = m.remaining();
    const box = $('bo-timer');
    box.hidden = left === null || this.bar.hidden;
    if (box.hidden) return;
    const warn = left <= WARN_MS;
    $('bo-timer-text').textContent = left > 0 ? `${formatRemaining(left)} left` : '0:00 · closing…';
    box.classList.toggle('warn', warn);
    box.classList.toggle('over', left <= 0);
    box.setAttribute('aria-label', left > 0 ? `${sayRemaining(left)} left in breakout rooms` : 'Time is up; the rooms are closing');
    const key = `${m.plan.generation}@${m.plan.endsAt}`;
    if (warn && left > 0 && this.warned !== key) {
      this.warned = key;
      this.notices.show({ key: 'warn', kind: 'warn', title: `${sayRemaining(left)} left`,
        text: 'The breakout rooms close when the time is up. Everyone returns to the main room.', hideAfter: 15000 });
      this.announce(`${sayRemaining(left)} left in breakout rooms.`);
    }
    this.timer = setTimeout(() => this.tick(), 500);
  }

  /** The page title (the tab, the window list) says which room we are in. */
  title() {
    const m = this.model;
    document.title = m.current ? `${m.label(m.current)} — ${this.mainTitle}` : this.mainTitle;
  }
}
