package lessons

import (
	"context"
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/chalk-edu/chalk/rooms"
)

// The attendance export: who was in a room and its breakout rooms, when, as CSV. Moderators only,
// the same rule the WebSocket's instructor actions follow.

// attendanceColumns is the CSV header; docs/protocol.md describes each column.
var attendanceColumns = []string{"identity", "name", "role", "room", "joined_at", "left_at", "duration_seconds"}

// serveAttendance serves GET /api/rooms/{room}/attendance.csv: the attendance of a room and its
// breakout rooms as CSV, for a moderator's join token of that room.
func (s *Service) serveAttendance(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if !roomNameRE.MatchString(room) { // a main room: its export covers its breakout rooms
		httpError(w, http.StatusNotFound, "no such room: a room name is 1-64 letters, digits, '-' or '_'")
		return
	}
	g, ok := s.grant(w, r, room)
	if !ok {
		return
	}
	if !g.Role.Moderator() {
		httpError(w, http.StatusForbidden, "only an instructor or co-instructor can export attendance; this token is a "+string(g.Role)+"'s")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	recs, err := s.cfg.Store.Attendance(ctx, room)
	if err != nil {
		s.log.Error("read attendance", "room", room, "err", err)
		httpError(w, http.StatusServiceUnavailable, "the classroom state store is unavailable; try again")
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+room+`-attendance.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	cw.Write(attendanceColumns)
	now := time.Now()
	for _, rec := range recs {
		cw.Write(attendanceRow(rec, now))
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		s.log.Warn("write attendance", "room", room, "err", err)
	}
}

// attendanceRow is one CSV row. A stay in progress has no left_at, and its duration runs to now.
func attendanceRow(rec rooms.AttendanceRecord, now time.Time) []string {
	left, end := "", now
	if !rec.LeftAt.IsZero() {
		left, end = rec.LeftAt.UTC().Format(time.RFC3339), rec.LeftAt
	}
	secs := max(int64(end.Sub(rec.JoinedAt)/time.Second), 0)
	return []string{spreadsheetSafe(rec.Identity), spreadsheetSafe(rec.Name), string(rec.Role), rec.Room,
		rec.JoinedAt.UTC().Format(time.RFC3339), left, strconv.FormatInt(secs, 10)}
}

// spreadsheetSafe defuses a cell a spreadsheet would run as a formula (names are chosen by users) by
// starting it with an apostrophe, which spreadsheets hide.
func spreadsheetSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
