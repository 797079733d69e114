// Package storagetest is one conformance suite for every storage.Store implementation.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/recorder/storage"
)

// Run checks s against the Store contract. s must be empty.
func Run(t *testing.T, s storage.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("PutStatGet", func(t *testing.T) {
		data := bytes.Repeat([]byte("chalk"), 1000)
		if err := s.Put(ctx, "lessons/a/manifest.json", write("m.json", data), "application/json"); err != nil {
			t.Fatal(err)
		}
		info, err := s.Stat(ctx, "lessons/a/manifest.json")
		if err != nil {
			t.Fatal(err)
		}
		if info.Size != int64(len(data)) || info.ContentType != "application/json" {
			t.Fatalf("stat = %+v", info)
		}
		if got := get(t, ctx, s, "lessons/a/manifest.json"); !bytes.Equal(got, data) {
			t.Fatalf("got %d bytes back, want %d", len(got), len(data))
		}
	})

	t.Run("PutReplaces", func(t *testing.T) {
		if err := s.Put(ctx, "lessons/a/x.json", write("x1", []byte("first, longer")), "application/json"); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, "lessons/a/x.json", write("x2", []byte("second")), "application/json"); err != nil {
			t.Fatal(err)
		}
		if got := string(get(t, ctx, s, "lessons/a/x.json")); got != "second" {
			t.Fatalf("after replacing: %q", got)
		}
	})

	t.Run("Multipart", func(t *testing.T) {
		// Larger than one 5 MiB part, not a multiple of it.
		data := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, (12<<20)/7)
		if err := s.Put(ctx, "lessons/b/lesson.mp4", write("big", data), "video/mp4"); err != nil {
			t.Fatal(err)
		}
		if got := get(t, ctx, s, "lessons/b/lesson.mp4"); !bytes.Equal(got, data) {
			t.Fatalf("got %d bytes back, want %d", len(got), len(data))
		}
	})

	t.Run("Open", func(t *testing.T) {
		// Seeking reads only what is asked for: an HTTP Range request on a video.
		data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
		before := time.Now().Add(-2 * time.Second)               // MinIO keeps whole seconds
		if err := s.Put(ctx, "lessons/o/lesson.mp4", write("o", data), "video/mp4"); err != nil {
			t.Fatal(err)
		}
		r, info, err := s.Open(ctx, "lessons/o/lesson.mp4")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if info.Key != "lessons/o/lesson.mp4" || info.Size != int64(len(data)) || info.ContentType != "video/mp4" ||
			info.ETag == "" || info.ModTime.Before(before) || info.ModTime.After(time.Now().Add(2*time.Second)) {
			t.Fatalf("open info = %+v", info)
		}
		if st, err := s.Stat(ctx, "lessons/o/lesson.mp4"); err != nil || st.ETag != info.ETag || !st.ModTime.Equal(info.ModTime) {
			t.Fatalf("stat = %+v, %v; open said %+v", st, err, info)
		}
		for _, c := range []struct {
			off    int64
			whence int
			at     int64
			n      int
		}{{700_001, io.SeekStart, 700_001, 4096}, {-100, io.SeekEnd, int64(len(data)) - 100, 100}, {-50_000, io.SeekCurrent, int64(len(data)) - 50_000, 10}, {3, io.SeekStart, 3, 1 << 20}} {
			at, err := r.Seek(c.off, c.whence)
			if err != nil || at != c.at {
				t.Fatalf("seek(%d, %d) = %d, %v; want %d", c.off, c.whence, at, err, c.at)
			}
			got, err := io.ReadAll(io.LimitReader(r, int64(c.n)))
			want := data[c.at:min(c.at+int64(c.n), int64(len(data)))]
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("read %d at %d: %d bytes, %v; want %d bytes", c.n, c.at, len(got), err, len(want))
			}
		}
		if end, err := r.Seek(0, io.SeekEnd); err != nil || end != int64(len(data)) {
			t.Fatalf("seek to the end = %d, %v", end, err)
		}
		// Replacing it changes the ETag.
		if err := s.Put(ctx, "lessons/o/lesson.mp4", write("o2", data[:1000]), "video/mp4"); err != nil {
			t.Fatal(err)
		}
		if st, err := s.Stat(ctx, "lessons/o/lesson.mp4"); err != nil || st.ETag == info.ETag || st.Size != 1000 {
			t.Fatalf("after replacing: %+v, %v (was %+v)", st, err, info)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		if _, err := s.Stat(ctx, "lessons/none/x"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("stat of a missing object: %v", err)
		}
		if _, err := s.Get(ctx, "lessons/none/x"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("get of a missing object: %v", err)
		}
		if _, _, err := s.Open(ctx, "lessons/none/x"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("open of a missing object: %v", err)
		}
		if _, _, err := s.Open(ctx, "lessons"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("open of a prefix: %v", err)
		}
		if _, err := s.Stat(ctx, "lessons"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("a prefix is not an object: %v", err)
		}
	})

	t.Run("List", func(t *testing.T) {
		infos, err := s.List(ctx, "lessons/a/")
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, i := range infos {
			keys = append(keys, i.Key)
		}
		if strings.Join(keys, ",") != "lessons/a/manifest.json,lessons/a/x.json" {
			t.Fatalf("list lessons/a/ = %v", keys)
		}
		if infos, _ := s.List(ctx, "nothing/"); len(infos) != 0 {
			t.Fatalf("list of an empty prefix = %v", infos)
		}
	})

	t.Run("BadKeys", func(t *testing.T) {
		src := write("k", []byte("x"))
		for _, key := range []string{"", "/abs", "../up", "a/../../b", "a//b", "dir/", "a\\b"} {
			if err := s.Put(ctx, key, src, "text/plain"); err == nil {
				t.Errorf("Put accepted key %q", key)
			}
			if _, _, err := s.Open(ctx, key); err == nil || errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Open of key %q: %v, want a bad-key error", key, err)
			}
		}
	})

	t.Run("DeletePrefix", func(t *testing.T) {
		for i, key := range []string{"lessons/d1/lesson.mp4", "lessons/d1/tracks/a.webm", "lessons/d1/tracks/b.webm", "lessons/d10/keep.json", "lessons/d2/keep.json"} {
			if err := s.Put(ctx, key, write(fmt.Sprintf("d%d", i), []byte(key)), "application/octet-stream"); err != nil {
				t.Fatal(err)
			}
		}
		// A prefix that could name more than one lesson, or everything, is refused.
		for _, bad := range []string{"", "/", "lessons", "lessons/d1", "../lessons/", "lessons//", "/lessons/"} {
			if _, err := s.DeletePrefix(ctx, bad); err == nil {
				t.Errorf("DeletePrefix(%q) was accepted", bad)
			}
		}
		n, err := s.DeletePrefix(ctx, "lessons/d1/")
		if err != nil || n != 3 {
			t.Fatalf("DeletePrefix = %d, %v; want 3 objects", n, err)
		}
		if left, err := s.List(ctx, "lessons/d1/"); err != nil || len(left) != 0 {
			t.Fatalf("after the delete lessons/d1/ lists %v, %v", left, err)
		}
		if _, err := s.Stat(ctx, "lessons/d1/lesson.mp4"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("a deleted object: %v", err)
		}
		// Neighbours, even one whose name starts the same, are untouched.
		for _, key := range []string{"lessons/d10/keep.json", "lessons/d2/keep.json"} {
			if got := string(get(t, ctx, s, key)); got != key {
				t.Fatalf("%s after deleting lessons/d1/: %q", key, got)
			}
		}
		// Again: nothing left, not an error.
		if n, err := s.DeletePrefix(ctx, "lessons/d1/"); err != nil || n != 0 {
			t.Fatalf("second DeletePrefix = %d, %v", n, err)
		}
		// A new object under the prefix can be stored again.
		if err := s.Put(ctx, "lessons/d1/lesson.mp4", write("d-again", []byte("again")), "video/mp4"); err != nil {
			t.Fatal(err)
		}
		if got := string(get(t, ctx, s, "lessons/d1/lesson.mp4")); got != "again" {
			t.Fatalf("re-stored object: %q", got)
		}
	})

	t.Run("MissingFile", func(t *testing.T) {
		if err := s.Put(ctx, "lessons/c/x", filepath.Join(dir, "does-not-exist"), "text/plain"); err == nil {
			t.Fatal("Put of a missing file succeeded")
		}
	})
}

func get(t *testing.T, ctx context.Context, s storage.Store, key string) []byte {
	t.Helper()
	r, err := s.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
