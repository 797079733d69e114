// lobby.js — the waiting screen a student sees while the lobby holds them (docs/protocol.md "Lobby
// and office hours"): the wording for the mode, the place in line in office hours (updated with
// each `waiting`), a preview of their own camera, and a way to give up. It goes away on `joined`.

const $ = (id) => document.getElementById(id);

export class LobbyView {
  /**
   * @param {{moderation: import('./moderation.js').Moderation, media: import('./media.js').LocalMedia,
   *          onLeave: () => void}} opts
   */
  constructor({ moderation, media, onLeave }) {
    this.media = media;
    this.root = $('lobby-wait');
    this.heading = $('lobby-wait-heading');
    this.line = $('lobby-wait-line');
    this.video = $('lobby-video');
    this.shown = false;
    $('lobby-leave').addEventListener('click', onLeave);
    moderation.on('waiting', (d) => this.render(d));
  }

  render(d) {
    if (!d) {
      this.root.hidden = true;
      this.video.srcObject = null;
      this.shown = false;
      return;
    }
    const office = d.lobby === 'office_hours';
    const n = d.position || 0;
    this.heading.textContent = office ? 'Office hours' : 'Waiting for the instructor to let you in';
    this.line.textContent = office
      ? (n === 1 ? 'You are next in line.' : n > 1 ? `You are number ${n} in line.` : 'You are in line.')
      : 'The instructor has been told you are here.';
    this.root.classList.toggle('office', office);
    this.root.dataset.position = String(n);
    const cam = this.media.cam;
    if (!cam) this.video.srcObject = null;
    else if (!this.video.srcObject || this.video.srcObject.getVideoTracks()[0] !== cam) this.video.srcObject = new MediaStream([cam]);
    this.root.classList.toggle('video-off', !cam);
    this.root.hidden = false;
    if (!this.shown) {
      this.shown = true;
      this.heading.focus();
    }
  }
}
