// classroom.js — what the class does besides media: the chat and the raised-hand queue, exactly as
// the server's snapshots (`joined`, `resync`) and events say (docs/protocol.md), plus the actions
// that ask the server for a change. Nothing changes here before the server's event arrives; the
// views (chat.js, people.js, the hand button and the tiles) redraw when this model notifies them.
// Later features (polls, breakouts) add their event types, error refs and snapshot fields here.

/** The server's limit on one chat message, in characters (Unicode code points) after trimming. */
export const MAX_CHAT_CHARS = 1000;

// The page keeps at most this many messages (the server sends the last 200 on join).
const MAX_KEPT = 500;

const EVENTS = new Set(['chat', 'chat_deleted', 'hand_raised', 'hand_lowered']);
const REFS = new Set(['chat', 'chat_delete', 'raise_hand', 'lower_hand']);

/** The number of characters the server counts: code points of the trimmed text. */
export function chatLength(text) {
  return [...String(text).trim()].length;
}

export class Classroom {
  /** @param {{send: (type: string, data?: object) => boolean}} opts */
  constructor({ send }) {
    this.send = send;
    this.me = null;
    this.participants = new Map(); // the session's map: id -> {id, name, role, tracks}
    this.hands = []; // participant ids, first raised first
    this.messages = []; // ChatMessages, oldest first
    this.byId = new Map();
    this.listeners = new Map();
  }

  /**
   * Listen to changes: 'chat' ({kind: 'reset'|'add'|'delete', message?, fresh?}), 'hands'
   * ({raised?, lowered?, by?}), 'roster' (participants or roles changed), 'error' ({code, message, ref}).
   */
  on(kind, fn) {
    if (!this.listeners.has(kind)) this.listeners.set(kind, []);
    this.listeners.get(kind).push(fn);
  }

  emit(kind, detail = {}) {
    for (const fn of this.listeners.get(kind) || []) fn(detail);
  }

  get self() { return this.participants.get(this.me) || null; }
  get isInstructor() { return !!this.self && this.self.role === 'instructor'; }
  get handRaised() { return this.hands.includes(this.me); }

  /** Whether m was sent by this user: by this session, or by an earlier one (before a reload). */
  isMine(m) {
    const self = this.self;
    return m.from === this.me || (!!self && !!m.fromIdentity && m.fromIdentity === self.identity);
  }

  /** The server message types this model applies (the session checks their seq first). */
  handles(type) { return EVENTS.has(type); }

  name(id) {
    const p = this.participants.get(id);
    return p ? p.name : '';
  }

  /**
   * A `joined` or `resync` snapshot replaces everything. fresh lists the ids of messages that were
   * not in the previous view (missed while reconnecting), so the chat can count them as unread.
   */
  reset({ me, participants, hands, chat }) {
    const known = this.byId;
    const hadView = known.size > 0 || this.me !== null;
    this.me = me;
    this.participants = participants;
    this.hands = (hands || []).filter((id) => participants.has(id));
    this.messages = (chat || []).slice(-MAX_KEPT);
    this.byId = new Map(this.messages.map((m) => [m.id, m]));
    const fresh = hadView ? this.messages.filter((m) => !known.has(m.id)).map((m) => m.id) : [];
    this.emit('roster');
    this.emit('hands', {});
    this.emit('chat', { kind: 'reset', fresh });
  }

  /** Participants joined, left or changed their tracks. Leaving also leaves the hand queue. */
  roster(participants) {
    this.participants = participants;
    const hands = this.hands.filter((id) => participants.has(id));
    this.emit('roster');
    if (hands.length !== this.hands.length) {
      this.hands = hands;
      this.emit('hands', {});
    }
  }

  /** Apply one event (already checked for seq by the session). */
  event(type, d) {
    switch (type) {
      case 'chat': {
        const m = d.message;
        if (!m || !m.id || this.byId.has(m.id)) return;
        this.messages.push(m);
        this.byId.set(m.id, m);
        if (this.messages.length > MAX_KEPT) this.byId.delete(this.messages.shift().id);
        this.emit('chat', { kind: 'add', message: m });
        return;
      }
      case 'chat_deleted': {
        const m = this.byId.get(d.id);
        if (!m) return;
        m.deleted = true;
        m.text = '';
        this.emit('chat', { kind: 'delete', message: m, by: d.by });
        return;
      }
      case 'hand_raised':
        if (!this.hands.includes(d.participantId)) this.hands.push(d.participantId);
        this.emit('hands', { raised: d.participantId });
        return;
      case 'hand_lowered':
        this.hands = this.hands.filter((id) => id !== d.participantId);
        this.emit('hands', { lowered: d.participantId, by: d.by });
    }
  }

  /** An `error` answering one of our messages; returns false when it is not ours to show. */
  error(e) {
    if (!REFS.has(e.ref)) return false;
    this.emit('error', e);
    return true;
  }

  clear() {
    this.me = null;
    this.participants = new Map();
    this.hands = [];
    this.messages = [];
    this.byId = new Map();
    this.emit('roster');
    this.emit('hands', {});
    this.emit('chat', { kind: 'reset', fresh: [] });
  }

  // ---- actions: each asks the server; false when there is no connection to ask on ----

  sendChat(text, to = '') {
    const data = { text: String(text).trim() };
    if (to) data.to = to;
    return this.send('chat', data);
  }

  deleteChat(id) { return this.send('chat_delete', { id }); }

  raiseHand() { return this.send('raise_hand'); }

  /** Lower a hand: our own when id is empty or ours, someone else's (instructors only) otherwise. */
  lowerHand(id = '') {
    return this.send('lower_hand', id && id !== this.me ? { participantId: id } : {});
  }
}
