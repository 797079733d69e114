package lessons

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
)

// The course records of one lesson — threads, questions and answers, watch progress — are documents
// in rooms.Docs, one per thread, question, or (viewer, kind), so that concurrent writers rarely touch
// the same document. This file holds what the features share: the collections, the errors a
// request can get, and reading and writing JSON bodies.

// lessonRecords is one lesson's course records, for the logic written once over Docs.
type lessonRecords struct {
	docs   rooms.Docs
	room   string
	lesson rooms.Lesson
}

// Record kinds: the last element of a lesson's collection names.
const (
	kindThreads   = "threads"
	kindSeen      = "seen"
	kindQuestions = "questions"
	kindAnswers   = "answers"
	kindProgress  = "progress"
)

// lessonCollection names a lesson's collection of kind (see docs/architecture.md, "Course records").
func lessonCollection(room, lesson, kind string) string {
	return "lesson/" + room + "/" + lesson + "/" + kind
}

func (lr *lessonRecords) coll(kind string) string {
	return lessonCollection(lr.room, lr.lesson.ID, kind)
}

// Person is who wrote a post or answered, as their token named them.
type Person struct {
	Identity string     `json:"identity"`
	Name     string     `json:"name"`
	Role     rooms.Role `json:"role"`
}

func personOf(g auth.Grant) Person { return Person{Identity: g.Identity, Name: g.Name, Role: g.Role} }

// reqError is a refused request: the status and a sentence for the caller.
type reqError struct {
	status int
	msg    string
}

func (e *reqError) Error() string { return e.msg }

func badRequest(format string, a ...any) error {
	return &reqError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}
func forbidden(msg string) error { return &reqError{http.StatusForbidden, msg} }
func notFound(msg string) error  { return &reqError{http.StatusNotFound, msg} }
func conflict(msg string) error  { return &reqError{http.StatusConflict, msg} }

// tooSoon is a heartbeat sent before the rate limit allows another; retry says when it would.
type tooSoon struct{ retry time.Duration }

func (e *tooSoon) Error() string {
	return "progress was reported less than " + minBeat.String() + " ago; keep these ranges and send them with the next heartbeat"
}

// writeErr answers a request that failed with err: a refusal as its status, an overloaded or
// unreachable store as 503.
func (s *Service) writeErr(w http.ResponseWriter, what string, err error) {
	var re *reqError
	var ts *tooSoon
	var inv *rooms.InvalidError
	switch {
	case errors.As(err, &re):
		httpError(w, re.status, re.msg)
	case errors.As(err, &ts):
		w.Header().Set("Retry-After", strconv.Itoa(int((ts.retry+time.Second-1)/time.Second)))
		httpError(w, http.StatusTooManyRequests, ts.Error())
	case errors.As(err, &inv): // a name the store refuses (e.g. an identity over 256 bytes)
		httpError(w, http.StatusBadRequest, "the course record store refused this request: "+inv.Reason)
	case errors.Is(err, rooms.ErrConflict):
		httpError(w, http.StatusServiceUnavailable, "too many changes to this lesson at once; try again")
	default:
		s.log.Error(what, "err", err)
		httpError(w, http.StatusServiceUnavailable, "the course record store is unavailable; try again")
	}
}

// answer is the shape of a course-record write: read the JSON body into a B (an empty body is a
// zero B when emptyOK), run do with the request's context, and write its result with status, or its
// error (what names the action in the log).
func answer[B, R any](s *Service, w http.ResponseWriter, r *http.Request, emptyOK bool, what string, status int, do func(ctx context.Context, body *B) (R, error)) {
	var body B
	if err := readJSON(w, r, &body, emptyOK); err != nil {
		s.writeErr(w, "", err)
		return
	}
	show(s, w, r, what, status, func(ctx context.Context) (R, error) { return do(ctx, &body) })
}

// show is answer for a request without a body (a read, a delete, a moderator's action): run do
// with the request's context and write its result with status (204 writes no body), or its error.
func show[R any](s *Service, w http.ResponseWriter, r *http.Request, what string, status int, do func(ctx context.Context) (R, error)) {
	ctx, cancel := reqCtx(r)
	defer cancel()
	res, err := do(ctx)
	switch {
	case err != nil:
		s.writeErr(w, what, err)
	case status == http.StatusNoContent:
		w.WriteHeader(status)
	default:
		s.writeJSON(w, status, res)
	}
}

// none is the result of an action that answers 204 No Content.
type none struct{}

// maxBody bounds a request body.
const maxBody = 64 << 10

// readJSON decodes the request body into v, strictly (unknown fields are an error). An empty body
// is allowed if emptyOK, and leaves v as it is.
func readJSON(w http.ResponseWriter, r *http.Request, v any, emptyOK bool) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF) && emptyOK:
		return nil
	case errors.Is(err, io.EOF):
		return badRequest("the request needs a JSON body (see docs/api.md)")
	case errors.As(err, &mbe):
		return &reqError{http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body is over %d KiB", maxBody>>10)}
	case err != nil:
		return badRequest("the body is not valid JSON for this request: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return badRequest("the body must be one JSON value")
	}
	return nil
}

// writeJSON answers with v as JSON.
func (s *Service) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		s.log.Warn("write response", "err", err)
	}
}

// checkText trims a post's text and checks its length in characters.
func checkText(field, text string, maxChars int) (string, error) {
	text = strings.TrimSpace(text)
	if !utf8.ValidString(text) {
		return "", badRequest("%s is not valid UTF-8", field)
	}
	if n := utf8.RuneCountInString(text); n == 0 || n > maxChars {
		return "", badRequest("%s must be 1 to %d characters; it is %d", field, maxChars, n)
	}
	return text, nil
}

// checkAt checks a moment of the lesson.
func (lr *lessonRecords) checkAt(at float64) error {
	if err := lr.needDuration(); err != nil {
		return err
	}
	if at != at || at < 0 || at > lr.lesson.Duration {
		return badRequest("at must be a moment of the lesson, 0 to %.1f seconds; it is %g", lr.lesson.Duration, at)
	}
	return nil
}

// needDuration refuses a lesson whose length is not known yet.
func (lr *lessonRecords) needDuration() error {
	if lr.lesson.Duration <= 0 {
		return conflict("this lesson is still being recorded: its length is not known yet; try again when it is processed")
	}
	return nil
}

// newID returns prefix and 16 random hex digits.
func newID(prefix string) string {
	var b [8]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// lessonFor checks the token and the lesson of a per-lesson request. If not granted, it has
// written the error.
func (s *Service) lessonFor(w http.ResponseWriter, r *http.Request) (auth.Grant, *lessonRecords, bool) {
	room := r.PathValue("room")
	g, ok := s.grant(w, r, room)
	if !ok {
		return g, nil, false
	}
	l, ok := s.roomLesson(w, r, room, r.PathValue("id"))
	if !ok {
		return g, nil, false
	}
	return g, &lessonRecords{docs: s.cfg.Docs, room: room, lesson: *l}, true
}

// moderator answers 403 unless g is an instructor's or co-instructor's; what says what they may do.
func moderator(w http.ResponseWriter, g auth.Grant, what string) bool {
	if g.Role.Moderator() {
		return true
	}
	httpError(w, http.StatusForbidden, "only an instructor or co-instructor can "+what+"; this token is a "+string(g.Role)+"'s")
	return false
}

// posting takes a token of g's posting limit in room; if there is none, it answers 429.
func (s *Service) posting(w http.ResponseWriter, room string, g auth.Grant) bool {
	ok, wait := s.posts.allow(room+"\x00"+g.Identity, s.now())
	if !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		httpError(w, http.StatusTooManyRequests, "too many posts in a short time; wait a few seconds")
	}
	return ok
}

// reqCtx bounds one request's work on the stores.
func reqCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), storeTimeout)
}
