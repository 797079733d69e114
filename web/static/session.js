// session.js — one participant's life in a room: join, the room model (participants and their
// tracks, in seq order), both peer connections, reconnect with backoff and resume, ICE restarts,
// and keeping the server's view of our mute/screen state in step with the local media. Chat and
// hand events pass the same seq check, then go to the classroom model (classroom.js).

import { Signaling, socketURL, nodeSocketURL } from './signaling.js';
import { Publisher, Subscriber, useIceServers } from './rtc.js';
import { VideoQuality } from './quality.js';

const BACKOFF_MS = [500, 1000, 2000, 4000, 5000]; // each jittered down by up to a quarter
// A join may be sent to the node that serves the room (`redirect`); more hops than this in one
// attempt means the servers disagree, and we stop (docs/protocol.md "Nodes").
const MAX_REDIRECTS = 3;

/** Plain words for an `error` message from the server. */
export function describeError(code, message) {
  const msg = message ? ` (${message})` : '';
  switch (code) {
    case 'bad_sdp': return `Your browser's media setup was refused by the server${msg}. Try reloading the page.`;
    case 'internal': return `The server had a problem${msg}. It may fix itself; if not, reload the page.`;
    case 'too_large': return 'A message to the server was too large; reconnecting.';
    default: return `Something went wrong${msg}.`;
  }
}

export class Session {
  /**
   * @param {{room: string, name: string, token: string, identity: string,
   *          media: import('./media.js').LocalMedia, grid: import('./grid.js').Grid,
   *          classroom: import('./classroom.js').Classroom, moderation: import('./moderation.js').Moderation,
   *          ui: {banner: (text: string, opts?: object) => void, connected: (up: boolean) => void,
   *               ended: (kind: string, message?: string) => void}}} opts
   */
  constructor(opts) {
    Object.assign(this, opts);
    this.state = 'idle'; // idle | connecting | joined | waiting (backoff) | ended
    this.sig = null;
    this.pub = null;
    this.sub = null;
    this.resumeToken = null;
    this.me = null;
    this.seq = 0;
    this.iceServers = [];
    this.participants = new Map();
    this.attempt = 0;
    this.queue = Promise.resolve();
    this.screenAnnounced = false;
    this.told = {};
    // Where we connect: home is the address the page came from (behind a load balancer, any node);
    // url is the node serving the room, after redirects. A rejoin that cannot resume starts at home.
    this.home = socketURL();
    this.url = this.home;
    this.hops = 0;
    this.visit = 0; // an instructor's breakout visit carried over a redirect
    this.quality = new VideoQuality(this.grid, (d) => this.connected && this.send('set_video_quality', d));
  }

  get connected() { return this.state === 'joined' && !!this.sig && this.sig.open; }

  /** Join afresh (first join, rejoin after leave). */
  start() {
    this.resumeToken = null;
    this.attempt = 0;
    this.url = this.home; // a fresh join goes where the page came from, which redirects if needed
    this.hops = 0;
    this.connect();
  }

  connect() {
    clearInterval(this.countdown);
    this.state = 'connecting';
    this.ui.banner(this.resumeToken || this.attempt > 0 ? 'Reconnecting…' : 'Connecting…');
    this.ui.connected(false);
    // A fresh chain per socket: an operation on a peer connection closed meanwhile never settles,
    // and must not hold up the messages of the next connection.
    this.queue = Promise.resolve();
    const sig = new Signaling(this.url, {
      onOpen: () => this.sendJoin(sig),
      // Messages are handled one at a time, in order: a candidate never overtakes its description.
      onMessage: (type, data) => {
        this.queue = this.queue.then(() => this.sig === sig && this.handle(type, data))
          .catch((err) => {
            console.error(`chalk: handling ${type}:`, err);
            this.ui.banner(`Something went wrong with the call (${err.message || err}).`, { error: true, hideAfter: 8000 });
          });
      },
      onLost: (why) => this.lost(sig, why),
    });
    this.sig = sig;
  }

  sendJoin(sig) {
    const data = { room: this.room, name: this.name };
    if (this.token) data.token = this.token;
    else if (this.identity) data.identity = this.identity;
    if (this.resumeToken) data.resume = this.resumeToken;
    if (this.visit) data.visit = this.visit;
    sig.send('join', data);
  }

  send(type, data) { return !!this.sig && this.sig.send(type, data); }

  lost(sig, why) {
    if (sig !== this.sig || this.state === 'ended') return;
    console.info('chalk: connection lost:', why);
    this.sig = null;
    this.ui.connected(false);
    let base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    if (this.state === 'connecting' && this.url !== this.home) {
      // The node we were sent to (or were on) cannot be reached: it may have died. Join afresh
      // through the address we started from, which sends us to wherever the room is now. That
      // address answered, so ask it again soon (the cluster notices a dead node within 5 s)
      // rather than backing off further.
      this.url = this.home;
      this.resumeToken = null;
      base = 1000;
      this.attempt = Math.min(this.attempt, 1);
    }
    this.hops = 0;
    const delay = Math.round(base * (0.75 + Math.random() / 4)); // jitter: a class does not retry in step
    this.attempt++;
    this.state = 'waiting';
    const at = Date.now() + delay;
    const show = () => {
      const s = Math.ceil((at - Date.now()) / 1000);
      if (s <= 0) { clearInterval(this.countdown); this.connect(); return; }
      this.ui.banner(delay < 1000 ? 'Reconnecting…' : `Connection lost — retrying in ${s} s`, { error: delay >= 1000 });
    };
    clearInterval(this.countdown);
    this.countdown = setInterval(show, Math.min(delay, 250));
    show();
  }

  async handle(type, d) {
    switch (type) {
      case 'joined': return this.joined(d);
      case 'redirect': return this.redirected(d);
      case 'answer': return this.pub && this.pub.handleAnswer(d.sdp);
      case 'offer':
        if (!this.sub) {
          this.sub = new Subscriber({
            iceServers: this.iceServers,
            send: (t, x) => this.send(t, x),
            onIceRestart: () => this.connected && this.send('restart_ice'),
            onMedia: (media) => this.grid.setRemoteMedia(media),
          });
        }
        return this.sub.handleOffer(d.sdp, d.tracks);
      case 'candidate': {
        const pc = d.pc === 'publish' ? this.pub : d.pc === 'subscribe' ? this.sub : null;
        return pc && pc.addCandidate(d.candidate);
      }
      case 'participant_joined':
      case 'participant_left':
      case 'track_published':
      case 'track_unpublished':
      case 'track_updated':
        return this.event(type, d);
      case 'participant_updated':
        return this.event(type, d);
      case 'waiting': return this.waiting(d);
      case 'resync': return this.resync(d);
      case 'moved': return this.moved(d);
      case 'breakouts':
      case 'breakout_broadcast':
      case 'breakout_help':
        return this.breakouts && this.breakouts.message(type, d);
      case 'active_speakers': return this.grid.setSpeakers(d.speakers || []);
      case 'error': return this.error(d);
      case 'bye':
        if (d.reason === 'replaced') return this.end('replaced');
        if (d.reason === 'removed' || d.reason === 'denied') return this.end(d.reason);
        // shutdown: the socket closes next and the usual reconnect takes over.
        this.ui.banner('The class server is restarting…', { error: true });
        return;
      default:
        if (this.classroom.handles(type) || this.moderation.handles(type)) return this.event(type, d);
        console.warn('chalk: unknown message type', type);
    }
  }

  /**
   * Another node serves the room (or the room moved there: breakout, drain). Join afresh there with
   * the same name and token; the local media stays, the peer connections are new.
   */
  redirected(d) {
    if (++this.hops > MAX_REDIRECTS) {
      this.hops = 0;
      return this.end('refused', 'The class servers could not agree where your room is. Try again in a minute.');
    }
    if (this.sig) this.sig.close();
    this.sig = null;
    this.closePeers();
    this.resumeToken = null;
    this.url = nodeSocketURL(d.url);
    this.visit = d.visit || 0;
    this.connect();
    if (d.reason === 'drain') this.ui.banner('Moving you to another class server…');
  }

  async joined(d) {
    this.state = 'joined';
    this.attempt = 0;
    this.hops = 0;
    this.visit = 0; // sent with the join that got here; a later fresh join starts in the main room
    this.quality.reset();
    this.resumeToken = d.resumeToken || null;
    this.me = d.participant.id;
    this.seq = d.seq || 0;
    this.iceServers = d.iceServers || [];
    this.participants = new Map((d.participants || []).map((p) => [p.id, normalize(p)]));
    if (this.breakouts) this.breakouts.room = d.room; // which room the roster below is of
    this.grid.setSelf(this.me);
    this.grid.setParticipants([...this.participants.values()]);
    this.classroom.reset({ me: this.me, participants: this.participants, hands: d.hands, chat: d.chat, polls: d.polls });
    if (this.breakouts) this.breakouts.reset(d.breakouts, d.room);
    this.moderation.reset(d, this.me, d.participant.role);
    this.ui.connected(true);
    this.ui.banner('');
    if (d.resumed && this.pub) {
      // Same session, new socket: restart ICE on both connections, then mend what we missed.
      // The restart gathers with the fresh TURN credentials of this joined (the old may be expired).
      for (const x of [this.pub, this.sub]) if (x) useIceServers(x.pc, this.iceServers);
      await this.pub.negotiate({ iceRestart: true, force: true });
      this.send('restart_ice');
      this.reconcile(['microphone', 'camera', 'screen']);
      return;
    }
    this.closePeers();
    this.pub = new Publisher({
      iceServers: this.iceServers,
      media: this.media,
      send: (t, x) => this.send(t, x),
      onIceRestart: () => this.connected && this.pub.negotiate({ iceRestart: true }),
      onAnswered: () => this.applyLocal(),
    });
    await this.pub.negotiate();
  }

  /** The server lost its room feed and re-read it: replace the whole view of the room. */
  resync(d) {
    this.seq = d.seq || 0;
    this.participants = new Map((d.participants || []).map((p) => [p.id, normalize(p)]));
    this.grid.setParticipants([...this.participants.values()]);
    this.classroom.reset({ me: this.me, participants: this.participants, hands: d.hands, chat: d.chat, polls: d.polls });
    const self = this.participants.get(this.me);
    this.moderation.reset(d, this.me, self ? self.role : this.moderation.role);
    this.reconcile(['microphone', 'camera']);
  }

  /**
   * The server moved us to another room of the class (a breakout, or back): the same socket and
   * peer connections, the new room's whole view. The subscribe offer for its media follows.
   */
  moved(d) {
    if (this.breakouts) this.breakouts.room = d.room;
    this.classroom.clear(); // another room's chat history is not news: nothing counts as unread
    this.resync(d);
    if (this.breakouts) this.breakouts.reset(d.breakouts, d.room, { from: d.from, reason: d.reason });
  }

  event(type, d) {
    if (typeof d.seq === 'number') {
      if (d.seq <= this.seq) return; // already in the snapshot
      this.seq = d.seq;
    }
    if (this.classroom.handles(type)) return this.classroom.event(type, d);
    if (this.moderation.handles(type)) return this.moderation.event(type, d);
    this.roomEvent(type, d);
    this.classroom.roster(this.participants);
  }

  /** Participants and their tracks. */
  roomEvent(type, d) {
    const p = this.participants.get(d.participantId);
    switch (type) {
      case 'participant_joined':
        this.participants.set(d.participant.id, normalize(d.participant));
        this.grid.upsert(this.participants.get(d.participant.id));
        return;
      case 'participant_left':
        if (d.participantId === this.me) return this.selfRemoved(d.reason);
        this.participants.delete(d.participantId);
        this.grid.remove(d.participantId);
        return;
      case 'participant_updated': {
        // Role or moderator mutes changed: the whole Participant replaces ours.
        const next = normalize(d.participant);
        this.participants.set(next.id, next);
        this.grid.upsert(next);
        if (next.id === this.me) this.moderatedSelf(p, next, d.by);
        return;
      }
    }
    if (!p || !d.track) return;
    const i = p.tracks.findIndex((t) => t.id === d.track.id || t.source === d.track.source);
    if (type === 'track_unpublished') {
      if (i >= 0) p.tracks.splice(i, 1);
    } else if (i >= 0) {
      p.tracks[i] = { ...p.tracks[i], ...d.track };
    } else {
      p.tracks.push(d.track);
    }
    this.grid.upsert(p);
    if (p.id === this.me && type !== 'track_unpublished') this.reconcile([d.track.source]);
  }

  error({ code, message, ref }) {
    console.warn('chalk: server error', code, message, ref);
    if (this.classroom.error({ code, message, ref })) return; // shown next to what caused it
    if (this.breakouts && this.breakouts.error({ code, message, ref })) return;
    switch (code) {
      case 'unauthorized': return this.end('unauthorized', message);
      case 'resume_failed':
        // The old session is gone: new peer connections, same local media, no page reload.
        this.resumeToken = null;
        if (this.sig) this.sig.close();
        this.closePeers();
        this.connect();
        return;
      case 'bad_message':
        if (ref === 'join') return this.end('refused', message);
        break;
      case 'room_locked': return this.end('locked', message);
      case 'removed': return this.end('removed', message);
    }
    this.ui.banner(describeError(code, message), { error: true, hideAfter: 8000 });
  }

  selfRemoved(reason) {
    if (reason === 'replaced') return this.end('replaced');
    // Removed (e.g. timeout) while this socket still lives: join afresh.
    this.resumeToken = null;
    if (this.sig) this.sig.close();
    this.closePeers();
    this.connect();
  }

  /** We wait in the lobby: no peer connections until `joined` (docs/protocol.md "Lobby"). */
  waiting(d) {
    this.state = 'lobby';
    this.attempt = 0;
    this.resumeToken = d.resumeToken || null;
    this.me = d.participant.id;
    this.ui.banner('');
    this.moderation.waiting(d);
  }

  /**
   * A moderator muted one of our sources: mute it here too (applyLocal then tells the server), so
   * what we show matches what others hear. Released sources stay as they are; the user unmutes.
   */
  moderatedSelf(before, after, by) {
    const was = new Set((before && before.moderatorMuted) || []);
    for (const source of after.moderatorMuted || []) {
      if (was.has(source)) continue;
      if (source === 'microphone' && this.media.mic && !this.media.micMuted) this.media.setMicMuted(true);
      if (source === 'camera' && this.media.cam) this.media.setCamOn(false);
    }
    this.moderation.selfUpdated(before, after, by);
  }

  /** Whether a moderator holds one of our sources muted. */
  moderatorMuted(source) {
    const me = this.participants.get(this.me);
    return !!me && (me.moderatorMuted || []).includes(source);
  }

  /** The server's view of one of our sources, or null when it has no such track. */
  myTrack(source) {
    const me = this.participants.get(this.me);
    return (me && me.tracks.find((t) => t.source === source)) || null;
  }

  /** Whether a local source should be muted as the server sees it. */
  wantMuted(source) {
    const m = this.media;
    return source === 'microphone' ? (m.micMuted || !m.mic) : !m.cam;
  }

  sendMute(source, muted) {
    if (this.send('mute', { source, muted })) this.told[source] = muted;
  }

  /**
   * Bring the server's view of our sources (snapshot or own track events) in line with the local
   * media. The server remembers a mute sent before the track is published, so applyLocal tells it
   * at once; this catches what a lost socket or a race left behind.
   */
  reconcile(sources) {
    if (!this.connected) return;
    for (const source of sources) {
      const t = this.myTrack(source);
      if (source === 'screen') {
        this.screenAnnounced = !!t;
        this.announceScreen();
      } else if (t && t.muted !== this.wantMuted(source) && !(t.muted && this.moderatorMuted(source))) {
        // (A source a moderator muted is unmuted only by the user's own action, in applyLocal.)
        this.sendMute(source, this.wantMuted(source));
      }
    }
  }

  announceScreen() {
    const on = !!this.media.screen;
    if (on === this.screenAnnounced || !this.connected) return;
    this.screenAnnounced = on;
    this.send(on ? 'publish' : 'unpublish', { source: 'screen' });
  }

  /** Local media changed (or first answer): update the senders, then tell the server. */
  async applyLocal() {
    this.grid.updateLocal();
    if (!this.pub) return;
    const m = this.media;
    await this.pub.setTracks({ microphone: m.mic, camera: m.cam, screen: m.screen });
    for (const source of ['microphone', 'camera']) {
      const muted = this.wantMuted(source);
      if (muted !== (this.told[source] || false)) this.sendMute(source, muted);
    }
    this.announceScreen();
  }

  closePeers() {
    if (this.pub) this.pub.close();
    if (this.sub) this.sub.close();
    this.pub = this.sub = null;
    this.screenAnnounced = false;
    this.told = {}; // what we said about mute to this server-side session
    this.grid.setRemoteMedia([]);
  }

  leave() {
    if (this.state === 'ended') return;
    this.send('leave');
    this.end('left');
  }

  end(kind, message) {
    this.state = 'ended';
    clearInterval(this.countdown);
    if (this.sig) this.sig.close();
    this.sig = null;
    this.closePeers();
    this.participants.clear();
    this.grid.clear();
    this.classroom.clear();
    if (this.breakouts) this.breakouts.clear();
    this.moderation.clear();
    this.ui.connected(false);
    this.ui.banner('');
    this.ui.ended(kind, message);
  }

  /** Read-only view for window.chalk.state(). */
  snapshot() {
    return {
      connected: this.connected,
      participantId: this.me,
      socket: this.url, // the node serving the room, after redirects
      participants: [...this.participants.values()].map((p) => ({
        id: p.id, identity: p.identity, name: p.name, role: p.role, tracks: p.tracks.map((t) => ({ ...t })),
      })),
      hands: [...this.classroom.hands],
      chat: this.classroom.messages.map((m) => ({ ...m })),
      polls: this.classroom.pollList.map((p) => JSON.parse(JSON.stringify(p))),
    };
  }
}

function normalize(p) {
  return { ...p, tracks: Array.isArray(p.tracks) ? p.tracks.map((t) => ({ ...t })) : [] };
}
