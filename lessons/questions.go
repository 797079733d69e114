package lessons

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
)

// Questions placed at moments of a recording, and the viewers' answers. A question is one
// document; a viewer's answers to all of a lesson's questions are one document, so "one answer per
// person per question" is a check inside one atomic update, and a moderator reads every answer
// with one list.

// Limits of questions.
const (
	maxQuestionsPerLesson = 200
	maxPromptChars        = 1000
	maxOptionChars        = 200
	minOptions            = 2
	maxOptions            = 8
)

// Question kinds.
const (
	kindSingle   = "single"
	kindMultiple = "multiple"
)

// questionDoc is a question as stored.
type questionDoc struct {
	ID        string    `json:"id"`
	At        float64   `json:"at"`
	Kind      string    `json:"kind"`
	Prompt    string    `json:"prompt"`
	Options   []string  `json:"options"`
	Correct   []int     `json:"correct"` // sorted; empty: no correct answer
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// questionInput is the body of POST and PUT …/questions.
type questionInput struct {
	At      float64  `json:"at"`
	Kind    string   `json:"kind"`
	Prompt  string   `json:"prompt"`
	Options []string `json:"options"`
	Correct []int    `json:"correct"`
}

// Answer is one person's answer to one question.
type Answer struct {
	Choices    []int     `json:"choices"`
	AnsweredAt time.Time `json:"answeredAt"`
	Correct    *bool     `json:"correct,omitempty"` // judged when read, against the question now
}

// answersDoc is one person's answers to a lesson's questions, by question id.
type answersDoc struct {
	Person
	Answers map[string]Answer `json:"answers"`
}

// Question is a question as a reader sees it: Correct only for moderators and for who answered.
type Question struct {
	ID         string    `json:"id"`
	At         float64   `json:"at"`
	Kind       string    `json:"kind"`
	Prompt     string    `json:"prompt"`
	Options    []string  `json:"options"`
	Correct    []int     `json:"correct,omitempty"`
	HasCorrect bool      `json:"hasCorrect"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
	Answers    *int      `json:"answers,omitempty"` // how many answered: moderators only
	MyAnswer   *Answer   `json:"myAnswer,omitempty"`
}

var errNoQuestion = notFound("this lesson has no such question")

// checkQuestion validates and normalises a question's fields.
func (lr *lessonRecords) checkQuestion(in questionInput) (questionDoc, error) {
	if err := lr.checkAt(in.At); err != nil {
		return questionDoc{}, err
	}
	if in.Kind != kindSingle && in.Kind != kindMultiple {
		return questionDoc{}, badRequest("kind must be %q or %q", kindSingle, kindMultiple)
	}
	prompt, err := checkText("prompt", in.Prompt, maxPromptChars)
	if err != nil {
		return questionDoc{}, err
	}
	if len(in.Options) < minOptions || len(in.Options) > maxOptions {
		return questionDoc{}, badRequest("a question needs %d to %d options; it has %d", minOptions, maxOptions, len(in.Options))
	}
	q := questionDoc{At: in.At, Kind: in.Kind, Prompt: prompt, Options: make([]string, len(in.Options))}
	for i, o := range in.Options {
		if q.Options[i], err = checkText("each option", o, maxOptionChars); err != nil {
			return questionDoc{}, err
		}
	}
	q.Correct, err = checkChoices("correct", in.Correct, len(q.Options))
	if err != nil {
		return questionDoc{}, err
	}
	if q.Kind == kindSingle && len(q.Correct) > 1 {
		return questionDoc{}, badRequest("a single-choice question has at most one correct option")
	}
	return q, nil
}

// checkChoices checks option indexes (distinct, in range) and returns them sorted.
func checkChoices(field string, c []int, options int) ([]int, error) {
	out := slices.Clone(c)
	slices.Sort(out)
	for i, v := range out {
		if v < 0 || v >= options {
			return nil, badRequest("%s: %d is not an option; options are numbered 0 to %d", field, v, options-1)
		}
		if i > 0 && out[i-1] == v {
			return nil, badRequest("%s: option %d is given twice", field, v)
		}
	}
	if out == nil {
		out = []int{}
	}
	return out, nil
}

// createQuestion places a question (moderators; the caller checked).
func (lr *lessonRecords) createQuestion(ctx context.Context, in questionInput, now time.Time) (Question, error) {
	q, err := lr.checkQuestion(in)
	if err != nil {
		return Question{}, err
	}
	all, err := lr.docs.ListDocs(ctx, lr.coll(kindQuestions))
	if err != nil {
		return Question{}, err
	}
	if len(all) >= maxQuestionsPerLesson {
		return Question{}, conflict("this lesson has the most questions it keeps; delete one first")
	}
	q.ID, q.CreatedAt, q.UpdatedAt = newID("q-"), now.UTC(), now.UTC()
	q, err = rooms.UpdateJSON(ctx, lr.docs, lr.coll(kindQuestions), q.ID, func(v *questionDoc, exists bool) error {
		if exists {
			return conflict("a question with this id exists; try again")
		}
		*v = q
		return nil
	})
	return q.view(nil, true, 0), err
}

// replaceQuestion replaces a question's fields. If its kind or number of options changes, the
// answers given no longer fit and are deleted.
func (lr *lessonRecords) replaceQuestion(ctx context.Context, id string, in questionInput, now time.Time) (Question, error) {
	q, err := lr.checkQuestion(in)
	if err != nil {
		return Question{}, err
	}
	var refit bool
	q, err = rooms.UpdateJSON(ctx, lr.docs, lr.coll(kindQuestions), id, func(v *questionDoc, exists bool) error {
		if !exists {
			return errNoQuestion
		}
		refit = v.Kind != q.Kind || len(v.Options) != len(q.Options)
		q.ID, q.CreatedAt, q.UpdatedAt = v.ID, v.CreatedAt, now.UTC()
		*v = q
		return nil
	})
	if err != nil {
		return Question{}, err
	}
	if refit {
		if err := lr.dropAnswers(ctx, id); err != nil {
			return Question{}, err
		}
	}
	n, err := lr.countAnswers(ctx, id)
	return q.view(nil, true, n), err
}

// deleteQuestion deletes a question and its answers.
func (lr *lessonRecords) deleteQuestion(ctx context.Context, id string) error {
	_, err := rooms.UpdateJSON(ctx, lr.docs, lr.coll(kindQuestions), id, func(_ *questionDoc, exists bool) error {
		if !exists {
			return errNoQuestion
		}
		return rooms.ErrDeleteDoc
	})
	if err != nil {
		return err
	}
	return lr.dropAnswers(ctx, id)
}

// dropAnswers removes every answer to question id.
func (lr *lessonRecords) dropAnswers(ctx context.Context, id string) error {
	all, err := rooms.ListJSON[answersDoc](ctx, lr.docs, lr.coll(kindAnswers))
	if err != nil {
		return err
	}
	for who, d := range all {
		if _, ok := d.Answers[id]; !ok {
			continue
		}
		_, err := rooms.UpdateJSON(ctx, lr.docs, lr.coll(kindAnswers), who, func(d *answersDoc, exists bool) error {
			delete(d.Answers, id)
			if !exists || len(d.Answers) == 0 {
				return rooms.ErrDeleteDoc
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (lr *lessonRecords) countAnswers(ctx context.Context, id string) (int, error) {
	all, err := rooms.ListJSON[answersDoc](ctx, lr.docs, lr.coll(kindAnswers))
	n := 0
	for _, d := range all {
		if _, ok := d.Answers[id]; ok {
			n++
		}
	}
	return n, err
}

// view is q as a reader sees it, given the reader's answer (nil: none).
func (q questionDoc) view(mine *Answer, moderator bool, answers int) Question {
	v := Question{ID: q.ID, At: q.At, Kind: q.Kind, Prompt: q.Prompt, Options: q.Options,
		HasCorrect: len(q.Correct) > 0, CreatedAt: q.CreatedAt, UpdatedAt: q.UpdatedAt}
	if v.Options == nil {
		v.Options = []string{}
	}
	if moderator || mine != nil {
		v.Correct = q.Correct
	}
	if moderator {
		v.Answers = &answers
	}
	if mine != nil {
		a := q.judge(*mine)
		v.MyAnswer = &a
	}
	return v
}

// judge sets whether a is right, if q has a correct answer.
func (q questionDoc) judge(a Answer) Answer {
	a.Correct = nil
	if len(q.Correct) > 0 {
		right := slices.Equal(a.Choices, q.Correct)
		a.Correct = &right
	}
	return a
}

// listQuestions returns the lesson's questions sorted by moment, as g sees them.
func (lr *lessonRecords) listQuestions(ctx context.Context, g auth.Grant) ([]Question, error) {
	qs, err := lr.questions(ctx)
	if err != nil {
		return nil, err
	}
	var mine answersDoc
	counts := map[string]int{}
	if g.Role.Moderator() {
		all, err := rooms.ListJSON[answersDoc](ctx, lr.docs, lr.coll(kindAnswers))
		if err != nil {
			return nil, err
		}
		for who, d := range all {
			for id := range d.Answers {
				counts[id]++
			}
			if who == g.Identity {
				mine = d
			}
		}
	} else if mine, err = rooms.GetJSON[answersDoc](ctx, lr.docs, lr.coll(kindAnswers), g.Identity); err != nil && !errors.Is(err, rooms.ErrNotFound) {
		return nil, err
	}
	out := make([]Question, 0, len(qs))
	for _, q := range qs {
		var a *Answer
		if v, ok := mine.Answers[q.ID]; ok {
			a = &v
		}
		out = append(out, q.view(a, g.Role.Moderator(), counts[q.ID]))
	}
	return out, nil
}

// questions returns the stored questions sorted by moment.
func (lr *lessonRecords) questions(ctx context.Context) ([]questionDoc, error) {
	all, err := rooms.ListJSON[questionDoc](ctx, lr.docs, lr.coll(kindQuestions))
	if err != nil {
		return nil, err
	}
	out := make([]questionDoc, 0, len(all))
	for _, q := range all {
		out = append(out, q)
	}
	slices.SortFunc(out, func(a, b questionDoc) int {
		if a.At != b.At {
			if a.At < b.At {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// answer stores g's answer to a question: once, final (docs/api.md says why).
func (lr *lessonRecords) answer(ctx context.Context, g auth.Grant, id string, choices []int, now time.Time) (Question, error) {
	q, err := rooms.GetJSON[questionDoc](ctx, lr.docs, lr.coll(kindQuestions), id)
	if errors.Is(err, rooms.ErrNotFound) {
		return Question{}, errNoQuestion
	}
	if err != nil {
		return Question{}, err
	}
	choices, err = checkChoices("choices", choices, len(q.Options))
	switch {
	case err != nil:
		return Question{}, err
	case len(choices) == 0:
		return Question{}, badRequest("choices: pick at least one option")
	case q.Kind == kindSingle && len(choices) != 1:
		return Question{}, badRequest("choices: this is a single-choice question; pick exactly one option")
	}
	a := Answer{Choices: choices, AnsweredAt: now.UTC()}
	_, err = rooms.UpdateJSON(ctx, lr.docs, lr.coll(kindAnswers), g.Identity, func(d *answersDoc, _ bool) error {
		if _, done := d.Answers[id]; done {
			return conflict("you have answered this question already; an answer is final")
		}
		if d.Answers == nil {
			d.Answers = map[string]Answer{}
		}
		d.Person = personOf(g)
		d.Answers[id] = a
		return nil
	})
	if err != nil {
		return Question{}, err
	}
	n := 0
	if g.Role.Moderator() {
		if n, err = lr.countAnswers(ctx, id); err != nil {
			return Question{}, err
		}
	}
	return q.view(&a, g.Role.Moderator(), n), nil
}

// PersonAnswers is one person's answers, for a moderator.
type PersonAnswers struct {
	Person
	Answers map[string]Answer `json:"answers"`
}

// allAnswers returns the lesson's questions and every person's answers, judged; moderators only
// (the caller checked).
func (lr *lessonRecords) allAnswers(ctx context.Context, g auth.Grant) ([]Question, []PersonAnswers, error) {
	docs, err := lr.questions(ctx)
	if err != nil {
		return nil, nil, err
	}
	all, err := rooms.ListJSON[answersDoc](ctx, lr.docs, lr.coll(kindAnswers))
	if err != nil {
		return nil, nil, err
	}
	byID := map[string]questionDoc{}
	for _, q := range docs {
		byID[q.ID] = q
	}
	counts := map[string]int{}
	people := make([]PersonAnswers, 0, len(all))
	for _, d := range all {
		pa := PersonAnswers{Person: d.Person, Answers: map[string]Answer{}}
		for id, a := range d.Answers {
			if q, ok := byID[id]; ok { // an answer to a question deleted meanwhile is not shown
				pa.Answers[id] = q.judge(a)
				counts[id]++
			}
		}
		if len(pa.Answers) > 0 {
			people = append(people, pa)
		}
	}
	slices.SortFunc(people, func(a, b PersonAnswers) int { return comparePeople(a.Person, b.Person) })
	qs := make([]Question, 0, len(docs))
	for _, q := range docs {
		var mine *Answer
		if a, ok := all[g.Identity].Answers[q.ID]; ok {
			mine = &a
		}
		qs = append(qs, q.view(mine, true, counts[q.ID]))
	}
	return qs, people, nil
}

// comparePeople orders people by name, then identity.
func comparePeople(a, b Person) int {
	if c := strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)); c != 0 {
		return c
	}
	return strings.Compare(a.Identity, b.Identity)
}
