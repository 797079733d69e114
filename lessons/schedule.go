package lessons

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // zones are resolved the same on a host without /usr/share/zoneinfo
	"unicode"
	"unicode/utf8"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
)

// The schedule: a room's live sessions, planned by its moderators, one document per session in
// room/<room>/schedule. Times are instants (stored in UTC) plus the IANA zone they were planned in,
// so "9:00 in Paris" stays 9:00 in Paris across a change of daylight saving time and every viewer
// sees it in their own zone. A session that was recorded links to its lesson: one a moderator
// named, or else the lesson whose recording started within the session's window.

// ScheduledSession is a session as the API shows it.
type ScheduledSession struct {
	ID              string    `json:"id"`
	Room            string    `json:"room"`
	Title           string    `json:"title"`
	Description     string    `json:"description"`
	Start           time.Time `json:"start"` // UTC
	End             time.Time `json:"end"`
	TimeZone        string    `json:"timeZone"` // the zone it was planned in, e.g. "Europe/Paris"
	DurationMinutes int       `json:"durationMinutes"`
	Cancelled       bool      `json:"cancelled"`
	// Status is "upcoming", "soon" (starts within 15 minutes), "live", "ended" or "cancelled", as of
	// the response's "now".
	Status string `json:"status"`
	// LessonID is the session's recording: the lesson a moderator linked, else one found by time.
	LessonID     string    `json:"lessonId,omitempty"`
	LessonLinked bool      `json:"lessonLinked,omitempty"` // LessonID was linked by a moderator
	CreatedBy    string    `json:"createdBy"`              // the moderator's identity
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
	Sequence     int       `json:"sequence"` // counts changes (iCalendar SEQUENCE)
}

// scheduleDoc is a stored session: what a moderator decided, nothing derived.
type scheduleDoc struct {
	ID              string    `json:"id"`
	Title           string    `json:"title"`
	Description     string    `json:"description,omitempty"`
	Start           time.Time `json:"start"`
	TimeZone        string    `json:"timeZone"`
	DurationMinutes int       `json:"durationMinutes"`
	Cancelled       bool      `json:"cancelled,omitempty"`
	LessonID        string    `json:"lessonId,omitempty"`
	CreatedBy       string    `json:"createdBy"`
	CreatedAt       time.Time `json:"createdAt"`
	UpdatedAt       time.Time `json:"updatedAt"`
	Sequence        int       `json:"sequence"`
}

// scheduleInput is the body of a create (title, start and durationMinutes required) or an update
// (any subset). Start is RFC 3339 with an offset ("2026-03-02T09:00:00+01:00") or a local time
// ("2026-03-02T09:00") read in timeZone.
type scheduleInput struct {
	Title           *string `json:"title"`
	Description     *string `json:"description"`
	Start           *string `json:"start"`
	TimeZone        *string `json:"timeZone"`
	DurationMinutes *int    `json:"durationMinutes"`
	Cancelled       *bool   `json:"cancelled"`
	LessonID        *string `json:"lessonId"` // "" removes the link
}

const (
	maxScheduleTitle   = 200  // characters
	maxScheduleDesc    = 4000 // characters
	maxScheduleMinutes = 12 * 60
	maxSessionsPerRoom = 500
	// lessonWindowEarly: a recording started this long before a session's start still belongs to it
	// (an instructor checking the camera early).
	lessonWindowEarly = 15 * time.Minute
	soonWindow        = 15 * time.Minute
)

func scheduleColl(room string) string { return "room/" + room + "/schedule" }

var errNoSession = notFound("this room has no such scheduled session")

// localLayouts are the forms a start without an offset may take.
var localLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04"}

// apply checks in and applies it to d (a new session if create). lessons are the room's, for
// checking a linked lesson.
func (in scheduleInput) apply(d *scheduleDoc, create bool, lessons []rooms.Lesson) error {
	if create && (in.Title == nil || in.Start == nil || in.DurationMinutes == nil) {
		return badRequest("a session needs a title, a start and durationMinutes")
	}
	if in.Title != nil {
		t, err := scheduleText("title", *in.Title, maxScheduleTitle, false)
		if err != nil {
			return err
		}
		if t == "" {
			return badRequest("the title must not be empty")
		}
		d.Title = t
	}
	if in.Description != nil {
		t, err := scheduleText("description", *in.Description, maxScheduleDesc, true)
		if err != nil {
			return err
		}
		d.Description = t
	}
	if in.TimeZone != nil {
		if _, err := zone(*in.TimeZone); err != nil {
			return err
		}
		d.TimeZone = *in.TimeZone
	}
	if d.TimeZone == "" {
		d.TimeZone = "UTC"
	}
	if in.Start != nil {
		loc, _ := zone(d.TimeZone)
		start, err := parseStart(*in.Start, loc)
		if err != nil {
			return err
		}
		d.Start = start
	}
	if in.DurationMinutes != nil {
		if m := *in.DurationMinutes; m < 1 || m > maxScheduleMinutes {
			return badRequest("durationMinutes must be 1 to %d", maxScheduleMinutes)
		}
		d.DurationMinutes = *in.DurationMinutes
	}
	if in.Cancelled != nil {
		d.Cancelled = *in.Cancelled
	}
	if in.LessonID != nil {
		if id := *in.LessonID; id != "" && !slices.ContainsFunc(lessons, func(l rooms.Lesson) bool { return l.ID == id }) {
			return badRequest("lessonId %q is not a lesson of this room", id)
		}
		d.LessonID = *in.LessonID
	}
	return nil
}

func zone(name string) (*time.Location, error) {
	if name == "" || len(name) > 64 || strings.HasPrefix(name, "Local") {
		return nil, badRequest("timeZone must be an IANA zone name such as \"Europe/Paris\" or \"UTC\"")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, badRequest("timeZone %q is not a known IANA zone (such as \"America/New_York\")", name)
	}
	return loc, nil
}

func parseStart(s string, loc *time.Location) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		for _, layout := range localLayouts {
			if t, err = time.ParseInLocation(layout, s, loc); err == nil {
				break
			}
		}
	}
	if err != nil {
		return time.Time{}, badRequest("start %q is not a time: use RFC 3339 (\"2026-03-02T09:00:00+01:00\") or a local time (\"2026-03-02T09:00\") with timeZone", s)
	}
	if y := t.Year(); y < 2000 || y > 2200 {
		return time.Time{}, badRequest("start must be between the years 2000 and 2200")
	}
	return t.UTC().Truncate(time.Second), nil
}

// scheduleText trims text and checks its length and characters (newlines only if multiline).
func scheduleText(field, text string, maxChars int, multiline bool) (string, error) {
	if !utf8.ValidString(text) {
		return "", badRequest("%s is not valid UTF-8", field)
	}
	text = strings.TrimSpace(strings.ReplaceAll(text, "\r\n", "\n"))
	if n := utf8.RuneCountInString(text); n > maxChars {
		return "", badRequest("%s is %d characters; at most %d", field, n, maxChars)
	}
	for _, r := range text {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t')) {
			return "", badRequest("%s contains a control character", field)
		}
	}
	return text, nil
}

// view is d as the API shows it, as of now, with the lesson it links to: the one a moderator
// linked, else found (the recording matchLessons gave this session).
func (d scheduleDoc) view(room string, now time.Time, lessons []rooms.Lesson, found string) ScheduledSession {
	end := d.Start.Add(time.Duration(d.DurationMinutes) * time.Minute)
	v := ScheduledSession{ID: d.ID, Room: room, Title: d.Title, Description: d.Description, Start: d.Start, End: end,
		TimeZone: d.TimeZone, DurationMinutes: d.DurationMinutes, Cancelled: d.Cancelled, CreatedBy: d.CreatedBy,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, Sequence: d.Sequence}
	switch {
	case d.Cancelled:
		v.Status = "cancelled"
	case now.Before(d.Start.Add(-soonWindow)):
		v.Status = "upcoming"
	case now.Before(d.Start):
		v.Status = "soon"
	case now.Before(end):
		v.Status = "live"
	default:
		v.Status = "ended"
	}
	if d.LessonID != "" && slices.ContainsFunc(lessons, func(l rooms.Lesson) bool { return l.ID == d.LessonID }) {
		v.LessonID, v.LessonLinked = d.LessonID, true
		return v
	}
	v.LessonID = found
	return v
}

// matchLessons finds the recording of each session that has no linked one: a lesson belongs to the
// session whose window (from lessonWindowEarly before its start to its end) holds the recording's
// start, the nearest start if several do; a session with several takes the one that started
// nearest its start. Failed lessons, cancelled sessions and linked lessons take no part.
func matchLessons(docs map[string]scheduleDoc, lessons []rooms.Lesson) map[string]string {
	linked := map[string]bool{}
	for _, d := range docs {
		if d.LessonID != "" {
			linked[d.LessonID] = true
		}
	}
	type pick struct {
		lesson string
		dist   time.Duration
	}
	best := map[string]pick{} // session id → its nearest lesson so far
	for _, l := range lessons {
		if l.Status == "failed" || linked[l.ID] {
			continue
		}
		session, dist := "", time.Duration(-1)
		for id, d := range docs {
			end := d.Start.Add(time.Duration(d.DurationMinutes) * time.Minute)
			if d.Cancelled || d.LessonID != "" || l.StartedAt.Before(d.Start.Add(-lessonWindowEarly)) || !l.StartedAt.Before(end) {
				continue
			}
			if dd := l.StartedAt.Sub(d.Start).Abs(); dist < 0 || dd < dist || (dd == dist && id < session) {
				session, dist = id, dd
			}
		}
		if session == "" {
			continue
		}
		if b, ok := best[session]; !ok || dist < b.dist || (dist == b.dist && l.ID < b.lesson) {
			best[session] = pick{l.ID, dist}
		}
	}
	out := make(map[string]string, len(best))
	for id, p := range best {
		out[id] = p.lesson
	}
	return out
}

// schedule reads a room's sessions, by start, as g may see them: a lesson hidden from g is linked
// to no session.
func (s *Service) schedule(ctx context.Context, g auth.Grant, room string, now time.Time) ([]ScheduledSession, []rooms.Lesson, error) {
	docs, err := rooms.ListJSON[scheduleDoc](ctx, s.cfg.Docs, scheduleColl(room))
	if err != nil {
		return nil, nil, err
	}
	lessons, err := s.cfg.Store.Lessons(ctx, room)
	if err != nil {
		return nil, nil, err
	}
	if !g.Role.Moderator() {
		// The lesson library keeps a document per lesson in room/<room>/lessonmeta; a hidden lesson
		// is absent for students on every endpoint, so also here.
		metas, err := rooms.ListJSON[struct {
			Hidden bool `json:"hidden"`
		}](ctx, s.cfg.Docs, "room/"+room+"/lessonmeta")
		if err != nil {
			return nil, nil, err
		}
		lessons = slices.DeleteFunc(lessons, func(l rooms.Lesson) bool { return metas[l.ID].Hidden })
	}
	found := matchLessons(docs, lessons)
	out := make([]ScheduledSession, 0, len(docs))
	for id, d := range docs {
		out = append(out, d.view(room, now, lessons, found[id]))
	}
	slices.SortFunc(out, func(a, b ScheduledSession) int {
		return cmp.Or(a.Start.Compare(b.Start), strings.Compare(a.ID, b.ID))
	})
	return out, lessons, nil
}

func (s *Service) scheduleRoutes() {
	s.mux.HandleFunc("GET /api/rooms/{room}/schedule", s.serveSchedule)
	s.mux.HandleFunc("POST /api/rooms/{room}/schedule", s.serveScheduleCreate)
	s.mux.HandleFunc("PATCH /api/rooms/{room}/schedule/{id}", s.serveScheduleUpdate)
	s.mux.HandleFunc("DELETE /api/rooms/{room}/schedule/{id}", s.serveScheduleDelete)
	s.mux.HandleFunc("GET /api/rooms/{room}/schedule.ics", s.serveScheduleICS)
}

// sessionView is a session just written, as the list shows it (with the recording found for it).
func (s *Service) sessionView(ctx context.Context, g auth.Grant, room string, d scheduleDoc, now time.Time, lessons []rooms.Lesson) ScheduledSession {
	if all, _, err := s.schedule(ctx, g, room, now); err == nil {
		if i := slices.IndexFunc(all, func(v ScheduledSession) bool { return v.ID == d.ID }); i >= 0 {
			return all[i]
		}
	}
	return d.view(room, now, lessons, "")
}

// scheduleList is the body of GET /api/rooms/{room}/schedule.
type scheduleList struct {
	Room     string             `json:"room"`
	Now      time.Time          `json:"now"`     // the server's clock, which Status was computed with
	CanEdit  bool               `json:"canEdit"` // the token is a moderator's: it may change the schedule
	Sessions []ScheduledSession `json:"sessions"`
}

// scheduleRoom checks the room of a schedule request (a main room: breakout rooms have no
// schedule of their own) and the token, and for changes that it is a moderator's.
func (s *Service) scheduleRoom(w http.ResponseWriter, r *http.Request, change bool) (string, auth.Grant, bool) {
	room := r.PathValue("room")
	if !roomNameRE.MatchString(room) {
		httpError(w, http.StatusNotFound, "no such room: a room name is 1-64 letters, digits, '-' or '_'")
		return "", auth.Grant{}, false
	}
	g, ok := s.grant(w, r, room)
	if !ok {
		return "", g, false
	}
	if change && !g.Role.Moderator() {
		httpError(w, http.StatusForbidden, "only an instructor or co-instructor can change the schedule; this token is a "+string(g.Role)+"'s")
		return "", g, false
	}
	return room, g, true
}

func (s *Service) serveSchedule(w http.ResponseWriter, r *http.Request) {
	room, g, ok := s.scheduleRoom(w, r, false)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	now := time.Now().UTC()
	sessions, _, err := s.schedule(ctx, g, room, now)
	if err != nil {
		s.scheduleFail(w, "read schedule", err)
		return
	}
	s.writeJSON(w, http.StatusOK, scheduleList{Room: room, Now: now, CanEdit: g.Role.Moderator(), Sessions: sessions})
}

func (s *Service) serveScheduleCreate(w http.ResponseWriter, r *http.Request) {
	room, g, ok := s.scheduleRoom(w, r, true)
	if !ok {
		return
	}
	var in scheduleInput
	if err := readJSON(w, r, &in, false); err != nil {
		s.scheduleFail(w, "", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	now := time.Now().UTC()
	existing, lessons, err := s.schedule(ctx, g, room, now)
	if err != nil {
		s.scheduleFail(w, "read schedule", err)
		return
	}
	if len(existing) >= maxSessionsPerRoom {
		s.scheduleFail(w, "", &reqError{http.StatusConflict, fmt.Sprintf("this room has %d scheduled sessions, the most it may have; delete old ones first", maxSessionsPerRoom)})
		return
	}
	d := scheduleDoc{ID: newSessionID(), CreatedBy: g.Identity, CreatedAt: now, UpdatedAt: now}
	if err := in.apply(&d, true, lessons); err != nil {
		s.scheduleFail(w, "", err)
		return
	}
	if _, err := rooms.UpdateJSON(ctx, s.cfg.Docs, scheduleColl(room), d.ID, func(v *scheduleDoc, exists bool) error {
		if exists {
			return errors.New("lessons: a new session's id is taken") // 96 random bits: never
		}
		*v = d
		return nil
	}); err != nil {
		s.scheduleFail(w, "create session", err)
		return
	}
	s.writeJSON(w, http.StatusCreated, s.sessionView(ctx, g, room, d, now, lessons))
}

func (s *Service) serveScheduleUpdate(w http.ResponseWriter, r *http.Request) {
	room, g, ok := s.scheduleRoom(w, r, true)
	if !ok {
		return
	}
	var in scheduleInput
	if err := readJSON(w, r, &in, false); err != nil {
		s.scheduleFail(w, "", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	lessons, err := s.cfg.Store.Lessons(ctx, room)
	if err != nil {
		s.scheduleFail(w, "read lessons", err)
		return
	}
	now := time.Now().UTC()
	d, err := rooms.UpdateJSON(ctx, s.cfg.Docs, scheduleColl(room), r.PathValue("id"), func(d *scheduleDoc, exists bool) error {
		if !exists {
			return errNoSession
		}
		if err := in.apply(d, false, lessons); err != nil {
			return err
		}
		d.UpdatedAt = now
		d.Sequence++
		return nil
	})
	if err != nil {
		s.scheduleFail(w, "update session", err)
		return
	}
	s.writeJSON(w, http.StatusOK, s.sessionView(ctx, g, room, d, now, lessons))
}

func (s *Service) serveScheduleDelete(w http.ResponseWriter, r *http.Request) {
	room, _, ok := s.scheduleRoom(w, r, true)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	if _, err := rooms.UpdateJSON(ctx, s.cfg.Docs, scheduleColl(room), r.PathValue("id"), func(_ *scheduleDoc, exists bool) error {
		if !exists {
			return errNoSession
		}
		return rooms.ErrDeleteDoc
	}); err != nil {
		s.scheduleFail(w, "delete session", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// scheduleFail answers a failed request as writeErr does, except that a session id the store
// refuses (e.g. an overlong one in the path) is no such session.
func (s *Service) scheduleFail(w http.ResponseWriter, what string, err error) {
	if inv := (*rooms.InvalidError)(nil); errors.As(err, &inv) {
		err = errNoSession
	}
	s.writeErr(w, what, err)
}

func newSessionID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return "s" + hex.EncodeToString(b)
}
