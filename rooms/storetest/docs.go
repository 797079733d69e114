package storetest

// The conformance suite of rooms.Docs, the durable document store (rooms/docs.go).

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chalk-edu/chalk/rooms"
)

// RunDocs runs the document suite. newDocs must return a fresh, empty store and release it when the
// test ends (t.Cleanup).
func RunDocs(t *testing.T, newDocs func(t *testing.T) rooms.Docs) {
	tests := []struct {
		name string
		fn   func(t *testing.T, d rooms.Docs)
	}{
		{"MissingIsNotFound", testDocMissing},
		{"CreateChangeDelete", testDocLifecycle},
		{"FailedUpdateChangesNothing", testDocUpdateError},
		{"CollectionsIsolated", testDocCollections},
		{"BadNames", testDocBadNames},
		{"ConcurrentUpdatesAllLand", testDocConcurrent},
		{"JSONHelpers", testDocJSON},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newDocs(t)) })
	}
}

func put(t *testing.T, d rooms.Docs, coll, id, v string) {
	t.Helper()
	if err := d.UpdateDoc(testCtx(t), coll, id, func([]byte) ([]byte, error) { return []byte(v), nil }); err != nil {
		t.Fatalf("put %s/%s: %v", coll, id, err)
	}
}

func list(t *testing.T, d rooms.Docs, coll string) string {
	t.Helper()
	m, err := d.ListDocs(testCtx(t), coll)
	if err != nil {
		t.Fatalf("list %s: %v", coll, err)
	}
	if m == nil {
		t.Fatalf("list %s: nil map", coll)
	}
	var parts []string
	for id, b := range m {
		parts = append(parts, id+"="+string(b))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func testDocMissing(t *testing.T, d rooms.Docs) {
	if _, err := d.GetDoc(testCtx(t), "c", "nope"); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("get of a missing document: %v, want ErrNotFound", err)
	}
	if got := list(t, d, "never"); got != "" {
		t.Fatalf("unknown collection lists %q", got)
	}
	if err := d.DeleteCollection(testCtx(t), "never"); err != nil {
		t.Fatalf("deleting an unknown collection: %v", err)
	}
}

func testDocLifecycle(t *testing.T, d rooms.Docs) {
	ctx := testCtx(t)
	var saw []string
	update := func(v string) {
		t.Helper()
		if err := d.UpdateDoc(ctx, "lesson/r/l/threads", "t1", func(old []byte) ([]byte, error) {
			saw = append(saw, fmt.Sprintf("%v:%s", old != nil, old))
			if v == "" {
				return nil, nil
			}
			return []byte(v), nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	update(`{"n":1}`)
	update(`{"n":2}`)
	if b, err := d.GetDoc(ctx, "lesson/r/l/threads", "t1"); err != nil || string(b) != `{"n":2}` {
		t.Fatalf("get after two updates: %s, %v", b, err)
	}
	put(t, d, "lesson/r/l/threads", "t2", `{"n":3}`)
	if got := list(t, d, "lesson/r/l/threads"); got != `t1={"n":2},t2={"n":3}` {
		t.Fatalf("list: %s", got)
	}
	update("") // delete t1
	if _, err := d.GetDoc(ctx, "lesson/r/l/threads", "t1"); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if want := `false:,true:{"n":1},true:{"n":2}`; strings.Join(saw, ",") != want {
		t.Fatalf("update functions saw %q, want %q", strings.Join(saw, ","), want)
	}
	if err := d.DeleteCollection(ctx, "lesson/r/l/threads"); err != nil {
		t.Fatal(err)
	}
	if got := list(t, d, "lesson/r/l/threads"); got != "" {
		t.Fatalf("list after deleting the collection: %q", got)
	}
}

func testDocUpdateError(t *testing.T, d rooms.Docs) {
	put(t, d, "c", "a", "before")
	boom := errors.New("boom")
	err := d.UpdateDoc(testCtx(t), "c", "a", func([]byte) ([]byte, error) { return nil, boom })
	if err != boom {
		t.Fatalf("update returned %v, want the function's own error", err)
	}
	if got := list(t, d, "c"); got != "a=before" {
		t.Fatalf("a failed update changed the collection: %s", got)
	}
}

func testDocCollections(t *testing.T, d rooms.Docs) {
	put(t, d, "lesson/r/l1/threads", "x", "1")
	put(t, d, "lesson/r/l1/threadsX", "x", "2") // a prefix of another name is another collection
	put(t, d, "lesson/r/l2/threads", "x", "3")
	if err := d.DeleteCollection(testCtx(t), "lesson/r/l1/threads"); err != nil {
		t.Fatal(err)
	}
	if got := list(t, d, "lesson/r/l1/threadsX") + "|" + list(t, d, "lesson/r/l2/threads"); got != "x=2|x=3" {
		t.Fatalf("deleting one collection touched others: %s", got)
	}
}

func testDocBadNames(t *testing.T, d rooms.Docs) {
	ctx := testCtx(t)
	noop := func(b []byte) ([]byte, error) { return []byte("x"), nil }
	for _, c := range []struct{ coll, id string }{
		{"", "a"}, {"c", ""}, {"c\x00", "a"}, {"c", "a\nb"}, {strings.Repeat("c", 513), "a"}, {"c", strings.Repeat("i", 257)},
	} {
		if err := d.UpdateDoc(ctx, c.coll, c.id, noop); !errors.Is(err, rooms.ErrInvalid) {
			t.Errorf("update %q/%q: %v, want ErrInvalid", c.coll, c.id, err)
		}
	}
	if _, err := d.ListDocs(ctx, ""); !errors.Is(err, rooms.ErrInvalid) {
		t.Errorf("list of an unnamed collection: %v, want ErrInvalid", err)
	}
}

// Concurrent read-modify-write updates of one document all land: a counter ends at the total.
func testDocConcurrent(t *testing.T, d rooms.Docs) {
	ctx := testCtx(t)
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range each {
				_, err := rooms.UpdateJSON(ctx, d, "c", "counter", func(n *int, _ bool) error { *n++; return nil })
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n, err := rooms.GetJSON[int](ctx, d, "c", "counter")
	if err != nil || n != workers*each {
		t.Fatalf("counter %d (%v), want %d", n, err, workers*each)
	}
}

func testDocJSON(t *testing.T, d rooms.Docs) {
	ctx := testCtx(t)
	type thread struct {
		Text    string   `json:"text"`
		Replies []string `json:"replies"`
	}
	v, err := rooms.UpdateJSON(ctx, d, "c", "t", func(th *thread, exists bool) error {
		if exists {
			return errors.New("should be new")
		}
		th.Text = "why?"
		return nil
	})
	if err != nil || v.Text != "why?" {
		t.Fatalf("create: %+v, %v", v, err)
	}
	v, err = rooms.UpdateJSON(ctx, d, "c", "t", func(th *thread, exists bool) error {
		if !exists {
			return errors.New("should exist")
		}
		th.Replies = append(th.Replies, "because")
		return nil
	})
	if err != nil || len(v.Replies) != 1 {
		t.Fatalf("reply: %+v, %v", v, err)
	}
	all, err := rooms.ListJSON[thread](ctx, d, "c")
	if err != nil || len(all) != 1 || all["t"].Replies[0] != "because" {
		t.Fatalf("list: %+v, %v", all, err)
	}
	if _, err := rooms.UpdateJSON(ctx, d, "c", "t", func(*thread, bool) error { return rooms.ErrDeleteDoc }); err != nil {
		t.Fatal(err)
	}
	if _, err := rooms.GetJSON[thread](ctx, d, "c", "t"); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("get after ErrDeleteDoc: %v", err)
	}
	put(t, d, "c", "bad", "{not json")
	if _, err := rooms.GetJSON[thread](ctx, d, "c", "bad"); err == nil {
		t.Fatal("a document that is not JSON decoded without error")
	}
}
