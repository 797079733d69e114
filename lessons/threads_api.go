package lessons

import (
	"context"
	"net/http"
	"time"
)

// HTTP handlers of the threads API (docs/api.md, "Threads"); the logic is in threads.go.

func (s *Service) threadRoutes() {
	const L = "/api/rooms/{room}/lessons/{id}"
	s.mux.HandleFunc("GET "+L+"/threads", s.serveThreads)
	s.mux.HandleFunc("POST "+L+"/threads", s.servePostThread)
	s.mux.HandleFunc("POST "+L+"/threads/seen", s.serveSeen)
	s.mux.HandleFunc("POST "+L+"/threads/from-chat", s.serveFromChat)
	s.mux.HandleFunc("PATCH "+L+"/threads/{thread}", s.serveEditThread)
	s.mux.HandleFunc("DELETE "+L+"/threads/{thread}", s.serveDeleteThread)
	s.mux.HandleFunc("POST "+L+"/threads/{thread}/replies", s.serveReply)
	s.mux.HandleFunc("PATCH "+L+"/threads/{thread}/replies/{reply}", s.serveEditReply)
	s.mux.HandleFunc("DELETE "+L+"/threads/{thread}/replies/{reply}", s.serveDeleteReply)
	for _, action := range []string{"pin", "unpin", "resolve", "reopen"} {
		s.mux.HandleFunc("POST "+L+"/threads/{thread}/"+action, s.serveModerateThread(action))
	}
}

func (s *Service) serveThreads(w http.ResponseWriter, r *http.Request) {
	g, lr, ok := s.lessonFor(w, r)
	if !ok {
		return
	}
	show(s, w, r, "list threads", http.StatusOK, func(ctx context.Context) (threadList, error) {
		return lr.listThreads(ctx, g.Identity, s.now())
	})
}

func (s *Service) serveSeen(w http.ResponseWriter, r *http.Request) {
	g, lr, ok := s.lessonFor(w, r)
	if !ok {
		return
	}
	type seenBody struct {
		Until time.Time `json:"until"`
	}
	answer(s, w, r, true, "mark threads seen", http.StatusOK, func(ctx context.Context, body *seenBody) (map[string]time.Time, error) {
		seen, err := lr.markSeen(ctx, g.Identity, body.Until, s.now())
		return map[string]time.Time{"lastSeen": seen}, err
	})
}

// postBody is the body of thread posts and edits; textBody of replies.
type postBody struct {
	At   *float64 `json:"at"`
	Text string   `json:"text"`
}

type textBody struct {
	Text string `json:"text"`
}

func (s *Service) servePostThread(w http.ResponseWriter, r *http.Request) {
	g, lr, ok := s.lessonFor(w, r)
	if !ok || !s.posting(w, lr.room, g) {
		return
	}
	answer(s, w, r, false, "post thread", http.StatusCreated, func(ctx context.Context, body *postBody) (Thread, error) {
		if body.At == nil {
			return Thread{}, badRequest("at is required: the moment of the lesson, in seconds")
		}
		return lr.postThread(ctx, g, *body.At, body.Text, s.now())
	})
}

func (s *Service) serveEditThread(w http.ResponseWriter, r *http.Request) {
	g, lr, ok := s.lessonFor(w, r)
	if !ok || !s.posting(w, lr.room, g) {
		return
	}
	answer(s, w, r, false, "edit thread", http.StatusOK, func(ctx context.Context, body *postBody) (Thread, error) {
		return lr.editThread(ctx, g, r.PathValue("thread"), body.Text, body.At, s.now())
	})
}

func (s *Service) serveDeleteThread(w http.ResponseWriter, r *http.Request) {
	g, lr, ok := s.lessonFor(w, r)
	if !ok {
		return
	}
	show(s, w, r, "delete thread", http.StatusNoContent, func(ctx context.Context) (none, error) {
		return none{}, lr.deleteThread(ctx, g, r.PathValue("thread"))
	})
}

func (s *Service) serveReply(w http.ResponseWriter, r *http.Request) {
	g, lr, ok := s.lessonFor(w, r)
	if !ok || !s.posting(w, lr.room, g) {
		return
	}
	answer(s, w, r, false, "reply", http.StatusCreated, func(ctx context.Context, body *textBody) (Reply, error) {
		return lr.reply(ctx, g, r.PathValue("thread"), body.Text, s.now())
	})
}

func (s *Service) serveEditReply(w http.ResponseWriter, r *http.Request) {
	g, lr, ok := s.lessonFor(w, r)
	if !ok || !s.posting(w, lr.room, g) {
		return
	}
	answer(s, w, r, false, "edit reply", http.StatusOK, func(ctx context.Context, body *textBody) (Reply, error) {
		return lr.editReply(ctx, g, r.PathValue("thread"), r.PathValue("reply"), body.Text, s.now())
	})
}

func (s *Service) serveDeleteReply(w http.ResponseWriter, r *http.Request) {
	g, lr, ok := s.lessonFor(w, r)
	if !ok {
		return
	}
	show(s, w, r, "delete reply", http.StatusNoContent, func(ctx context.Context) (none, error) {
		return none{}, lr.deleteReply(ctx, g, r.PathValue("thread"), r.PathValue("reply"))
	})
}

func (s *Service) serveModerateThread(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		g, lr, ok := s.lessonFor(w, r)
		if !ok || !moderator(w, g, action+" a thread") {
			return
		}
		show(s, w, r, action+" thread", http.StatusOK, func(ctx context.Context) (Thread, error) {
			return lr.moderate(ctx, r.PathValue("thread"), action)
		})
	}
}

func (s *Service) serveFromChat(w http.ResponseWriter, r *http.Request) {
	g, lr, ok := s.lessonFor(w, r)
	if !ok || !moderator(w, g, "make a thread of a chat message") {
		return
	}
	if s.cfg.Objects == nil {
		httpError(w, http.StatusNotFound, "this server has no lesson storage, so no timeline to take chat from")
		return
	}
	answer(s, w, r, false, "promote chat", http.StatusCreated, func(ctx context.Context, body *chatRef) (Thread, error) {
		return lr.promoteChat(ctx, s.readTimeline, body.ChatID, s.now())
	})
}

// chatRef names the chat message a moderator makes a thread of.
type chatRef struct {
	ChatID string `json:"chatId"`
}
