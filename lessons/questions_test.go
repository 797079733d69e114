package lessons

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestQuestionValidation(t *testing.T) {
	lr := testRecords()
	ok := questionInput{At: 60, Kind: "single", Prompt: "Period for L = 1 m?", Options: []string{"1 s", "2 s", "3 s"}, Correct: []int{1}}
	with := func(f func(q *questionInput)) questionInput {
		q := ok
		q.Options = append([]string(nil), ok.Options...)
		f(&q)
		return q
	}
	tests := []struct {
		name string
		in   questionInput
		want string // "" = valid
	}{
		{"valid", ok, ""},
		{"no correct answer", with(func(q *questionInput) { q.Correct = nil }), ""},
		{"multiple, two correct", with(func(q *questionInput) { q.Kind, q.Correct = "multiple", []int{2, 0} }), ""},
		{"eight options", with(func(q *questionInput) { q.Options = strings.Split("abcdefgh", "") }), ""},
		{"kind", with(func(q *questionInput) { q.Kind = "essay" }), "kind"},
		{"one option", with(func(q *questionInput) { q.Options, q.Correct = []string{"a"}, nil }), "2 to 8 options"},
		{"nine options", with(func(q *questionInput) { q.Options = strings.Split("abcdefghi", "") }), "2 to 8 options"},
		{"empty option", with(func(q *questionInput) { q.Options[1] = " " }), "each option"},
		{"empty prompt", with(func(q *questionInput) { q.Prompt = "" }), "prompt"},
		{"correct out of range", with(func(q *questionInput) { q.Correct = []int{3} }), "not an option"},
		{"correct twice", with(func(q *questionInput) { q.Kind, q.Correct = "multiple", []int{1, 1} }), "twice"},
		{"single, two correct", with(func(q *questionInput) { q.Correct = []int{0, 1} }), "at most one"},
		{"past the end", with(func(q *questionInput) { q.At = 601 }), "moment of the lesson"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, err := lr.checkQuestion(tc.in)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !slicesSorted(q.Correct) {
					t.Fatalf("correct not sorted: %v", q.Correct)
				}
				return
			}
			if status(err) != 400 || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a 400 about %q", err, tc.want)
			}
		})
	}
}

func slicesSorted(s []int) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] > s[i] {
			return false
		}
	}
	return true
}

func TestQuestionsAnswers(t *testing.T) {
	ctx := context.Background()
	lr := testRecords()
	now := time.Date(2025, 3, 2, 18, 0, 0, 0, time.UTC)
	single, err := lr.createQuestion(ctx, questionInput{At: 120, Kind: "single", Prompt: "2+2?", Options: []string{"3", "4"}, Correct: []int{1}}, now)
	if err != nil {
		t.Fatal(err)
	}
	multi, err := lr.createQuestion(ctx, questionInput{At: 60, Kind: "multiple", Prompt: "Primes?", Options: []string{"2", "4", "5"}, Correct: []int{0, 2}}, now)
	if err != nil {
		t.Fatal(err)
	}
	opinion, err := lr.createQuestion(ctx, questionInput{At: 300, Kind: "single", Prompt: "Pace?", Options: []string{"slow", "fast"}}, now)
	if err != nil {
		t.Fatal(err)
	}

	// Before answering, a student sees no correct answers; the questions come by moment.
	qs, err := lr.listQuestions(ctx, ana)
	if err != nil || len(qs) != 3 || qs[0].ID != multi.ID || qs[1].ID != single.ID {
		t.Fatalf("list: %+v, %v", qs, err)
	}
	for _, q := range qs {
		if q.Correct != nil || q.MyAnswer != nil || q.Answers != nil || q.HasCorrect != (q.ID != opinion.ID) {
			t.Fatalf("a student sees before answering: %+v", q)
		}
	}

	answers := []struct {
		who     string
		q       string
		choices []int
		status  int
		correct *bool
	}{
		{"ana", single.ID, []int{1}, 0, ptr(true)},
		{"ana", single.ID, []int{0}, 409, nil}, // final
		{"ana", multi.ID, []int{0}, 0, ptr(false)},
		{"ana", opinion.ID, []int{1}, 0, nil},
		{"ben", single.ID, []int{0, 1}, 400, nil}, // single choice
		{"ben", multi.ID, []int{}, 400, nil},
		{"ben", multi.ID, []int{2, 0}, 0, ptr(true)},
		{"ben", multi.ID, []int{7}, 400, nil},
		{"ben", "q-nope", []int{0}, 404, nil},
	}
	for i, a := range answers {
		g := ana
		if a.who == "ben" {
			g = ben
		}
		q, err := lr.answer(ctx, g, a.q, a.choices, now)
		if status(err) != a.status {
			t.Fatalf("answer %d: %v, want status %d", i, err, a.status)
		}
		if err != nil {
			continue
		}
		if q.MyAnswer == nil || !reflect.DeepEqual(q.MyAnswer.Correct, a.correct) || (q.HasCorrect && q.Correct == nil) || q.Answers != nil {
			t.Fatalf("answer %d: %+v (my answer %+v)", i, q, q.MyAnswer)
		}
	}

	// The instructor sees every answer, judged; editing the correct answer re-judges them.
	qsm, people, err := lr.allAnswers(ctx, prof)
	if err != nil || len(qsm) != 3 || len(people) != 2 || people[0].Identity != "ana" || len(people[0].Answers) != 3 || *qsm[0].Answers != 2 {
		t.Fatalf("all answers: %+v %+v, %v", qsm, people, err)
	}
	if c := people[1].Answers[multi.ID].Correct; c == nil || !*c {
		t.Fatalf("ben's multiple answer: %+v", people[1].Answers)
	}
	if _, err := lr.replaceQuestion(ctx, multi.ID, questionInput{At: 60, Kind: "multiple", Prompt: "Primes?", Options: []string{"2", "4", "5"}, Correct: []int{0}}, now); err != nil {
		t.Fatal(err)
	}
	_, people, _ = lr.allAnswers(ctx, prof)
	if c := people[0].Answers[multi.ID].Correct; c == nil || !*c {
		t.Fatalf("ana's answer after the edit: %+v", people[0].Answers[multi.ID])
	}
	// A new set of options drops the answers that no longer fit.
	q, err := lr.replaceQuestion(ctx, multi.ID, questionInput{At: 60, Kind: "multiple", Prompt: "Primes?", Options: []string{"2", "3", "4", "5"}, Correct: []int{0, 1, 3}}, now)
	if err != nil || *q.Answers != 0 {
		t.Fatalf("replace with new options: %+v, %v", q, err)
	}
	if err := lr.deleteQuestion(ctx, single.ID); err != nil {
		t.Fatal(err)
	}
	qsm, people, _ = lr.allAnswers(ctx, prof)
	if len(qsm) != 2 || len(people) != 1 || len(people[0].Answers) != 1 {
		t.Fatalf("after deletes: %+v %+v", qsm, people)
	}
	if err := lr.deleteQuestion(ctx, single.ID); status(err) != 404 {
		t.Fatalf("delete twice: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
