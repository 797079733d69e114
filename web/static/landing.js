// landing.js — the home page form: room name + your name → /r/{room}?name=…

const ROOM = /^[A-Za-z0-9_-]{1,64}$/;
const form = document.getElementById('join-form');
const room = document.getElementById('room');
const name = document.getElementById('name');
const error = document.getElementById('form-error');

name.value = localStorage.getItem('chalk.name') || '';
// Not on touch screens: focusing would pop up the keyboard over the page.
if (matchMedia('(pointer: fine)').matches) (room.value ? name : room).focus();

/** A readable random room name, e.g. "calm-river-4821". */
function randomRoom() {
  const a = ['calm', 'bright', 'quiet', 'swift', 'green', 'blue', 'golden', 'clever', 'kind', 'brave'];
  const b = ['river', 'maple', 'comet', 'harbor', 'meadow', 'falcon', 'atlas', 'prism', 'cedar', 'orbit'];
  const r = crypto.getRandomValues(new Uint16Array(3));
  return `${a[r[0] % a.length]}-${b[r[1] % b.length]}-${1000 + (r[2] % 9000)}`;
}

document.getElementById('new-room').addEventListener('click', () => {
  room.value = randomRoom();
  error.textContent = '';
  (name.value ? form.querySelector('[type=submit]') : name).focus();
});

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const r = room.value.trim();
  const n = name.value.trim();
  if (!ROOM.test(r)) {
    error.textContent = r ? 'Room names use only letters, digits, “-” and “_” (at most 64).' : 'Enter a room name, or press “New room”.';
    room.focus();
    return;
  }
  if (!n) {
    error.textContent = 'Enter your name, so the class knows who you are.';
    name.focus();
    return;
  }
  localStorage.setItem('chalk.name', n);
  location.assign(`/r/${encodeURIComponent(r)}?name=${encodeURIComponent(n)}`);
});
