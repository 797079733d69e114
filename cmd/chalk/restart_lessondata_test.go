package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/chalk-edu/chalk/rooms"
)

// The restart test's records of threads, questions and progress (lessons/threads.go,
// questions.go, progress.go): each written through the API of the first process, read back
// through the second.

func writeThread(t *testing.T, e *restartEnv) string {
	L := "/api/rooms/{room}/lessons/{lesson}"
	code, b := e.do(t, student, "POST", L+"/threads", `{"at":1,"text":"Kept across kill -9: a thread"}`)
	var th struct{ ID string }
	if json.Unmarshal([]byte(b), &th); code != 201 || th.ID == "" {
		t.Fatalf("post a thread: %d %s", code, b)
	}
	for _, req := range []struct {
		role       rooms.Role
		path, body string
	}{
		{instructor, L + "/threads/" + th.ID + "/replies", `{"text":"Kept across kill -9: the answer"}`},
		{instructor, L + "/threads/" + th.ID + "/pin", ""},
		{student, L + "/threads/seen", ""},
	} {
		if code, b := e.do(t, req.role, "POST", req.path, req.body); code/100 != 2 {
			t.Fatalf("POST %s: %d %s", req.path, code, b)
		}
	}
	return th.ID
}

func checkThread(t *testing.T, e *restartEnv, id string) {
	code, b := e.do(t, student, "GET", "/api/rooms/{room}/lessons/{lesson}/threads", "")
	for _, want := range []string{`"id":"` + id + `"`, "Kept across kill -9: a thread", "Kept across kill -9: the answer",
		`"pinned":true`, `"answered":true`, `"byInstructor":true`, `"lastSeen":`} {
		if code != 200 || !strings.Contains(b, want) {
			t.Errorf("after the restart the threads are: %d %.800s\nwant them to contain %s", code, b, want)
		}
	}
}

func writeQuestion(t *testing.T, e *restartEnv) string {
	L := "/api/rooms/{room}/lessons/{lesson}"
	code, b := e.do(t, instructor, "POST", L+"/questions", `{"at":1,"kind":"single","prompt":"Kept across kill -9?","options":["no","yes"],"correct":[1]}`)
	var q struct{ ID string }
	if json.Unmarshal([]byte(b), &q); code != 201 || q.ID == "" {
		t.Fatalf("place a question: %d %s", code, b)
	}
	if code, b := e.do(t, student, "POST", L+"/questions/"+q.ID+"/answer", `{"choices":[1]}`); code != 200 {
		t.Fatalf("answer: %d %s", code, b)
	}
	return q.ID
}

func checkQuestion(t *testing.T, e *restartEnv, id string) {
	code, b := e.do(t, instructor, "GET", "/api/rooms/{room}/lessons/{lesson}/answers", "")
	var all struct {
		Questions []struct{ ID, Prompt string }
		People    []struct {
			Identity string
			Answers  map[string]struct {
				Choices []int
				Correct *bool
			}
		}
	}
	if err := json.Unmarshal([]byte(b), &all); code != 200 || err != nil || len(all.Questions) != 1 || all.Questions[0].ID != id || len(all.People) != 1 {
		t.Fatalf("after the restart the answers are: %d %s", code, b)
	}
	a, ok := all.People[0].Answers[id]
	if !ok || len(a.Choices) != 1 || a.Choices[0] != 1 || a.Correct == nil || !*a.Correct {
		t.Errorf("after the restart the student's answer is: %s", b)
	}
}
