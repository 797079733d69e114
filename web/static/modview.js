// modview.js — moderation on the page. For instructors and co-instructors: the room settings, the
// lobby line (Admit / Deny / Admit all or Admit next), "Mute all" and a per-person actions menu in
// the People pane. For everyone: the spotlight on the grid. For students: what the settings and a
// moderator's mute mean for their own controls (a held microphone, chat to the instructors only, no
// screen sharing). Names reach the page as text only; nothing changes before the server's event.

import { setButton } from './controls.js';
import { isModeratorRole } from './moderation.js';

const $ = (id) => document.getElementById(id);

const RANK = { instructor: 3, co_instructor: 2, student: 1 };
const MORE_ICON = '<svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true" focusable="false"><path fill="currentColor" d="M12 8a2 2 0 1 0 0-4 2 2 0 0 0 0 4zm0 2a2 2 0 1 0 0 4 2 2 0 0 0 0-4zm0 6a2 2 0 1 0 0 4 2 2 0 0 0 0-4z"/></svg>';

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

const SOURCE_WORDS = { microphone: 'microphone', camera: 'camera' };

/** Plain words for a refused moderation action. */
function explain({ code, message, ref }) {
  switch (code) {
    case 'forbidden':
      if (ref === 'set_role') return 'Only the instructor can change roles.';
      return 'You may not do that in this class.';
    case 'not_found':
      if (ref === 'admit_next') return 'Nobody is waiting.';
      return 'That person is no longer here.';
    case 'rate_limited': return 'Too many changes at once; wait a moment and try again.';
    default: return `That did not work (${message || code}). Try again.`;
  }
}

export class ModerationView {
  /**
   * @param {{moderation: import('./moderation.js').Moderation, classroom: import('./classroom.js').Classroom,
   *          session: import('./session.js').Session, people: import('./people.js').PeopleView,
   *          panel: import('./panel.js').SidePanel, grid: import('./grid.js').Grid,
   *          media: import('./media.js').LocalMedia, notify: (text: string, error?: boolean) => void,
   *          renderControls: () => void}} opts
   */
  constructor(opts) {
    Object.assign(this, opts);
    this.menuFor = ''; // the participant whose actions menu is open
    this.confirmRemove = '';
    this.chatOff = false;

    const m = this.moderation;
    this.settingsBox = $('mod-settings');
    this.inputs = {
      locked: $('set-locked'), lobby: $('set-lobby'), studentsMayUnmute: $('set-unmute'),
      studentScreenShare: $('set-screen'), studentChat: $('set-chat'),
    };
    for (const [field, input] of Object.entries(this.inputs)) {
      input.addEventListener('change', () => {
        const value = input.type === 'checkbox' ? input.checked : input.value;
        input.disabled = true; // until settings_changed (or an error) redraws it
        if (!m.updateSettings({ [field]: value })) this.fail('You are offline; try again once you are reconnected.');
      });
    }
    this.lobbySection = $('lobby-section');
    this.lobbyList = $('lobby-list');
    this.lobbyHeading = $('lobby-heading');
    this.lobbyEmpty = $('lobby-empty');
    this.admitAll = $('lobby-admit-all');
    this.admitAll.addEventListener('click', () => {
      const ok = m.settings.lobby === 'office_hours' ? m.admitNext() : m.admitAll();
      if (!ok) this.fail('You are offline; try again once you are reconnected.');
    });
    this.muteAllBtn = $('mute-all');
    this.muteAllBtn.addEventListener('click', () => {
      if (!m.muteAll('microphone')) this.fail('You are offline; try again once you are reconnected.');
    });
    this.errorEl = $('mod-error');

    this.people.decorate = (li, p) => this.decorate(li, p);
    m.on('settings', (d) => this.onSettings(d));
    m.on('lobby', (d) => {
      this.renderLobby();
      if (d && d.joined && this.moderator && !this.panel.showing('people')) {
        this.notify(`${d.joined.name} is waiting to join — open People (P) to admit them.`);
      }
    });
    m.on('self', (d) => this.onSelf(d));
    m.on('error', (e) => this.onError(e));
    this.classroom.on('roster', () => this.renderModerator());
    document.addEventListener('pointerdown', (ev) => {
      if (this.menuFor && !ev.target.closest('.mod-menu, .more-btn')) this.closeMenu(false);
    });
  }

  get me() { return this.classroom.self; }

  get moderator() { return !!this.me && isModeratorRole(this.me.role); }

  get student() { return !!this.me && this.me.role === 'student'; }

  /** Whether our own source is held muted by a moderator and we may not lift it ourselves. */
  blocksUnmute(source) {
    return this.student && this.session.moderatorMuted(source) && !this.moderation.settings.studentsMayUnmute;
  }

  heldMessage(source) {
    return `The instructor turned off your ${SOURCE_WORDS[source]}. You can turn it back on when they allow it — raise your hand to ask.`;
  }

  fail(text) {
    if (this.panel.showing('people') && this.moderator) this.errorEl.textContent = text;
    else this.notify(text, true);
  }

  onError(e) {
    if (e.ref === 'mute') {
      // Our unmute was refused (a moderator holds the source): mute again here too.
      if (this.media.mic && !this.media.micMuted && this.session.moderatorMuted('microphone')) this.media.setMicMuted(true);
      this.notify(this.heldMessage('microphone'), true);
      return;
    }
    if (e.ref === 'publish') {
      this.media.stopScreen();
      this.notify('The instructor has turned off screen sharing for students.', true);
      return;
    }
    if (e.ref === 'start_recording' || e.ref === 'stop_recording') return; // recording.js shows these
    this.fail(explain(e));
    this.onSettings({}); // re-enable the control that asked
  }

  onSettings({ by }) {
    const s = this.moderation.settings;
    this.grid.setSpotlight(s.spotlight);
    // A student's screen share stops when students may no longer share (the server unpublished it).
    if (this.student && !s.studentScreenShare && this.media.screen) {
      this.media.stopScreen();
      if (by) this.notify('The instructor turned off screen sharing for students.');
    }
    this.renderChatRule();
    this.renderControls();
    this.renderModerator();
    this.people.renderPeople(); // spotlight badges and menus
  }

  onSelf({ muted, released, by }) {
    const who = (by && by !== this.classroom.me && this.classroom.name(by)) || 'The instructor';
    if (muted.length && by !== this.classroom.me) {
      const what = muted.map((s) => SOURCE_WORDS[s]).join(' and ');
      const verb = muted.includes('microphone') ? 'muted your' : 'turned off your';
      this.notify(`${who} ${verb} ${what}.${this.blocksUnmute(muted[0]) ? ' You can turn it back on when they allow it.' : ''}`);
    } else if (released.length && by && by !== this.classroom.me) {
      const what = released.map((s) => SOURCE_WORDS[s]).join(' and ');
      this.notify(`${who} allows you to turn your ${what} back on. Unmute when you are ready.`);
    }
    this.renderControls();
  }

  /** Students: chat to the room only while studentChat; to the instructors always. */
  renderChatRule() {
    const off = this.student && !this.moderation.settings.studentChat;
    const to = $('chat-to');
    const everyone = to.querySelector('option[value=""]');
    everyone.disabled = off;
    $('chat-note').hidden = !off;
    if (off && to.value === '') {
      to.value = 'instructors';
      to.dispatchEvent(new Event('change'));
    }
    if (!off && this.chatOff && to.value === 'instructors') {
      to.value = '';
      to.dispatchEvent(new Event('change'));
    }
    this.chatOff = off;
  }

  /** Called after controls.js drew the buttons: what the room's rules change about them. */
  restrictControls() {
    if (this.student && !this.moderation.settings.studentScreenShare && !this.media.screen) {
      setButton($('btn-screen'), { icon: 'screen', tip: 'The instructor turned off screen sharing', pressed: false, disabled: true });
    }
    if (this.media.mic && this.media.micMuted && this.blocksUnmute('microphone')) {
      setButton($('btn-mic'), { icon: 'micOff', tip: 'Muted by the instructor', pressed: true, alert: true });
      $('btn-mic').classList.add('held');
    } else {
      $('btn-mic').classList.remove('held');
    }
  }

  // ---- moderators: settings, lobby, mute all ----

  renderModerator() {
    const mod = this.moderator;
    this.settingsBox.hidden = !mod;
    this.muteAllBtn.hidden = !mod;
    if (mod) {
      const s = this.moderation.settings;
      for (const [field, input] of Object.entries(this.inputs)) {
        if (input.type === 'checkbox') input.checked = !!s[field];
        else input.value = s[field];
        input.disabled = false;
      }
      const students = [...this.classroom.participants.values()].filter((p) => p.role === 'student');
      this.muteAllBtn.disabled = !students.some((p) => (p.tracks || []).some((t) => t.source === 'microphone' && !t.muted));
    }
    this.renderLobby();
  }

  renderLobby() {
    const m = this.moderation;
    const mod = this.moderator;
    const office = m.settings.lobby === 'office_hours';
    this.lobbySection.hidden = !mod || (m.settings.lobby === 'off' && !m.lobby.length);
    if (this.lobbySection.hidden) return;
    this.lobbyHeading.textContent = `${office ? 'Office hours line' : 'Waiting to join'} (${m.lobby.length})`;
    this.lobbyEmpty.hidden = m.lobby.length > 0;
    this.admitAll.hidden = m.lobby.length === 0 || (!office && m.lobby.length < 2);
    this.admitAll.textContent = office ? 'Admit next' : 'Admit all';
    this.lobbyList.replaceChildren(...m.lobby.map((p, i) => {
      const li = el('li', 'lobby-row');
      li.dataset.participantId = p.id;
      li.append(el('span', 'hand-pos', String(i + 1)), el('span', 'person-name', p.name));
      const admit = button('Admit', 'btn btn-small btn-primary', () => m.admit(p.id) || this.fail('You are offline.'));
      admit.setAttribute('aria-label', `Admit ${p.name}`);
      const deny = button('Deny', 'btn btn-small btn-secondary', () => m.deny(p.id) || this.fail('You are offline.'));
      deny.setAttribute('aria-label', `Deny ${p.name}`);
      li.append(admit, deny);
      return li;
    }));
    this.errorEl.textContent = '';
  }

  // ---- the per-person actions menu ----

  /** What we may do to p: [label, action] pairs (empty for a peer or a higher role). */
  actions(p) {
    const me = this.me;
    const m = this.moderation;
    if (!me || !this.moderator) return [];
    const out = [];
    const spot = m.settings.spotlight === p.id;
    out.push([spot ? 'Remove spotlight' : 'Spotlight for everyone', () => m.updateSettings({ spotlight: spot ? '' : p.id })]);
    if (p.id === me.id || RANK[me.role] <= RANK[p.role]) return out;
    const held = new Set(p.moderatorMuted || []);
    const on = (src) => (p.tracks || []).some((t) => t.source === src && !t.muted);
    if (held.has('microphone')) out.push(['Allow to unmute', () => m.allowUnmute(p.id, 'microphone')]);
    else if (on('microphone')) out.push(['Mute microphone', () => m.mute(p.id, 'microphone')]);
    if (held.has('camera')) out.push(['Allow camera', () => m.allowUnmute(p.id, 'camera')]);
    else if (on('camera')) out.push(['Turn camera off', () => m.mute(p.id, 'camera')]);
    if (me.role === 'instructor' && p.role === 'student') out.push(['Make co-instructor', () => m.setParticipantRole(p.id, 'co_instructor')]);
    if (me.role === 'instructor' && p.role === 'co_instructor') out.push(['Make student', () => m.setParticipantRole(p.id, 'student')]);
    out.push(['Remove from class…', () => { this.confirmRemove = p.id; this.people.renderPeople(); }, 'danger']);
    return out;
  }

  decorate(li, p) {
    const acts = this.actions(p);
    if (this.moderation.settings.spotlight === p.id) {
      const main = li.querySelector('.person-main');
      if (main) main.append(el('span', 'role-badge spot-badge', 'Spotlight'));
    }
    if (!acts.length) return;
    const more = el('button', 'icon-btn more-btn');
    more.type = 'button';
    more.innerHTML = MORE_ICON; // a fixed icon, never user text
    more.setAttribute('aria-label', `Actions for ${p.name}`);
    more.setAttribute('aria-haspopup', 'menu');
    more.setAttribute('aria-expanded', String(this.menuFor === p.id));
    more.addEventListener('click', () => {
      this.confirmRemove = '';
      this.menuFor = this.menuFor === p.id ? '' : p.id;
      this.people.renderPeople();
      const first = this.menuFor && document.querySelector(`.mod-menu[data-for="${CSS.escape(p.id)}"] button`);
      if (first) first.focus();
    });
    li.append(more);
    if (this.menuFor !== p.id) return;
    const menu = el('div', 'mod-menu');
    menu.dataset.for = p.id;
    menu.setAttribute('role', 'menu');
    menu.setAttribute('aria-label', `Actions for ${p.name}`);
    if (this.confirmRemove === p.id) {
      menu.append(el('p', 'mod-confirm', `Remove ${p.name} from the class? They cannot come back for 12 hours unless you allow it.`));
      const yes = button('Remove', 'btn btn-small btn-danger', () => this.act(() => this.moderation.remove(p.id)));
      const no = button('Cancel', 'btn btn-small btn-secondary', () => this.closeMenu(true));
      const row = el('div', 'mod-confirm-actions');
      row.append(yes, no);
      menu.append(row);
    } else {
      for (const [label, fn, tone] of acts) {
        const b = button(label, `menu-item${tone ? ` ${tone}` : ''}`, () => (label.endsWith('…') ? fn() : this.act(fn)));
        b.setAttribute('role', 'menuitem');
        menu.append(b);
      }
    }
    menu.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') { ev.preventDefault(); this.closeMenu(true); }
    });
    li.classList.add('menu-open');
    li.append(menu);
    if (this.confirmRemove === p.id) requestAnimationFrame(() => { const b = menu.querySelector('.btn-danger'); if (b) b.focus(); });
  }

  act(fn) {
    const id = this.menuFor;
    this.menuFor = '';
    this.confirmRemove = '';
    if (!fn()) this.fail('You are offline; try again once you are reconnected.');
    this.people.renderPeople();
    const more = document.querySelector(`#people-list [data-participant-id="${CSS.escape(id)}"] .more-btn`);
    if (more) more.focus();
  }

  closeMenu(refocus) {
    const id = this.menuFor;
    this.menuFor = '';
    this.confirmRemove = '';
    this.people.renderPeople();
    const more = refocus && document.querySelector(`#people-list [data-participant-id="${CSS.escape(id)}"] .more-btn`);
    if (more) more.focus();
  }
}
