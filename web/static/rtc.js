// rtc.js — the two peer connections of docs/protocol.md. Publisher: client-offered, three sendonly
// transceivers (microphone, camera, screen) whose tracks change by replaceTrack only. Subscriber:
// server-offered, recvonly; every offer says which participant's source each mid carries.

export const SOURCES = ['microphone', 'camera', 'screen'];

/**
 * The camera is sent as three simulcast layers (quarter, half and full resolution); the server
 * forwards each subscriber the one its tile and bandwidth call for. The screen share is one layer:
 * its text must stay sharp and it is shown large.
 */
export const CAMERA_LAYERS = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_200_000 },
];

/** Use new ICE servers (fresh TURN credentials) from the next gathering on, e.g. an ICE restart. */
export function useIceServers(pc, iceServers) {
  try {
    pc.setConfiguration({ ...pc.getConfiguration(), iceServers });
  } catch (err) {
    console.warn('chalk: could not update the ICE servers:', err.message);
  }
}

/** Restart ICE when the connection has failed, or stayed disconnected for more than 2 s. */
function watchIce(pc, restart) {
  let timer = null;
  pc.addEventListener('iceconnectionstatechange', () => {
    clearTimeout(timer);
    const s = pc.iceConnectionState;
    if (s === 'failed') restart();
    else if (s === 'disconnected') {
      timer = setTimeout(() => { if (pc.iceConnectionState === 'disconnected') restart(); }, 2000);
    }
  });
}

/** Forward local candidates as `candidate` messages, held until our description has been sent. */
class Trickle {
  constructor(pc, name, send) {
    this.ready = false;
    this.held = [];
    pc.addEventListener('icecandidate', (ev) => {
      const c = ev.candidate;
      if (!c || !c.candidate) return; // end of candidates: nothing to say in protocol v1
      const init = { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex,
        usernameFragment: c.usernameFragment };
      if (this.ready) send('candidate', { pc: name, candidate: init });
      else this.held.push(init);
    });
    this.flush = () => {
      this.ready = true;
      for (const init of this.held.splice(0)) send('candidate', { pc: name, candidate: init });
    };
  }
}

/** Add a remote candidate; a failure (stale candidate after a restart) is only logged. */
function addCandidate(pc, init, name) {
  if (!pc.remoteDescription) {
    console.warn(`chalk: ${name} candidate before its description; ignored`);
    return Promise.resolve();
  }
  return pc.addIceCandidate(init).catch((err) => console.warn(`chalk: ${name} addIceCandidate:`, err.message));
}

export class Publisher {
  /**
   * @param {{iceServers: RTCIceServer[], media: import('./media.js').LocalMedia,
   *          send: (type: string, data: object) => boolean, onIceRestart: () => void,
   *          onAnswered: () => void}} opts
   */
  constructor({ iceServers, media, send, onIceRestart, onAnswered }) {
    this.send = send;
    this.onAnswered = onAnswered;
    this.pc = new RTCPeerConnection({ iceServers });
    const streams = [media.stream];
    // Order is part of the protocol: microphone, camera, screen.
    this.transceivers = [
      this.pc.addTransceiver(media.mic || 'audio', { direction: 'sendonly', streams }),
      this.pc.addTransceiver(media.cam || 'video', { direction: 'sendonly', streams, sendEncodings: CAMERA_LAYERS }),
      this.pc.addTransceiver(media.screen || 'video', { direction: 'sendonly', streams: [new MediaStream()] }),
    ];
    this.trickle = new Trickle(this.pc, 'publish', send);
    this.pending = null; // a negotiation asked for while an offer was outstanding
    watchIce(this.pc, () => onIceRestart());
  }

  /** Send an offer (an ICE-restarting one when iceRestart). With force, replace an unanswered offer. */
  async negotiate({ iceRestart = false, force = false } = {}) {
    const pc = this.pc;
    if (pc.signalingState === 'closed') return;
    if (pc.signalingState !== 'stable' && !force) {
      this.pending = { iceRestart: iceRestart || (this.pending && this.pending.iceRestart) };
      return;
    }
    this.pending = null;
    const offer = await pc.createOffer({ iceRestart });
    await pc.setLocalDescription(offer);
    const tracks = this.transceivers.map((t, i) => ({ mid: t.mid, source: SOURCES[i] }));
    this.send('offer', { sdp: pc.localDescription.sdp, tracks });
    this.trickle.flush();
  }

  async handleAnswer(sdp) {
    const pc = this.pc;
    if (pc.signalingState !== 'have-local-offer') {
      console.warn('chalk: publish answer without an outstanding offer; ignored');
      return;
    }
    await pc.setRemoteDescription({ type: 'answer', sdp });
    this.onAnswered();
    if (this.pending) await this.negotiate(this.pending);
  }

  addCandidate(init) { return addCandidate(this.pc, init, 'publish'); }

  /** Put the wanted track on each source's transceiver (replaceTrack: no renegotiation). */
  async setTracks(bySource) {
    await Promise.all(SOURCES.map((source, i) => {
      const sender = this.transceivers[i].sender;
      const want = bySource[source] || null;
      return sender.track === want ? null : sender.replaceTrack(want);
    }));
  }

  close() { this.pc.close(); }
}

export class Subscriber {
  /**
   * @param {{iceServers: RTCIceServer[], send: (type: string, data: object) => boolean,
   *          onIceRestart: () => void,
   *          onMedia: (media: {participantId: string, trackId: string, source: string,
   *                            track: MediaStreamTrack, mid: string}[]) => void}} opts
   */
  constructor({ iceServers, send, onIceRestart, onMedia }) {
    this.send = send;
    this.onMedia = onMedia;
    this.byMid = new Map();
    this.pc = new RTCPeerConnection({ iceServers });
    this.trickle = new Trickle(this.pc, 'subscribe', send);
    // ontrack only fires for transceivers that start receiving; recycled ones keep their track and
    // change owner in the offer's `tracks`, so every offer re-reads all transceivers too.
    this.pc.ontrack = () => this.refresh();
    watchIce(this.pc, () => onIceRestart());
  }

  async handleOffer(sdp, tracks) {
    this.byMid = new Map((tracks || []).map((t) => [t.mid, t]));
    await this.pc.setRemoteDescription({ type: 'offer', sdp });
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    this.send('answer', { sdp: this.pc.localDescription.sdp });
    this.trickle.flush();
    this.refresh();
  }

  addCandidate(init) { return addCandidate(this.pc, init, 'subscribe'); }

  /** Report what every transceiver carries now; a mid missing from the last `tracks` carries nothing. */
  refresh() {
    const media = [];
    for (const tr of this.pc.getTransceivers()) {
      const info = tr.mid != null ? this.byMid.get(tr.mid) : null;
      if (!info || tr.stopped || tr.currentDirection === 'inactive') continue;
      media.push({ participantId: info.participantId, trackId: info.trackId, source: info.source,
        track: tr.receiver.track, mid: tr.mid });
    }
    this.onMedia(media);
  }

  close() { this.pc.close(); }
}
