// library.js — the lesson library (/r/{room}/lessons): a card per lesson with its poster, title,
// date in the viewer's zone, length, status (a lesson being processed shows how far it got, and
// the page follows it until it is ready), how many attended live and how many watched. Moderators
// also rename, describe, hide or show, and delete (after a confirmation) each lesson, and reach
// its analytics. Docs: docs/api.md "Lesson library".

import { $, el, api, apiPath, pageURL, withToken, clock, duration, when, lessonTitle, linkPages, zoneName } from './lesson-common.js';
import { icons } from './lesson-icons.js';

const REFRESH_MS = 5000; // while a lesson is recording or processing

let viewer = { moderator: false };
let lessons = [];
let refreshTimer = null;
const editing = new Set(); // lesson ids whose edit form is open: a refresh leaves those cards alone

linkPages();

function iconEl(tag, cls, icon) {
  const e = el(tag, cls);
  e.innerHTML = icons[icon];
  return e;
}

async function load() {
  try {
    const data = await api(apiPath('/library'));
    viewer = data.viewer;
    lessons = data.lessons;
    render();
  } catch (err) {
    $('library-status').textContent = err.message;
    $('library-status').classList.add('error');
  }
  clearTimeout(refreshTimer);
  if (lessons.some((l) => l.status === 'recording' || l.status === 'processing')) refreshTimer = setTimeout(load, REFRESH_MS);
}

function render() {
  $('link-analytics').hidden = !viewer.moderator;
  const status = $('library-status');
  status.classList.remove('error');
  status.textContent = lessons.length
    ? `${lessons.length === 1 ? '1 lesson' : `${lessons.length} lessons`} · times in ${zoneName}`
    : viewer.moderator
      ? 'No lessons yet. Press Record in the live class: the recording becomes a lesson here.'
      : 'No lessons yet. Recorded classes appear here.';
  const list = $('library-list');
  const cards = new Map([...list.children].map((li) => [li.dataset.id, li]));
  const nodes = lessons.map((l) => (editing.has(l.id) && cards.get(l.id)) || card(l));
  list.replaceChildren(...nodes);
}

function card(l) {
  const li = el('li', 'lesson-card');
  li.dataset.id = l.id;
  li.classList.toggle('is-hidden', l.hidden);
  const watchable = l.video || l.preview;
  const href = pageURL(`/lessons/${encodeURIComponent(l.id)}`);

  // Poster, or a placeholder while there is none.
  const media = el(watchable ? 'a' : 'div', 'lesson-poster');
  if (watchable) {
    media.href = href;
    media.tabIndex = -1; // the title link is the one to tab to
    media.setAttribute('aria-hidden', 'true');
  }
  if (l.poster) {
    const img = el('img');
    img.alt = '';
    img.loading = 'lazy';
    img.src = withToken(l.poster);
    img.addEventListener('error', () => img.replaceWith(iconEl('span', 'poster-icon', 'play')));
    media.append(img);
  } else {
    media.append(iconEl('span', 'poster-icon', l.status === 'failed' ? 'close' : 'play'));
  }
  if (l.duration) media.append(el('span', 'poster-duration', clock(l.duration)));
  if (watchable) media.append(iconEl('span', 'poster-play', 'play'));
  li.append(media);

  const body = el('div', 'lesson-body');
  const tags = el('div', 'lesson-tags');
  const st = statusTag(l);
  if (st) tags.append(st);
  if (l.hidden) tags.append(iconEl('span', 'poll-tag tag-hidden', 'hidden'), el('span', 'tag-hidden-text', 'Hidden from students'));
  if (tags.children.length) body.append(tags);

  const h = el('h3', 'lesson-title');
  if (watchable) {
    const a = el('a', '', lessonTitle(l));
    a.href = href;
    h.append(a);
  } else {
    h.textContent = lessonTitle(l);
  }
  body.append(h);
  body.append(el('p', 'lesson-when', when(l.startedAt) + (l.duration ? ` · ${duration(l.duration)}` : '')));
  if (l.status === 'processing' || l.status === 'recording') body.append(progressSteps(l));
  if (l.status === 'failed') body.append(el('p', 'lesson-error', `The video could not be made${l.error ? ` (${l.error})` : ''}.${l.preview ? ' The quick preview can be watched.' : ''}`));
  if (l.description) body.append(el('p', 'lesson-desc', l.description));

  const stats = el('p', 'lesson-stats');
  const stat = (icon, n, one, many, title) => {
    const s = iconEl('span', 'lesson-stat', icon);
    s.title = title;
    s.append(el('span', '', `${n} ${n === 1 ? one : many}`));
    return s;
  };
  stats.append(stat('people', l.attendance, 'attended live', 'attended live', 'Students in the class while it was recorded'),
    stat('eye', l.watchCount, 'watched', 'watched', 'Students who watched the recording'));
  if (l.threads) stats.append(stat('chat', l.threads, 'thread', 'threads', 'Discussion threads on this lesson'));
  body.append(stats);

  if (viewer.moderator) body.append(modActions(l, li));
  li.append(body);
  return li;
}

function statusTag(l) {
  switch (l.status) {
    case 'ready': return null;
    case 'recording': return el('span', 'poll-tag tag-live', 'Recording');
    case 'processing': return el('span', 'poll-tag tag-processing', 'Processing');
    case 'failed': return el('span', 'poll-tag tag-failed', 'Failed');
    default: return el('span', 'poll-tag', l.status);
  }
}

/** Where a lesson in the making is: recorded → preview → full video. */
function progressSteps(l) {
  const steps = [
    ['Recorded', l.status !== 'recording'],
    ['Quick preview', !!l.preview],
    ['Full video', !!l.video],
  ];
  const done = steps.filter(([, ok]) => ok).length;
  const box = el('div', 'lesson-progress');
  box.setAttribute('role', 'progressbar');
  box.setAttribute('aria-valuemin', '0');
  box.setAttribute('aria-valuemax', String(steps.length));
  box.setAttribute('aria-valuenow', String(done));
  box.setAttribute('aria-valuetext', l.status === 'recording' ? 'Still being recorded' : `${steps[done] ? `Making the ${steps[done][0].toLowerCase()}` : 'Done'}`);
  const bar = el('div', 'lesson-progress-bar');
  const fill = el('span', 'lesson-progress-fill');
  fill.style.width = `${Math.max(8, (done / steps.length) * 100)}%`;
  bar.append(fill);
  box.append(bar);
  const ol = el('ol', 'lesson-steps');
  steps.forEach(([name, ok], i) => {
    const s = el('li', ok ? 'done' : i === done ? 'now' : '', name);
    ol.append(s);
  });
  box.append(ol);
  return box;
}

function modActions(l, li) {
  const row = el('div', 'lesson-actions');
  const edit = el('button', 'btn btn-small btn-secondary', 'Edit');
  edit.type = 'button';
  edit.addEventListener('click', () => openEdit(l, li));
  const hide = el('button', 'btn btn-small btn-secondary', l.hidden ? 'Show to students' : 'Hide');
  hide.type = 'button';
  hide.addEventListener('click', async () => {
    hide.disabled = true;
    try {
      await api(apiPath(`/lessons/${encodeURIComponent(l.id)}`), { method: 'PATCH', body: { hidden: !l.hidden } });
      await load();
    } catch (err) {
      showError(li, err.message);
      hide.disabled = false;
    }
  });
  row.append(edit, hide);
  if (l.status === 'ready' || l.status === 'failed') {
    const stats = el('a', 'btn btn-small btn-secondary', 'Analytics');
    stats.href = pageURL(`/lessons/${encodeURIComponent(l.id)}/analytics`);
    row.append(stats);
  }
  const del = el('button', 'btn btn-small btn-ghost-danger', 'Delete');
  del.type = 'button';
  del.disabled = l.status === 'recording' || l.status === 'processing';
  if (del.disabled) del.title = 'A lesson can be deleted once it is ready';
  del.addEventListener('click', () => confirmDelete(l, li, del));
  row.append(del);
  const wrap = el('div', 'lesson-mod');
  wrap.append(row, el('p', 'chat-error lesson-card-error'));
  wrap.lastChild.setAttribute('role', 'alert');
  return wrap;
}

function showError(li, text) {
  const p = li.querySelector('.lesson-card-error');
  if (p) p.textContent = text;
}

function confirmDelete(l, li, del) {
  if (li.querySelector('.lesson-confirm')) return;
  const box = el('div', 'lesson-confirm');
  box.setAttribute('role', 'group');
  box.setAttribute('aria-label', 'Delete this lesson?');
  box.append(el('p', '', `Delete “${lessonTitle(l)}” for good? The video, its threads, questions, answers and watch records go with it.`));
  const yes = el('button', 'btn btn-small btn-danger', 'Delete lesson');
  const no = el('button', 'btn btn-small btn-secondary', 'Cancel');
  yes.type = no.type = 'button';
  const cancel = () => { box.remove(); del.focus(); };
  no.addEventListener('click', cancel);
  box.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') { ev.preventDefault(); cancel(); } });
  yes.addEventListener('click', async () => {
    yes.disabled = no.disabled = true;
    yes.textContent = 'Deleting…';
    try {
      await api(apiPath(`/lessons/${encodeURIComponent(l.id)}`), { method: 'DELETE' });
      editing.delete(l.id);
      await load();
      $('library-status').focus();
    } catch (err) {
      box.remove();
      showError(li, err.message);
    }
  });
  const actions = el('div', 'lesson-actions');
  actions.append(yes, no);
  box.append(actions);
  li.querySelector('.lesson-mod').append(box);
  yes.focus();
}

function openEdit(l, li) {
  if (li.querySelector('.lesson-edit')) return;
  editing.add(l.id);
  const form = el('form', 'lesson-edit');
  form.noValidate = true;
  const tid = `title-${l.id}`, did = `desc-${l.id}`;
  const tl = el('label', '', 'Title');
  tl.htmlFor = tid;
  const title = el('input');
  title.id = tid;
  title.maxLength = 200;
  title.value = l.customTitle ? l.title : '';
  title.placeholder = lessonTitle(l);
  const dl = el('label', '', 'Description');
  dl.htmlFor = did;
  const desc = el('textarea');
  desc.id = did;
  desc.rows = 3;
  desc.maxLength = 5000;
  desc.value = l.description || '';
  desc.placeholder = 'What this lesson covers, what to read before watching…';
  const err = el('p', 'chat-error');
  err.setAttribute('role', 'alert');
  const save = el('button', 'btn btn-small btn-primary', 'Save');
  save.type = 'submit';
  const cancel = el('button', 'btn btn-small btn-secondary', 'Cancel');
  cancel.type = 'button';
  const close = async () => { editing.delete(l.id); await load(); };
  cancel.addEventListener('click', close);
  form.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') { ev.preventDefault(); close(); } });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    save.disabled = true;
    err.textContent = '';
    try {
      await api(apiPath(`/lessons/${encodeURIComponent(l.id)}`), { method: 'PATCH', body: { title: title.value, description: desc.value } });
      await close();
    } catch (e) {
      err.textContent = e.message;
      save.disabled = false;
    }
  });
  const actions = el('div', 'lesson-actions');
  actions.append(save, cancel);
  form.append(tl, title, dl, desc, err, actions);
  li.querySelector('.lesson-mod').before(form);
  li.querySelector('.lesson-mod').hidden = true;
  title.focus();
}

$('library-status').tabIndex = -1;
load();

// Test hook: what the page shows.
window.chalkLibrary = Object.freeze({ lessons: () => lessons.map((l) => ({ ...l })), viewer: () => ({ ...viewer }) });
