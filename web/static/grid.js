// grid.js — the classroom view: one tile per participant (video or initials avatar, name, role
// badge, muted-mic icon, speaking ring, raised hand with its place in the queue), a large tile per
// shared screen (spotlight layout), and one <audio> element per remote participant so remote sound
// plays.

import { icons } from './icons.js';
import { LevelMeter } from './media.js';

const SPEAKING_LEVEL = 0.02; // RMS; speech is ~0.05-0.2, a quiet room below 0.01
const SPEAKING_HOLD_MS = 450;
const GAP = 10;

export function initials(name) {
  const words = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? [words[0], words[words.length - 1]] : [words[0] || '?'];
  return letters.map((w) => [...w][0]).join('').toUpperCase();
}

// Avatar colours: calm mid-tones on which white initials keep a contrast ratio above 4.5.
const PALETTE = ['#1e6f5c', '#7b3f99', '#a0432f', '#2f5fa7', '#8a5a00', '#00707a', '#9c2f5f', '#4c6b22', '#5a4fa3', '#7a4a3a'];

/** A stable colour per person: call it with the identity (the same after a rejoin or a move to another node), else the id. */
export function avatarColor(id) {
  let h = 0x811c9dc5; // FNV-1a: ids that differ in one character still land far apart
  for (const c of String(id)) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return PALETTE[h % PALETTE.length];
}

function el(tag, cls, html) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (html) e.innerHTML = html;
  return e;
}

class Tile {
  constructor(id, source) {
    this.el = el('div', 'tile');
    this.el.dataset.participantId = id;
    this.el.dataset.source = source;
    this.el.setAttribute('role', 'group');
    this.video = el('video');
    this.video.autoplay = true;
    this.video.playsInline = true;
    this.video.muted = true; // sound goes through the participant's <audio>
    this.avatar = el('div', 'avatar');
    this.avatar.setAttribute('aria-hidden', 'true');
    this.initials = el('span', 'initials');
    this.avatar.append(this.initials);
    this.label = el('div', 'label');
    this.micOff = el('span', 'mic-off', icons.micOff);
    this.micOff.title = 'Microphone off';
    this.name = el('span', 'name');
    this.badge = el('span', 'badge', 'Instructor');
    this.label.append(this.micOff, this.name, this.badge);
    this.hand = el('div', 'hand-badge', icons.hand);
    this.hand.setAttribute('aria-hidden', 'true');
    this.handPos = el('span', 'hand-pos');
    this.hand.append(this.handPos);
    this.hand.hidden = true;
    this.el.append(this.video, this.avatar, this.label, this.hand);
    this.track = null;
  }

  setTrack(track) {
    if (track === this.track) return;
    this.track = track;
    this.video.srcObject = track ? new MediaStream([track]) : null;
    if (track) this.video.play().catch(() => {}); // muted video may always autoplay
  }

  remove() {
    this.setTrack(null);
    this.el.remove();
  }
}

export class Grid {
  /**
   * @param {HTMLElement} root  element holding .stage and .tiles
   * @param {{media: import('./media.js').LocalMedia, audioSink: HTMLElement,
   *          onSoundBlocked: () => void, onCount: (n: number) => void}} opts
   */
  constructor(root, { media, audioSink, onSoundBlocked, onCount }) {
    this.root = root;
    this.stage = root.querySelector('.stage');
    this.strip = root.querySelector('.tiles');
    this.media = media;
    this.audioSink = audioSink;
    this.onSoundBlocked = onSoundBlocked;
    this.onCount = onCount;
    this.selfId = null;
    this.people = new Map(); // id -> {p, tile, screen, audio, meter, micTrack, speakingUntil, ...}
    this.remote = new Map(); // participantId -> {microphone, camera, screen} MediaStreamTracks
    this.screenSeq = 0;
    this.hands = new Map(); // participantId -> place in the raised-hand queue (1 = first)
    this.spotlight = ''; // the participant a moderator put in the spotlight (room settings)
    this.speakers = new Set(); // remote participants the server says are speaking (active_speakers)
    this.timer = setInterval(() => this.tick(), 100);
    new ResizeObserver(() => this.layout()).observe(root);
  }

  setSelf(id) {
    if (this.selfId && this.selfId !== id) this.remove(this.selfId);
    this.selfId = id;
  }

  /** Replace the whole participant list (a `joined` snapshot); remote media is kept. */
  setParticipants(list) {
    const keep = new Set(list.map((p) => p.id));
    for (const id of [...this.people.keys()]) if (!keep.has(id)) this.remove(id);
    for (const p of list) this.upsert(p, false);
    this.layout();
  }

  upsert(p, relayout = true) {
    let e = this.people.get(p.id);
    if (!e) {
      e = { p, tile: new Tile(p.id, 'camera'), screen: null, audio: null, meter: null, micTrack: null,
        speakingUntil: 0, speaking: false, videoLive: false };
      this.people.set(p.id, e);
    }
    e.p = p;
    this.render(e);
    if (relayout) this.layout();
  }

  remove(id) {
    const e = this.people.get(id);
    if (!e) return;
    e.tile.remove();
    if (e.screen) e.screen.remove();
    if (e.meter) e.meter.close();
    this.setAudio(e, null);
    this.people.delete(id);
    this.layout();
  }

  /** What the subscribe connection carries now: [{participantId, source, track}]. */
  setRemoteMedia(list) {
    const next = new Map();
    for (const m of list) {
      if (!next.has(m.participantId)) next.set(m.participantId, {});
      next.get(m.participantId)[m.source] = m.track;
    }
    const ids = new Set([...this.remote.keys(), ...next.keys()]);
    this.remote = next;
    for (const id of ids) {
      const e = this.people.get(id);
      if (e) this.render(e);
    }
    this.layout();
  }

  /** The raised-hand queue changed: ids, first raised first. */
  setHands(ids) {
    const before = this.hands;
    this.hands = new Map(ids.map((id, i) => [id, i + 1]));
    for (const [id, e] of this.people) if (before.get(id) !== this.hands.get(id)) this.render(e);
  }

  /** The room's spotlight changed: that participant's tile goes large on every grid. */
  setSpotlight(id) {
    if ((id || '') === this.spotlight) return;
    this.spotlight = id || '';
    this.layout();
  }

  /** Local media changed (mute, camera, screen). */
  updateLocal() {
    const e = this.people.get(this.selfId);
    if (e) { this.render(e); this.layout(); }
  }

  clear() {
    for (const id of [...this.people.keys()]) this.remove(id);
    this.remote.clear();
    this.speakers = new Set();
    this.selfId = null;
  }

  /** Everything one participant's tiles show, derived from the model and the media. */
  view(e) {
    const p = e.p;
    const has = (source) => p.tracks.find((t) => t.source === source);
    if (p.id === this.selfId) {
      const m = this.media;
      return { self: true, cam: m.cam, mic: m.mic, micOff: m.micMuted || !m.mic, screen: m.screen,
        sharing: !!m.screen, videoOn: !!m.cam && hasFrame(e.tile) };
    }
    const r = this.remote.get(p.id) || {};
    const cam = has('camera');
    const mic = has('microphone');
    const scr = has('screen');
    return {
      self: false, cam: r.camera || null, mic: r.microphone || null, micOff: !mic || mic.muted,
      screen: r.screen || null, sharing: !!scr,
      // A remote track is muted while no packets arrive: show the avatar then, and until a frame shows.
      videoOn: !!(cam && !cam.muted && r.camera && !r.camera.muted) && hasFrame(e.tile),
    };
  }

  render(e) {
    const p = e.p;
    const v = this.view(e);
    const t = e.tile;
    const name = v.self ? 'You' : p.name;
    t.el.classList.toggle('self', v.self);
    t.el.classList.toggle('video-off', !v.videoOn);
    t.setTrack(v.cam);
    t.name.textContent = name;
    t.micOff.hidden = !v.micOff;
    t.badge.hidden = p.role !== 'instructor' && p.role !== 'co_instructor';
    t.badge.textContent = p.role === 'co_instructor' ? 'Co-instructor' : 'Instructor';
    t.el.classList.toggle('spotlit', p.id === this.spotlight);
    t.initials.textContent = initials(p.name);
    t.avatar.style.setProperty('--avatar', avatarColor(p.identity || p.id));
    const hand = this.hands.get(p.id) || 0;
    t.hand.hidden = !hand;
    t.handPos.textContent = hand ? String(hand) : '';
    t.el.classList.toggle('hand-up', !!hand);
    t.el.setAttribute('aria-label', [v.self ? `You (${p.name})` : p.name,
      p.role === 'instructor' ? 'instructor' : p.role === 'co_instructor' ? 'co-instructor' : '',
      p.id === this.spotlight ? 'in the spotlight' : '', hand ? `hand raised (${ordinal(hand)})` : '',
      v.micOff ? 'microphone off' : '', v.videoOn ? '' : 'camera off'].filter(Boolean).join(', '));
    e.videoLive = v.videoOn;
    e.micOff = v.micOff;

    if (v.sharing && !e.screen) {
      e.screen = new Tile(p.id, 'screen');
      e.screen.el.classList.add('screen');
      e.screen.order = ++this.screenSeq;
    } else if (!v.sharing && e.screen) {
      e.screen.remove();
      e.screen = null;
    }
    if (e.screen) {
      const s = e.screen;
      s.setTrack(v.screen);
      e.screenLive = hasFrame(s);
      s.el.classList.toggle('video-off', !e.screenLive);
      s.name.textContent = v.self ? 'You are presenting' : `${p.name} is presenting`;
      s.initials.textContent = initials(p.name);
      s.avatar.style.setProperty('--avatar', avatarColor(p.identity || p.id));
      s.micOff.hidden = true;
      s.badge.hidden = true;
      s.hand.hidden = true;
      s.el.setAttribute('aria-label', s.name.textContent);
    }

    if (v.mic !== e.micTrack) {
      if (e.meter) e.meter.close();
      e.micTrack = v.mic;
      e.meter = v.mic ? new LevelMeter(v.mic) : null;
      this.setAudio(e, v.self ? null : v.mic);
    }
  }

  setAudio(e, track) {
    if (!track) {
      if (e.audio) { e.audio.srcObject = null; e.audio.remove(); e.audio = null; }
      return;
    }
    if (!e.audio) {
      e.audio = document.createElement('audio');
      e.audio.autoplay = true;
      e.audio.dataset.participantId = e.p.id;
      this.audioSink.append(e.audio);
    }
    e.audio.srcObject = new MediaStream([track]);
    this.playAudio(e.audio);
  }

  playAudio(audio) {
    audio.play().catch((err) => {
      if (err.name === 'NotAllowedError') this.onSoundBlocked();
    });
  }

  /** After a click: play every remote audio element (autoplay was refused). */
  unlockSound() {
    for (const e of this.people.values()) if (e.audio) this.playAudio(e.audio);
  }

  /** The server's active speakers changed (remote participants' speaking rings). */
  setSpeakers(ids) {
    this.speakers = new Set(ids);
  }

  /**
   * Each remote video tile's size in device pixels ({participantId, trackId, width, height}), for
   * set_video_quality; 0×0 for a tile that is not shown. The tile, not the video element, is
   * measured: the video is hidden while it has no frames, and must not ask for nothing then.
   */
  videoSizes() {
    const out = [];
    const dpr = window.devicePixelRatio || 1;
    for (const e of this.people.values()) {
      if (e.p.id === this.selfId) continue;
      for (const t of [e.tile, e.screen]) {
        if (!t || !t.track) continue;
        const shown = t.el.isConnected && t.el.offsetParent !== null;
        out.push({ participantId: e.p.id, trackId: t.el.dataset.source,
          width: shown ? Math.round(t.el.clientWidth * dpr) : 0, height: shown ? Math.round(t.el.clientHeight * dpr) : 0 });
      }
    }
    return out;
  }

  /** Speaking rings, and the avatar while a remote video has no frames yet. */
  tick() {
    const now = performance.now();
    for (const e of this.people.values()) {
      // Our own ring follows our microphone at once; everyone else's is the server's detector.
      if (e.p.id === this.selfId && e.meter && !e.micOff && e.meter.level() > SPEAKING_LEVEL) e.speakingUntil = now + SPEAKING_HOLD_MS;
      const speaking = !e.micOff && (e.p.id === this.selfId ? now < e.speakingUntil : this.speakers.has(e.p.id));
      if (speaking !== e.speaking) {
        e.speaking = speaking;
        e.tile.el.classList.toggle('speaking', speaking);
      }
      if (this.view(e).videoOn !== e.videoLive || (e.screen && hasFrame(e.screen) !== e.screenLive)) this.render(e);
    }
  }

  ordered() {
    const rank = (e) => (e.p.role === 'instructor' ? 0 : e.p.id === this.selfId ? 1 : 2);
    return [...this.people.values()].sort((a, b) => rank(a) - rank(b) ||
      String(a.p.joinedAt || '').localeCompare(String(b.p.joinedAt || '')) || a.p.id.localeCompare(b.p.id));
  }

  /** Grid layout, or spotlight (latest shared screen large, everyone else in a strip). */
  layout() {
    const people = this.ordered();
    const screens = people.filter((e) => e.screen).map((e) => e.screen).sort((a, b) => b.order - a.order);
    // A moderator's spotlight wins over a shared screen: it is the room's explicit choice.
    const spot = this.people.get(this.spotlight);
    const featured = spot ? spot.tile : screens[0] || null;
    const stripTiles = [...(spot ? screens : screens.slice(1)).map((s) => s.el),
      ...people.filter((e) => e !== spot).map((e) => e.tile.el)];
    for (const e of people) e.tile.el.classList.toggle('spotlit', e === spot);
    this.root.classList.toggle('layout-spotlight', !!featured);
    this.root.classList.toggle('layout-grid', !featured);
    place(this.stage, featured ? [featured.el] : []);
    place(this.strip, stripTiles);
    this.onCount(people.length);
    this.size(featured ? 0 : stripTiles.length);
  }

  /** Grid mode: the column count that makes 16:9 tiles largest; one column on a phone. */
  size(n) {
    const s = this.strip.style;
    if (!n) { for (const v of ['--row-w', '--tile-w', '--tile-h']) s.removeProperty(v); return; }
    const W = this.strip.clientWidth - 2 * GAP;
    const H = this.strip.clientHeight - 2 * GAP;
    if (W <= 0 || H <= 0) return;
    let best = { cols: 1, w: 0, h: 0 };
    if (W < 600) {
      // Phone: one column, tiles at least 16:9, taller when few people fit the screen.
      const h = Math.min(Math.max(W * 9 / 16, (H - GAP * (n - 1)) / n), W * 1.1);
      best = { cols: 1, w: W, h };
    } else {
      for (let cols = 1; cols <= n; cols++) {
        const rows = Math.ceil(n / cols);
        const w = Math.min((W - GAP * (cols - 1)) / cols, ((H - GAP * (rows - 1)) / rows) * 16 / 9);
        if (w > best.w) best = { cols, w, h: w * 9 / 16 };
      }
    }
    const w = Math.floor(best.w);
    s.setProperty('--row-w', `${best.cols * w + (best.cols - 1) * GAP}px`);
    s.setProperty('--tile-w', `${w}px`);
    s.setProperty('--tile-h', `${Math.floor(best.h)}px`);
  }
}

function ordinal(n) {
  return n === 1 ? 'first' : n === 2 ? 'second' : n === 3 ? 'third' : `number ${n}`;
}

/** Whether the tile's video element has a frame to show (avoids a blank tile before the first one). */
function hasFrame(tile) {
  return !!tile.track && tile.video.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA;
}

/** Make parent's children exactly nodes, in order, moving only what must move. */
function place(parent, nodes) {
  const cur = [...parent.children];
  if (cur.length === nodes.length && cur.every((n, i) => n === nodes[i])) return;
  for (const n of cur) if (!nodes.includes(n)) n.remove();
  nodes.forEach((n, i) => {
    if (parent.children[i] !== n) parent.insertBefore(n, parent.children[i] || null);
  });
}
