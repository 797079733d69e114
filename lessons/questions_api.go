package lessons

import "net/http"

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
	ctx, cancel := reqCtx(r)
	defer cancel()
	qs, err := lr.listQuestions(ctx, g)
	if err != nil {
		s.writeErr(w, "list questions", err)
		return
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"lesson": lr.lesson.ID, "questions": qs})
}

func (s *Service) serveCreateQuestion(w http.ResponseWriter, r *http.Request) {
	g, lr, ok := s.lessonFor(w, r)
	if !ok || !moderator(w, g, "place a question") {
		return
	}
	var in questionInput
	if err := readJSON(w, r, &in, false); err != nil {
		s.writeErr(w, "", err)
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	q, err := lr.createQuestion(ctx, in, s.now())
	if err != nil {
		s.writeErr(w, "create question", err)
		return
	}
	s.writeJSON(w, http.StatusCreated, q)
}

func (s *Service) serveReplaceQuestion(w http.ResponseWriter, r *http.Request) {
	g, lr, ok := s.lessonFor(w, r)
	if !ok || !moderator(w, g, "edit a question") {
		return
	}
	var in questionInput
	if err := readJSON(w, r, &in, false); err != nil {
		s.writeErr(w, "", err)
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	q, err := lr.replaceQuestion(ctx, r.PathValue("question"), in, s.now())
	if err != nil {
		s.writeErr(w, "edit question", err)
		return
	}
	s.writeJSON(w, http.StatusOK, q)
}

func (s *Service) serveDeleteQuestion(w http.ResponseWriter, r *http.Request) {
	g, lr, ok := s.lessonFor(w, r)
	if !ok || !moderator(w, g, "delete a question") {
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	if err := lr.deleteQuestion(ctx, r.PathValue("question")); err != nil {
		s.writeErr(w, "delete question", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) serveAnswer(w http.ResponseWriter, r *http.Request) {
	g, lr, ok := s.lessonFor(w, r)
	if !ok {
		return
	}
	var body struct {
		Choices []int `json:"choices"`
	}
	if err := readJSON(w, r, &body, false); err != nil {
		s.writeErr(w, "", err)
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	q, err := lr.answer(ctx, g, r.PathValue("question"), body.Choices, s.now())
	if err != nil {
		s.writeErr(w, "answer question", err)
		return
	}
	s.writeJSON(w, http.StatusOK, q)
}

func (s *Service) serveAnswers(w http.ResponseWriter, r *http.Request) {
	g, lr, ok := s.lessonFor(w, r)
	if !ok || !moderator(w, g, "see others' answers") {
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	qs, people, err := lr.allAnswers(ctx, g)
	if err != nil {
		s.writeErr(w, "list answers", err)
		return
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"lesson": lr.lesson.ID, "questions": qs, "people": people})
}
