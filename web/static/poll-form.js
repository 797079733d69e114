// poll-form.js — an instructor's "New poll" form in the Polls pane: the question, 2 to 10 options
// (rows added and removed; Enter moves to the next one), one or several answers, anonymous, and
// "quiz" with the correct option(s) ticked on their rows. It checks the server's limits before
// sending (checkPoll, shown next to the fields) and shows the server's refusals under the form. The
// form closes when the new poll comes back as poll_created, not when it is sent.

import { icons } from './icons.js';
import { POLL_LIMITS } from './classroom.js';

const COUNTER_FROM = POLL_LIMITS.question - 50; // show the question's counter from here on

const $ = (id) => document.getElementById(id);

/** "A", "B", … for option i (0-based), as the results and the students' cards label options. */
export function letter(i) { return String.fromCharCode(65 + i); }

/** Options as letters: "B", "B and C", "A, B and D". */
export function letters(choices) {
  const ls = (choices || []).map(letter);
  return ls.length > 1 ? `${ls.slice(0, -1).join(', ')} and ${ls[ls.length - 1]}` : ls.join('');
}

/** Characters as the server counts them: code points of the trimmed text. */
function length(s) { return [...String(s).trim()].length; }

/**
 * Check a draft against the server's rules (docs/protocol.md): {question, options, multiple,
 * anonymous, quiz, correct (indices of ticked rows)}. Returns {question, options: [{index, text}],
 * correct} messages for what is wrong (empty when nothing is) and the poll_create spec.
 */
export function checkPoll(draft) {
  const errors = { question: '', options: [], correct: '' };
  const question = String(draft.question || '').trim();
  const options = (draft.options || []).map((o) => String(o).trim());
  const qn = length(question);
  if (!qn) errors.question = 'Write the question.';
  else if (qn > POLL_LIMITS.question) errors.question = `The question is ${qn} characters; the limit is ${POLL_LIMITS.question}.`;
  if (options.length < POLL_LIMITS.minOptions || options.length > POLL_LIMITS.maxOptions) {
    errors.options.push({ index: -1, text: `A poll has ${POLL_LIMITS.minOptions} to ${POLL_LIMITS.maxOptions} options.` });
  }
  const empty = options.map((o, i) => (o ? -1 : i)).filter((i) => i >= 0);
  const removable = options.length > POLL_LIMITS.minOptions; // at the minimum there is no Remove button
  const emptyText = empty.length > 1
    ? `Options ${letters(empty)} are empty: fill them in${removable ? ' or remove them' : ''}.`
    : `Option ${letters(empty)} is empty: fill it in${removable ? ' or remove it' : ''}.`;
  options.forEach((o, i) => {
    const n = length(o);
    if (!n) errors.options.push({ index: i, text: emptyText });
    else if (n > POLL_LIMITS.option) errors.options.push({ index: i, text: `Option ${letter(i)} is ${n} characters; the limit is ${POLL_LIMITS.option}.` });
    else {
      const first = options.indexOf(o);
      if (first !== i) errors.options.push({ index: i, text: `Options ${letter(first)} and ${letter(i)} are the same.` });
    }
  });
  const correct = draft.quiz ? [...new Set(draft.correct || [])].filter((i) => i >= 0 && i < options.length).sort((a, b) => a - b) : [];
  if (draft.quiz && !correct.length) {
    errors.correct = draft.multiple ? 'Tick at least one correct answer, or turn off “Quiz”.' : 'Tick the correct answer, or turn off “Quiz”.';
  } else if (draft.quiz && !draft.multiple && correct.length > 1) {
    errors.correct = 'A one-answer quiz has one correct answer.';
  }
  const spec = { question, options, multiple: !!draft.multiple, anonymous: !!draft.anonymous, correct };
  return { errors, spec, ok: !errors.question && !errors.options.length && !errors.correct };
}

export class PollForm {
  /**
   * @param {{classroom: import('./classroom.js').Classroom}} opts
   */
  constructor({ classroom }) {
    this.classroom = classroom;
    this.wrap = $('poll-new');
    this.toggleBtn = $('poll-new-btn');
    this.form = $('poll-form');
    this.question = $('poll-question');
    this.qCount = $('poll-question-count');
    this.qErr = $('poll-question-error');
    this.rows = $('poll-option-rows');
    this.optErr = $('poll-options-error');
    this.addBtn = $('poll-add-option');
    this.anonymous = $('poll-anonymous');
    this.quiz = $('poll-quiz');
    this.err = $('poll-form-error');
    this.start = $('poll-start');
    this.cancel = $('poll-cancel');
    this.attempted = false; // after a refused submit, every check shows as the user types

    this.toggleBtn.dataset.autofocus = '';
    this.toggleBtn.insertAdjacentHTML('afterbegin', icons.add);
    this.addBtn.insertAdjacentHTML('afterbegin', icons.add);
    this.toggleBtn.addEventListener('click', () => (this.form.hidden ? this.open() : this.close()));
    this.cancel.addEventListener('click', () => { this.clear(); this.close(); });
    this.addBtn.addEventListener('click', () => { this.addRow(); this.focusRow(this.rowEls().length - 1); });
    this.form.addEventListener('submit', (ev) => { ev.preventDefault(); this.submit(); });
    this.form.addEventListener('input', () => this.check());
    this.form.addEventListener('change', (ev) => {
      if (ev.target.name === 'poll-kind' || ev.target === this.quiz) this.drawCorrect();
      this.check();
    });
    this.form.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') { ev.preventDefault(); this.close(); }
    });
    this.question.addEventListener('keydown', (ev) => {
      // Enter goes on to the options (Shift+Enter breaks the line); an IME's Enter confirms a word.
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
        ev.preventDefault();
        this.focusRow(0);
      }
    });
    this.clear();
  }

  get multiple() { return this.form.querySelector('input[name=poll-kind]:checked').value === 'multiple'; }

  /** Show the form to instructors only. */
  setAllowed(on) {
    this.wrap.hidden = !on;
    if (!on) this.close();
  }

  open() {
    this.form.hidden = false;
    this.toggleBtn.setAttribute('aria-expanded', 'true');
    this.toggleBtn.hidden = true;
    this.question.focus();
  }

  close() {
    const had = this.form.contains(document.activeElement);
    this.form.hidden = true;
    this.toggleBtn.hidden = false;
    this.toggleBtn.setAttribute('aria-expanded', 'false');
    if (had) this.toggleBtn.focus();
  }

  /** Back to an empty draft: two options, one answer, not anonymous, not a quiz. */
  clear() {
    this.question.value = '';
    this.rows.replaceChildren();
    for (let i = 0; i < POLL_LIMITS.minOptions; i++) this.addRow();
    this.form.querySelector('input[name=poll-kind][value=single]').checked = true;
    this.anonymous.checked = false;
    this.quiz.checked = false;
    this.attempted = false;
    this.err.textContent = '';
    this.drawCorrect();
    this.check();
  }

  rowEls() { return [...this.rows.children]; }

  addRow(text = '') {
    if (this.rowEls().length >= POLL_LIMITS.maxOptions) return;
    const li = document.createElement('li');
    li.className = 'poll-option-row';
    const tag = document.createElement('span');
    tag.className = 'opt-letter';
    tag.setAttribute('aria-hidden', 'true');
    const input = document.createElement('input');
    input.type = 'text';
    input.className = 'opt-text';
    input.autocomplete = 'off';
    input.value = text;
    input.setAttribute('aria-describedby', 'poll-options-error');
    input.addEventListener('keydown', (ev) => this.optionKey(ev, li));
    const correct = document.createElement('label');
    correct.className = 'correct-toggle';
    const box = document.createElement('input');
    box.name = 'poll-correct';
    const mark = document.createElement('span');
    mark.className = 'correct-mark';
    mark.innerHTML = icons.check;
    const word = document.createElement('span');
    word.className = 'correct-word';
    word.textContent = 'Correct';
    correct.append(box, mark, word);
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'icon-btn opt-remove';
    remove.innerHTML = icons.close;
    remove.addEventListener('click', () => this.removeRow(li));
    li.append(tag, input, correct, remove);
    this.rows.append(li);
    this.drawRows();
  }

  removeRow(li) {
    const rows = this.rowEls();
    if (rows.length <= POLL_LIMITS.minOptions) return;
    const i = rows.indexOf(li);
    li.remove();
    this.drawRows();
    this.focusRow(Math.min(i, rows.length - 2));
    this.check();
  }

  focusRow(i) {
    const row = this.rowEls()[i];
    if (row) row.querySelector('.opt-text').focus();
  }

  /** Enter: to the next option; on the last one, a new option (or the Start button at 10). */
  optionKey(ev, li) {
    if (ev.key !== 'Enter' || ev.isComposing || ev.keyCode === 229) return;
    ev.preventDefault();
    const rows = this.rowEls();
    const i = rows.indexOf(li);
    if (i < rows.length - 1) return this.focusRow(i + 1);
    if (rows.length < POLL_LIMITS.maxOptions && ev.target.value.trim()) {
      this.addRow();
      return this.focusRow(i + 1);
    }
    this.start.focus();
  }

  /** Letters, labels and which buttons apply after rows came or went. */
  drawRows() {
    const rows = this.rowEls();
    rows.forEach((li, i) => {
      const L = letter(i);
      li.querySelector('.opt-letter').textContent = L;
      const input = li.querySelector('.opt-text');
      input.placeholder = `Option ${L}`;
      input.setAttribute('aria-label', `Option ${L}`);
      li.querySelector('.correct-toggle input').setAttribute('aria-label', `Option ${L} is correct`);
      const remove = li.querySelector('.opt-remove');
      remove.setAttribute('aria-label', `Remove option ${L}`);
      remove.title = `Remove option ${L}`;
      remove.hidden = rows.length <= POLL_LIMITS.minOptions;
    });
    this.addBtn.hidden = rows.length >= POLL_LIMITS.maxOptions;
    this.drawCorrect();
  }

  /** The correct-answer ticks: shown for a quiz, radios for one answer, checkboxes for several. */
  drawCorrect() {
    const quiz = this.quiz.checked;
    const type = this.multiple ? 'checkbox' : 'radio';
    let seen = false;
    this.form.classList.toggle('quiz', quiz);
    for (const li of this.rowEls()) {
      const box = li.querySelector('.correct-toggle input');
      li.querySelector('.correct-toggle').hidden = !quiz;
      if (box.type !== type) {
        const was = box.checked;
        box.type = type;
        box.checked = was && !(type === 'radio' && seen); // one answer keeps the first tick only
      }
      if (box.checked) seen = true;
      li.classList.toggle('correct', quiz && box.checked);
    }
  }

  draft() {
    const rows = this.rowEls();
    return {
      question: this.question.value,
      options: rows.map((li) => li.querySelector('.opt-text').value),
      multiple: this.multiple,
      anonymous: this.anonymous.checked,
      quiz: this.quiz.checked,
      correct: rows.map((li, i) => (li.querySelector('.correct-toggle input').checked ? i : -1)).filter((i) => i >= 0),
    };
  }

  /**
   * Check the draft and show what is wrong. Too long shows at once; empty, the same and a missing
   * correct answer only after a refused submit, so an empty new form is not all red.
   */
  check() {
    const r = checkPoll(this.draft());
    const show = (text) => this.attempted || text.includes('the limit is'); // too long: at once
    const qn = length(this.question.value);
    this.qCount.textContent = qn >= COUNTER_FROM ? `${qn} / ${POLL_LIMITS.question}` : '';
    this.qCount.classList.toggle('over', qn > POLL_LIMITS.question);
    const qErr = show(r.errors.question) ? r.errors.question : '';
    this.qErr.textContent = qErr;
    this.question.setAttribute('aria-invalid', String(!!qErr));
    const shown = r.errors.options.filter((e) => show(e.text));
    const bad = new Set(shown.map((e) => e.index));
    this.rowEls().forEach((li, i) => li.querySelector('.opt-text').setAttribute('aria-invalid', String(bad.has(i))));
    const lines = [...new Set(shown.map((e) => e.text))];
    if (this.attempted && r.errors.correct) lines.push(r.errors.correct);
    this.optErr.textContent = lines.join('\n');
    this.drawCorrect();
    this.start.disabled = this.classroom.isPending('poll_create');
    this.start.textContent = this.start.disabled ? 'Starting…' : 'Start poll';
    return r;
  }

  submit() {
    if (this.classroom.isPending('poll_create')) return;
    this.attempted = true;
    const r = this.check();
    if (!r.ok) {
      this.err.textContent = '';
      const first = this.form.querySelector('[aria-invalid=true]') || (r.errors.correct && this.rows.querySelector('.correct-toggle input'));
      if (first) first.focus();
      return;
    }
    if (this.classroom.openPolls.length >= POLL_LIMITS.maxOpen) {
      this.err.textContent = `${POLL_LIMITS.maxOpen} polls are open. Close one before starting another.`;
      return;
    }
    if (!this.classroom.createPoll(r.spec)) {
      this.err.textContent = 'You are offline, so the poll was not started. It is still here: start it again once you are reconnected.';
      return;
    }
    this.err.textContent = '';
    this.check();
  }

  /** The model's news: our poll came back (clear and close), or the socket went while sending. */
  onPolls({ kind, mine, lost }) {
    if ((kind === 'created' && mine) || (kind === 'reset' && mine)) {
      this.clear();
      this.close();
      return;
    }
    if (kind === 'reset' && lost) {
      this.err.textContent = 'The connection dropped while the poll was starting, and it did not start. Press “Start poll” to try again.';
    }
    this.check();
  }

  onError({ code, message, ref }) {
    if (ref !== 'poll_create') return;
    switch (code) {
      case 'too_many_polls':
        this.err.textContent = `${POLL_LIMITS.maxOpen} polls are open. Close one before starting another.`;
        break;
      case 'bad_message':
        this.err.textContent = `The poll was not started: ${message || 'the server refused it'}.`;
        break;
      case 'forbidden':
        this.err.textContent = 'Only instructors can start polls.';
        break;
      case 'rate_limited':
        this.err.textContent = 'Too many requests at once. Wait a moment, then press “Start poll” again.';
        break;
      default:
        this.err.textContent = `The poll was not started (${message || code}). Try again.`;
    }
    this.check();
  }
}
