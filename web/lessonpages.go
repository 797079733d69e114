package web

import (
	"net/http"
	"regexp"
)

// The lesson pages (library, player, analytics) are shells: the page's modules read everything
// through the lesson API (docs/api.md) with the token of the page's URL, which also decides what
// the page shows (a student's token gets no moderator controls, and the API refuses them anyway).

// lessonID is what the lesson API accepts as a lesson id.
var lessonID = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,159}$`)

// lessonPage serves a lesson page from template name; withLesson: the path has a lesson {id}.
func (h *handler) lessonPage(name string, withLesson bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		room, id := r.PathValue("room"), r.PathValue("id")
		if !roomName.MatchString(room) || (withLesson && !lessonID.MatchString(id)) {
			h.page(w, http.StatusNotFound, "error.html", pageData{
				Title:   "No such lesson",
				Heading: "There is no lesson at this address.",
				Message: "Check the link, or ask your instructor for a new one.",
				Link:    "/", LinkTxt: "Go to the home page",
			})
			return
		}
		// Even in dev mode: lessons are read through the API, which needs a join token.
		if !h.pageToken(w, r, room, "Lessons need your personal link.", "Open the lesson from the link your instructor sent, or from the live class page.") {
			return
		}
		title := map[string]string{"library.html": "Lessons", "player.html": "Lesson", "analytics.html": "Analytics"}[name]
		h.page(w, http.StatusOK, name, pageData{Title: title + " — " + room + " — Chalk", Room: room, Lesson: id})
	}
}
