// player.js — the lesson player (/r/{room}/lessons/{id}?token=…[&t=seconds]): the lesson video,
// streamed from the lesson API with Range requests (the quick preview while the full video is
// being made), with its own controls and a seek bar that carries the lesson's chapters, its
// discussion threads and its questions as markers; beside it a panel with the threads
// (player-threads.js), the class's chat and polls replayed in step with the video and the chapters
// (player-replay.js). Questions placed in the recording pause playback and ask
// (player-questions.js); watch progress goes to the server in batches (player-progress.js), and
// the player resumes where the viewer left off.

import { $, el, api, query, lessonPath, pageURL, withToken, clock, duration, when, lessonTitle, linkPages, banner } from './lesson-common.js';
import { icons } from './lesson-icons.js';
import { ReplayView } from './player-replay.js';
import { ThreadsView } from './player-threads.js';
import { QuestionsView } from './player-questions.js';
import { Progress } from './player-progress.js';

const video = $('video');
const LESSON_POLL_MS = 8000;
let lesson = null;
let viewer = { moderator: false, identity: '' };
let source = ''; // 'video' | 'preview' | ''
let threads = [];
let questions = [];
let chapters = [];
let dragging = false;

linkPages();

// ---- time and duration ----------------------------------------------------------------------

/** The lesson's length: the video's once known (a preview WebM may not say), else the record's. */
function total() {
  const d = video.duration;
  return Number.isFinite(d) && d > 0 ? d : (lesson && lesson.duration) || 0;
}

function now() { return video.currentTime || 0; }

function seek(t, { play = false } = {}) {
  const d = total();
  video.currentTime = Math.max(0, d ? Math.min(t, d - 0.05) : t);
  drawTime();
  replay.at(video.currentTime);
  if (play) video.play().catch(() => {});
}

// ---- the panel's tabs ------------------------------------------------------------------------

let pane = 'threads';
const tabs = [...document.querySelectorAll('#panel [role=tab]')];

function openPane(name, { focus = false } = {}) {
  pane = name;
  for (const t of tabs) {
    const on = t.dataset.pane === name;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    $(`pane-${t.dataset.pane}`).hidden = !on;
    if (on && focus) t.focus();
  }
  replay.visibilityChanged();
  threadsView.visibilityChanged();
  if (name === 'chat') {
    const s = document.querySelector('#pane-chat .chat-scroll');
    s.scrollTop = s.scrollHeight;
  }
}

for (const t of tabs) {
  t.addEventListener('click', () => {
    openPane(t.dataset.pane);
    if (t.dataset.pane === 'threads' && threadsView) threadsView.load(); // coming back: fetch what is new
  });
  t.addEventListener('keydown', (ev) => {
    let i = tabs.indexOf(t);
    switch (ev.key) {
      case 'ArrowRight': i = (i + 1) % tabs.length; break;
      case 'ArrowLeft': i = (i - 1 + tabs.length) % tabs.length; break;
      case 'Home': i = 0; break;
      case 'End': i = tabs.length - 1; break;
      default: return;
    }
    ev.preventDefault();
    openPane(tabs[i].dataset.pane, { focus: true });
  });
}

function setBadge(name, n) {
  const badge = $(`tab-${name}`).querySelector('.count-badge');
  badge.textContent = n > 99 ? '99+' : String(n);
  badge.hidden = !n;
}

// ---- the views -------------------------------------------------------------------------------

const replay = new ReplayView({ seek: (t) => seek(t), showing: (p) => pane === p, setBadge });
let threadsView;
let questionsView;
const progress = new Progress(video);

// ---- controls --------------------------------------------------------------------------------

function setIcon(btn, icon, label) {
  btn.innerHTML = icons[icon];
  btn.setAttribute('aria-label', label);
  btn.title = label;
}

function drawPlay() {
  const playing = !video.paused && !video.ended;
  setIcon($('btn-play'), playing ? 'pause' : 'play', playing ? 'Pause (k)' : 'Play (k)');
  $('big-play').hidden = playing || !source || !$('question').hidden;
  document.body.classList.toggle('playing', playing);
}

function drawTime() {
  const t = now();
  const d = total();
  $('time').textContent = `${clock(t)} / ${clock(d)}`;
  const f = d ? Math.min(1, t / d) : 0;
  $('seek-played').style.width = `${f * 100}%`;
  $('seek-thumb').style.left = `${f * 100}%`;
  const s = $('seek');
  s.setAttribute('aria-valuemax', String(Math.round(d)));
  s.setAttribute('aria-valuenow', String(Math.round(t)));
  s.setAttribute('aria-valuetext', `${clock(t)} of ${clock(d)}`);
  if (video.buffered.length && d) {
    const end = video.buffered.end(video.buffered.length - 1);
    $('seek-buffered').style.width = `${Math.min(1, end / d) * 100}%`;
  }
  $('btn-comment').textContent = `Comment at ${clock(Math.round(t * 10) / 10)}`;
  if (threadsView) threadsView.updateComposer();
  if (questionsView && viewer.moderator) questionsView.updateForm();
}

function drawMute() {
  setIcon($('btn-mute'), video.muted || video.volume === 0 ? 'volumeOff' : 'volume', video.muted ? 'Unmute (m)' : 'Mute (m)');
}

function drawFull() {
  const full = !!document.fullscreenElement;
  setIcon($('btn-full'), full ? 'fullscreenExit' : 'fullscreen', full ? 'Exit full screen (f)' : 'Full screen (f)');
}

function togglePlay() {
  if (!source || !$('question').hidden) return;
  if (video.paused || video.ended) video.play().catch((err) => banner(`The video cannot play (${err.message}).`, { error: true, hideAfter: 8000 }));
  else video.pause();
}

$('btn-play').addEventListener('click', togglePlay);
$('big-play').innerHTML = icons.play;
$('big-play').addEventListener('click', togglePlay);
video.addEventListener('click', togglePlay);
setIcon($('btn-back'), 'back10', 'Back 10 seconds (j)');
setIcon($('btn-fwd'), 'fwd10', 'Forward 10 seconds (l)');
$('btn-back').addEventListener('click', () => seek(now() - 10));
$('btn-fwd').addEventListener('click', () => seek(now() + 10));
$('btn-mute').addEventListener('click', () => { video.muted = !video.muted; });
$('btn-full').addEventListener('click', () => {
  if (document.fullscreenElement) document.exitFullscreen();
  else $('video-box').requestFullscreen().catch(() => {});
});
$('rate').addEventListener('change', () => { video.playbackRate = Number($('rate').value) || 1; });
$('btn-comment').addEventListener('click', () => {
  video.pause();
  openPane('threads');
  threadsView.focusComposer();
});
document.addEventListener('fullscreenchange', drawFull);
for (const ev of ['play', 'pause', 'ended']) video.addEventListener(ev, drawPlay);
video.addEventListener('volumechange', drawMute);
video.addEventListener('timeupdate', () => { if (!dragging) { drawTime(); replay.at(now()); } });
video.addEventListener('seeked', () => { drawTime(); replay.at(now()); });
video.addEventListener('durationchange', () => { drawTime(); drawMarkers(); });
video.addEventListener('progress', drawTime);
video.addEventListener('error', () => {
  if (!source) return;
  note('The video could not be loaded. Reload the page to try again.', true);
});

// Keyboard: k / space play-pause, j / l ±10 s, ←/→ ±5 s, m mute, f full screen, c comment.
document.addEventListener('keydown', (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.defaultPrevented) return;
  const tag = (ev.target.tagName || '').toLowerCase();
  if (tag === 'input' || tag === 'textarea' || tag === 'select' || ev.target.isContentEditable) return;
  if (!$('question').hidden) return;
  const onControl = tag === 'button' || tag === 'a' || ev.target.getAttribute('role') === 'tab';
  switch (ev.key) {
    case ' ': if (onControl) return; togglePlay(); break;
    case 'k': togglePlay(); break;
    case 'j': seek(now() - 10); break;
    case 'l': seek(now() + 10); break;
    case 'ArrowLeft': if (ev.target.getAttribute('role') === 'tab') return; seek(now() - 5); break;
    case 'ArrowRight': if (ev.target.getAttribute('role') === 'tab') return; seek(now() + 5); break;
    case 'm': video.muted = !video.muted; break;
    case 'f': $('btn-full').click(); break;
    case 'c': $('btn-comment').click(); break;
    default: return;
  }
  ev.preventDefault();
});

// ---- the seek bar ----------------------------------------------------------------------------

const seekBar = $('seek');

function fractionAt(clientX) {
  const r = seekBar.getBoundingClientRect();
  return Math.max(0, Math.min(1, (clientX - r.left) / r.width));
}

function showTip(f) {
  const tip = $('seek-tip');
  const t = f * total();
  const c = [...chapters].reverse().find((x) => t >= x.t && t < x.end);
  tip.textContent = c ? `${clock(t)} · ${c.title}` : clock(t);
  tip.style.left = `${f * 100}%`;
  tip.hidden = false;
}

seekBar.addEventListener('pointerdown', (ev) => {
  if (!total()) return;
  dragging = true;
  seekBar.setPointerCapture(ev.pointerId);
  const f = fractionAt(ev.clientX);
  $('seek-played').style.width = `${f * 100}%`;
  $('seek-thumb').style.left = `${f * 100}%`;
  showTip(f);
});
seekBar.addEventListener('pointermove', (ev) => {
  const f = fractionAt(ev.clientX);
  if (total()) showTip(f);
  if (!dragging) return;
  $('seek-played').style.width = `${f * 100}%`;
  $('seek-thumb').style.left = `${f * 100}%`;
});
seekBar.addEventListener('pointerup', (ev) => {
  if (!dragging) return;
  dragging = false;
  seek(fractionAt(ev.clientX) * total());
});
seekBar.addEventListener('pointerleave', () => { if (!dragging) $('seek-tip').hidden = true; });
seekBar.addEventListener('keydown', (ev) => {
  const step = { ArrowLeft: -5, ArrowRight: 5, ArrowDown: -5, ArrowUp: 5, PageDown: -60, PageUp: 60 }[ev.key];
  if (step !== undefined) seek(now() + step);
  else if (ev.key === 'Home') seek(0);
  else if (ev.key === 'End') seek(total());
  else return;
  ev.preventDefault();
  ev.stopPropagation();
});

/** Chapters as bands in the track; threads and questions as markers above it. */
function drawMarkers() {
  const d = total();
  const bands = $('seek-chapters');
  bands.replaceChildren(...(d ? chapters : []).map((c) => {
    const b = el('span', `seek-band band-${c.kind}`);
    b.style.left = `${(c.t / d) * 100}%`;
    b.style.width = `${(Math.max(0, Math.min(c.end, d) - c.t) / d) * 100}%`;
    b.title = c.title;
    return b;
  }));
  const row = $('seek-markers');
  if (!d) { row.replaceChildren(); return; }
  const marks = [];
  for (const q of questions) {
    const m = el('button', 'marker marker-question');
    m.type = 'button';
    m.innerHTML = icons.question;
    m.dataset.t = q.at;
    m.dataset.kind = 'question';
    const label = `Question at ${clock(q.at)}: ${q.prompt}${q.myAnswer ? ' (answered)' : ''}`;
    m.setAttribute('aria-label', label);
    m.title = label;
    m.classList.toggle('done', !!q.myAnswer);
    m.style.left = `${(q.at / d) * 100}%`;
    m.addEventListener('click', () => { seek(Math.max(0, q.at - 0.5)); openPane('chapters'); });
    marks.push(m);
  }
  // Threads within 1% of the bar of each other share a marker, which says how many.
  const groups = [];
  for (const t of [...threads].sort((a, b) => a.at - b.at)) {
    const g = groups[groups.length - 1];
    if (g && (t.at - g[0].at) / d < 0.01) g.push(t);
    else groups.push([t]);
  }
  for (const g of groups) {
    const first = g[0];
    const m = el('button', 'marker marker-thread');
    m.type = 'button';
    m.dataset.t = first.at;
    m.dataset.kind = 'thread';
    m.dataset.thread = first.id;
    m.classList.toggle('unread', g.some((t) => t.unread || (t.replies || []).some((r) => r.unread)));
    m.classList.toggle('pinned', g.some((t) => t.pinned));
    m.classList.toggle('answered', g.every((t) => t.answered || t.resolved));
    m.append(el('span', 'marker-count', g.length > 1 ? String(g.length) : ''));
    const label = g.length > 1 ? `${g.length} threads at ${clock(first.at)}` : `Thread at ${clock(first.at)}: ${first.text}`;
    m.setAttribute('aria-label', label);
    m.title = label.length > 120 ? `${label.slice(0, 117)}…` : label;
    m.style.left = `${(first.at / d) * 100}%`;
    m.addEventListener('click', () => {
      seek(first.at);
      openPane('threads');
      threadsView.highlight(first.id);
    });
    marks.push(m);
  }
  row.replaceChildren(...marks);
}

// ---- the video source ------------------------------------------------------------------------

function note(text, error = false) {
  const n = $('video-note');
  n.textContent = text;
  n.hidden = !text;
  n.classList.toggle('error', error);
}

/** Point the <video> at the best object the lesson has, keeping the position on a switch. */
function setSource(l) {
  const want = l.video ? 'video' : l.preview ? 'preview' : '';
  if (want === source) return;
  const at = now();
  const wasPlaying = !video.paused;
  source = want;
  if (!want) {
    video.removeAttribute('src');
    video.load();
    note(l.status === 'recording' ? 'This lesson is still being recorded. It appears here once the recording stops.'
      : l.status === 'failed' ? `The video of this lesson could not be made${l.error ? ` (${l.error})` : ''}.`
        : 'The video is being prepared. This page updates by itself; the quick preview comes first.', l.status === 'failed');
    drawPlay();
    return;
  }
  video.src = withToken(lessonPath(want === 'video' ? '/video' : '/preview.webm'));
  if (at) {
    video.addEventListener('loadedmetadata', () => { seek(at); if (wasPlaying) video.play().catch(() => {}); }, { once: true });
  }
  note(want === 'preview' ? 'Quick preview: the presenter’s camera only, while the full lesson video is being made. It switches by itself when ready.' : '');
  drawPlay();
}

async function followLesson() {
  if (!lesson || lesson.video || lesson.status === 'failed') return;
  setTimeout(async () => {
    try {
      const data = await api(lessonPath());
      const had = lesson.video;
      lesson = data.lesson;
      setSource(lesson);
      drawHeader();
      if (!had && lesson.video) banner('The full lesson video is ready.', { hideAfter: 5000 });
      if (!lesson.duration) return followLesson();
    } catch { /* try again */ }
    followLesson();
  }, LESSON_POLL_MS);
}

function drawHeader() {
  $('lesson-title').textContent = lessonTitle(lesson);
  document.title = `${lessonTitle(lesson)} — Chalk`;
  const bits = [when(lesson.startedAt)];
  if (lesson.duration) bits.push(duration(lesson.duration));
  if (lesson.hidden) bits.push('Hidden from students');
  $('lesson-meta').textContent = bits.filter(Boolean).join(' · ');
  $('lesson-desc').textContent = lesson.description || '';
  $('lesson-about').hidden = !lesson.description;
}

// ---- start -----------------------------------------------------------------------------------

async function start() {
  let data;
  try {
    data = await api(lessonPath());
  } catch (err) {
    $('lesson-title').textContent = err.status === 404 ? 'This lesson is not available' : 'The lesson could not be loaded';
    note(err.status === 404 ? 'It may have been deleted or hidden by your instructor. Go back to the lessons to see what there is.' : err.message, true);
    $('panel').hidden = true;
    document.querySelector('.player-bar').hidden = true;
    return;
  }
  lesson = data.lesson;
  viewer = data.viewer;
  document.body.classList.toggle('moderator', viewer.moderator);
  drawHeader();
  if (viewer.moderator) {
    $('link-analytics').hidden = false;
    $('link-analytics').href = pageURL(`/lessons/${encodeURIComponent(lesson.id)}/analytics`);
  }

  threadsView = new ThreadsView({
    viewer, now, seek: (t) => seek(t), showing: () => pane === 'threads', setBadge: (n) => setBadge('threads', n),
    onChange: (ts) => { threads = ts; drawMarkers(); },
  });
  questionsView = new QuestionsView({
    video, viewer, now,
    onChange: (qs) => { questions = qs; replay.setQuestions(qs); drawMarkers(); },
    onAsk: (asking) => { document.body.classList.toggle('asking', asking); drawPlay(); },
  });

  // Where to start: ?t= wins, else where the viewer left off (not at the very end).
  const saved = await progress.load();
  const fromURL = Number(query.get('t'));
  let startAt = 0;
  if (query.has('t') && Number.isFinite(fromURL) && fromURL >= 0) startAt = fromURL;
  else if (saved && saved.position > 5 && (!lesson.duration || saved.position < lesson.duration - 10)) {
    startAt = saved.position;
    banner(`Welcome back: resuming at ${clock(startAt)}.`, { hideAfter: 6000 });
  }
  setSource(lesson);
  if (startAt) video.addEventListener('loadedmetadata', () => seek(startAt), { once: true });
  followLesson();

  drawPlay();
  drawMute();
  drawFull();
  drawTime();

  const [rep] = await Promise.all([
    api(lessonPath('/replay')).catch(() => null),
    threadsView.load(),
    questionsView.load(),
  ]);
  if (rep) {
    replay.set(rep);
    chapters = rep.chapters || [];
  } else {
    replay.set({});
  }
  replay.at(now(), { quiet: true });
  drawMarkers();
}

start();

// Test hook: the player's state, read-only.
window.chalkPlayer = Object.freeze({
  state: () => ({
    ready: !!lesson && !!source, source, currentTime: video.currentTime, paused: video.paused, duration: total(),
    readyState: video.readyState, asking: !$('question').hidden, threads: threads.length,
    markers: [...document.querySelectorAll('#seek-markers .marker')].map((m) => ({ kind: m.dataset.kind, t: Number(m.dataset.t) })),
    chat: document.querySelectorAll('#chat-list > li').length, heartbeats: progress.sent, moderator: viewer.moderator,
  }),
});
