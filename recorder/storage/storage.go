// Package storage keeps a lesson's objects (video, tracks, timeline, poster, manifest) behind one
// small interface, with a local-directory implementation (the embedded default) and a MinIO/S3 one.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// ErrNotFound: no object has that key.
var ErrNotFound = errors.New("storage: object not found")

// Info describes a stored object.
type Info struct {
	Key         string
	Size        int64
	ContentType string
	ModTime     time.Time // when it was last stored
	ETag        string    // changes whenever the object is replaced; for HTTP caching
}

// Store holds objects by key ("lessons/<id>/lesson.mp4"). Implementations are safe for concurrent
// use.
type Store interface {
	// Put stores the local file at path under key, replacing any object with that key. It returns
	// nil only once the object is durably stored and its size checked: the caller may then delete
	// the file.
	Put(ctx context.Context, key, path, contentType string) error
	// Stat describes an object; ErrNotFound if there is none.
	Stat(ctx context.Context, key string) (Info, error)
	// Get opens an object for reading; ErrNotFound if there is none.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Open opens an object for reading with seeking (an HTTP Range request reads only what it
	// asks for) and describes it; ErrNotFound if there is none.
	Open(ctx context.Context, key string) (io.ReadSeekCloser, Info, error)
	// List describes the objects whose keys start with prefix, in key order.
	List(ctx context.Context, prefix string) ([]Info, error)
	// DeletePrefix removes every object whose key starts with prefix and returns how many it
	// removed; no object is not an error. prefix must be a directory-like prefix ending in "/"
	// (never "" or "/": a typo must not empty the store).
	DeletePrefix(ctx context.Context, prefix string) (int, error)
}

// CheckPrefix rejects a prefix DeletePrefix must not take: empty, not ending in "/", or one that
// is not a clean key with a slash after it.
func CheckPrefix(prefix string) error {
	if !strings.HasSuffix(prefix, "/") || CheckKey(strings.TrimSuffix(prefix, "/")) != nil {
		return fmt.Errorf("storage: bad prefix %q: want a clean key followed by \"/\"", prefix)
	}
	return nil
}

// CheckKey rejects keys that could escape a directory or that object stores treat specially.
func CheckKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") || path.Clean(key) != key ||
		key == "." || strings.HasPrefix(key, "../") || strings.Contains(key, "\\") || strings.ContainsRune(key, 0) {
		return fmt.Errorf("storage: bad key %q", key)
	}
	return nil
}
