package lessons

import (
	"context"
	"slices"
	"time"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
)

// Course analytics: per student, live attendance (the rooms store's attendance records) and watch
// progress (the lessons' progress documents), per lesson. Only student tokens count: an
// instructor previewing a lesson is not a viewer.

// OverviewLesson is a lesson in the course overview.
type OverviewLesson struct {
	ID            string    `json:"id"`
	StartedAt     time.Time `json:"startedAt"`
	Duration      float64   `json:"duration"`
	Status        string    `json:"status"`
	Viewers       int       `json:"viewers"`
	LiveAttendees int       `json:"liveAttendees"`
}

// StudentLesson is one student's figures for one lesson.
type StudentLesson struct {
	Lesson         string     `json:"lesson"`
	LiveSeconds    float64    `json:"liveSeconds"`
	WatchedSeconds float64    `json:"watchedSeconds"`
	Percent        float64    `json:"percent"`
	LastWatchedAt  *time.Time `json:"lastWatchedAt,omitempty"`
}

// StudentOverview is one student's row of the course overview.
type StudentOverview struct {
	Identity    string          `json:"identity"`
	Name        string          `json:"name"`
	LiveSeconds float64         `json:"liveSeconds"`
	Lessons     []StudentLesson `json:"lessons"` // one per Overview.Lessons, in order
}

// Overview is the answer of GET /api/rooms/{room}/analytics.
type Overview struct {
	Room     string            `json:"room"`
	Lessons  []OverviewLesson  `json:"lessons"`
	Students []StudentOverview `json:"students"`
}

// interval is a span of wall-clock time.
type interval struct{ from, to time.Time }

// mergeIntervals returns the union of iv, sorted and disjoint.
func mergeIntervals(iv []interval) []interval {
	iv = slices.Clone(iv)
	slices.SortFunc(iv, func(a, b interval) int { return a.from.Compare(b.from) })
	out := make([]interval, 0, len(iv))
	for _, v := range iv {
		if !v.to.After(v.from) {
			continue
		}
		if n := len(out); n > 0 && !v.from.After(out[n-1].to) {
			if v.to.After(out[n-1].to) {
				out[n-1].to = v.to
			}
			continue
		}
		out = append(out, v)
	}
	return out
}

// overlapSeconds is how long merged intervals iv overlap [from, to).
func overlapSeconds(iv []interval, from, to time.Time) float64 {
	var d time.Duration
	for _, v := range iv {
		a, b := v.from, v.to
		if a.Before(from) {
			a = from
		}
		if b.After(to) {
			b = to
		}
		if b.After(a) {
			d += b.Sub(a)
		}
	}
	return d.Seconds()
}

// student is what the overview gathers about one identity.
type student struct {
	name     string
	nameAt   time.Time // when name was seen: the latest wins
	stays    []interval
	progress map[string]progressDoc // by lesson id
}

// overview computes the course overview of a room from its lessons, its attendance and the
// lessons' progress (by lesson id), at time now (a stay in progress runs to now).
func overview(room string, lessons []rooms.Lesson, att []rooms.AttendanceRecord, progress map[string]map[string]progressDoc, now time.Time) Overview {
	people := map[string]*student{}
	get := func(id string) *student {
		if people[id] == nil {
			people[id] = &student{progress: map[string]progressDoc{}}
		}
		return people[id]
	}
	seen := func(st *student, name string, at time.Time) {
		if name != "" && !at.Before(st.nameAt) {
			st.name, st.nameAt = name, at
		}
	}
	for _, a := range att {
		if a.Role != rooms.RoleStudent {
			continue
		}
		st := get(a.Identity)
		left := a.LeftAt
		if left.IsZero() {
			left = now
		}
		st.stays = append(st.stays, interval{a.JoinedAt, left})
		seen(st, a.Name, a.JoinedAt)
	}
	for lesson, byWho := range progress {
		for who, p := range byWho {
			if p.Role != rooms.RoleStudent {
				continue
			}
			st := get(who)
			st.progress[lesson] = p
			seen(st, p.Name, p.LastBeatAt)
		}
	}
	out := Overview{Room: room, Lessons: make([]OverviewLesson, len(lessons)), Students: make([]StudentOverview, 0, len(people))}
	for i, l := range lessons {
		out.Lessons[i] = OverviewLesson{ID: l.ID, StartedAt: l.StartedAt, Duration: l.Duration, Status: l.Status}
	}
	for id, st := range people {
		stays := mergeIntervals(st.stays)
		so := StudentOverview{Identity: id, Name: st.name, Lessons: make([]StudentLesson, len(lessons))}
		for _, s := range stays {
			so.LiveSeconds += s.to.Sub(s.from).Seconds()
		}
		so.LiveSeconds = round3(so.LiveSeconds)
		for i, l := range lessons {
			end := l.StartedAt.Add(time.Duration(l.Duration * float64(time.Second)))
			sl := StudentLesson{Lesson: l.ID, LiveSeconds: round3(overlapSeconds(stays, l.StartedAt, end))}
			if p, ok := st.progress[l.ID]; ok {
				sl.WatchedSeconds = round3(spansLength(p.Watched))
				sl.Percent = percentOf(sl.WatchedSeconds, l.Duration)
				if !p.LastWatchedAt.IsZero() {
					t := p.LastWatchedAt
					sl.LastWatchedAt = &t
				}
			}
			if sl.LiveSeconds > 0 {
				out.Lessons[i].LiveAttendees++
			}
			if sl.WatchedSeconds > 0 {
				out.Lessons[i].Viewers++
			}
			so.Lessons[i] = sl
		}
		out.Students = append(out.Students, so)
	}
	slices.SortFunc(out.Students, func(a, b StudentOverview) int {
		return comparePeople(Person{Identity: a.Identity, Name: a.Name}, Person{Identity: b.Identity, Name: b.Name})
	})
	return out
}

// courseData reads what overview needs: the room's lessons, attendance and every lesson's progress.
func (s *Service) courseData(ctx context.Context, room string) ([]rooms.Lesson, []rooms.AttendanceRecord, map[string]map[string]progressDoc, error) {
	ls, err := s.cfg.Store.Lessons(ctx, room)
	if err != nil {
		return nil, nil, nil, err
	}
	att, err := s.cfg.Store.Attendance(ctx, room)
	if err != nil {
		return nil, nil, nil, err
	}
	progress := make(map[string]map[string]progressDoc, len(ls))
	for _, l := range ls {
		p, err := rooms.ListJSON[progressDoc](ctx, s.cfg.Docs, lessonCollection(room, l.ID, kindProgress))
		if err != nil {
			return nil, nil, nil, err
		}
		progress[l.ID] = p
	}
	return ls, att, progress, nil
}

// LessonStats is a lesson's counts for the library.
type LessonStats struct {
	Viewers       int `json:"viewers"`
	LiveAttendees int `json:"liveAttendees"`
	Threads       int `json:"threads"`
	Questions     int `json:"questions"`
}

// lessonStats counts, per lesson of the room that g may see, viewers and live attendees (from the
// overview), and threads and questions.
func (s *Service) lessonStats(ctx context.Context, g auth.Grant, room string, now time.Time) (map[string]LessonStats, error) {
	ls, att, progress, err := s.courseData(ctx, room)
	if err != nil {
		return nil, err
	}
	if ls, err = s.visibleLessons(ctx, g, room, ls); err != nil {
		return nil, err
	}
	ov := overview(room, ls, att, progress, now)
	out := make(map[string]LessonStats, len(ls))
	for _, l := range ov.Lessons {
		st := LessonStats{Viewers: l.Viewers, LiveAttendees: l.LiveAttendees}
		threads, err := s.cfg.Docs.ListDocs(ctx, lessonCollection(room, l.ID, kindThreads))
		if err != nil {
			return nil, err
		}
		questions, err := s.cfg.Docs.ListDocs(ctx, lessonCollection(room, l.ID, kindQuestions))
		if err != nil {
			return nil, err
		}
		st.Threads, st.Questions = len(threads), len(questions)
		out[l.ID] = st
	}
	return out, nil
}

// studentViewers counts, per lesson of ls, the students who watched any of it: the library's watch
// count.
func (s *Service) studentViewers(ctx context.Context, room string, ls []rooms.Lesson) (map[string]int, error) {
	out := make(map[string]int, len(ls))
	for _, l := range ls {
		all, err := rooms.ListJSON[progressDoc](ctx, s.cfg.Docs, lessonCollection(room, l.ID, kindProgress))
		if err != nil {
			return nil, err
		}
		for _, p := range all {
			if p.Role == rooms.RoleStudent && len(p.Watched) > 0 {
				out[l.ID]++
			}
		}
	}
	return out, nil
}
