// breakouts.js — the class's breakout rooms as the server describes them (docs/protocol.md,
// "Breakout rooms"): the Breakouts object from `joined`, `moved` and `breakouts`, the clock skew for
// the countdown, the broadcast and help notices, and the actions that ask the server for a change.
// Like classroom.js, nothing changes here before the server's message arrives; the views
// (breakouts-pane.js, breakouts-bar.js) redraw when this model notifies them.

/** Limits of docs/protocol.md. */
export const MAX_BREAKOUTS = 50;
export const MAX_BREAKOUT_NAME = 64;
export const MAX_BROADCAST_CHARS = 1000;
export const MAX_MINUTES = 24 * 60;

/** The messages that only concern breakouts: errors with one of these refs are shown by its views. */
const REFS = new Set(['breakouts_open', 'breakouts_assign', 'breakouts_extend', 'breakouts_broadcast',
  'breakouts_close', 'breakout_visit', 'breakout_choose', 'breakout_help', 'breakout_help_done']);

/** The plan of a class that never opened breakouts. */
function emptyPlan() {
  return { room: '', generation: 0, version: 0, open: false, selfSelect: false, rooms: [], endsAt: null,
    serverTime: '', current: 0, assigned: 0, assignments: [], broadcasts: [], closeReason: '' };
}

/** "2:05", "1:02:05"; never negative. */
export function formatRemaining(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** "2 minutes", "45 seconds": the remaining time for screen readers and notices. */
export function sayRemaining(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s >= 120) return `${Math.round(s / 60)} minutes`;
  if (s >= 60) return '1 minute';
  return s === 1 ? '1 second' : `${s} seconds`;
}

export class Breakouts {
  /**
   * @param {{send: (type: string, data?: object) => boolean, now?: () => number}} opts
   * now is the local clock (tests replace it).
   */
  constructor({ send, now = () => Date.now() }) {
    this.send = send;
    this.now = now;
    this.plan = emptyPlan();
    this.room = ''; // the room we are in: the main room or <main>.b<n>
    this.shownRoom = ''; // the room of the last joined or moved: a resume may land elsewhere
    this.skew = 0; // server clock − local clock, ms
    this.asking = false; // our breakout_help is on its way: no answer yet
    // Which view sent each kind of request ('bar' or 'pane'), so an error shows next to the control.
    this.origin = new Map();
    this.listeners = new Map();
  }

  /**
   * Listen to changes: 'plan' ({moved?: {from, reason}, reset?, opened?, closed?}; reset: a joined or
   * moved replaced everything), 'broadcast' (a Broadcast),
   * 'help' (a help event: {breakout, room, participantId, name, at}), 'asking' (our help request is
   * on its way), 'error' ({code, message, ref}).
   */
  on(kind, fn) {
    if (!this.listeners.has(kind)) this.listeners.set(kind, []);
    this.listeners.get(kind).push(fn);
  }

  emit(kind, detail = {}) {
    for (const fn of this.listeners.get(kind) || []) fn(detail);
  }

  // ---- what the server said ----

  /**
   * `joined` or `moved`: take the plan as is (these always replace it) and the room we are in.
   * moved is {from, reason} for a move, absent for a join.
   */
  reset(plan, room, moved = null) {
    const before = this.plan;
    this.adopt(plan);
    this.room = room || this.plan.room;
    // Moved while the socket was down: the `joined` of the resume (or a fresh join) names the room.
    if (!moved && this.shownRoom && this.shownRoom !== this.room) moved = { from: this.shownRoom, reason: '' };
    this.shownRoom = this.room;
    this.emit('plan', { moved, reset: true, ...this.transition(before) });
  }

  /** A server message without seq: `breakouts`, `breakout_broadcast` or `breakout_help`. */
  message(type, d) {
    switch (type) {
      case 'breakouts': {
        if (!d || typeof d.version !== 'number' || d.version <= this.plan.version) return;
        const before = this.plan;
        this.adopt(d);
        this.emit('plan', this.transition(before));
        return;
      }
      case 'breakout_broadcast':
        this.emit('broadcast', d);
        return;
      case 'breakout_help':
        this.emit('help', d);
    }
  }

  adopt(plan) {
    this.asking = false;
    this.plan = { ...emptyPlan(), ...(plan || {}) };
    for (const k of ['rooms', 'assignments', 'broadcasts']) if (!Array.isArray(this.plan[k])) this.plan[k] = [];
    const server = Date.parse(this.plan.serverTime);
    if (!isNaN(server)) this.skew = server - this.now();
  }

  transition(before) {
    const p = this.plan;
    return {
      opened: p.open && (!before.open || before.generation !== p.generation),
      closed: !p.open && before.open,
    };
  }

  /** An `error` answering one of our breakout messages; false when it is not ours to show. */
  error(e) {
    if (!REFS.has(e.ref)) return false;
    if (e.ref === 'breakout_help') this.asking = false;
    this.emit('error', e);
    return true;
  }

  /** Left the class: forget everything. */
  clear() {
    const before = this.plan;
    this.plan = emptyPlan();
    this.room = this.shownRoom = '';
    this.emit('plan', this.transition(before));
  }

  // ---- derived views ----

  get open() { return this.plan.open; }
  get current() { return this.plan.current || 0; }

  /** Whether the room we are in is a breakout: "<main>.b<n>" (a main room's name has no "."). */
  get inBreakout() { return /\.b\d+$/.test(this.room); }

  /** Breakout n (1-based) or null. */
  breakout(n) { return this.plan.rooms[n - 1] || null; }

  /** "Breakout 2 · Group A", or "Breakout 2" when the instructor did not name it. */
  label(n) {
    const r = this.breakout(n);
    if (!r) return n ? `Breakout ${n}` : 'Main room';
    const def = `Breakout ${n}`;
    return r.name && r.name !== def ? `${def} · ${r.name}` : def;
  }

  /** Milliseconds left on the timer by the server's clock, or null without a timer. */
  remaining() {
    const p = this.plan;
    if (!p.open || !p.endsAt) return null;
    const ends = Date.parse(p.endsAt);
    return isNaN(ends) ? null : ends - (this.now() + this.skew);
  }

  /** The pending help requests (instructors see all, a student only that of their breakout). */
  helpRequests() {
    return this.plan.rooms.filter((r) => r.help).map((r) => r.help);
  }

  /** Identity → breakout number from the plan's assignments (instructors only). */
  assignmentMap() {
    return new Map((this.plan.assignments || []).map((a) => [a.identity, a.breakout]));
  }

  /** Read-only view for window.chalk. */
  snapshot() {
    const p = this.plan;
    return { room: this.room, open: p.open, generation: p.generation, version: p.version, current: p.current,
      assigned: p.assigned, selfSelect: p.selfSelect, rooms: p.rooms.map((r) => ({ ...r })),
      endsAt: p.endsAt, remaining: this.remaining(), broadcasts: p.broadcasts.length, help: this.helpRequests().length };
  }

  // ---- actions: each asks the server; false when there is no connection to ask on ----

  /**
   * Open count breakouts. opts: names (array, '' for the default), assignments (identity → 1..count),
   * random, selfSelect, minutes (0: no timer).
   */
  openRooms({ count, names = [], assignments = null, random = false, selfSelect = false, minutes = 0 }) {
    const data = { count };
    const cut = names.slice(0, count).map((n) => String(n || '').trim());
    while (cut.length && !cut[cut.length - 1]) cut.pop(); // trailing defaults need not be sent
    if (cut.length) data.names = cut;
    if (assignments && Object.keys(assignments).length) data.assignments = assignments;
    if (random) data.random = true;
    if (selfSelect) data.selfSelect = true;
    if (minutes > 0) data.durationSeconds = Math.round(minutes * 60);
    return this.send('breakouts_open', data);
  }

  /** Assign identities (identity → breakout, 0: the main room), and/or the unassigned at random. */
  assign(assignments, random = false) {
    const data = { generation: this.plan.generation };
    if (assignments && Object.keys(assignments).length) data.assignments = assignments;
    if (random) data.random = true;
    return this.send('breakouts_assign', data);
  }

  extend(seconds) { return this.send('breakouts_extend', { seconds, generation: this.plan.generation }); }

  broadcast(text) {
    return this.send('breakouts_broadcast', { text: String(text).trim(), generation: this.plan.generation });
  }

  closeRooms() { return this.send('breakouts_close', { generation: this.plan.generation }); }

  /** Instructors: go to breakout n, or back to the main room with 0. */
  visit(n) { return this.send('breakout_visit', { breakout: n, generation: this.plan.generation }); }

  /** Students, when they may choose: go to breakout n, or the main room with 0. */
  choose(n) { return this.send('breakout_choose', { breakout: n, generation: this.plan.generation }); }

  askHelp() {
    const ok = this.send('breakout_help', { generation: this.plan.generation });
    if (ok) {
      this.asking = true;
      this.emit('asking');
    }
    return ok;
  }

  helpDone(n) { return this.send('breakout_help_done', { breakout: n, generation: this.plan.generation }); }
}

/** What went wrong with a breakout request, in words for the person who clicked. */
export function describeBreakoutError({ code, message, ref }) {
  const detail = message ? ` (${message})` : '';
  switch (code) {
    case 'forbidden':
      return ref === 'breakout_choose' ? 'Your instructor assigns the rooms: you cannot choose one now.'
        : `Only an instructor can do this${detail}.`;
    case 'conflict':
      if (ref === 'breakouts_open') return 'Breakout rooms are already open.';
      if (ref === 'breakout_help') return 'You can ask for help from a breakout room; in the main room, raise your hand.';
      return `The breakout rooms have changed meanwhile, so nothing was done${detail}. Check the list and try again.`;
    case 'rate_limited': return 'Too many requests too fast. Wait a moment, then try again.';
    case 'bad_message': return `The server refused this${detail}.`;
    case 'internal': return `The server could not do this just now${detail}. Try again.`;
    default: return `That did not work${detail}. Try again.`;
  }
}
