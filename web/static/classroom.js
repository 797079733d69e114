// classroom.js — what the class does besides media: the chat, the raised-hand queue and the polls,
// exactly as the server's snapshots (`joined`, `resync`) and events say (docs/protocol.md), plus the
// actions that ask the server for a change. Nothing changes here before the server's event arrives;
// the views (chat.js, people.js, polls.js, the hand button and the tiles) redraw when this model
// notifies them. Later features (breakouts) add their event types, error refs and snapshot fields here.

/** The server's limit on one chat message, in characters (Unicode code points) after trimming. */
export const MAX_CHAT_CHARS = 1000;

// The page keeps at most this many messages (the server sends the last 200 on join).
const MAX_KEPT = 500;

/** The server's limits on polls (docs/protocol.md, "Polls and quizzes"); lengths in code points after trimming. */
export const POLL_LIMITS = Object.freeze({ question: 300, option: 100, minOptions: 2, maxOptions: 10, maxOpen: 10 });

// The page keeps at most this many polls; the oldest closed ones go first (open ones are at most 10).
const MAX_POLLS_KEPT = 50;

const EVENTS = new Set(['chat', 'chat_deleted', 'hand_raised', 'hand_lowered', 'hand_restored',
  'poll_created', 'poll_closed', 'poll_voted', 'poll_results']);
const REFS = new Set(['chat', 'chat_delete', 'raise_hand', 'lower_hand', 'poll_create', 'poll_vote', 'poll_close']);

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
    this.polls = new Map(); // id -> Poll as the server last sent it, oldest first
    // Poll actions sent and not yet answered, oldest first. The server answers each of them in order
    // (a vote with poll_voted or an error, a create or close with its event or an error), and errors
    // name only the message type, so the oldest pending one of that type is the one an error is about.
    this.pending = { poll_create: [], poll_vote: [], poll_close: [] };
    this.listeners = new Map();
  }

  /**
   * Listen to changes: 'chat' ({kind: 'reset'|'add'|'delete', message?, fresh?}), 'hands'
   * ({raised?, lowered?, by?}), 'roster' (participants or roles changed), 'polls' ({kind: 'reset'|
   * 'created'|'closed'|'voted'|'results'|'pending', id?, fresh?, mine?, lost?}) and 'error' ({code,
   * message, ref, pollId?, question?}).
   */
  on(kind, fn) {
    if (!this.listeners.has(kind)) this.listeners.set(kind, []);
    this.listeners.get(kind).push(fn);
  }

  emit(kind, detail = {}) {
    for (const fn of this.listeners.get(kind) || []) fn(detail);
  }

  get self() { return this.participants.get(this.me) || null; }
  /** Instructors and co-instructors: the server gives both the same classroom powers. */
  get isInstructor() { return !!this.self && (this.self.role === 'instructor' || this.self.role === 'co_instructor'); }
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
  reset({ me, participants, hands, chat, polls }) {
    const known = this.byId;
    const hadView = known.size > 0 || this.me !== null;
    this.me = me;
    this.participants = participants;
    this.hands = (hands || []).filter((id) => participants.has(id));
    this.messages = (chat || []).slice(-MAX_KEPT);
    this.byId = new Map(this.messages.map((m) => [m.id, m]));
    const fresh = hadView ? this.messages.filter((m) => !known.has(m.id)).map((m) => m.id) : [];
    const pollsFresh = this.resetPolls(polls);
    this.emit('roster');
    this.emit('hands', {});
    this.emit('chat', { kind: 'reset', fresh });
    this.emit('polls', pollsFresh);
  }

  /**
   * Replace the polls with a snapshot's. Answers to actions sent on the old socket will never come,
   * so nothing stays pending; a poll being created is reported as `lost` unless the snapshot shows a
   * new poll with its question (it was created before the socket went).
   */
  resetPolls(list) {
    const before = this.polls;
    this.polls = new Map();
    for (const p of list || []) if (p && p.id) this.polls.set(p.id, p);
    this.trimPolls();
    // News: polls that opened, or closed, while we were away (not the history of closed ones).
    const fresh = [...this.polls.values()].filter((p) => {
      const old = before.get(p.id);
      return p.closed ? !!old && !old.closed : !old;
    }).map((p) => p.id);
    const creating = this.pending.poll_create;
    let lost = null;
    let mine = null;
    if (creating.length) {
      const q = creating[creating.length - 1];
      const made = [...this.polls.values()].find((p) => !before.has(p.id) && p.question === q);
      if (made) mine = made.id;
      else lost = q;
    }
    this.pending = { poll_create: [], poll_vote: [], poll_close: [] };
    return { kind: 'reset', fresh, mine, lost };
  }

  /** Polls in the order the server created them. */
  get pollList() { return [...this.polls.values()]; }

  /** Open polls, at most POLL_LIMITS.maxOpen. */
  get openPolls() { return this.pollList.filter((p) => !p.closed); }

  /** Whether an action of this type is waiting for the server's answer (for poll id, if given). */
  isPending(type, id) {
    const list = this.pending[type] || [];
    return id === undefined ? list.length > 0 : list.some((x) => (typeof x === 'string' ? x : x.pollId) === id);
  }

  trimPolls() {
    for (let n = 0; this.polls.size > MAX_POLLS_KEPT && n < 1000; n++) {
      const oldest = [...this.polls.values()].find((p) => p.closed);
      if (!oldest) return;
      this.polls.delete(oldest.id);
    }
  }

  /** Poll events and answers. They may repeat what a snapshot already showed: applied by id. */
  pollEvent(type, d) {
    switch (type) {
      case 'poll_created': {
        const p = d.poll;
        if (!p || !p.id) return;
        // A poll we know is at least as new as its creation (a snapshot read after it may carry
        // votes or its close): keep it.
        if (this.polls.has(p.id)) return;
        this.polls.set(p.id, p);
        this.trimPolls();
        let mine = false;
        if (p.createdBy === this.me && this.pending.poll_create.length) {
          this.pending.poll_create.shift();
          mine = true;
        }
        this.emit('polls', { kind: 'created', id: p.id, mine });
        return;
      }
      case 'poll_closed': {
        const p = d.poll;
        if (!p || !p.id) return;
        const was = this.polls.get(p.id);
        this.polls.set(p.id, p); // closed is final and carries everything: replace
        this.pending.poll_close = this.pending.poll_close.filter((id) => id !== p.id);
        this.pending.poll_vote = this.pending.poll_vote.filter((v) => v.pollId !== p.id);
        this.trimPolls();
        this.emit('polls', { kind: 'closed', id: p.id, fresh: !was || !was.closed });
        return;
      }
      case 'poll_voted': {
        const i = this.pending.poll_vote.findIndex((v) => v.pollId === d.pollId);
        if (i >= 0) this.pending.poll_vote.splice(i, 1);
        const p = this.polls.get(d.pollId);
        if (p && !p.closed && Array.isArray(d.choices)) p.myChoices = d.choices;
        this.emit('polls', { kind: 'voted', id: d.pollId });
        return;
      }
      case 'poll_results': {
        const p = this.polls.get(d.pollId);
        if (!p || p.closed || !d.results) return; // poll_closed carried the final results
        p.results = d.results;
        this.emit('polls', { kind: 'results', id: d.pollId });
      }
    }
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
    if (type.startsWith('poll_')) return this.pollEvent(type, d);
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
        return;
      case 'hand_restored': // a user back as a new session has its hand back, at its old place
        this.hands = (d.hands || []).filter((id) => this.participants.has(id));
        this.emit('hands', {});
    }
  }

  /** An `error` answering one of our messages; returns false when it is not ours to show. */
  error(e) {
    if (!REFS.has(e.ref)) return false;
    const pending = this.pending[e.ref];
    if (pending) {
      const x = pending.shift();
      if (e.ref === 'poll_create') e = { ...e, question: x };
      else if (x) e = { ...e, pollId: typeof x === 'string' ? x : x.pollId };
    }
    this.emit('error', e);
    if (pending) this.emit('polls', { kind: 'pending', id: e.pollId });
    return true;
  }

  clear() {
    this.me = null;
    this.participants = new Map();
    this.hands = [];
    this.messages = [];
    this.byId = new Map();
    this.polls = new Map();
    this.pending = { poll_create: [], poll_vote: [], poll_close: [] };
    this.emit('roster');
    this.emit('hands', {});
    this.emit('chat', { kind: 'reset', fresh: [] });
    this.emit('polls', { kind: 'reset', fresh: [], mine: null, lost: null });
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

  /** Ask for a new poll: {question, options, multiple, anonymous, correct?} (instructors). */
  createPoll(spec) {
    const data = { question: spec.question, options: spec.options };
    if (spec.multiple) data.multiple = true;
    if (spec.anonymous) data.anonymous = true;
    if (spec.correct && spec.correct.length) data.correct = spec.correct;
    if (!this.send('poll_create', data)) return false;
    this.pending.poll_create.push(data.question);
    this.emit('polls', { kind: 'pending' });
    return true;
  }

  /** Vote (students); voting again replaces the vote until the poll closes. */
  vote(pollId, choices) {
    if (!this.send('poll_vote', { pollId, choices })) return false;
    this.pending.poll_vote.push({ pollId, choices });
    this.emit('polls', { kind: 'pending', id: pollId });
    return true;
  }

  /** Close a poll (instructors): everyone then sees its results. */
  closePoll(pollId) {
    if (!this.send('poll_close', { pollId })) return false;
    this.pending.poll_close.push(pollId);
    this.emit('polls', { kind: 'pending', id: pollId });
    return true;
  }
}
