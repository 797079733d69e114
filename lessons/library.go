package lessons

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/recorder"
	"github.com/chalk-edu/chalk/rooms"
)

// The lesson library: what a room's lessons are called and described, which are hidden from
// students, and deleting one with everything it has. The lesson record (status, duration, which
// videos exist) stays the store's (rooms.Lesson, written by the recorder); what people give a
// lesson is a course record in Docs, one document per lesson in room/<room>/lessonmeta, so renaming
// one lesson never conflicts with another.

// Limits of what moderators write.
const (
	maxTitle       = 200  // characters
	maxDescription = 5000 // characters
	maxLibraryBody = 64 << 10
)

// lessonMeta is one lesson's document in room/<room>/lessonmeta.
type lessonMeta struct {
	Title       string    `json:"title,omitempty"`
	Description string    `json:"description,omitempty"`
	Hidden      bool      `json:"hidden,omitempty"`
	UpdatedAt   time.Time `json:"updatedAt"`
	UpdatedBy   string    `json:"updatedBy,omitempty"` // identity
}

func metaCollection(room string) string { return "room/" + room + "/lessonmeta" }

// lessonCollections are the kinds of course records kept per lesson (records.go): deleting a lesson
// deletes each. A feature that keeps per-lesson records adds its kind here.
var lessonCollections = []string{kindThreads, kindSeen, kindQuestions, kindAnswers, kindProgress}

// LibraryLesson is a lesson as the library shows it (docs/api.md, "Lesson library").
type LibraryLesson struct {
	rooms.Lesson
	Title       string `json:"title"`       // the moderators' title, or one made from the date
	CustomTitle bool   `json:"customTitle"` // false: Title is the default (a page may word it in the viewer's zone)
	Description string `json:"description"`
	Hidden      bool   `json:"hidden"`
	Poster      string `json:"poster,omitempty"` // the poster's API path (add ?token=); once the video is there
	Attendance  int    `json:"attendance"`       // students in the class (room or its breakouts) while it was recorded
	WatchCount  int    `json:"watchCount"`       // students who watched any of it
	Threads     int    `json:"threads"`          // discussion threads on it
	Questions   int    `json:"questions"`        // questions placed in it
}

// libraryMsg is the body of GET /api/rooms/{room}/library.
type libraryMsg struct {
	Room    string          `json:"room"`
	Viewer  viewer          `json:"viewer"`
	Lessons []LibraryLesson `json:"lessons"` // newest first
}

// viewer is who the token says is asking: pages show moderators their controls from it.
type viewer struct {
	Identity  string     `json:"identity"`
	Name      string     `json:"name"`
	Role      rooms.Role `json:"role"`
	Moderator bool       `json:"moderator"`
}

func viewerOf(g auth.Grant) viewer {
	return viewer{Identity: g.Identity, Name: g.Name, Role: g.Role, Moderator: g.Role.Moderator()}
}

// defaultTitle names a lesson without a title after when it was recorded (UTC: the server does not
// know the reader's zone; pages word it in the viewer's own).
func defaultTitle(l rooms.Lesson) string {
	if l.StartedAt.IsZero() {
		return "Lesson " + l.ID
	}
	return "Lesson of " + l.StartedAt.UTC().Format("Mon 2 Jan 2006, 15:04 UTC")
}

// serveLibrary serves GET /api/rooms/{room}/library: the room's lessons with their titles, counts
// and poster, newest first; hidden ones only for moderators.
func (s *Service) serveLibrary(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	g, ok := s.grant(w, r, room)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	ls, err := s.cfg.Store.Lessons(ctx, room)
	if err != nil {
		s.log.Error("read lessons", "room", room, "err", err)
		httpError(w, http.StatusServiceUnavailable, "the classroom state store is unavailable; try again")
		return
	}
	metas, err := s.lessonMetas(ctx, room)
	if err != nil {
		s.log.Error("read lesson details", "room", room, "err", err)
		httpError(w, http.StatusServiceUnavailable, "the course record store is unavailable; try again")
		return
	}
	counts, err := s.libraryCounts(ctx, g, room)
	if err != nil {
		s.log.Error("read lesson counts", "room", room, "err", err)
		httpError(w, http.StatusServiceUnavailable, "the classroom state store is unavailable; try again")
		return
	}
	out := libraryMsg{Room: room, Viewer: viewerOf(g), Lessons: []LibraryLesson{}}
	for i := len(ls) - 1; i >= 0; i-- {
		m := metas[ls[i].ID]
		if m.Hidden && !g.Role.Moderator() {
			continue
		}
		out.Lessons = append(out.Lessons, libraryLesson(ls[i], m, counts[ls[i].ID]))
	}
	writeLibraryJSON(w, http.StatusOK, out)
}

// libraryCounts counts, per lesson, the students who were in the class while it was recorded and
// those who watched it, and its threads and questions: the course analytics' figures
// (analytics.go), so the library and the analytics pages never disagree.
func (s *Service) libraryCounts(ctx context.Context, g auth.Grant, room string) (map[string]LessonStats, error) {
	if s.cfg.Docs == nil {
		return map[string]LessonStats{}, nil
	}
	return s.lessonStats(ctx, g, room, time.Now())
}

func libraryLesson(l rooms.Lesson, m lessonMeta, c LessonStats) LibraryLesson {
	out := LibraryLesson{Lesson: l, Title: m.Title, CustomTitle: m.Title != "", Description: m.Description,
		Hidden: m.Hidden, Attendance: c.LiveAttendees, WatchCount: c.Viewers, Threads: c.Threads, Questions: c.Questions}
	if out.Title == "" {
		out.Title = defaultTitle(l)
	}
	if l.Video {
		out.Poster = "/api/rooms/" + l.Room + "/lessons/" + l.ID + "/poster.jpg"
	}
	return out
}

// lessonMetas reads every lesson document of the room.
func (s *Service) lessonMetas(ctx context.Context, room string) (map[string]lessonMeta, error) {
	if s.cfg.Docs == nil {
		return map[string]lessonMeta{}, nil
	}
	return rooms.ListJSON[lessonMeta](ctx, s.cfg.Docs, metaCollection(room))
}

// lessonMetaOf reads one lesson's document; none is the zero lessonMeta.
func (s *Service) lessonMetaOf(ctx context.Context, room, id string) (lessonMeta, error) {
	if s.cfg.Docs == nil {
		return lessonMeta{}, nil
	}
	m, err := rooms.GetJSON[lessonMeta](ctx, s.cfg.Docs, metaCollection(room), id)
	if errors.Is(err, rooms.ErrNotFound) {
		return lessonMeta{}, nil
	}
	return m, err
}

// serveLibraryLesson serves GET /api/rooms/{room}/lessons/{id}: one lesson as the library shows it.
func (s *Service) serveLibraryLesson(w http.ResponseWriter, r *http.Request) {
	room, id := r.PathValue("room"), r.PathValue("id")
	g, ok := s.grant(w, r, room)
	if !ok {
		return
	}
	l, ok := s.roomLesson(w, r, room, id)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	m, err := s.lessonMetaOf(ctx, room, id)
	if err != nil {
		s.log.Error("read lesson details", "room", room, "lesson", id, "err", err)
		httpError(w, http.StatusServiceUnavailable, "the course record store is unavailable; try again")
		return
	}
	counts, err := s.libraryCounts(ctx, g, room)
	if err != nil {
		s.log.Error("read lesson counts", "room", room, "err", err)
		httpError(w, http.StatusServiceUnavailable, "the classroom state store is unavailable; try again")
		return
	}
	writeLibraryJSON(w, http.StatusOK, struct {
		Viewer viewer        `json:"viewer"`
		Lesson LibraryLesson `json:"lesson"`
	}{viewerOf(g), libraryLesson(*l, m, counts[id])})
}

// lessonPatch is the body of PATCH /api/rooms/{room}/lessons/{id}: the fields to change.
type lessonPatch struct {
	Title       *string `json:"title"` // "" goes back to the default title
	Description *string `json:"description"`
	Hidden      *bool   `json:"hidden"`
}

// servePatchLesson serves PATCH /api/rooms/{room}/lessons/{id}: moderators rename, describe, hide
// or show a lesson.
func (s *Service) servePatchLesson(w http.ResponseWriter, r *http.Request) {
	room, id := r.PathValue("room"), r.PathValue("id")
	g, ok := s.moderatorGrant(w, r, room, "change a lesson")
	if !ok {
		return
	}
	l, ok := s.roomLesson(w, r, room, id)
	if !ok {
		return
	}
	var p lessonPatch
	if !decodeLibraryBody(w, r, &p) {
		return
	}
	if p.Title == nil && p.Description == nil && p.Hidden == nil {
		httpError(w, http.StatusBadRequest, `nothing to change: send "title", "description" or "hidden"`)
		return
	}
	if p.Title != nil {
		t := strings.Join(strings.Fields(*p.Title), " ") // one line
		if n := utf8.RuneCountInString(t); n > maxTitle {
			httpError(w, http.StatusBadRequest, fmt.Sprintf("the title is %d characters; at most %d", n, maxTitle))
			return
		}
		p.Title = &t
	}
	if p.Description != nil {
		d := strings.TrimSpace(*p.Description)
		if n := utf8.RuneCountInString(d); n > maxDescription {
			httpError(w, http.StatusBadRequest, fmt.Sprintf("the description is %d characters; at most %d", n, maxDescription))
			return
		}
		p.Description = &d
	}
	if s.cfg.Docs == nil {
		httpError(w, http.StatusServiceUnavailable, "this server keeps no course records")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	m, err := rooms.UpdateJSON(ctx, s.cfg.Docs, metaCollection(room), id, func(m *lessonMeta, _ bool) error {
		if p.Title != nil {
			m.Title = *p.Title
		}
		if p.Description != nil {
			m.Description = *p.Description
		}
		if p.Hidden != nil {
			m.Hidden = *p.Hidden
		}
		m.UpdatedAt, m.UpdatedBy = time.Now().UTC(), g.Identity
		return nil
	})
	if err != nil {
		s.log.Error("update lesson details", "room", room, "lesson", id, "err", err)
		httpError(w, http.StatusServiceUnavailable, "the course record store is unavailable; try again")
		return
	}
	counts, err := s.libraryCounts(ctx, g, room)
	if err != nil {
		counts = nil // the change is made; the counts are only for show
	}
	writeLibraryJSON(w, http.StatusOK, libraryLesson(*l, m, counts[id]))
}

// serveDeleteLesson serves DELETE /api/rooms/{room}/lessons/{id}: moderators delete a lesson, its
// objects in the lesson storage and its course records. A lesson still being recorded or processed
// is refused (409): the recorder would write its objects again.
func (s *Service) serveDeleteLesson(w http.ResponseWriter, r *http.Request) {
	room, id := r.PathValue("room"), r.PathValue("id")
	if _, ok := s.moderatorGrant(w, r, room, "delete a lesson"); !ok {
		return
	}
	l, ok := s.roomLesson(w, r, room, id)
	if !ok {
		return
	}
	if l.Status == "recording" || l.Status == "processing" {
		httpError(w, http.StatusConflict, "this lesson is still "+l.Status+"; delete it once it is ready (or has failed)")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
	defer cancel()
	// The record goes last: if a step fails, the lesson is still listed and deleting it again
	// finishes the job (each step is idempotent).
	if s.cfg.Objects != nil {
		n, err := s.cfg.Objects.DeletePrefix(ctx, recorder.Prefix(id))
		if err != nil {
			s.log.Error("delete lesson objects", "room", room, "lesson", id, "deleted", n, "err", err)
			httpError(w, http.StatusServiceUnavailable, "the lesson storage did not delete every file of the lesson; try again")
			return
		}
	}
	if s.cfg.Docs != nil {
		for _, kind := range lessonCollections {
			if err := s.cfg.Docs.DeleteCollection(ctx, lessonCollection(room, id, kind)); err != nil {
				s.log.Error("delete lesson records", "room", room, "lesson", id, "kind", kind, "err", err)
				httpError(w, http.StatusServiceUnavailable, "the course record store is unavailable; try again")
				return
			}
		}
		err := s.cfg.Docs.UpdateDoc(ctx, metaCollection(room), id, func([]byte) ([]byte, error) { return nil, nil })
		if err != nil {
			s.log.Error("delete lesson details", "room", room, "lesson", id, "err", err)
			httpError(w, http.StatusServiceUnavailable, "the course record store is unavailable; try again")
			return
		}
	}
	if err := s.cfg.Store.DeleteLesson(ctx, room, id); err != nil && !errors.Is(err, rooms.ErrNotFound) {
		s.log.Error("delete lesson", "room", room, "lesson", id, "err", err)
		httpError(w, http.StatusServiceUnavailable, "the classroom state store is unavailable; try again")
		return
	}
	s.log.Info("lesson deleted", "room", room, "lesson", id)
	w.WriteHeader(http.StatusNoContent)
}

// moderatorGrant is grant for an endpoint only moderators may use: a student's token is 403.
func (s *Service) moderatorGrant(w http.ResponseWriter, r *http.Request, room, what string) (auth.Grant, bool) {
	g, ok := s.grant(w, r, room)
	if !ok {
		return g, false
	}
	if !g.Role.Moderator() {
		httpError(w, http.StatusForbidden, "only an instructor or co-instructor can "+what+"; this token is a "+string(g.Role)+"'s")
		return g, false
	}
	return g, true
}

// hiddenFromRequest reports whether lesson id of room is hidden and the request's token is not a
// moderator's. roomLesson calls it, so every per-lesson endpoint treats a hidden lesson as absent
// for students. The token was checked by the handler already; it is read again here so that no
// handler has to pass its grant along.
func (s *Service) hiddenFromRequest(ctx context.Context, r *http.Request, room, id string) (bool, error) {
	m, err := s.lessonMetaOf(ctx, room, id)
	if err != nil || !m.Hidden {
		return false, err
	}
	main, _ := rooms.ParseBreakoutRoom(room)
	token := r.URL.Query().Get("token")
	if scheme, t, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		token = strings.TrimSpace(t)
	}
	if s.cfg.Tokens == nil {
		return true, nil
	}
	g, err := s.cfg.Tokens.Check(token, main)
	return err != nil || !g.Role.Moderator(), nil
}

// decodeLibraryBody reads a JSON body of at most maxLibraryBody bytes into v, refusing unknown
// fields; on failure it writes a 400 (413 when too large) and returns false.
func decodeLibraryBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxLibraryBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("more than one JSON value")
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", maxLibraryBody))
		return false
	case err != nil:
		httpError(w, http.StatusBadRequest, "the body is not the JSON this endpoint takes: "+err.Error())
		return false
	}
	return true
}

func writeLibraryJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// visibleLessons drops the lessons hidden from g (students) from ls.
func (s *Service) visibleLessons(ctx context.Context, g auth.Grant, room string, ls []rooms.Lesson) ([]rooms.Lesson, error) {
	if g.Role.Moderator() {
		return ls, nil
	}
	metas, err := s.lessonMetas(ctx, room)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(ls, func(l rooms.Lesson) bool { return metas[l.ID].Hidden }), nil
}
