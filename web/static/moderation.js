// moderation.js — the room's moderation state as the server reports it (docs/protocol.md "Roles and
// moderation", "Lobby and office hours", "Recording"): room settings, the lobby line (moderators
// only), removals, the recording and the latest lesson, plus our own place while we wait in the
// lobby. Like classroom.js it changes only when a snapshot or an event arrives; the views
// (modview.js, lobby.js, recording.js) redraw when it notifies them.

const EVENTS = new Set(['settings_changed', 'lobby_joined', 'lobby_left', 'participant_removed', 'rejoin_allowed',
  'recording_started', 'recording_stopped', 'lesson_updated']);
const REFS = new Set(['set_role', 'update_settings', 'mute_participant', 'mute_all', 'allow_unmute',
  'remove_participant', 'allow_rejoin', 'admit', 'admit_next', 'admit_all', 'deny', 'start_recording',
  'stop_recording', 'mute', 'publish']);

export const DEFAULT_SETTINGS = Object.freeze({
  locked: false, lobby: 'off', studentsMayUnmute: true, studentScreenShare: true, studentChat: true, spotlight: '',
});

/** Whether a role may moderate (instructors and co-instructors). */
export function isModeratorRole(role) { return role === 'instructor' || role === 'co_instructor'; }

export class Moderation {
  /** @param {{send: (type: string, data?: object) => boolean}} opts */
  constructor({ send }) {
    this.send = send;
    this.me = null;
    this.role = '';
    this.settings = { ...DEFAULT_SETTINGS };
    this.lobby = []; // waiting Participants, in line order (moderators only)
    this.removed = []; // Removals (moderators only)
    this.recording = null;
    this.lesson = null;
    this.wait = null; // our own `waiting` message while we wait in the lobby
    this.listeners = new Map();
  }

  /**
   * Listen to changes: 'settings' ({by}), 'lobby', 'recording' ({stopped?: {by, reason}}), 'lesson',
   * 'waiting' (the `waiting` message, or null once in the room), 'self' ({muted, released, by}: a
   * moderator changed our moderatorMuted), 'error' ({code, message, ref}).
   */
  on(kind, fn) {
    if (!this.listeners.has(kind)) this.listeners.set(kind, []);
    this.listeners.get(kind).push(fn);
  }

  emit(kind, detail = {}) {
    for (const fn of this.listeners.get(kind) || []) fn(detail);
  }

  get isModerator() { return isModeratorRole(this.role); }

  handles(type) { return EVENTS.has(type); }

  /** A `joined` or `resync` snapshot. */
  reset(d, me, role) {
    this.me = me;
    this.role = role;
    this.settings = { ...DEFAULT_SETTINGS, ...(d.settings || {}) };
    this.lobby = d.lobby || [];
    this.removed = d.removed || [];
    this.recording = d.recording || null;
    if (this.wait) { this.wait = null; this.emit('waiting', null); }
    this.emit('settings', {});
    this.emit('lobby');
    this.emit('recording', {});
  }

  /** We wait in the lobby (a `waiting` message: first, or a new place in line). */
  waiting(d) {
    this.wait = d;
    this.emit('waiting', d);
  }

  /** Our role may have changed (participant_updated about us). */
  setRole(role) {
    if (role === this.role) return;
    this.role = role;
    this.emit('settings', {});
    this.emit('recording', {});
  }

  /** Our own Participant changed: tell the views which sources a moderator muted or released. */
  selfUpdated(before, after, by) {
    const was = new Set((before && before.moderatorMuted) || []);
    const now = new Set(after.moderatorMuted || []);
    const muted = [...now].filter((s) => !was.has(s));
    const released = [...was].filter((s) => !now.has(s));
    this.setRole(after.role);
    if (muted.length || released.length) this.emit('self', { muted, released, by });
  }

  event(type, d) {
    switch (type) {
      case 'settings_changed':
        this.settings = { ...DEFAULT_SETTINGS, ...d.settings };
        this.emit('settings', { by: d.by });
        return;
      case 'lobby_joined':
        if (!this.lobby.some((p) => p.id === d.participant.id)) this.lobby.push(d.participant);
        this.emit('lobby', { joined: d.participant });
        return;
      case 'lobby_left':
        this.lobby = this.lobby.filter((p) => p.id !== d.participantId);
        this.emit('lobby', { left: d.participantId, reason: d.reason });
        return;
      case 'participant_removed':
        this.removed = this.removed.filter((r) => r.identity !== d.removal.identity).concat([d.removal]);
        this.emit('lobby');
        return;
      case 'rejoin_allowed':
        this.removed = this.removed.filter((r) => r.identity !== d.identity);
        this.emit('lobby');
        return;
      case 'recording_started':
        this.recording = d.recording;
        this.emit('recording', {});
        return;
      case 'recording_stopped':
        this.recording = null;
        this.emit('recording', { stopped: { by: d.by, reason: d.reason } });
        return;
      case 'lesson_updated':
        this.lesson = d.lesson;
        this.emit('lesson', d.lesson);
    }
  }

  /** An `error` answering one of our messages; false when it is not ours to show. */
  error(e) {
    if (!REFS.has(e.ref)) return false;
    this.emit('error', e);
    return true;
  }

  clear() {
    this.me = null;
    this.role = '';
    this.settings = { ...DEFAULT_SETTINGS };
    this.lobby = [];
    this.removed = [];
    this.recording = null;
    this.wait = null;
    this.emit('waiting', null);
    this.emit('settings', {});
    this.emit('lobby');
    this.emit('recording', {});
  }

  // ---- actions: each asks the server; false when there is no connection to ask on ----

  updateSettings(change) { return this.send('update_settings', change); }
  setParticipantRole(participantId, role) { return this.send('set_role', { participantId, role }); }
  mute(participantId, source) { return this.send('mute_participant', { participantId, source }); }
  muteAll(source = 'microphone') { return this.send('mute_all', { source }); }
  allowUnmute(participantId, source) { return this.send('allow_unmute', { participantId, source }); }
  remove(participantId) { return this.send('remove_participant', { participantId }); }
  allowRejoin(identity) { return this.send('allow_rejoin', { identity }); }
  admit(participantId) { return this.send('admit', { participantId }); }
  admitNext() { return this.send('admit_next'); }
  admitAll() { return this.send('admit_all'); }
  deny(participantId) { return this.send('deny', { participantId }); }
  startRecording() { return this.send('start_recording'); }
  stopRecording() { return this.send('stop_recording'); }
}
