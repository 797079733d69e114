// quality.js — tells the server how large each remote video is shown (set_video_quality), so it
// forwards the simulcast layer that fills the tile and no more. Sizes are read twice a second and
// sent when they change by more than a small step, so resizing a window sends a handful of messages.

const EVERY_MS = 500;
const STEP = 0.15; // a change under 15% is not worth a message

export class VideoQuality {
  /**
   * @param {{videoSizes: () => {participantId: string, trackId: string, width: number, height: number}[]}} grid
   * @param {(data: object) => boolean} send
   */
  constructor(grid, send) {
    this.grid = grid;
    this.send = send;
    this.sent = new Map(); // "participantId/trackId" -> [width, height]
    this.timer = setInterval(() => this.check(), EVERY_MS);
  }

  /** A new server session (join, resume): it knows none of our sizes. */
  reset() { this.sent.clear(); }

  check() {
    const seen = new Set();
    for (const v of this.grid.videoSizes()) {
      const key = `${v.participantId}/${v.trackId}`;
      seen.add(key);
      const before = this.sent.get(key);
      if (before && !changed(before, [v.width, v.height])) continue;
      if (this.send({ participantId: v.participantId, trackId: v.trackId, width: v.width, height: v.height })) {
        this.sent.set(key, [v.width, v.height]);
      }
    }
    for (const key of [...this.sent.keys()]) if (!seen.has(key)) this.sent.delete(key);
  }
}

function changed([w0, h0], [w1, h1]) {
  if ((w0 === 0) !== (w1 === 0)) return true;
  return Math.abs(w1 - w0) > STEP * Math.max(w0, 1) || Math.abs(h1 - h0) > STEP * Math.max(h0, 1);
}
