package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Local stores objects as files under a directory: the embedded default, with no server to run.
type Local struct {
	root string
}

// NewLocal stores objects under dir, creating it if needed.
func NewLocal(dir string) (*Local, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	return &Local{root: abs}, nil
}

// Root is the directory objects are kept in.
func (l *Local) Root() string { return l.root }

func (l *Local) file(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	return filepath.Join(l.root, filepath.FromSlash(key)), nil
}

// Put copies the file in (a hard link when both are on one file system) through a temporary
// name, fsyncs it and renames it into place, so a reader never sees half an object.
func (l *Local) Put(ctx context.Context, key, src, _ string) error {
	dst, err := l.file(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("storage: put %s: %w", key, err)
	}
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("storage: put %s: %w", key, err)
	}
	tmp := dst + ".part"
	os.Remove(tmp)
	if err := os.Link(src, tmp); err != nil {
		if err := copyFile(src, tmp); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("storage: put %s: %w", key, err)
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("storage: put %s: %w", key, err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return fmt.Errorf("storage: put %s: %w", key, err)
	}
	got, err := os.Stat(dst)
	if err != nil || got.Size() != st.Size() {
		return fmt.Errorf("storage: put %s: stored %d bytes of %d (%v)", key, got.Size(), st.Size(), err)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (l *Local) Stat(_ context.Context, key string) (Info, error) {
	p, err := l.file(key)
	if err != nil {
		return Info{}, err
	}
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && st.IsDir()) {
		return Info{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return Info{}, fmt.Errorf("storage: stat %s: %w", key, err)
	}
	return localInfo(key, st), nil
}

// localInfo describes a file; its ETag is its size and modification time, which a replacement
// (a rename of a new file) changes.
func localInfo(key string, st fs.FileInfo) Info {
	return Info{Key: key, Size: st.Size(), ContentType: contentType(key), ModTime: st.ModTime(),
		ETag: fmt.Sprintf(`"%x-%x"`, st.Size(), st.ModTime().UnixNano())}
}

func (l *Local) Get(_ context.Context, key string) (io.ReadCloser, error) {
	p, err := l.file(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: get %s: %w", key, err)
	}
	if st, err := f.Stat(); err != nil || st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return f, nil
}

// Open returns the open file: a replacement renames a new file into place, so a reader keeps the
// version it opened.
func (l *Local) Open(_ context.Context, key string) (io.ReadSeekCloser, Info, error) {
	p, err := l.file(key)
	if err != nil {
		return nil, Info{}, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Info{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, Info{}, fmt.Errorf("storage: open %s: %w", key, err)
	}
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		f.Close()
		return nil, Info{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return f, localInfo(key, st), nil
}

func (l *Local) List(_ context.Context, prefix string) ([]Info, error) {
	var out []Info
	err := filepath.WalkDir(l.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasSuffix(p, ".part") {
			return nil
		}
		rel, err := filepath.Rel(l.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		st, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, localInfo(key, st))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: list %q: %w", prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// contentType guesses from the extension: the local store keeps no metadata beside the bytes.
func contentType(key string) string {
	switch strings.ToLower(filepath.Ext(key)) {
	case ".mp4":
		return "video/mp4"
	case ".webm":
		return "video/webm"
	case ".json":
		return "application/json"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	}
	return "application/octet-stream"
}

// DeletePrefix removes the files under prefix (a directory of the store), then the directories it
// leaves empty.
func (l *Local) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	if err := CheckPrefix(prefix); err != nil {
		return 0, err
	}
	infos, err := l.List(ctx, prefix)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, info := range infos {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		p, err := l.file(info.Key)
		if err != nil {
			return n, err
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("storage: delete %s: %w", info.Key, err)
		}
		n++
	}
	// The prefix's own directory and any left empty inside it (a half-written ".part" keeps its
	// directory; the next delete takes it).
	dir := filepath.Join(l.root, filepath.FromSlash(strings.TrimSuffix(prefix, "/")))
	removeEmptyDirs(dir)
	if err := syncDir(filepath.Dir(dir)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return n, fmt.Errorf("storage: delete %s: %w", prefix, err)
	}
	return n, nil
}

// removeEmptyDirs removes dir's empty subdirectories, bottom up, and dir if it ends up empty.
func removeEmptyDirs(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() {
			removeEmptyDirs(filepath.Join(dir, e.Name()))
		}
	}
	os.Remove(dir) // fails, harmlessly, unless empty
}
