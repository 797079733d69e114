package lessons

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"

	"github.com/chalk-edu/chalk/recorder"
	"github.com/chalk-edu/chalk/recorder/storage"
	"github.com/chalk-edu/chalk/rooms"
)

// Lessons and their files. Which lessons a room has is classroom state (the store's Lessons); the bytes
// are in the lesson storage. A request names a room and a lesson, and is served only if its token
// is for that room AND the store lists the lesson as that room's — the path is never trusted to
// name a storage key — and only the objects below, never the per-track originals.

// lessonObjects are the objects of a lesson the API serves, with their Content-Type. "video" is
// another name for lesson.mp4.
var lessonObjects = map[string]struct{ file, contentType string }{
	"video":         {"lesson.mp4", "video/mp4"},
	"lesson.mp4":    {"lesson.mp4", "video/mp4"},
	"preview.webm":  {"preview.webm", "video/webm"},
	"poster.jpg":    {"poster.jpg", "image/jpeg"},
	"timeline.json": {"timeline.json", "application/json"},
	"manifest.json": {"manifest.json", "application/json"},
}

// lessonIDRE is what recorder.NewLessonID makes; anything else cannot be a lesson.
var lessonIDRE = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,159}$`)

// lessonListMsg is the body of GET /api/rooms/{room}/lessons.
type lessonListMsg struct {
	Room    string         `json:"room"`
	Lessons []rooms.Lesson `json:"lessons"` // oldest first
}

// serveLessonList serves GET /api/rooms/{room}/lessons: the room's lessons as JSON, for any
// participant's join token of that room.
func (s *Service) serveLessonList(w http.ResponseWriter, r *http.Request) {
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
	if ls, err = s.visibleLessons(ctx, g, room, ls); err != nil {
		s.log.Error("read lesson details", "room", room, "err", err)
		httpError(w, http.StatusServiceUnavailable, "the course record store is unavailable; try again")
		return
	}
	if ls == nil {
		ls = []rooms.Lesson{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := json.NewEncoder(w).Encode(lessonListMsg{Room: room, Lessons: ls}); err != nil {
		s.log.Warn("write lessons", "room", room, "err", err)
	}
}

// serveLessonObject serves GET /api/rooms/{room}/lessons/{id}/{object}: one object of one of the
// room's lessons, with Range requests (a player seeks), ETag and Last-Modified, streamed from the
// lesson storage.
func (s *Service) serveLessonObject(w http.ResponseWriter, r *http.Request) {
	room, id, name := r.PathValue("room"), r.PathValue("id"), r.PathValue("object")
	g, ok := s.grant(w, r, room)
	if !ok {
		return
	}
	obj, known := lessonObjects[name]
	if !known {
		httpError(w, http.StatusNotFound, "no such lesson object: one of video (lesson.mp4), preview.webm, poster.jpg, timeline.json, manifest.json")
		return
	}
	lesson, ok := s.roomLesson(w, r, room, id)
	if !ok {
		return
	}
	// The raw timeline has every message, those to the instructors only too, and quiz answers
	// before their poll closed: students get it filtered, as /replay (replay.go).
	if obj.file == "timeline.json" && !g.Role.Moderator() {
		httpError(w, http.StatusForbidden, "the raw timeline is for instructors; the class's events as a student may see them are at /api/rooms/"+room+"/lessons/"+id+"/replay")
		return
	}
	if s.cfg.Objects == nil {
		httpError(w, http.StatusServiceUnavailable, "this server has no lesson storage")
		return
	}
	// The request's context, not a timeout: a download lasts as long as the viewer's connection.
	f, info, err := s.cfg.Objects.Open(r.Context(), recorder.Prefix(lesson.ID)+obj.file)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		httpError(w, http.StatusNotFound, obj.file+" of this lesson is not stored (the lesson is "+lesson.Status+"); try again when it is ready")
		return
	case err != nil:
		s.log.Error("open lesson object", "room", room, "lesson", id, "object", obj.file, "err", err)
		httpError(w, http.StatusServiceUnavailable, "the lesson storage is unavailable; try again")
		return
	}
	defer f.Close()
	hd := w.Header()
	hd.Set("Content-Type", obj.contentType)
	hd.Set("X-Content-Type-Options", "nosniff")
	// Private: the URL may carry a token. no-cache: a manifest is replaced as the lesson progresses;
	// the ETag makes revalidation cheap.
	hd.Set("Cache-Control", "private, no-cache")
	if info.ETag != "" {
		hd.Set("ETag", info.ETag)
	}
	hd.Set("Content-Disposition", `inline; filename="`+lesson.ID+"-"+obj.file+`"`)
	// ServeContent answers Range, If-Range, If-None-Match and If-Modified-Since, seeking f.
	http.ServeContent(w, r, obj.file, info.ModTime, f)
}

// roomLesson returns lesson id if the store lists it as room's and the request may see it. If not
// (or the id cannot be a lesson's, or the store did not answer), it writes the error and returns
// false: a lesson of another room, and a hidden lesson asked for with a student's token, are "no
// such lesson" too, so ids cannot be probed across rooms or behind the hidden flag.
func (s *Service) roomLesson(w http.ResponseWriter, r *http.Request, room, id string) (*rooms.Lesson, bool) {
	const noLesson = "this room has no such lesson"
	if !lessonIDRE.MatchString(id) {
		httpError(w, http.StatusNotFound, noLesson)
		return nil, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	ls, err := s.cfg.Store.Lessons(ctx, room)
	if err != nil {
		s.log.Error("read lessons", "room", room, "err", err)
		httpError(w, http.StatusServiceUnavailable, "the classroom state store is unavailable; try again")
		return nil, false
	}
	i := slices.IndexFunc(ls, func(l rooms.Lesson) bool { return l.ID == id })
	if i < 0 {
		httpError(w, http.StatusNotFound, noLesson)
		return nil, false
	}
	// A hidden lesson is no lesson at all to a student (library.go).
	switch hidden, err := s.hiddenFromRequest(ctx, r, room, id); {
	case err != nil:
		s.log.Error("read lesson details", "room", room, "lesson", id, "err", err)
		httpError(w, http.StatusServiceUnavailable, "the course record store is unavailable; try again")
		return nil, false
	case hidden:
		httpError(w, http.StatusNotFound, noLesson)
		return nil, false
	}
	return &ls[i], true
}
