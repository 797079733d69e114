// media.js — the local camera, microphone and screen, explained failures of getUserMedia, and
// audio level meters (WebAudio AnalyserNode) for the speaking indicator and the pre-join check.

const VIDEO = { width: { ideal: 960 }, height: { ideal: 540 }, frameRate: { ideal: 24 } };
const AUDIO = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

/** Plain-words explanation of a getUserMedia failure. */
export function explainMediaError(err, what = 'camera and microphone') {
  const name = err && err.name;
  if (name === 'NotAllowedError' || name === 'SecurityError') {
    return `Access to your ${what} is blocked. You can still join to watch and listen. ` +
      'To be seen and heard, allow access (camera icon in the address bar) and reload the page.';
  }
  if (name === 'NotFoundError' || name === 'OverconstrainedError') {
    return `No ${what} found. You can still join to watch and listen.`;
  }
  if (name === 'NotReadableError' || name === 'AbortError') {
    return `Your ${what} is in use by another app. Close that app and try again, or join to watch and listen.`;
  }
  if (name === 'NoSecureContext') {
    return 'This page is not secure (https), so the browser will not share your camera or microphone. ' +
      'You can still join to watch and listen.';
  }
  return `Could not start your ${what} (${(err && err.message) || name || 'unknown error'}). ` +
    'You can still join to watch and listen.';
}

function shortReason(err) {
  switch (err && err.name) {
    case 'NotAllowedError': case 'SecurityError': return 'access blocked';
    case 'NotFoundError': case 'OverconstrainedError': return 'none found';
    case 'NotReadableError': case 'AbortError': return 'in use by another app';
    default: return 'could not start';
  }
}

function noSecureContext() {
  const e = new Error('mediaDevices unavailable');
  e.name = 'NoSecureContext';
  return e;
}

export class LocalMedia {
  constructor() {
    // The stream named in addTransceiver({streams}) for microphone and camera: it gives both the
    // same msid so receivers keep them in lip sync, whatever replaceTrack does later.
    this.stream = new MediaStream();
    this.mic = null;
    this.cam = null;
    this.screen = null;
    this.micMuted = false;
    this.starting = false; // getUserMedia in progress
    this.onchange = () => {};
  }

  get camOn() { return !!this.cam; }

  /**
   * Acquire what is wanted. Falls back to one device when the pair fails for a reason other than
   * permission. Returns an explanation string when something could not be started, else ''.
   */
  async start({ audio = true, video = true } = {}) {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      return explainMediaError(noSecureContext());
    }
    if (!audio && !video) return '';
    this.starting = true;
    this.onchange();
    let firstErr = null;
    const attempts = [{ audio, video }];
    if (audio && video) attempts.push({ audio: true, video: false }, { audio: false, video: true });
    for (const want of attempts) {
      try {
        const s = await navigator.mediaDevices.getUserMedia({
          audio: want.audio ? AUDIO : false,
          video: want.video ? VIDEO : false,
        });
        for (const t of s.getAudioTracks()) this.setMic(t);
        for (const t of s.getVideoTracks()) this.setCam(t);
        break;
      } catch (err) {
        firstErr = firstErr || err;
        if (err.name === 'NotAllowedError' || err.name === 'SecurityError') break;
      }
    }
    this.starting = false;
    this.onchange();
    if (!firstErr) return '';
    if (audio && video && (this.mic || this.cam)) {
      const missing = this.mic ? 'Camera' : 'Microphone';
      const kept = this.mic ? 'microphone' : 'camera';
      return `${missing} unavailable (${shortReason(firstErr)}): you will join with your ${kept} only.`;
    }
    return explainMediaError(firstErr, audio && video ? 'camera and microphone' : audio ? 'microphone' : 'camera');
  }

  setMic(track) {
    if (this.mic) { this.stream.removeTrack(this.mic); this.mic.stop(); }
    this.mic = track;
    if (track) {
      track.enabled = !this.micMuted;
      this.stream.addTrack(track);
    }
  }

  setCam(track) {
    if (this.cam) { this.stream.removeTrack(this.cam); this.cam.stop(); }
    this.cam = track;
    if (track) this.stream.addTrack(track);
  }

  setMicMuted(muted) {
    this.micMuted = muted;
    if (this.mic) this.mic.enabled = !muted;
    this.onchange();
  }

  /** Turn the camera off (the track is stopped, so the camera light goes off) or on again. */
  async setCamOn(on) {
    if (!on) {
      this.setCam(null);
      this.onchange();
      return;
    }
    if (this.cam) return;
    if (!navigator.mediaDevices) throw noSecureContext();
    const s = await navigator.mediaDevices.getUserMedia({ video: VIDEO });
    this.setCam(s.getVideoTracks()[0]);
    this.onchange();
  }

  /** Retry the microphone after a failure (e.g. the user plugged one in). */
  async startMic() {
    if (this.mic) return;
    if (!navigator.mediaDevices) throw noSecureContext();
    const s = await navigator.mediaDevices.getUserMedia({ audio: AUDIO });
    this.setMic(s.getAudioTracks()[0]);
    this.onchange();
  }

  static get canShareScreen() {
    return !!(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
  }

  async startScreen() {
    const s = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
    const track = s.getVideoTracks()[0];
    if ('contentHint' in track) track.contentHint = 'detail'; // text stays sharp, frame rate may drop
    track.onended = () => { // the browser's own "Stop sharing"
      if (this.screen === track) { this.screen = null; this.onchange(); }
    };
    this.screen = track;
    this.onchange();
    return track;
  }

  stopScreen() {
    if (!this.screen) return;
    const t = this.screen;
    this.screen = null;
    t.onended = null;
    t.stop();
    this.onchange();
  }

  /** Stop everything (leave): the camera light goes off. */
  stopAll() {
    this.setMic(null);
    this.setCam(null);
    this.stopScreen();
    this.onchange();
  }
}

let audioCtx = null;

/** The one shared AudioContext (created on first use). */
export function audioContext() {
  if (!audioCtx) {
    const AC = window.AudioContext || window.webkitAudioContext;
    audioCtx = AC ? new AC() : null;
  }
  return audioCtx;
}

/** Resume audio after a user gesture (autoplay policy). */
export function resumeAudio() {
  const ctx = audioContext();
  if (ctx && ctx.state === 'suspended') return ctx.resume().catch(() => {});
  return Promise.resolve();
}

/** The loudness of one audio track, 0..1 (RMS), sampled on demand. */
export class LevelMeter {
  constructor(track) {
    this.track = track;
    const ctx = audioContext();
    if (!ctx) return;
    this.source = ctx.createMediaStreamSource(new MediaStream([track]));
    this.analyser = ctx.createAnalyser();
    this.analyser.fftSize = 512;
    this.analyser.smoothingTimeConstant = 0.3;
    this.buf = new Float32Array(this.analyser.fftSize);
    this.source.connect(this.analyser);
  }

  level() {
    if (!this.analyser || this.track.readyState !== 'live' || !this.track.enabled) return 0;
    this.analyser.getFloatTimeDomainData(this.buf);
    let sum = 0;
    for (const x of this.buf) sum += x * x;
    return Math.sqrt(sum / this.buf.length);
  }

  close() {
    if (this.source) this.source.disconnect();
    this.source = this.analyser = null;
  }
}
