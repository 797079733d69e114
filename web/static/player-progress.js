// player-progress.js — watch progress (docs/api.md "Watch progress"): the ranges of the lesson the
// viewer actually played, collected from the video's time updates (a seek starts a new range),
// sent in batches — every ~15 s while playing, on pause, and when the page is hidden or left
// (navigator.sendBeacon, which outlives the page) — and where to resume.

import { api, lessonPath, withToken } from './lesson-common.js';

const BEAT_MS = 15000;
const MAX_STEP = 2.5; // seconds of media between two time updates that still count as playing on

export class Progress {
  /** @param {HTMLVideoElement} video */
  constructor(video) {
    this.video = video;
    this.pending = []; // [[from, to], ...] not yet accepted by the server
    this.open = null; // the range being played: [from, to]
    this.last = null; // media time of the previous update while playing
    this.sentAt = 0;
    this.inFlight = false;
    this.enabled = true;
    this.sent = 0; // accepted heartbeats, for the test hook
    video.addEventListener('timeupdate', () => this.tick());
    video.addEventListener('seeking', () => this.cut());
    video.addEventListener('pause', () => { this.cut(); this.send(); });
    video.addEventListener('ended', () => { this.cut(); this.send(); });
    document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') this.beacon(); });
    window.addEventListener('pagehide', () => this.beacon());
    this.timer = setInterval(() => { if (!video.paused) this.send(); }, BEAT_MS);
  }

  /** The viewer's saved progress (position to resume at), or null. */
  async load() {
    try {
      return await api(lessonPath('/progress'));
    } catch {
      return null; // nothing saved, or the progress API is not there: start at the beginning
    }
  }

  tick() {
    const v = this.video;
    const t = v.currentTime;
    if (v.paused || v.seeking) { this.last = t; return; }
    if (this.last !== null && t >= this.last && t - this.last <= MAX_STEP * (v.playbackRate || 1)) {
      if (!this.open) this.open = [this.last, t];
      else this.open[1] = t;
    }
    this.last = t;
  }

  /** Close the range being played (a seek, a pause). */
  cut() {
    if (this.open && this.open[1] - this.open[0] >= 0.2) this.pending.push(this.open);
    this.open = null;
    this.last = this.video.seeking ? null : this.video.currentTime;
  }

  /** What to send: the closed ranges and the open one so far, rounded, at most 64. */
  body() {
    const ranges = [...this.pending];
    if (this.open && this.open[1] - this.open[0] >= 0.2) ranges.push([...this.open]);
    const dur = this.video.duration || Infinity;
    const watched = ranges.slice(-64).map(([a, b]) => [round(a), round(Math.min(b, dur))]).filter(([a, b]) => b > a);
    return { watched, position: round(this.video.currentTime), rate: this.video.playbackRate || 1 };
  }

  async send() {
    if (!this.enabled || this.inFlight) return;
    const body = this.body();
    if (!body.watched.length) return;
    this.inFlight = true;
    // What is sent now is no longer pending; the open range continues from here.
    this.pending = [];
    if (this.open) this.open = [this.open[1], this.open[1]];
    try {
      await api(lessonPath('/progress'), { method: 'POST', body });
      this.sentAt = Date.now();
      this.sent++;
    } catch (err) {
      if (err.status === 404 || err.status === 403 || err.status === 401) this.enabled = false; // nothing to report to
      else this.pending = [...body.watched, ...this.pending].slice(-64); // 429 or a blip: send them next time
    } finally {
      this.inFlight = false;
    }
  }

  /** The page is going away: one last heartbeat that outlives it. */
  beacon() {
    if (!this.enabled) return;
    this.cut();
    const body = this.body();
    if (!body.watched.length) return;
    const blob = new Blob([JSON.stringify(body)], { type: 'text/plain' }); // a simple request: no preflight
    if (navigator.sendBeacon && navigator.sendBeacon(withToken(lessonPath('/progress')), blob)) this.pending = [];
    else api(lessonPath('/progress'), { method: 'POST', body, keepalive: true }).catch(() => {});
  }
}

const round = (x) => Math.round(x * 10) / 10;
