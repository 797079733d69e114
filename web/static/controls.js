// controls.js — the round call-control buttons (icon, tooltip, aria-pressed, count badge) and the
// single-key shortcuts (M, V, S, H, C, P, Q).

import { icons } from './icons.js';

/**
 * Draw a control button. Its aria-label is set once by the caller and says what the button is
 * ("Mute microphone"); aria-pressed says the state; the tooltip says what a press will do.
 */
export function setButton(btn, { icon, tip, pressed, alert = false, active = false, disabled = false, text = '',
  badge = '', badgeTone = '' }) {
  // Only fixed strings and numbers reach innerHTML here, never a participant's name or message.
  btn.innerHTML = `${icons[icon]}${text ? `<span class="ctl-text">${text}</span>` : ''}` +
    `<span class="tip" aria-hidden="true">${tip}</span>` +
    (badge ? `<span class="ctl-badge${badgeTone ? ` tone-${badgeTone}` : ''}" aria-hidden="true">${badge}</span>` : '');
  if (pressed !== undefined) btn.setAttribute('aria-pressed', String(pressed));
  btn.classList.toggle('alert', alert);
  btn.classList.toggle('active', active);
  btn.disabled = disabled;
}

export function micButton(btn, media) {
  if (media.starting && !media.mic) {
    return setButton(btn, { icon: 'mic', tip: 'Starting your microphone…', pressed: false, disabled: true });
  }
  if (!media.mic) {
    return setButton(btn, { icon: 'micOff', tip: 'No microphone — click to try again (M)', pressed: true, alert: true });
  }
  const m = media.micMuted;
  setButton(btn, { icon: m ? 'micOff' : 'mic', tip: m ? 'Unmute microphone (M)' : 'Mute microphone (M)', pressed: m, alert: m });
}

export function camButton(btn, media) {
  if (media.starting && !media.cam) {
    return setButton(btn, { icon: 'cam', tip: 'Starting your camera…', pressed: false, disabled: true });
  }
  const off = !media.camOn;
  setButton(btn, { icon: off ? 'camOff' : 'cam', tip: off ? 'Turn on camera (V)' : 'Turn off camera (V)', pressed: off, alert: off });
}

export function screenButton(btn, media) {
  const on = !!media.screen;
  setButton(btn, { icon: on ? 'screenStop' : 'screen', tip: on ? 'Stop presenting (S)' : 'Present your screen (S)', pressed: on, active: on });
}

/** Single-key shortcuts, ignored while typing or with a modifier (Ctrl+S stays "save"). */
export function shortcuts(keys) {
  document.addEventListener('keydown', (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
    const t = ev.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    const fn = keys[ev.key.toLowerCase()];
    if (fn && fn()) ev.preventDefault();
  });
}

export function handButton(btn, raised) {
  setButton(btn, { icon: 'hand', tip: raised ? 'Lower your hand (H)' : 'Raise your hand (H)', pressed: raised, active: raised });
  btn.classList.toggle('raised', raised);
}
