// analytics.js — the instructors' analytics pages. For one lesson (/r/{room}/lessons/{id}/analytics):
// how many students watched and attended live, the drop-off chart (how many reached each minute),
// each student's share watched and their answers to the lesson's questions, and the answers per
// question. For the course (/r/{room}/analytics): per student, live attendance and share watched of
// every lesson, with the CSV downloads. Data: docs/api.md "Watch progress" and "Course analytics".

import { $, el, api, apiPath, lessonPath, lessonId, pageURL, withToken, clock, duration, shortWhen, when, lessonTitle, linkPages, initials, zoneName } from './lesson-common.js';
import { icons } from './lesson-icons.js';

const letter = (i) => String.fromCharCode(65 + i);
const pct = (n, of) => (of > 0 ? Math.round((n * 100) / of) : 0);
const body = $('analytics-body');

linkPages();

function fail(text) {
  $('analytics-status').textContent = text;
  $('analytics-status').classList.add('error');
  body.hidden = true;
}

function section(title, cls = '') {
  const s = el('section', `an-section ${cls}`);
  const h = el('h2', 'an-heading', title);
  s.append(h);
  return s;
}

function tile(value, label, hint = '') {
  const t = el('div', 'an-tile');
  t.append(el('span', 'an-value', value), el('span', 'an-label', label));
  if (hint) t.append(el('span', 'an-hint', hint));
  return t;
}

function bar(percent) {
  const wrap = el('span', 'an-bar');
  wrap.setAttribute('aria-hidden', 'true');
  const fill = el('span', 'an-fill');
  fill.style.width = `${Math.max(0, Math.min(100, percent))}%`;
  fill.classList.toggle('full', percent >= 90);
  wrap.append(fill);
  return wrap;
}

function person(name) {
  const p = el('span', 'an-person');
  const av = el('span', 'avatar-xs', initials(name));
  av.setAttribute('aria-hidden', 'true');
  p.append(av, el('span', 'an-name', name));
  return p;
}

// ---- one lesson ------------------------------------------------------------------------------

async function lessonPage() {
  $('link-player').href = pageURL(`/lessons/${encodeURIComponent(lessonId)}`);
  let info;
  try {
    info = await api(lessonPath());
  } catch (err) {
    return fail(err.status === 404 ? 'This lesson does not exist (any more).' : err.message);
  }
  if (!info.viewer.moderator) return fail('Analytics are for the instructors of this class.');
  const l = info.lesson;
  $('page-title').textContent = lessonTitle(l);
  document.title = `Analytics: ${lessonTitle(l)} — Chalk`;
  $('page-sub').textContent = `${when(l.startedAt)}${l.duration ? ` · ${duration(l.duration)}` : ''} · times in ${zoneName}`;

  const [prog, answers, drop] = await Promise.all([
    api(lessonPath('/progress/all')).catch((e) => e),
    api(lessonPath('/answers')).catch((e) => e),
    api(lessonPath('/dropoff')).catch((e) => e),
  ]);
  if (prog instanceof Error) return fail(`Watch progress is not available: ${prog.message}`);
  const students = (prog.viewers || []).filter((v) => v.role === 'student');
  const qs = answers instanceof Error ? [] : answers.questions || [];
  const people = answers instanceof Error ? [] : (answers.people || []).filter((p) => p.role === 'student');
  const byIdentity = new Map(people.map((p) => [p.identity, p]));
  // Everyone who watched or answered, once.
  const rows = new Map(students.map((s) => [s.identity, { identity: s.identity, name: s.name, progress: s }]));
  for (const p of people) if (!rows.has(p.identity)) rows.set(p.identity, { identity: p.identity, name: p.name, progress: null });

  const avg = students.length ? students.reduce((a, s) => a + (s.percent || 0), 0) / students.length : 0;
  const answered = people.reduce((a, p) => a + Object.keys(p.answers || {}).length, 0);
  const tiles = el('div', 'an-tiles');
  tiles.append(
    tile(String(students.length), students.length === 1 ? 'student watched' : 'students watched'),
    tile(String(l.attendance || 0), 'attended live'),
    tile(`${Math.round(avg)}%`, 'watched on average', students.length ? 'of the lesson, per student who watched' : ''),
    tile(String(qs.length), qs.length === 1 ? 'question' : 'questions', qs.length ? `${answered} ${answered === 1 ? 'answer' : 'answers'}` : 'place them in the player'),
  );
  body.append(tiles);

  // Drop-off: the server's chart.
  const chart = section('How far students watched');
  if (!(drop instanceof Error) && drop.viewers) {
    chart.append(el('p', 'an-lead', `Students who reached each minute of the lesson (${drop.viewers} watched). A drop shows where they stopped.`));
    const img = el('img', 'an-chart');
    img.src = withToken(lessonPath('/dropoff.svg'));
    img.alt = `Chart: of ${drop.viewers} students, ${(drop.minutes || []).join(', ')} reached minutes 1 to ${(drop.minutes || []).length}.`;
    chart.append(img);
  } else {
    chart.append(el('p', 'pane-empty', 'Nobody has watched the recording yet.'));
  }

  // Per student.
  const table = section('Students');
  if (!rows.size) {
    table.append(el('p', 'pane-empty', 'No student has watched this lesson or answered its questions yet.'));
  } else {
    const t = el('table', 'an-table');
    const head = el('tr');
    head.append(el('th', '', 'Student'), el('th', 'an-num', 'Watched'), el('th', 'an-num', 'Time'), el('th', '', 'Last watched'));
    qs.forEach((q, i) => {
      const th = el('th', 'an-q', `Q${i + 1}`);
      th.title = `${clock(q.at)} · ${q.prompt}`;
      head.append(th);
    });
    const thead = el('thead');
    thead.append(head);
    const tbody = el('tbody');
    for (const r of [...rows.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      const tr = el('tr');
      tr.dataset.identity = r.identity;
      const p = r.progress || { percent: 0, watchedSeconds: 0 };
      const nameCell = el('td');
      nameCell.append(person(r.name));
      const w = el('td', 'an-num an-watched');
      w.append(bar(p.percent || 0), el('span', 'an-pct', `${Math.round(p.percent || 0)}%`));
      tr.append(nameCell, w, el('td', 'an-num', duration(p.watchedSeconds || 0)), el('td', 'an-when', p.lastWatchedAt ? shortWhen(p.lastWatchedAt) : '—'));
      const mine = byIdentity.get(r.identity);
      for (const q of qs) {
        const a = mine && mine.answers && mine.answers[q.id];
        const td = el('td', 'an-q');
        if (!a) td.append(el('span', 'an-none', '—'));
        else {
          const chip = el('span', `an-answer${a.correct === true ? ' right' : a.correct === false ? ' wrong' : ''}`);
          if (a.correct === true || a.correct === false) chip.innerHTML = icons[a.correct ? 'check' : 'close'];
          chip.append(el('span', '', (a.choices || []).map(letter).join(',')));
          chip.title = `${r.name}: ${(a.choices || []).map((c) => `${letter(c)} (${q.options[c]})`).join(', ')}${a.correct === true ? ' — right' : a.correct === false ? ' — wrong' : ''}`;
          td.append(chip);
        }
        tr.append(td);
      }
      tbody.append(tr);
    }
    t.append(thead, tbody);
    const scroll = el('div', 'an-scroll');
    scroll.append(t);
    table.append(scroll);
  }
  body.append(table);

  // The chart and the answers per question side by side on a wide screen.
  const pair = el('div', 'an-pair');
  pair.append(chart);
  body.append(pair);
  if (qs.length) {
    const sec = section('Answers per question');
    const list = el('ol', 'poll-list an-questions');
    qs.forEach((q, i) => {
      const counts = q.options.map(() => 0);
      let n = 0;
      for (const p of people) {
        const a = p.answers && p.answers[q.id];
        if (!a) continue;
        n++;
        for (const c of a.choices || []) counts[c]++;
      }
      const card = el('li', 'poll-card closed');
      const meta = el('div', 'poll-meta');
      meta.append(el('span', 'poll-tag', `Q${i + 1}`), el('span', 'poll-kind', `at ${clock(q.at)} · ${q.kind === 'multiple' ? 'several answers' : 'one answer'}`));
      card.append(meta, el('p', 'poll-question', q.prompt));
      const ol = el('ol', 'poll-results');
      q.options.forEach((opt, j) => {
        const row = el('li', 'poll-row');
        const correct = (q.correct || []).includes(j);
        row.classList.toggle('correct', correct);
        const h = el('div', 'poll-row-head');
        const text = el('span', 'poll-row-text');
        text.append(el('span', 'opt-letter', letter(j)), ' ', opt);
        if (correct) {
          const m = el('span', 'poll-mark mark-correct');
          m.innerHTML = icons.check;
          m.append(el('span', '', 'Correct'));
          text.append(' ', m);
        }
        const num = el('span', 'poll-num');
        num.append(el('span', 'poll-pct', `${pct(counts[j], n)}%`), ` · ${counts[j]}`);
        h.append(text, num);
        const b = el('div', 'poll-bar');
        const f = el('span', 'poll-fill');
        f.style.width = `${pct(counts[j], n)}%`;
        b.append(f);
        row.append(h, b);
        ol.append(row);
      });
      card.append(ol, el('p', 'poll-voters', `${n} ${n === 1 ? 'student' : 'students'} answered`));
      list.append(card);
    });
    sec.append(list);
    pair.append(sec);
  }
  done();
}

// ---- the course ------------------------------------------------------------------------------

async function coursePage() {
  $('link-csv').href = withToken(apiPath('/analytics.csv'));
  $('link-attendance').href = withToken(apiPath('/attendance.csv'));
  for (const a of [$('link-csv'), $('link-attendance')]) a.insertAdjacentHTML('afterbegin', icons.download);
  const [overview, library] = await Promise.all([api(apiPath('/analytics')).catch((e) => e), api(apiPath('/library')).catch(() => null)]);
  if (overview instanceof Error) {
    return fail(overview.status === 403 ? 'Analytics are for the instructors of this class.' : `The course overview is not available: ${overview.message}`);
  }
  $('page-sub').textContent = `Room ${document.body.dataset.room} · times in ${zoneName}`;
  const titles = new Map(((library && library.lessons) || []).map((l) => [l.id, lessonTitle(l)]));
  const lessons = overview.lessons || [];
  const students = overview.students || [];

  const tiles = el('div', 'an-tiles');
  const watchedAny = students.filter((s) => (s.lessons || []).some((x) => x.watchedSeconds > 0)).length;
  const liveAny = students.filter((s) => s.liveSeconds > 0).length;
  tiles.append(tile(String(students.length), students.length === 1 ? 'student' : 'students', 'who attended live or watched'),
    tile(String(lessons.length), lessons.length === 1 ? 'lesson' : 'lessons'),
    tile(String(liveAny), 'attended a live class'),
    tile(String(watchedAny), 'watched a recording'));
  body.append(tiles);

  const sec = section('Per student and lesson');
  if (!students.length) {
    sec.append(el('p', 'pane-empty', 'Nobody has attended or watched yet.'));
  } else {
    sec.append(el('p', 'an-lead', 'Each cell: share of the recording watched, and time in the live class while it was recorded.'));
    const t = el('table', 'an-table an-course');
    const head = el('tr');
    head.append(el('th', '', 'Student'), el('th', 'an-num', 'Live, all classes'));
    for (const l of lessons) {
      const th = el('th', 'an-lesson');
      const a = el('a', '', titles.get(l.id) || lessonTitle({ ...l, customTitle: false }));
      a.href = pageURL(`/lessons/${encodeURIComponent(l.id)}/analytics`);
      th.append(a, el('span', 'an-when', shortWhen(l.startedAt)));
      head.append(th);
    }
    const thead = el('thead');
    thead.append(head);
    const tbody = el('tbody');
    for (const s of students) {
      const tr = el('tr');
      tr.dataset.identity = s.identity;
      const nameCell = el('td');
      nameCell.append(person(s.name));
      tr.append(nameCell, el('td', 'an-num', s.liveSeconds ? duration(s.liveSeconds) : '—'));
      (s.lessons || []).forEach((x) => {
        const td = el('td', 'an-cell');
        const top = el('span', 'an-cell-top');
        top.append(bar(x.percent || 0), el('span', 'an-pct', `${Math.round(x.percent || 0)}%`));
        td.append(top, el('span', 'an-cell-live', x.liveSeconds ? `live ${duration(x.liveSeconds)}` : 'absent live'));
        td.classList.toggle('absent', !x.liveSeconds);
        tr.append(td);
      });
      tbody.append(tr);
    }
    t.append(thead, tbody);
    const scroll = el('div', 'an-scroll');
    scroll.append(t);
    sec.append(scroll);
  }
  body.append(sec);
  done();
}

function done() {
  $('analytics-status').hidden = true;
  body.hidden = false;
}

if (lessonId) lessonPage();
else coursePage();
