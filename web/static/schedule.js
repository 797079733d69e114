// schedule.js — the schedule page: a room's sessions in the viewer's own time zone, with join and
// recording links, the calendar feed, and for moderators the form to plan, edit and cancel sessions.
// Everything goes through the HTTP API (docs/api.md, "Schedule") with the page's token; user text
// reaches the page only as text.

const room = document.body.dataset.room;
const token = new URLSearchParams(location.search).get('token') || '';
const $ = (id) => document.getElementById(id);
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
const q = token ? `?token=${encodeURIComponent(token)}` : '';

const dateFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
const timeFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });

let sessions = [];
let canEdit = false;
let editing = null; // id of the session in the form, or null for a new one

/** The short name of a zone at a moment, e.g. "CET" or "GMT+1". */
function zoneShort(tz, at = new Date()) {
  const part = new Intl.DateTimeFormat(undefined, { timeZone: tz, timeZoneName: 'short' })
    .formatToParts(at).find((p) => p.type === 'timeZoneName');
  return part ? part.value : tz;
}

const dayKey = (d) => `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;

/** "9:00 – 10:30 AM", or "11:00 PM – 12:00 AM (next day)" across midnight. */
function timeRange(start, end) {
  if (dayKey(start) !== dayKey(end)) {
    const next = dayKey(new Date(start.getFullYear(), start.getMonth(), start.getDate() + 1)) === dayKey(end);
    return `${timeFmt.format(start)} – ${timeFmt.format(end)} (${next ? 'next day' : dateFmt.format(end)})`;
  }
  return timeFmt.formatRange ? timeFmt.formatRange(start, end) : `${timeFmt.format(start)} – ${timeFmt.format(end)}`;
}

async function api(method, path, body) {
  const res = await fetch(`/api/rooms/${encodeURIComponent(room)}/schedule${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) throw new Error((await res.text()).trim() || `The server answered ${res.status}.`);
  return res.status === 204 ? null : res.json();
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function link(cls, href, text) {
  const a = el('a', cls, text);
  a.href = href;
  return a;
}

const badges = { live: 'Live now', soon: 'Starts soon', cancelled: 'Cancelled' };

function renderSession(s) {
  const start = new Date(s.start);
  const end = new Date(s.end);
  const li = el('li', `session card status-${s.status}`);
  li.dataset.id = s.id;
  const when = el('div', 'session-when');
  when.append(el('div', 'session-date', dateFmt.format(start)), el('div', 'session-time', timeRange(start, end)));
  if (s.timeZone !== zone && zoneShort(s.timeZone, start) !== zoneShort(zone, start)) {
    const planned = new Intl.DateTimeFormat(undefined, { timeZone: s.timeZone, hour: 'numeric', minute: '2-digit' });
    when.append(el('div', 'session-planned', `${planned.format(start)} in ${s.timeZone.replace(/_/g, ' ')}`));
  }
  const body = el('div', 'session-body');
  const title = el('h3', 'session-title', s.title);
  if (badges[s.status]) title.prepend(el('span', `badge badge-${s.status}`, badges[s.status]));
  body.append(title);
  if (s.description) body.append(el('p', 'session-desc', s.description));
  const actions = el('div', 'session-actions');
  if (s.status === 'live' || s.status === 'soon') {
    actions.append(link('btn btn-primary', `/r/${encodeURIComponent(room)}${q}`, 'Join'));
  }
  if (s.lessonId) {
    actions.append(link('btn btn-secondary', `/r/${encodeURIComponent(room)}/lessons/${encodeURIComponent(s.lessonId)}${q}`, 'Watch the recording'));
  }
  if (canEdit) {
    const edit = el('button', 'btn btn-secondary btn-small', 'Edit');
    edit.type = 'button';
    edit.addEventListener('click', () => startEdit(s));
    const cancel = el('button', 'btn btn-secondary btn-small', s.cancelled ? 'Restore' : 'Cancel session');
    cancel.type = 'button';
    cancel.addEventListener('click', () => change(() => api('PATCH', `/${s.id}`, { cancelled: !s.cancelled })));
    const del = el('button', 'btn btn-danger btn-small', 'Delete');
    del.type = 'button';
    del.addEventListener('click', () => {
      if (confirm(`Delete “${s.title}” from the schedule? Calendars that subscribed will drop it.`)) change(() => api('DELETE', `/${s.id}`));
    });
    actions.append(edit, cancel, del);
  }
  body.append(actions);
  li.append(when, body);
  return li;
}

function render() {
  const now = Date.now();
  const upcoming = sessions.filter((s) => new Date(s.end).getTime() > now);
  const past = sessions.filter((s) => new Date(s.end).getTime() <= now).reverse(); // newest first
  $('upcoming').replaceChildren(...upcoming.map(renderSession));
  $('past').replaceChildren(...past.map(renderSession));
  $('upcoming-empty').hidden = upcoming.length > 0;
  $('past-empty').hidden = past.length > 0;
  $('editor').hidden = !canEdit;
}

async function load() {
  try {
    const list = await api('GET', '');
    sessions = list.sessions;
    canEdit = list.canEdit;
    $('schedule-error').textContent = '';
    render();
  } catch (err) {
    $('schedule-error').textContent = `The schedule could not be loaded: ${err.message}`;
  }
}

/** Runs a change, then reloads; an error is shown above the lists. */
async function change(fn) {
  try {
    await fn();
    $('schedule-error').textContent = '';
  } catch (err) {
    $('schedule-error').textContent = err.message;
  }
  await load();
}

/** A Date as the value of a datetime-local input, in the viewer's zone. */
function localValue(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function startEdit(s) {
  editing = s.id;
  $('f-title').value = s.title;
  $('f-start').value = localValue(new Date(s.start));
  $('f-duration').value = s.durationMinutes;
  $('f-desc').value = s.description;
  $('editor-heading').textContent = 'Edit the session';
  $('f-save').textContent = 'Save changes';
  $('f-cancel-edit').hidden = false;
  $('form-error').textContent = '';
  $('editor').scrollIntoView({ behavior: 'smooth', block: 'start' });
  $('f-title').focus();
}

function stopEdit() {
  editing = null;
  $('session-form').reset();
  $('editor-heading').textContent = 'Plan a session';
  $('f-save').textContent = 'Add to the schedule';
  $('f-cancel-edit').hidden = true;
  $('form-error').textContent = '';
}

$('session-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const title = $('f-title').value.trim();
  const start = $('f-start').value;
  const duration = Number($('f-duration').value);
  const error = $('form-error');
  if (!title) { error.textContent = 'Give the session a title.'; $('f-title').focus(); return; }
  if (!start) { error.textContent = 'Choose when the session starts.'; $('f-start').focus(); return; }
  if (!(duration >= 1 && duration <= 720)) { error.textContent = 'A session lasts 1 to 720 minutes.'; $('f-duration').focus(); return; }
  const body = { title, start, timeZone: zone, durationMinutes: duration, description: $('f-desc').value };
  $('f-save').disabled = true;
  try {
    await api(editing ? 'PATCH' : 'POST', editing ? `/${editing}` : '', body);
    stopEdit();
    await load();
  } catch (err) {
    error.textContent = err.message;
  } finally {
    $('f-save').disabled = false;
  }
});
$('f-cancel-edit').addEventListener('click', stopEdit);

$('zone-line').textContent = `Times are shown in your time zone: ${zone.replace(/_/g, ' ')} (${zoneShort(zone)}).`;
$('f-zone-help').textContent = `In your time zone, ${zone.replace(/_/g, ' ')}; everyone else sees it in theirs.`;
$('room-link').href = `/r/${encodeURIComponent(room)}${q}`;
$('ics-link').href = `/api/rooms/${encodeURIComponent(room)}/schedule.ics${q}`;
load();
setInterval(load, 60_000); // "soon" and "live" move with the clock
