package web

import (
	"net/http"
	"strings"
)

// The schedule page, /r/{room}/schedule?token=…: the room's sessions in the viewer's own time zone,
// with join and recording links and, for moderators, the form to plan them. The page is a shell;
// schedule.js reads and changes the schedule through the lesson API with the page's token.

func (h *handler) schedule(w http.ResponseWriter, r *http.Request) {
	room, ok := h.roomPage(w, r)
	if !ok {
		return
	}
	h.page(w, http.StatusOK, "schedule.html", pageData{Title: "Schedule of " + room + " — Chalk", Room: room})
}

// roomPage checks a room page's room name and token: the page reads the API, which needs a join
// token of the room, so it needs one even in dev mode. If not, it writes the error page.
func (h *handler) roomPage(w http.ResponseWriter, r *http.Request) (string, bool) {
	room := r.PathValue("room")
	if !roomName.MatchString(room) {
		h.page(w, http.StatusNotFound, "error.html", pageData{
			Title:   "No such classroom",
			Heading: "There is no classroom at this address.",
			Message: "Room names use only letters, digits, “-” and “_” (at most 64). Check the link, or start from the home page.",
			Link:    "/", LinkTxt: "Go to the home page",
		})
		return "", false
	}
	if !h.pageToken(w, r, room, "This page needs your personal link.", "Ask your instructor for your link to this class.") {
		return "", false
	}
	return room, true
}

// pageToken checks the ?token= a page of room needs (its data comes from the API, which needs a
// join token). Without one, or with one refused, it writes the page saying so and returns false;
// heading and msg are what to tell someone who came without a token.
func (h *handler) pageToken(w http.ResponseWriter, r *http.Request, room, heading, msg string) bool {
	token := r.URL.Query().Get("token")
	if token == "" {
		h.unauthorized(w, heading, msg, "")
		return false
	}
	if h.cfg.CheckToken == nil {
		return true
	}
	if err := h.cfg.CheckToken(room, token); err != nil {
		heading := "This link is not valid."
		if strings.Contains(strings.ToLower(err.Error()), "expired") {
			heading = "This link has expired."
		}
		h.unauthorized(w, heading, "Ask your instructor for a new link.", err.Error())
		return false
	}
	return true
}
