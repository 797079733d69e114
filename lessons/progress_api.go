package lessons

import (
	"context"
	"encoding/csv"
	"net/http"
	"strconv"
	"time"

	"github.com/chalk-edu/chalk/auth"
)

// HTTP handlers of watch progress and analytics (docs/api.md, "Watch progress", "Course
// analytics"); the logic is in progress.go and analytics.go.

func (s *Service) progressRoutes() {
	const L = "/api/rooms/{room}/lessons/{id}"
	s.mux.HandleFunc("POST "+L+"/progress", s.serveHeartbeat)
	s.mux.HandleFunc("GET "+L+"/progress", s.serveMyProgress)
	s.mux.HandleFunc("GET "+L+"/progress/all", s.serveAllProgress)
	s.mux.HandleFunc("GET "+L+"/dropoff", s.serveDropoff)
	s.mux.HandleFunc("GET "+L+"/dropoff.svg", s.serveDropoffSVG)
	s.mux.HandleFunc("GET /api/rooms/{room}/lesson-stats", s.serveLessonStats)
	s.mux.HandleFunc("GET /api/rooms/{room}/analytics", s.serveOverview)
	s.mux.HandleFunc("GET /api/rooms/{room}/analytics.csv", s.serveOverviewCSV)
}

func (s *Service) serveHeartbeat(w http.ResponseWriter, r *http.Request) {
	g, lr, ok := s.lessonFor(w, r)
	if !ok {
		return
	}
	answer(s, w, r, false, "record progress", http.StatusOK, func(ctx context.Context, hb *heartbeat) (Progress, error) {
		return lr.recordBeat(ctx, g, *hb, s.now())
	})
}

func (s *Service) serveMyProgress(w http.ResponseWriter, r *http.Request) {
	g, lr, ok := s.lessonFor(w, r)
	if !ok {
		return
	}
	show(s, w, r, "read progress", http.StatusOK, func(ctx context.Context) (Progress, error) {
		return lr.myProgress(ctx, g)
	})
}

func (s *Service) serveAllProgress(w http.ResponseWriter, r *http.Request) {
	g, lr, ok := s.lessonFor(w, r)
	if !ok || !moderator(w, g, "see others' progress") {
		return
	}
	show(s, w, r, "read progress", http.StatusOK, func(ctx context.Context) (map[string]any, error) {
		all, err := lr.allProgress(ctx)
		return map[string]any{"lesson": lr.lesson.ID, "duration": lr.lesson.Duration, "viewers": all}, err
	})
}

func (s *Service) serveDropoff(w http.ResponseWriter, r *http.Request) {
	g, lr, ok := s.lessonFor(w, r)
	if !ok || !moderator(w, g, "see lesson analytics") {
		return
	}
	show(s, w, r, "read progress", http.StatusOK, lr.dropoff)
}

func (s *Service) serveDropoffSVG(w http.ResponseWriter, r *http.Request) {
	g, lr, ok := s.lessonFor(w, r)
	if !ok || !moderator(w, g, "see lesson analytics") {
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	d, err := lr.dropoff(ctx)
	if err != nil {
		s.writeErr(w, "read progress", err)
		return
	}
	title := defaultTitle(lr.lesson)
	if m, err := s.lessonMetaOf(ctx, lr.room, lr.lesson.ID); err == nil && m.Title != "" {
		title = m.Title
	}
	title = "Viewers per minute: " + title
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml")
	h.Set("Cache-Control", "private, no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// Opened on its own, an SVG is a document: it may run nothing and load nothing.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Write(dropoffSVG(d, title))
}

// courseRequest checks a moderator's token for a main room's course endpoints.
// what says what a student may not do; "" lets any token of the room in.
func (s *Service) courseRequest(w http.ResponseWriter, r *http.Request, what string) (auth.Grant, string, bool) {
	room := r.PathValue("room")
	if !roomNameRE.MatchString(room) { // a main room: its figures cover its breakout rooms
		httpError(w, http.StatusNotFound, "no such room: a room name is 1-64 letters, digits, '-' or '_'")
		return auth.Grant{}, "", false
	}
	g, ok := s.grant(w, r, room)
	if !ok || (what != "" && !moderator(w, g, what)) {
		return g, "", false
	}
	return g, room, true
}

func (s *Service) serveLessonStats(w http.ResponseWriter, r *http.Request) {
	g, room, ok := s.courseRequest(w, r, "")
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*storeTimeout)
	defer cancel()
	st, err := s.lessonStats(ctx, g, room, s.now())
	if err != nil {
		s.writeErr(w, "lesson stats", err)
		return
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"room": room, "lessons": st})
}

func (s *Service) overview(w http.ResponseWriter, r *http.Request) (Overview, bool) {
	_, room, ok := s.courseRequest(w, r, "see course analytics")
	if !ok {
		return Overview{}, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*storeTimeout)
	defer cancel()
	ls, att, progress, err := s.courseData(ctx, room)
	if err != nil {
		s.writeErr(w, "course analytics", err)
		return Overview{}, false
	}
	return overview(room, ls, att, progress, s.now()), true
}

func (s *Service) serveOverview(w http.ResponseWriter, r *http.Request) {
	if ov, ok := s.overview(w, r); ok {
		s.writeJSON(w, http.StatusOK, ov)
	}
}

// overviewColumns is the header of analytics.csv (docs/api.md).
var overviewColumns = []string{"identity", "name", "lesson", "lesson_started_at", "lesson_minutes", "live_minutes", "watched_minutes", "watched_percent", "last_watched_at"}

func (s *Service) serveOverviewCSV(w http.ResponseWriter, r *http.Request) {
	ov, ok := s.overview(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+ov.Room+`-analytics.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	cw.Write(overviewColumns)
	minutes := func(sec float64) string { return strconv.FormatFloat(sec/60, 'f', 1, 64) }
	for _, st := range ov.Students {
		for i, sl := range st.Lessons {
			l := ov.Lessons[i]
			last := ""
			if sl.LastWatchedAt != nil {
				last = sl.LastWatchedAt.UTC().Format(time.RFC3339)
			}
			cw.Write([]string{spreadsheetSafe(st.Identity), spreadsheetSafe(st.Name), l.ID, l.StartedAt.UTC().Format(time.RFC3339),
				minutes(l.Duration), minutes(sl.LiveSeconds), minutes(sl.WatchedSeconds), strconv.FormatFloat(sl.Percent, 'f', 1, 64), last})
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		s.log.Warn("write analytics", "room", ov.Room, "err", err)
	}
}
