// app.js — the classroom page (/r/{room}): pre-join screen, the call controls, the connection
// banner, the "ended" screens, and the read-only test hook window.chalk. The protocol lives in
// session.js, media in media.js, tiles in grid.js; chat, hands and polls in classroom.js (model), the
// side panel in panel.js and its panes in chat.js, people.js and polls.js.

import { LocalMedia, LevelMeter, resumeAudio, explainMediaError } from './media.js';
import { Grid, initials, avatarColor } from './grid.js';
import { Session } from './session.js';
import { setButton, micButton, camButton, screenButton, handButton, shortcuts } from './controls.js';
import { icons } from './icons.js';
import { Classroom } from './classroom.js';
import { SidePanel } from './panel.js';
import { ChatView } from './chat.js';
import { PeopleView } from './people.js';
import { PollsView } from './polls.js';
import { Breakouts } from './breakouts.js';
import { BreakoutsPane } from './breakouts-pane.js';
import { BreakoutsBar } from './breakouts-bar.js';
import { Moderation } from './moderation.js';
import { ModerationView } from './modview.js';
import { LobbyView } from './lobby.js';
import { RecordingView } from './recording.js';

const $ = (id) => document.getElementById(id);
const body = document.body;
const query = new URLSearchParams(location.search);
const room = body.dataset.room;
const devMode = body.dataset.dev === 'true';
const token = query.get('token') || '';
const autojoin = query.get('autojoin') === '1';

/** Dev mode without a token: a stable guest id per tab, so a reload replaces the old session. */
function guestIdentity() {
  let id = sessionStorage.getItem('chalk.identity');
  if (!id) {
    const b = crypto.getRandomValues(new Uint8Array(12));
    id = [...b].map((x) => x.toString(16).padStart(2, '0')).join(''); // the server adds "guest-"
    sessionStorage.setItem('chalk.identity', id);
  }
  return id;
}

// ---- banner -------------------------------------------------------------------------------

let bannerText = '';
let bannerTimer = null;

function banner(text, { error = false, hideAfter = 0 } = {}) {
  const b = $('banner');
  clearTimeout(bannerTimer);
  bannerText = text;
  b.textContent = text;
  b.hidden = !text;
  b.classList.toggle('error', error);
  if (text && hideAfter) bannerTimer = setTimeout(() => { if (bannerText === text) banner(''); }, hideAfter);
}

// ---- media, grid, session ------------------------------------------------------------------

const media = new LocalMedia();
const grid = new Grid($('grid'), {
  media,
  audioSink: $('audio-sink'),
  onSoundBlocked: () => { $('sound-unlock').hidden = false; },
  onCount: (n) => { $('count').textContent = `${n} in ${breakouts.inBreakout ? 'this room' : 'class'}`; },
});
const classroom = new Classroom({ send: (type, data) => session.send(type, data) });
const moderation = new Moderation({ send: (type, data) => session.send(type, data) });
const session = new Session({
  room, token, name: '', identity: devMode && !token ? guestIdentity() : '', media, grid, classroom, moderation,
  ui: {
    banner,
    connected: (up) => body.classList.toggle('offline', !up),
    ended,
  },
});

// ---- side panel, chat, hands, polls --------------------------------------------------------

const panel = new SidePanel($('panel'), { onChange: () => { chat.visibilityChanged(); polls.visibilityChanged(); } });
panel.addButton('people', $('btn-people'), { icon: 'people', label: 'People', key: 'P' });
panel.addButton('chat', $('btn-chat'), { icon: 'chat', label: 'Chat', key: 'C' });
panel.addButton('polls', $('btn-polls'), { icon: 'poll', label: 'Polls', key: 'Q' });
$('panel-close').innerHTML = icons.close;
$('panel-close').title = 'Close (Esc)';
$('panel-close').addEventListener('click', () => panel.close(true));
const notify = (text) => banner(text, { error: true, hideAfter: 8000 });
const chat = new ChatView({ classroom, panel });
const people = new PeopleView({ classroom, panel, notify });
const polls = new PollsView({
  classroom, panel, announce, notify,
  // A student writing a chat message keeps the chat; a new poll then shows on the Polls badge.
  busy: () => panel.showing('chat') && (document.activeElement === $('chat-input') || $('chat-input').value.trim() !== ''),
});

// ---- breakout rooms: a model fed by the session, the Rooms pane, the bar and notices -------

const breakouts = new Breakouts({ send: (type, data) => session.send(type, data) });
session.breakouts = breakouts;
panel.addButton('breakouts', $('btn-breakouts'), { icon: 'breakouts', label: 'Breakout rooms', key: 'B' });
new BreakoutsPane({ breakouts, classroom, panel, notify: (text) => banner(text, { error: true, hideAfter: 8000 }) });
new BreakoutsBar({ breakouts, classroom, announce, openPane: () => panel.open('breakouts', { focus: true }) });
const showBreakoutsButton = () => { $('btn-breakouts').hidden = $('tab-breakouts').hidden; };
breakouts.on('plan', showBreakoutsButton);
classroom.on('roster', showBreakoutsButton);
shortcuts({ b: () => screenNow === 'room' && !$('btn-breakouts').hidden && (panel.toggle('breakouts'), true) });

// ---- moderation, the lobby and recording -----------------------------------------------

const modView = new ModerationView({
  moderation, classroom, session, people, panel, grid, media, renderControls: () => renderControls(),
  notify: (text, error = false) => banner(text, { error, hideAfter: 8000 }),
});
new LobbyView({ moderation, media, onLeave: () => session.leave() });
new RecordingView({ moderation, classroom });

/** Say something to screen readers (raised hands, a hand lowered by the instructor). */
function announce(text) {
  $('announce').textContent = '';
  requestAnimationFrame(() => { $('announce').textContent = text; });
}

$('btn-hand').setAttribute('aria-label', 'Raise hand');
$('btn-hand').addEventListener('click', toggleHand);

function toggleHand() {
  const ok = classroom.handRaised ? classroom.lowerHand() : classroom.raiseHand();
  if (!ok) banner('You are offline; try again once you are reconnected.', { error: true, hideAfter: 6000 });
}

classroom.on('roster', () => {
  // Students raise hands; instructors take them.
  $('btn-hand').hidden = !classroom.self || classroom.isInstructor;
});
classroom.on('hands', ({ raised, lowered, by }) => {
  grid.setHands(classroom.hands);
  handButton($('btn-hand'), classroom.handRaised);
  if (raised && classroom.isInstructor && raised !== classroom.me) {
    announce(`${classroom.name(raised)} raised their hand.`);
  }
  if (lowered && lowered === classroom.me && by && by !== classroom.me) {
    const who = classroom.name(by) || 'An instructor';
    banner(`${who} lowered your hand.`, { hideAfter: 5000 });
  }
});
handButton($('btn-hand'), false);

// ---- pre-join ------------------------------------------------------------------------------

let preMeter = null;
let screenNow = 'prejoin';

function show(which) {
  screenNow = which;
  for (const id of ['prejoin', 'room', 'ended']) $(id).hidden = id !== which;
}

function renderPreview() {
  const v = $('preview-video');
  const cam = media.cam;
  if (!cam) v.srcObject = null;
  else if (!v.srcObject || v.srcObject.getVideoTracks()[0] !== cam) v.srcObject = new MediaStream([cam]);
  $('preview-tile').classList.toggle('video-off', !cam);
  const name = $('prejoin-name').value.trim();
  const badge = document.createElement('span');
  badge.className = 'initials';
  if (name) badge.textContent = initials(name);
  else badge.innerHTML = icons.people;
  $('preview-avatar').replaceChildren(badge);
  $('preview-avatar').style.setProperty('--avatar', avatarColor(name || 'x'));
  micButton($('pre-mic'), media);
  camButton($('pre-cam'), media);
  if (media.mic !== (preMeter && preMeter.track)) {
    if (preMeter) preMeter.close();
    preMeter = media.mic ? new LevelMeter(media.mic) : null;
  }
}

function meterLoop() {
  if (screenNow !== 'prejoin') return;
  const lvl = preMeter ? Math.min(1, preMeter.level() * 6) : 0;
  $('pre-level').style.setProperty('--level', lvl.toFixed(2));
  requestAnimationFrame(meterLoop);
}

function mediaMessage(text) {
  const m = $('media-msg');
  m.textContent = text;
  m.hidden = !text;
}

async function prejoin() {
  show('prejoin');
  $('pre-mic').setAttribute('aria-label', 'Mute microphone');
  $('pre-cam').setAttribute('aria-label', 'Turn off camera');
  const nameInput = $('prejoin-name');
  nameInput.value = (query.get('name') || localStorage.getItem('chalk.name') || '').trim().slice(0, 64);
  nameInput.addEventListener('input', renderPreview);
  renderPreview();
  if (!nameInput.value && matchMedia('(pointer: fine)').matches) nameInput.focus(); // no keyboard pop-up on phones
  requestAnimationFrame(meterLoop);
  mediaMessage('Starting your camera and microphone…');
  const msg = await media.start({ audio: true, video: true });
  mediaMessage(msg);
  if (msg && screenNow !== 'prejoin') banner(msg, { error: true, hideAfter: 10000 }); // joined meanwhile
}

$('prejoin-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = $('prejoin-name').value.trim();
  if (!name) {
    $('prejoin-error').textContent = 'Please enter your name, so the class knows who you are.';
    $('prejoin-name').focus();
    return;
  }
  localStorage.setItem('chalk.name', name);
  join(name);
});
$('pre-mic').addEventListener('click', () => toggleMic());
$('pre-cam').addEventListener('click', () => toggleCam());

// ---- in the room ---------------------------------------------------------------------------

function join(name) {
  resumeAudio(); // inside the click: lets WebAudio (speaking rings) and sound start
  if (preMeter) { preMeter.close(); preMeter = null; }
  $('preview-video').srcObject = null;
  session.name = name;
  show('room');
  renderControls();
  session.start();
}

function renderControls() {
  micButton($('btn-mic'), media);
  camButton($('btn-cam'), media);
  screenButton($('btn-screen'), media);
  modView.restrictControls();
  if (screenNow === 'prejoin') renderPreview();
}

// Every change to the local media (toggles, the browser's "Stop sharing", a late getUserMedia)
// goes to the tiles and, once joined, to the publish connection and the server.
media.onchange = () => {
  renderControls();
  session.applyLocal();
};

async function toggleMic() {
  if (media.mic && media.micMuted && modView.blocksUnmute('microphone')) {
    banner(modView.heldMessage('microphone'), { error: true, hideAfter: 8000 });
    return;
  }
  if (!media.mic) {
    try { await media.startMic(); } catch (err) { banner(explainMediaError(err, 'microphone'), { error: true, hideAfter: 10000 }); }
  } else {
    media.setMicMuted(!media.micMuted);
  }
}

async function toggleCam() {
  if (!media.camOn && modView.blocksUnmute('camera')) {
    banner(modView.heldMessage('camera'), { error: true, hideAfter: 8000 });
    return;
  }
  try {
    await media.setCamOn(!media.camOn);
  } catch (err) {
    banner(explainMediaError(err, 'camera'), { error: true, hideAfter: 10000 });
  }
}

async function toggleScreen() {
  if (media.screen) {
    media.stopScreen();
  } else {
    try {
      await media.startScreen();
    } catch (err) {
      // NotAllowedError: the user closed the picker; nothing to say.
      if (err.name !== 'NotAllowedError') banner(`Could not share your screen (${err.message || err.name}).`, { error: true, hideAfter: 8000 });
    }
  }
}

$('btn-mic').setAttribute('aria-label', 'Mute microphone');
$('btn-cam').setAttribute('aria-label', 'Turn off camera');
$('btn-screen').setAttribute('aria-label', 'Present your screen');
$('btn-leave').setAttribute('aria-label', 'Leave class');
setButton($('btn-leave'), { icon: 'leave', tip: 'Leave class', text: 'Leave' });
$('btn-screen').hidden = !LocalMedia.canShareScreen;
$('btn-mic').addEventListener('click', toggleMic);
$('btn-cam').addEventListener('click', toggleCam);
$('btn-screen').addEventListener('click', toggleScreen);
$('btn-leave').addEventListener('click', () => session.leave());

shortcuts({
  m: () => (screenNow === 'room' || screenNow === 'prejoin') && (toggleMic(), true),
  v: () => (screenNow === 'room' || screenNow === 'prejoin') && (toggleCam(), true),
  s: () => screenNow === 'room' && LocalMedia.canShareScreen && (toggleScreen(), true),
  h: () => screenNow === 'room' && !$('btn-hand').hidden && (toggleHand(), true),
  c: () => screenNow === 'room' && (panel.toggle('chat'), true),
  p: () => screenNow === 'room' && (panel.toggle('people'), true),
  q: () => screenNow === 'room' && (panel.toggle('polls'), true),
});

$('sound-unlock').innerHTML = `${icons.sound}<span>Click to enable sound</span>`;
$('sound-unlock').addEventListener('click', () => {
  resumeAudio();
  grid.unlockSound();
  $('sound-unlock').hidden = true;
});
// Any click counts as the gesture WebAudio waits for (matters with ?autojoin=1).
document.addEventListener('pointerdown', () => resumeAudio(), { once: true });

// Others see us go at once instead of after the server's timeout.
window.addEventListener('pagehide', () => { if (session.connected) session.send('leave'); });

// ---- ended ---------------------------------------------------------------------------------

const ENDED = {
  left: ['You left the class', 'Your camera and microphone are off.', 'Rejoin'],
  replaced: ['You joined from another tab', 'This class is open in another tab or window, so this one stopped.', 'Use this tab instead'],
  unauthorized: ['You can’t join this class', '', ''],
  refused: ['You can’t join this class', '', 'Try again'],
  locked: ['This class is locked', 'The instructor has locked the room, so nobody new can join right now. Try again later, or ask your instructor to unlock it.', 'Try again'],
  removed: ['You were removed from this class', 'An instructor removed you from this class. If you think this was a mistake, contact your instructor.', ''],
  denied: ['The instructor did not let you in', 'Your request to join was declined. You can ask again, or contact your instructor.', 'Ask again'],
};

/** "token expired" -> "Token expired." */
function sentence(s) {
  s = String(s).trim();
  return s.charAt(0).toUpperCase() + s.slice(1) + (/[.!?]$/.test(s) ? '' : '.');
}

let wanted = { mic: true, micMuted: false, cam: true };

function ended(kind, message) {
  wanted = { mic: !!media.mic, micMuted: media.micMuted, cam: media.camOn };
  media.stopAll();
  $('sound-unlock').hidden = true;
  const [heading, text, again] = ENDED[kind] || ENDED.refused;
  $('ended-heading').textContent = heading;
  const fixed = kind === 'locked' || kind === 'removed' || kind === 'denied'; // our words beat the server's
  $('ended-msg').textContent = message && !fixed ? sentence(message) + (kind === 'unauthorized' ? ' Ask your instructor for a new link.' : '') : text;
  $('rejoin-btn').hidden = !again;
  $('rejoin-btn').textContent = again;
  show('ended');
  $(again ? 'rejoin-btn' : 'ended-heading').focus();
}
$('ended-heading').tabIndex = -1;

$('rejoin-btn').addEventListener('click', async () => {
  $('rejoin-btn').disabled = true;
  const msg = await media.start({ audio: wanted.mic, video: wanted.cam });
  media.setMicMuted(wanted.micMuted);
  $('rejoin-btn').disabled = false;
  join(session.name);
  if (msg) banner(msg, { error: true, hideAfter: 10000 });
});

// The room's lesson library (recordings of past classes) opens beside the class: lesson pages read
// the API with the join token, so the link needs one.
if (token) {
  $('lessons-link').href = `/r/${encodeURIComponent(room)}/lessons?token=${encodeURIComponent(token)}`;
  $('lessons-link').title = 'Recorded lessons of this class (opens a new tab)';
  $('lessons-link').hidden = false;
}

// ---- test hook -----------------------------------------------------------------------------

window.chalk = Object.freeze({
  state: () => ({ ...session.snapshot(), banner: bannerText, settings: { ...moderation.settings },
    recording: moderation.recording, lobby: moderation.lobby.map((p) => p.id), waiting: moderation.wait }),
  pcs: () => ({ publish: session.pub ? session.pub.pc : null, subscribe: session.sub ? session.sub.pc : null }),
  breakouts: () => breakouts.snapshot(),
});

// ---- start ---------------------------------------------------------------------------------

if (autojoin) {
  show('room');
  banner('Starting your camera and microphone…');
  media.start({ audio: true, video: true }).then((msg) => {
    join((query.get('name') || '').trim().slice(0, 64) || 'Guest');
    if (msg) console.warn('chalk:', msg);
  });
} else {
  prejoin();
}
