// people.js — the People pane: the raised-hand queue (first raised first; instructors lower one
// hand or all, anyone lowers their own) and everyone in the class with role, hand, microphone and
// camera. Names reach the page as text only.

import { icons } from './icons.js';
import { initials, avatarColor } from './grid.js';

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
  e.setAttribute('aria-hidden', 'true');
  return e;
}

/** The name (cut with an ellipsis when long) and, for yourself, a "(you)" that is never cut. */
function nameLine(p, me) {
  const line = el('span', 'person-line');
  line.append(el('span', 'person-name', p.name));
  if (p.id === me) line.append(el('span', 'person-you', '(you)'));
  return line;
}

function avatar(p) {
  const a = el('span', 'avatar-sm', initials(p.name));
  a.style.setProperty('--avatar', avatarColor(p.identity || p.id));
  a.setAttribute('aria-hidden', 'true');
  return a;
}

/** Whether a participant's source is on, as the server sees it (published and not muted). */
function sourceOn(p, source) {
  const t = (p.tracks || []).find((x) => x.source === source);
  return !!t && !t.muted;
}

const collator = new Intl.Collator(undefined, { sensitivity: 'base', numeric: true });

export class PeopleView {
  /**
   * @param {{classroom: import('./classroom.js').Classroom, panel: import('./panel.js').SidePanel,
   *          notify: (text: string) => void}} opts  notify shows an error when this pane is hidden
   */
  constructor({ classroom, panel, notify }) {
    this.classroom = classroom;
    this.panel = panel;
    this.notify = notify;
    this.handsList = $('hands-list');
    this.handsEmpty = $('hands-empty');
    this.handsSection = $('hands-section');
    this.handsHeading = $('hands-heading');
    this.lowerAll = $('hands-lower-all');
    this.handsErr = $('hands-error');
    this.peopleList = $('people-list');
    this.peopleHeading = $('people-heading');
    this.decorate = null; // (li, participant) => void: moderation actions (modview.js) add to a row
    this.handsHeading.tabIndex = -1; // a place for the focus when the last hand is lowered

    this.lowerAll.addEventListener('click', () => {
      for (const id of [...classroom.hands]) classroom.lowerHand(id);
    });
    classroom.on('hands', () => { this.renderHands(); this.renderPeople(); });
    classroom.on('roster', () => { this.renderHands(); this.renderPeople(); });
    classroom.on('error', (e) => this.onError(e));
  }

  onError({ code, message, ref }) {
    if (ref !== 'raise_hand' && ref !== 'lower_hand') return;
    const text = code === 'forbidden' ? 'Only an instructor can lower someone else’s hand.'
      : code === 'not_found' ? 'That participant is no longer in the class.'
        : `Your hand could not be ${ref === 'raise_hand' ? 'raised' : 'lowered'} (${message || code}). Try again.`;
    if (this.panel.showing('people')) this.handsErr.textContent = text;
    else this.notify(text);
  }

  renderHands() {
    const c = this.classroom;
    const hands = c.hands.map((id) => c.participants.get(id)).filter(Boolean);
    // Keep the keyboard focus near where it was when a row disappears.
    const focusIdx = [...this.handsList.querySelectorAll('button')].indexOf(document.activeElement);
    this.handsErr.textContent = '';
    this.handsList.replaceChildren(...hands.map((p, i) => {
      const li = el('li', 'hand-row');
      li.dataset.participantId = p.id;
      const own = p.id === c.me;
      li.append(el('span', 'hand-pos', String(i + 1)));
      li.append(nameLine(p, c.me));
      if (c.isInstructor || own) {
        const b = el('button', 'btn btn-small btn-secondary', 'Lower');
        b.type = 'button';
        b.setAttribute('aria-label', own ? 'Lower your hand' : `Lower ${p.name}’s hand`);
        b.addEventListener('click', () => {
          if (!c.lowerHand(p.id)) this.handsErr.textContent = 'You are offline; try again once you are reconnected.';
        });
        li.append(b);
      }
      return li;
    }));
    this.handsHeading.textContent = hands.length ? `Raised hands (${hands.length})` : 'Raised hands';
    this.handsEmpty.hidden = hands.length > 0;
    // Students see the queue only when there is one; instructors always see where hands will appear.
    this.handsSection.hidden = !c.isInstructor && !hands.length;
    this.lowerAll.hidden = !c.isInstructor || hands.length < 2;
    if (focusIdx >= 0) {
      const buttons = this.handsList.querySelectorAll('button');
      (buttons[Math.min(focusIdx, buttons.length - 1)] || this.handsHeading).focus();
    }
    if (c.isInstructor) this.panel.setBadge('people', hands.length, 'hand');
    else this.panel.setBadge('people', 0);
  }

  renderPeople() {
    const c = this.classroom;
    const rank = (p) => (p.id === c.me ? 0 : p.role === 'instructor' ? 1 : p.role === 'co_instructor' ? 2 : 3);
    const people = [...c.participants.values()].sort((a, b) => rank(a) - rank(b) || collator.compare(a.name, b.name));
    const hands = new Set(c.hands);
    this.peopleHeading.textContent = `In class (${people.length})`;
    this.peopleList.replaceChildren(...people.map((p) => {
      const li = el('li', 'person');
      li.dataset.participantId = p.id;
      const main = el('span', 'person-main');
      main.append(nameLine(p, c.me));
      if (p.role === 'instructor') main.append(el('span', 'role-badge', 'Instructor'));
      if (p.role === 'co_instructor') main.append(el('span', 'role-badge', 'Co-instructor'));
      li.append(avatar(p), main);

      const hand = hands.has(p.id);
      const mic = sourceOn(p, 'microphone');
      const cam = sourceOn(p, 'camera');
      const state = el('span', 'person-state');
      if (hand) state.append(iconEl('state-icon hand-on', 'hand'));
      state.append(iconEl(`state-icon mic ${mic ? 'on' : 'off'}`, mic ? 'mic' : 'micOff'));
      state.append(iconEl(`state-icon cam ${cam ? 'on' : 'off'}`, cam ? 'cam' : 'camOff'));
      state.append(el('span', 'visually-hidden', [hand ? 'hand raised' : '', mic ? 'microphone on' : 'microphone off',
        cam ? 'camera on' : 'camera off'].filter(Boolean).join(', ')));
      li.append(state);
      if (this.decorate) this.decorate(li, p);
      return li;
    }));
  }
}
