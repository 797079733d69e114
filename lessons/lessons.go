// Package lessons is Chalk's HTTP API for what outlasts a live class: the lessons that recordings
// became and their files, the attendance export, and the course records kept beside them.
//
// Signaling serves the live class over one WebSocket per participant; this package serves the same
// rooms afterwards, over plain HTTP requests that any player page, script or LMS can make. Both
// decide access the same way: a join token names a room and a role (package auth), and the rooms
// store says which lessons a room has — a request never names a storage key directly.
package lessons

import (
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/recorder/storage"
	"github.com/chalk-edu/chalk/rooms"
)

// Config is what the API reads and writes.
type Config struct {
	Store   rooms.Store   // lesson records and attendance (classroom state)
	Docs    rooms.Docs    // course records kept for months (rooms/docs.go)
	Objects storage.Store // the lessons' files; nil: none are served
	Tokens  *auth.Issuer  // checks the join tokens requests carry
	Logger  *slog.Logger
	// PublicURL is the base of links the API hands out (the schedule feed); empty: the request's host.
	PublicURL string
}

// Service serves the API under /api/rooms/{room}/… (docs/api.md). It is an http.Handler: mount it
// on "/api/".
type Service struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
	now func() time.Time // the clock of course records; tests set it

	posts postLimiter // threads and replies per person (ratelimit.go)
}

// storeTimeout bounds one request's reads and writes of the state store.
const storeTimeout = 5 * time.Second

// New returns the API over cfg.
func New(cfg Config) *Service {
	s := &Service{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), now: time.Now}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.routes()
	return s
}

// routes mounts every endpoint; each feature's handlers are in the file named after it.
func (s *Service) routes() {
	s.mux.HandleFunc("GET /api/rooms/{room}/attendance.csv", s.serveAttendance)
	s.mux.HandleFunc("GET /api/rooms/{room}/lessons", s.serveLessonList)
	s.mux.HandleFunc("GET /api/rooms/{room}/lessons/{id}/{object}", s.serveLessonObject)
	s.mux.HandleFunc("GET /api/rooms/{room}/library", s.serveLibrary)
	s.mux.HandleFunc("GET /api/rooms/{room}/lessons/{id}", s.serveLibraryLesson)
	s.mux.HandleFunc("PATCH /api/rooms/{room}/lessons/{id}", s.servePatchLesson)
	s.mux.HandleFunc("DELETE /api/rooms/{room}/lessons/{id}", s.serveDeleteLesson)
	s.mux.HandleFunc("GET /api/rooms/{room}/lessons/{id}/replay", s.serveReplay)
	s.threadRoutes()
	s.questionRoutes()
	s.progressRoutes()
	s.scheduleRoutes()
}

func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// roomNameRE is a main room's name, as signaling accepts it at join.
var roomNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// grant checks that the request carries a join token for room, of any role, sent as
// "Authorization: Bearer <token>" or as ?token= (a <video> element cannot set headers). A breakout
// room ("math.b2") is recorded as its own lesson but joined with its main room's tokens, so the main
// room's token grants it. If not granted, it writes the error and returns false.
func (s *Service) grant(w http.ResponseWriter, r *http.Request, room string) (auth.Grant, bool) {
	main, _ := rooms.ParseBreakoutRoom(room)
	if !roomNameRE.MatchString(main) {
		httpError(w, http.StatusNotFound, "no such room: a room name is 1-64 letters, digits, '-' or '_'")
		return auth.Grant{}, false
	}
	token := r.URL.Query().Get("token")
	if scheme, t, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		token = strings.TrimSpace(t)
	}
	if token == "" || s.cfg.Tokens == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="chalk"`)
		httpError(w, http.StatusUnauthorized, "a join token for this room is required: send it as \"Authorization: Bearer <token>\" or as ?token=")
		return auth.Grant{}, false
	}
	g, err := s.cfg.Tokens.Check(token, main)
	switch {
	case errors.Is(err, auth.ErrWrongRoom):
		httpError(w, http.StatusForbidden, "this token is for another room; use a join token for "+main)
		return auth.Grant{}, false
	case err != nil:
		w.Header().Set("WWW-Authenticate", `Bearer realm="chalk", error="invalid_token"`)
		httpError(w, http.StatusUnauthorized, err.Error())
		return auth.Grant{}, false
	}
	return g, true
}

// httpError writes a plain-text error: what went wrong and what to do, for a person or a script.
func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write([]byte(msg + "\n"))
}
