// recording.js — recording on the page (docs/protocol.md "Recording"): the red REC indicator with
// the elapsed time for everyone while the room is recorded, the Record / Stop recording button for
// instructors and co-instructors, its errors next to it, and a "Lesson ready" notice for them when
// the lesson the recording became is ready.

import { setButton } from './controls.js';
import { icons } from './icons.js';

const $ = (id) => document.getElementById(id);

// The control bar's buttons draw icons from icons.js by name; the record icon lives here.
icons.record = icons.record || '<svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true" focusable="false"><circle cx="12" cy="12" r="7" fill="currentColor"/></svg>';
icons.recordStop = icons.recordStop || '<svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true" focusable="false"><rect x="6" y="6" width="12" height="12" rx="2" fill="currentColor"/></svg>';

/** 75 -> "1:15", 3725 -> "1:02:05". */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

function explain({ code, message, ref }) {
  switch (code) {
    case 'conflict': return ref === 'start_recording' ? 'This room is already being recorded.' : 'This room is not being recorded.';
    case 'recording_unavailable': return 'Recording is not set up on this server. Ask the administrator to enable it.';
    case 'forbidden': return 'Only instructors can record the class.';
    default: return `Recording did not ${ref === 'start_recording' ? 'start' : 'stop'} (${message || code}). Try again.`;
  }
}

export class RecordingView {
  /** @param {{moderation: import('./moderation.js').Moderation, classroom: import('./classroom.js').Classroom}} opts */
  constructor({ moderation, classroom }) {
    this.m = moderation;
    this.classroom = classroom;
    this.pill = $('rec');
    this.time = $('rec-time');
    this.btn = $('btn-record');
    this.err = $('rec-error');
    this.note = $('lesson-note');
    this.pending = false;
    this.timer = null;
    this.btn.setAttribute('aria-label', 'Record the class');
    this.btn.addEventListener('click', () => this.toggle());
    $('lesson-note-close').addEventListener('click', () => { this.note.hidden = true; });
    moderation.on('recording', (d) => this.onRecording(d));
    moderation.on('settings', () => this.render());
    moderation.on('lesson', (l) => this.onLesson(l));
    moderation.on('error', (e) => this.onError(e));
    classroom.on('roster', () => this.render());
  }

  get moderator() { return this.m.isModerator; }

  toggle() {
    const ok = this.m.recording ? this.m.stopRecording() : this.m.startRecording();
    if (!ok) return this.showError('You are offline; try again once you are reconnected.');
    this.pending = true;
    this.showError('');
    this.render();
  }

  onRecording({ stopped }) {
    this.pending = false;
    if (stopped && stopped.reason && stopped.reason.startsWith('failed') && this.moderator) {
      this.showError(`Recording stopped: the server could not record (${stopped.reason.replace(/^failed:\s*/, '')}).`);
    }
    this.render();
  }

  onLesson(lesson) {
    if (!this.moderator || !lesson) return;
    if (lesson.status === 'ready') {
      $('lesson-note-text').textContent = `Lesson ready — the recording (${clock(lesson.duration || 0)}) is saved.`;
      this.note.classList.remove('failed');
      this.note.hidden = false;
    } else if (lesson.status === 'failed') {
      $('lesson-note-text').textContent = `The lesson video could not be made${lesson.error ? ` (${lesson.error})` : ''}. The raw recording is kept.`;
      this.note.classList.add('failed');
      this.note.hidden = false;
    }
  }

  onError(e) {
    if (e.ref !== 'start_recording' && e.ref !== 'stop_recording') return;
    this.pending = false;
    this.showError(explain(e));
    this.render();
  }

  showError(text) {
    clearTimeout(this.errTimer);
    this.err.textContent = text;
    this.err.hidden = !text;
    if (text) this.errTimer = setTimeout(() => { this.err.hidden = true; }, 10000);
  }

  render() {
    const rec = this.m.recording;
    this.pill.hidden = !rec;
    clearInterval(this.timer);
    if (rec) {
      const start = Date.parse(rec.startedAt) || Date.now();
      const tick = () => { this.time.textContent = clock((Date.now() - start) / 1000); };
      tick();
      this.timer = setInterval(tick, 1000);
    }
    this.btn.hidden = !this.moderator;
    if (!this.moderator) return;
    setButton(this.btn, {
      icon: rec ? 'recordStop' : 'record', tip: rec ? 'Stop recording' : 'Record the class', pressed: !!rec,
      alert: !!rec, disabled: this.pending, text: rec ? 'Stop recording' : 'Record',
    });
    this.btn.setAttribute('aria-label', rec ? 'Stop recording' : 'Record the class');
  }
}
