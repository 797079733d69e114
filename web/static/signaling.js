// signaling.js — one WebSocket to /ws speaking docs/protocol.md v1: JSON envelopes
// {v, type, data}, a `ping` every 5 s, and "lost" after 10 s without any message from the server.
// One Signaling object is one socket; reconnecting (with backoff and resume) is the session's job.

const PING_EVERY_MS = 5000;
const SILENCE_LIMIT_MS = 10000;

export function socketURL() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}

/** The socket URL of a node named by a `redirect` (its base URL, http[s]://host:port). */
export function nodeSocketURL(base) {
  const u = new URL(base, location.href);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.pathname = u.pathname.replace(/\/$/, '') + '/ws';
  u.search = '';
  return u.toString();
}

export class Signaling {
  /**
   * @param {string} url
   * @param {{onOpen: () => void, onMessage: (type: string, data: object) => void,
   *          onLost: (why: string) => void}} handlers
   * onLost is called at most once, when the socket closes or goes silent without close() from us.
   */
  constructor(url, handlers) {
    this.handlers = handlers;
    this.closed = false;
    this.lastHeard = Date.now();
    this.nextPing = Infinity;
    this.ws = new WebSocket(url);
    // Ticking from the start also bounds a connection attempt that hangs: 10 s, then "lost".
    this.timer = setInterval(() => this.tick(), 1000);
    this.ws.onopen = () => {
      this.lastHeard = Date.now();
      this.nextPing = Date.now() + PING_EVERY_MS;
      handlers.onOpen();
    };
    this.ws.onmessage = (ev) => this.receive(ev.data);
    this.ws.onclose = (ev) => this.lost(ev.reason || `socket closed (${ev.code})`);
    this.ws.onerror = () => {}; // always followed by onclose
  }

  get open() {
    return !this.closed && this.ws.readyState === WebSocket.OPEN;
  }

  send(type, data = {}) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify({ v: 1, type, data }));
    return true;
  }

  /** Close on purpose: no onLost. */
  close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    try { this.ws.close(1000, 'bye'); } catch { /* already closing */ }
  }

  receive(text) {
    this.lastHeard = Date.now();
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      console.warn('chalk: ignoring non-JSON message', text);
      return;
    }
    if (!msg || typeof msg.type !== 'string') return;
    if (msg.type === 'pong') return;
    this.handlers.onMessage(msg.type, msg.data || {});
  }

  tick() {
    const now = Date.now();
    if (now - this.lastHeard > SILENCE_LIMIT_MS) {
      this.lost(this.ws.readyState === WebSocket.OPEN ? 'no message from the server for 10 s' : 'could not connect within 10 s');
      try { this.ws.close(4000, 'silent'); } catch { /* ignore */ }
      return;
    }
    if (now >= this.nextPing) {
      this.nextPing = now + PING_EVERY_MS;
      this.send('ping');
    }
  }

  lost(why) {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.handlers.onLost(why);
  }
}
