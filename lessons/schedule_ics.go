package lessons

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The schedule as an iCalendar feed (RFC 5545) that a calendar application subscribes to: one
// VEVENT per session, times in UTC, cancelled sessions kept as STATUS:CANCELLED so that subscribers
// see the cancellation rather than a silent disappearance, and each event's URL the place to go:
// the live room, or the recording once there is one.

// serveScheduleICS serves GET /api/rooms/{room}/schedule.ics for any join token of the room. A
// calendar application cannot send headers, so the token comes in the URL, and the links in the
// feed carry the same token: the feed is as personal as the link it was fetched with.
func (s *Service) serveScheduleICS(w http.ResponseWriter, r *http.Request) {
	room, g, ok := s.scheduleRoom(w, r, false)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	sessions, _, err := s.schedule(ctx, g, room, time.Now().UTC())
	if err != nil {
		s.scheduleFail(w, "read schedule", err)
		return
	}
	w.Header().Set("Content-Type", "text/calendar; charset=utf-8")
	w.Header().Set("Content-Disposition", `inline; filename="`+room+`.ics"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(scheduleICS(room, s.baseURL(r), requestToken(r), sessions))
}

// baseURL is where links in the feed point: the configured public URL, else the host the request
// came to.
func (s *Service) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimRight(s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// requestToken is the join token a request carries, as grant reads it.
func requestToken(r *http.Request) string {
	if scheme, t, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(t)
	}
	return r.URL.Query().Get("token")
}

// sessionURL is the page for a session: its recording's player if it has one, else the live room.
func sessionURL(base, room, token string, sess ScheduledSession) string {
	u := base + "/r/" + url.PathEscape(room)
	if sess.LessonID != "" {
		u += "/lessons/" + url.PathEscape(sess.LessonID)
	}
	if token != "" {
		u += "?token=" + url.QueryEscape(token)
	}
	return u
}

const icsTime = "20060102T150405Z"

// scheduleICS renders the feed.
func scheduleICS(room, base, token string, sessions []ScheduledSession) []byte {
	var b bytes.Buffer
	line := func(name, value string) { icsLine(&b, name+":"+value) }
	line("BEGIN", "VCALENDAR")
	line("VERSION", "2.0")
	line("PRODID", "-//Chalk//Chalk classroom schedule//EN")
	line("CALSCALE", "GREGORIAN")
	line("X-WR-CALNAME", icsText(room+" (Chalk)"))
	line("REFRESH-INTERVAL;VALUE=DURATION", "PT1H")
	line("X-PUBLISHED-TTL", "PT1H")
	for _, sess := range sessions {
		link := sessionURL(base, room, token, sess)
		desc := sess.Description
		switch {
		case sess.Cancelled:
			desc = joinParagraphs("This session is cancelled.", desc)
		case sess.LessonID != "":
			desc = joinParagraphs(desc, "Watch the recording: "+link)
		default:
			desc = joinParagraphs(desc, "Join the live class: "+link)
		}
		status := "CONFIRMED"
		if sess.Cancelled {
			status = "CANCELLED"
		}
		line("BEGIN", "VEVENT")
		line("UID", sess.ID+"."+room+"@chalk")
		line("DTSTAMP", sess.UpdatedAt.UTC().Format(icsTime))
		line("DTSTART", sess.Start.UTC().Format(icsTime))
		line("DTEND", sess.End.UTC().Format(icsTime))
		line("SEQUENCE", strconv.Itoa(sess.Sequence))
		line("SUMMARY", icsText(sess.Title))
		line("DESCRIPTION", icsText(desc))
		line("URL", link)
		line("STATUS", status)
		line("END", "VEVENT")
	}
	line("END", "VCALENDAR")
	return b.Bytes()
}

func joinParagraphs(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "\n\n" + b
}

// icsText escapes a TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and newlines.
func icsText(s string) string {
	return strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`).Replace(s)
}

// icsLine writes one content line, folded so that no line is longer than 75 octets (RFC 5545
// 3.1): continuation lines start with a space; a UTF-8 character is never split. Lines end in CRLF.
func icsLine(b *bytes.Buffer, s string) {
	limit := 75
	for len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		b.WriteString(s[:cut])
		b.WriteString("\r\n ")
		s = s[cut:]
		limit = 74 // the leading space counts
	}
	b.WriteString(s)
	b.WriteString("\r\n")
}
