// lesson-common.js — what the lesson pages (library, player, analytics) share: the page's room,
// lesson and token, requests to the lesson API (docs/api.md) with that token, links between the
// pages, and how times and dates are written. User text only ever reaches a page as text nodes.

export const $ = (id) => document.getElementById(id);
export const query = new URLSearchParams(location.search);
export const token = query.get('token') || '';
export const room = document.body.dataset.room;
export const lessonId = document.body.dataset.lesson || '';

export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A page of this room, with the page's token: pageURL('/lessons') -> /r/{room}/lessons?token=… */
export function pageURL(path, extra = {}) {
  const q = new URLSearchParams({ token, ...extra });
  return `/r/${encodeURIComponent(room)}${path}?${q}`;
}

/** The API path of this room: apiPath('/library'). */
export const apiPath = (path) => `/api/rooms/${encodeURIComponent(room)}${path}`;

/** The API path of this page's lesson (or another): lessonPath('/threads'). */
export const lessonPath = (path = '', id = lessonId) => apiPath(`/lessons/${encodeURIComponent(id)}${path}`);

/** A URL for an element that cannot send headers (<video>, <img>, a download link). */
export const withToken = (path) => `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;

/** An API error: status and the server's sentence. */
export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * Calls the API with the page's token. Resolves to the parsed JSON (null for 204); rejects with an
 * APIError carrying the server's sentence, or a sentence about the network.
 */
export async function api(path, { method = 'GET', body, keepalive = false } = {}) {
  let resp;
  try {
    resp = await fetch(path, {
      method,
      keepalive,
      headers: { Authorization: `Bearer ${token}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new APIError(0, 'The server cannot be reached. Check your connection and try again.');
  }
  if (resp.status === 204) return null;
  const text = await resp.text();
  if (!resp.ok) throw new APIError(resp.status, sentence(text || resp.statusText));
  try {
    return JSON.parse(text);
  } catch {
    throw new APIError(resp.status, 'The server sent an answer this page does not understand.');
  }
}

/** "token expired" -> "Token expired." */
export function sentence(s) {
  s = String(s).trim();
  return s.charAt(0).toUpperCase() + s.slice(1) + (/[.!?]$/.test(s) ? '' : '.');
}

/** 75 -> "1:15", 3725 -> "1:02:05". */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** 3012 -> "50 min", 75 -> "1 min 15 s", 5400 -> "1 h 30 min". */
export function duration(seconds) {
  const s = Math.round(seconds || 0);
  if (s < 60) return `${s} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h) return m ? `${h} h ${m} min` : `${h} h`;
  return s % 60 && m < 10 ? `${m} min ${s % 60} s` : `${m} min`;
}

// Dates in the viewer's own time zone, with the zone named.
export const zoneName = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';
const dateFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' });
const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', timeZoneName: 'short' });
const shortFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });

/** "Sat, 1 Mar 2025 · 10:15 CET" in the viewer's zone. */
export function when(iso) {
  const d = new Date(iso);
  return isNaN(d) ? '' : `${dateFmt.format(d)} · ${timeFmt.format(d)}`;
}

/** "1 Mar, 10:15": for tables. */
export function shortWhen(iso) {
  const d = new Date(iso);
  return isNaN(d) || d.getFullYear() < 2000 ? '' : shortFmt.format(d);
}

/** A lesson's title: the moderators' one, or its date in the viewer's zone. */
export function lessonTitle(l) {
  if (l.customTitle || !l.startedAt) return l.title;
  return `Lesson of ${dateFmt.format(new Date(l.startedAt))}`;
}

/** Initials for an avatar: "Ada Lovelace" -> "AL". */
export function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/).filter(Boolean);
  return ((parts[0] || '?')[0] + (parts.length > 1 ? parts[parts.length - 1][0] : '')).toUpperCase();
}

/** Set the href of the header's page links (data-page) with the token. */
export function linkPages() {
  for (const a of document.querySelectorAll('a[data-page]')) a.href = pageURL(a.dataset.page);
}

/** Show or hide the page's banner (top centre); errors in red, gone after hideAfter ms. */
let bannerTimer = null;
export function banner(text, { error = false, hideAfter = 0 } = {}) {
  const b = $('banner');
  if (!b) return;
  clearTimeout(bannerTimer);
  b.textContent = text;
  b.hidden = !text;
  b.classList.toggle('error', error);
  if (text && hideAfter) bannerTimer = setTimeout(() => { b.hidden = true; }, hideAfter);
}
