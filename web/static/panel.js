// panel.js — the side panel: tabs (WAI-ARIA tab pattern: arrow keys, Home/End) over panes such as
// Chat and People, opened and closed from control-bar buttons that carry a count badge. Beside
// the video on wide screens, over it on narrow ones (CSS). A new pane (Polls, Breakouts) is one
// more tab and section in room.html plus a view module that calls setBadge.

import { setButton } from './controls.js';

export class SidePanel {
  /**
   * @param {HTMLElement} root  the <aside> with [role=tab] buttons (data-pane) and #pane-{name} sections
   * @param {{onChange: () => void}} opts  called after the panel opens, closes or changes tab
   */
  constructor(root, { onChange }) {
    this.root = root;
    this.onChange = onChange;
    this.current = 'chat';
    this.tabs = new Map([...root.querySelectorAll('[role=tab]')].map((t) => [t.dataset.pane, t]));
    this.buttons = new Map(); // pane -> {btn, icon, label, key, badge, tone}
    for (const [pane, tab] of this.tabs) {
      tab.addEventListener('click', () => this.open(pane));
      tab.addEventListener('keydown', (ev) => this.tabKey(ev, pane));
    }
    root.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && !ev.defaultPrevented) { ev.preventDefault(); this.close(true); }
    });
  }

  get isOpen() { return !this.root.hidden; }

  /** Whether the named pane is on screen now. */
  showing(pane) { return this.isOpen && this.current === pane; }

  /** A control-bar button that opens the panel on pane, or closes it when that pane is showing. */
  addButton(pane, btn, { icon, label, key }) {
    this.buttons.set(pane, { btn, icon, label, key, badge: 0, tone: '' });
    btn.addEventListener('click', () => this.toggle(pane));
    this.drawButton(pane);
  }

  toggle(pane) {
    if (this.showing(pane)) this.close(false);
    else this.open(pane, { focus: true });
  }

  /** Show pane; with focus, move the keyboard focus into it (its [data-autofocus] or the tab). */
  open(pane, { focus = false } = {}) {
    if (!this.tabs.has(pane)) return;
    this.current = pane;
    this.root.hidden = false;
    for (const [name, tab] of this.tabs) {
      const on = name === pane;
      tab.setAttribute('aria-selected', String(on));
      tab.tabIndex = on ? 0 : -1;
      this.root.querySelector(`#pane-${name}`).hidden = !on;
    }
    this.drawButtons();
    this.onChange();
    if (focus) {
      const target = this.root.querySelector(`#pane-${pane} [data-autofocus]`);
      // No keyboard pop-up on phones: focus the tab there, the text box only with a real keyboard.
      (target && matchMedia('(pointer: fine)').matches ? target : this.tabs.get(pane)).focus();
    }
  }

  /** Close; with returnFocus, put the focus back on the control-bar button of the current pane. */
  close(returnFocus = false) {
    if (!this.isOpen) return;
    const had = this.root.contains(document.activeElement);
    this.root.hidden = true;
    this.drawButtons();
    this.onChange();
    const b = this.buttons.get(this.current);
    if (b && (returnFocus || had)) b.btn.focus();
  }

  /** Set the count shown on a pane's tab and control-bar button; tone 'hand' draws it amber. */
  setBadge(pane, n, tone = '') {
    const tab = this.tabs.get(pane);
    const badge = tab && tab.querySelector('.count-badge');
    if (badge) {
      badge.textContent = n > 99 ? '99+' : String(n);
      badge.hidden = !n;
      badge.classList.toggle('tone-hand', tone === 'hand' || tone === 'help');
    }
    const b = this.buttons.get(pane);
    if (b && (b.badge !== n || b.tone !== tone)) {
      b.badge = n;
      b.tone = tone;
      this.drawButton(pane);
    }
  }

  drawButtons() {
    for (const pane of this.buttons.keys()) this.drawButton(pane);
  }

  drawButton(pane) {
    const { btn, icon, label, key, badge, tone } = this.buttons.get(pane);
    const showing = this.showing(pane);
    setButton(btn, {
      icon, tip: `${showing ? 'Close' : 'Open'} ${label.toLowerCase()} (${key})`, active: showing,
      badge: badge ? (badge > 99 ? '99+' : String(badge)) : '', badgeTone: tone,
    });
    btn.setAttribute('aria-expanded', String(showing));
    btn.setAttribute('aria-label', badge ? `${label} (${badgeWords(pane, badge, tone)})` : label);
  }

  tabKey(ev, pane) {
    const names = [...this.tabs.keys()].filter((n) => !this.tabs.get(n).hidden); // a tab may be hidden by role
    let i = names.indexOf(pane);
    switch (ev.key) {
      case 'ArrowRight': i = (i + 1) % names.length; break;
      case 'ArrowLeft': i = (i - 1 + names.length) % names.length; break;
      case 'Home': i = 0; break;
      case 'End': i = names.length - 1; break;
      default: return;
    }
    ev.preventDefault();
    this.open(names[i]);
    this.tabs.get(names[i]).focus();
  }
}

function badgeWords(pane, n, tone) {
  if (tone === 'hand') return n === 1 ? '1 raised hand' : `${n} raised hands`;
  if (pane === 'polls') return n === 1 ? '1 new' : `${n} new`;
  if (tone === 'help') return n === 1 ? '1 room asks for help' : `${n} rooms ask for help`;
  return `${n} unread`;
}
