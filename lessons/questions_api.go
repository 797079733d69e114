package lessons

import (
	"context"
	"net/http"
)

// HTTP handlers of the questions API (docs/api.md, "Questions in the recording"); the logic is in
// questions.go.

func (s *Service) questionRoutes() {
	const L = "/api/rooms/{room}/lessons/{id}"
	s.mux.HandleFunc("GET "+L+"/questions", s.serveQuestions)
	s.mux.HandleFunc("POST "+L+"/questions", s.serveCreateQuestion)
	s.mux.HandleFunc("PUT "+L+"/questions/{question}", s.serveReplaceQuestion)
	s.mux.HandleFunc("DELETE "+L+"/questions/{question}", s.serveDeleteQuestion)
	s.mux.HandleFunc("POST "+L+"/questions/{question}/answer", s.serveAnswer)
	s.mux.HandleFunc("GET "+L+"/answers", s.serveAnswers)
}

func (s *Service) serveQuestions(w http.ResponseWriter, r *http.Request) {
	g, lr, ok := s.lessonFor(w, r)
	if !ok {
		return
	}
	show(s, w, r, "list questions", http.StatusOK, func(ctx context.Context) (map[string]any, error) {
		qs, err := lr.listQuestions(ctx, g)
		return map[string]any{"lesson": lr.lesson.ID, "questions": qs}, err
	})
}

func (s *Service) serveCreateQuestion(w http.ResponseWriter, r *http.Request) {
	g, lr, ok := s.lessonFor(w, r)
	if !ok || !moderator(w, g, "place a question") {
		return
	}
	answer(s, w, r, false, "create question", http.StatusCreated, func(ctx context.Context, in *questionInput) (Question, error) {
		return lr.createQuestion(ctx, *in, s.now())
	})
}

func (s *Service) serveReplaceQuestion(w http.ResponseWriter, r *http.Request) {
	g, lr, ok := s.lessonFor(w, r)
	if !ok || !moderator(w, g, "edit a question") {
		return
	}
	answer(s, w, r, false, "edit question", http.StatusOK, func(ctx context.Context, in *questionInput) (Question, error) {
		return lr.replaceQuestion(ctx, r.PathValue("question"), *in, s.now())
	})
}

func (s *Service) serveDeleteQuestion(w http.ResponseWriter, r *http.Request) {
	g, lr, ok := s.lessonFor(w, r)
	if !ok || !moderator(w, g, "delete a question") {
		return
	}
	show(s, w, r, "delete question", http.StatusNoContent, func(ctx context.Context) (none, error) {
		return none{}, lr.deleteQuestion(ctx, r.PathValue("question"))
	})
}

func (s *Service) serveAnswer(w http.ResponseWriter, r *http.Request) {
	g, lr, ok := s.lessonFor(w, r)
	if !ok {
		return
	}
	answer(s, w, r, false, "answer question", http.StatusOK, func(ctx context.Context, body *answerBody) (Question, error) {
		return lr.answer(ctx, g, r.PathValue("question"), body.Choices, s.now())
	})
}

func (s *Service) serveAnswers(w http.ResponseWriter, r *http.Request) {
	g, lr, ok := s.lessonFor(w, r)
	if !ok || !moderator(w, g, "see others' answers") {
		return
	}
	show(s, w, r, "list answers", http.StatusOK, func(ctx context.Context) (map[string]any, error) {
		qs, people, err := lr.allAnswers(ctx, g)
		return map[string]any{"lesson": lr.lesson.ID, "questions": qs, "people": people}, err
	})
}

// answerBody is a student's answer to a question.
type answerBody struct {
	Choices []int `json:"choices"`
}
