// player-questions.js — questions placed in the recording (docs/api.md "Questions in the
// recording"). While a student plays through a question's moment, playback pauses and the question
// is asked over the video; the answer is saved (once: it is final) and, if the question has a
// correct answer, the student sees whether they were right before going on. "Skip for now" lets
// them go on and be asked again on the next pass. Moderators are not stopped: they place questions
// at the current moment with the form in the Chapters pane, and see them listed there.

import { $, el, api, lessonPath, clock } from './lesson-common.js';
import { icons } from './lesson-icons.js';

const letter = (i) => String.fromCharCode(65 + i);
const letters = (xs) => xs.map(letter).join(', ');
const MAX_OPTIONS = 8;

export class QuestionsView {
  /**
   * @param {{video: HTMLVideoElement, viewer: {moderator: boolean}, now: () => number,
   *          onChange: (questions: any[]) => void, onAsk: (asking: boolean) => void}} opts
   */
  constructor({ video, viewer, now, onChange, onAsk }) {
    this.video = video;
    this.viewer = viewer;
    this.now = now;
    this.onChange = onChange;
    this.onAsk = onAsk;
    this.questions = [];
    this.skipped = new Set();
    this.asking = null;
    this.prev = 0;
    video.addEventListener('timeupdate', () => this.tick());
    video.addEventListener('seeked', () => { this.prev = video.currentTime; });
    $('question-form').addEventListener('submit', (ev) => { ev.preventDefault(); this.answer(); });
    $('question-skip').addEventListener('click', () => {
      this.skipped.add(this.asking.id);
      this.close(true);
    });
    $('question-continue').addEventListener('click', () => this.close(true));
    $('question').addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && this.asking) { ev.preventDefault(); $('question-skip').click(); }
    });
    if (viewer.moderator) this.setupForm();
  }

  async load() {
    try {
      const data = await api(lessonPath('/questions'));
      this.questions = (data.questions || []).sort((a, b) => a.at - b.at);
    } catch {
      this.questions = []; // none, or not on this server: nothing to ask
    }
    this.onChange(this.questions);
    if (this.viewer.moderator) this.renderAdmin();
  }

  /** Playback moved on from prev to now: a question in between is asked. */
  tick() {
    const v = this.video;
    const t = v.currentTime;
    const from = this.prev;
    this.prev = t;
    if (this.viewer.moderator || this.asking || v.paused || v.seeking || t < from || t - from > 3) return;
    const q = this.questions.find((x) => !x.myAnswer && !this.skipped.has(x.id) && x.at > from - 0.01 && x.at <= t + 0.01);
    if (q) this.ask(q);
  }

  ask(q) {
    this.asking = q;
    this.video.pause();
    $('question-when').textContent = clock(q.at);
    $('question-prompt').textContent = q.prompt;
    $('question-hint').textContent = q.kind === 'multiple' ? 'Choose every answer that applies.' : 'Choose one answer.';
    const box = $('question-options');
    box.replaceChildren(box.firstElementChild); // the legend
    q.options.forEach((opt, i) => {
      const label = el('label', 'poll-choice');
      const input = el('input');
      input.type = q.kind === 'multiple' ? 'checkbox' : 'radio';
      input.name = 'question-choice';
      input.value = String(i);
      input.addEventListener('change', () => { $('question-error').textContent = ''; });
      const text = el('span', 'poll-choice-text');
      text.append(el('span', 'opt-letter', letter(i)), ' ', opt);
      label.append(input, text);
      box.append(label);
    });
    box.disabled = false;
    $('question-verdict').hidden = true;
    $('question-error').textContent = '';
    $('question-submit').hidden = false;
    $('question-submit').disabled = false;
    $('question-skip').hidden = false;
    $('question-continue').hidden = true;
    $('question').hidden = false;
    this.onAsk(true);
    $('question-prompt').focus();
  }

  async answer() {
    const q = this.asking;
    const choices = [...$('question-options').querySelectorAll('input:checked')].map((i) => Number(i.value));
    if (!choices.length) {
      $('question-error').textContent = q.kind === 'multiple' ? 'Choose at least one answer.' : 'Choose an answer.';
      return;
    }
    $('question-submit').disabled = true;
    try {
      const got = await api(lessonPath(`/questions/${encodeURIComponent(q.id)}/answer`), { method: 'POST', body: { choices } });
      Object.assign(q, got);
      this.showVerdict(q);
    } catch (err) {
      if (err.status === 409) { // answered already (another tab): go on
        await this.load();
        this.close(true);
        return;
      }
      $('question-error').textContent = err.message;
      $('question-submit').disabled = false;
    }
  }

  showVerdict(q) {
    const v = $('question-verdict');
    const mine = (q.myAnswer && q.myAnswer.choices) || [];
    v.className = 'poll-verdict';
    v.replaceChildren();
    let text;
    if (q.myAnswer && q.myAnswer.correct === true) {
      v.classList.add('right');
      text = 'Right!';
    } else if (q.myAnswer && q.myAnswer.correct === false) {
      v.classList.add('wrong');
      const c = q.correct || [];
      text = `Not quite: you chose ${letters(mine)}; the answer is ${letters(c)}.`;
    } else {
      text = 'Thanks: your answer is saved.';
    }
    const icon = el('span', 'verdict-icon');
    icon.innerHTML = icons[q.myAnswer && q.myAnswer.correct === false ? 'close' : 'check'];
    v.append(icon, el('span', '', text));
    v.hidden = false;
    for (const label of $('question-options').querySelectorAll('.poll-choice')) {
      const i = Number(label.querySelector('input').value);
      label.classList.toggle('mine', mine.includes(i));
      label.classList.toggle('correct', (q.correct || []).includes(i));
    }
    $('question-options').disabled = true;
    $('question-submit').hidden = true;
    $('question-skip').hidden = true;
    $('question-continue').hidden = false;
    $('question-continue').focus();
  }

  close(resume) {
    this.asking = null;
    $('question').hidden = true;
    this.onAsk(false);
    this.onChange(this.questions);
    if (resume) this.video.play().catch(() => {});
  }

  // ---- moderators: place a question at the current moment ------------------------------------

  setupForm() {
    $('questions-admin').hidden = false;
    $('qn-add').innerHTML = icons.add;
    $('qn-add').append(el('span', '', 'Add option'));
    $('qn-add').addEventListener('click', () => { this.addOption(''); this.optionInputs().at(-1).focus(); });
    $('question-new').addEventListener('submit', (ev) => { ev.preventDefault(); this.place(); });
    this.resetForm();
  }

  optionInputs() { return [...$('qn-options').querySelectorAll('.opt-text')]; }

  addOption(value) {
    const list = $('qn-options');
    if (list.children.length >= MAX_OPTIONS) return;
    const i = list.children.length;
    const li = el('li', 'poll-option-row');
    li.append(el('span', 'opt-letter', letter(i)));
    const input = el('input', 'opt-text');
    input.maxLength = 200;
    input.value = value;
    input.setAttribute('aria-label', `Option ${letter(i)}`);
    const toggle = el('label', 'correct-toggle');
    const cb = el('input');
    cb.type = 'checkbox';
    cb.setAttribute('aria-label', `Option ${letter(i)} is correct`);
    const mark = el('span', 'correct-mark');
    mark.innerHTML = icons.check;
    toggle.append(cb, mark, el('span', '', 'Correct'));
    li.append(input, toggle);
    list.append(li);
    $('qn-add').hidden = list.children.length >= MAX_OPTIONS;
  }

  resetForm() {
    $('qn-prompt').value = '';
    $('qn-options').replaceChildren();
    this.addOption('');
    this.addOption('');
    $('qn-multiple').checked = false;
    $('qn-error').textContent = '';
    this.updateForm();
  }

  updateForm() {
    $('question-new-heading').textContent = `Ask a question at ${clock(this.now())}`;
    $('qn-submit').textContent = `Place question at ${clock(this.now())}`;
  }

  async place() {
    const prompt = $('qn-prompt').value.trim();
    const rows = [...$('qn-options').children];
    const options = [];
    const correct = [];
    for (const row of rows) {
      const text = row.querySelector('.opt-text').value.trim();
      if (!text) continue;
      if (row.querySelector('input[type=checkbox]').checked) correct.push(options.length);
      options.push(text);
    }
    const multiple = $('qn-multiple').checked;
    const err = $('qn-error');
    if (!prompt) { err.textContent = 'Write the question.'; $('qn-prompt').focus(); return; }
    if (options.length < 2) { err.textContent = 'Give at least two options.'; return; }
    if (!multiple && correct.length > 1) { err.textContent = 'One answer only: tick at most one correct option, or allow several answers.'; return; }
    err.textContent = '';
    $('qn-submit').disabled = true;
    try {
      await api(lessonPath('/questions'), { method: 'POST', body: { at: Math.round(this.now() * 10) / 10, kind: multiple ? 'multiple' : 'single', prompt, options, correct } });
      this.resetForm();
      await this.load();
    } catch (e) {
      err.textContent = e.message;
    } finally {
      $('qn-submit').disabled = false;
    }
  }

  renderAdmin() {
    const list = $('question-admin-list');
    list.replaceChildren(...this.questions.map((q) => {
      const li = el('li', 'chapter chapter-question');
      const row = el('div', 'chapter-btn question-admin-row');
      row.append(el('span', 'time-chip', clock(q.at)));
      const txt = el('span', 'chapter-text');
      txt.append(el('span', 'chapter-title', q.prompt));
      const answer = q.correct && q.correct.length ? ` · answer ${letters(q.correct)}` : ' · no correct answer';
      txt.append(el('span', 'chapter-len', `${q.options.length} options${answer} · ${q.answers || 0} answered`));
      row.append(txt);
      const del = el('button', 'msg-del');
      del.type = 'button';
      del.innerHTML = icons.trash;
      del.title = 'Delete question';
      del.setAttribute('aria-label', `Delete the question at ${clock(q.at)}`);
      del.addEventListener('click', async () => {
        try {
          await api(lessonPath(`/questions/${encodeURIComponent(q.id)}`), { method: 'DELETE' });
          await this.load();
        } catch (e) {
          $('qn-error').textContent = e.message;
        }
      });
      row.append(del);
      li.append(row);
      return li;
    }));
  }
}
