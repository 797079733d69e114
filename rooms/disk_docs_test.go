package rooms_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/rooms/storetest"
)

func openDisk(t *testing.T, dir string) *rooms.DiskDocs {
	t.Helper()
	d, err := rooms.OpenDiskDocs(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func TestDiskDocs(t *testing.T) {
	storetest.RunDocs(t, func(t *testing.T) rooms.Docs { return openDisk(t, t.TempDir()) })
}

// Everything written is there after the file is closed and opened again, and deletions stay deleted.
func TestDiskDocsReopen(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	d, err := rooms.OpenDiskDocs(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{}
	for c := range 5 {
		coll := fmt.Sprintf("lesson/r/l%d/threads", c)
		want[coll] = map[string]string{}
		for i := range 40 {
			id, v := fmt.Sprint("t", i), fmt.Sprintf(`{"c":%d,"i":%d}`, c, i)
			if _, err := rooms.UpdateJSON(ctx, d, coll, id, func(m *map[string]int, _ bool) error {
				*m = map[string]int{"c": c, "i": i}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			want[coll][id] = v
		}
	}
	if _, err := rooms.UpdateJSON(ctx, d, "lesson/r/l0/threads", "t3", func(*map[string]int, bool) error { return rooms.ErrDeleteDoc }); err != nil {
		t.Fatal(err)
	}
	delete(want["lesson/r/l0/threads"], "t3")
	if err := d.DeleteCollection(ctx, "lesson/r/l4/threads"); err != nil {
		t.Fatal(err)
	}
	want["lesson/r/l4/threads"] = map[string]string{}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.GetDoc(ctx, "lesson/r/l1/threads", "t1"); !errors.Is(err, rooms.ErrClosed) {
		t.Fatalf("read after Close: %v, want ErrClosed", err)
	}

	d = openDisk(t, dir)
	for coll, docs := range want {
		got, err := d.ListDocs(ctx, coll)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(docs) {
			t.Errorf("%s: %d documents after reopening, want %d", coll, len(got), len(docs))
		}
		for id, v := range docs {
			if string(got[id]) != v {
				t.Errorf("%s/%s after reopening: %q, want %q", coll, id, got[id], v)
			}
		}
	}
}

// A second process cannot open a directory another one has open; it is told so, and may once the
// first lets go. The second process is this test binary run again.
func TestDiskDocsLockedByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	d, err := rooms.OpenDiskDocs(dir)
	if err != nil {
		t.Fatal(err)
	}
	out, err := openInChild(t, dir)
	if err == nil {
		t.Fatalf("a second process opened %s while the first had it:\n%s", dir, out)
	}
	if want := "another chalk serve uses " + dir; !strings.Contains(out, want) {
		t.Fatalf("second process said %q, want it to say %q", out, want)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if out, err := openInChild(t, dir); err != nil {
		t.Fatalf("after the first closed, a second process could not open %s: %v\n%s", dir, err, out)
	}
}

func openInChild(t *testing.T, dir string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestDiskDocsChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "CHALK_TEST_DISK_CHILD="+dir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestDiskDocsChild is the second process of TestDiskDocsLockedByAnotherProcess; on its own it
// does nothing.
func TestDiskDocsChild(t *testing.T) {
	dir := os.Getenv("CHALK_TEST_DISK_CHILD")
	if dir == "" {
		return
	}
	d, err := rooms.OpenDiskDocs(dir)
	if err != nil {
		if !errors.Is(err, rooms.ErrDocsLocked) {
			t.Errorf("error does not wrap ErrDocsLocked: %v", err)
		}
		t.Fatal(err)
	}
	d.Close()
}

// BenchmarkDiskDocsUpdate measures an acknowledged (fsynced) update, alone and with 16 writers
// sharing transactions.
func BenchmarkDiskDocsUpdate(b *testing.B) {
	ctx := context.Background()
	d, err := rooms.OpenDiskDocs(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	put := func(id string) {
		if err := d.UpdateDoc(ctx, "bench", id, func([]byte) ([]byte, error) { return []byte(`{"watched":[[0,30]]}`), nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			put(fmt.Sprint("s", i%100))
		}
	})
	b.Run("parallel16", func(b *testing.B) {
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				put(fmt.Sprint("p", i%100))
			}
		})
	})
}
