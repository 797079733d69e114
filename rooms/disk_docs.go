package rooms

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// DiskDocs keeps documents in one file on local disk (bbolt: a B+tree with copy-on-write pages and
// one writer at a time), the embedded default's course records. UpdateDoc returns only after its
// transaction is on disk (fsync), so nothing acknowledged is lost to a crash or kill -9; a torn write
// is impossible because bbolt switches to the new tree by rewriting one of two meta pages.
//
// Layout: a root bucket "docs" holds one bucket per collection, id → document. The file is locked
// (flock) while open, so a second process cannot open it: two embedded servers on one directory
// would each believe they were the only node.
type DiskDocs struct {
	db   *bolt.DB
	path string
}

// ErrDocsLocked: another process holds the document file.
var ErrDocsLocked = errors.New("rooms: the document file is in use by another process")

// DiskDocsFile is the name of the file OpenDiskDocs keeps in its directory.
const DiskDocsFile = "records.db"

var docsRoot = []byte("docs")

// diskLockWait is how long OpenDiskDocs waits for another process to let go of the file: long enough
// for a server being restarted to have exited, short enough to fail a duplicate start at once.
const diskLockWait = 2 * time.Second

// diskBatchDelay is how long an update waits for others to share its transaction (and its fsync).
// With one writer it only adds this much latency; with many (a class's players reporting progress),
// one fsync serves them all.
const diskBatchDelay = 2 * time.Millisecond

// OpenDiskDocs opens (creating if needed) the document file in dir. If another process has it open
// the error wraps ErrDocsLocked and says so.
func OpenDiskDocs(dir string) (*DiskDocs, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("rooms: data directory: %w", err)
	}
	path := filepath.Join(dir, DiskDocsFile)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: diskLockWait})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("another chalk serve uses %s (it holds the lock on %s): stop it, or give this one another data directory: %w", dir, path, ErrDocsLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("rooms: open %s: %w", path, err)
	}
	db.MaxBatchDelay = diskBatchDelay
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(docsRoot)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("rooms: prepare %s: %w", path, err)
	}
	return &DiskDocs{db: db, path: path}, nil
}

// Path is the document file.
func (d *DiskDocs) Path() string { return d.path }

// Close releases the file (and its lock). Later calls fail.
func (d *DiskDocs) Close() error { return d.db.Close() }

func (d *DiskDocs) GetDoc(ctx context.Context, coll, id string) ([]byte, error) {
	if err := checkDocName(ctx, coll, id, true); err != nil {
		return nil, err
	}
	var out []byte
	err := d.db.View(func(tx *bolt.Tx) error {
		if c := tx.Bucket(docsRoot).Bucket([]byte(coll)); c != nil {
			out = slices.Clone(c.Get([]byte(id))) // bbolt's slices are valid only in the transaction
		}
		return nil
	})
	if err != nil {
		return nil, d.fail("read", coll, err)
	}
	if out == nil {
		return nil, fmt.Errorf("document %s/%s: %w", coll, id, ErrNotFound)
	}
	return out, nil
}

func (d *DiskDocs) ListDocs(ctx context.Context, coll string) (map[string][]byte, error) {
	if err := checkDocName(ctx, coll, "", false); err != nil {
		return nil, err
	}
	out := make(map[string][]byte)
	err := d.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(docsRoot).Bucket([]byte(coll))
		if c == nil {
			return nil
		}
		return c.ForEach(func(k, v []byte) error {
			if v != nil { // nil: a nested bucket, which this layout never makes
				out[string(k)] = slices.Clone(v)
			}
			return nil
		})
	})
	if err != nil {
		return nil, d.fail("list", coll, err)
	}
	return out, nil
}

// UpdateDoc runs fn in a write transaction. Concurrent updates share one transaction and one fsync
// (bbolt's Batch); if any of them fails, the others are run again alone, which the Docs contract
// allows (fn has no side effects).
func (d *DiskDocs) UpdateDoc(ctx context.Context, coll, id string, fn func(old []byte) ([]byte, error)) error {
	if err := checkDocName(ctx, coll, id, true); err != nil {
		return err
	}
	var fnErr error
	err := d.db.Batch(func(tx *bolt.Tx) error {
		fnErr = nil
		root := tx.Bucket(docsRoot)
		c := root.Bucket([]byte(coll))
		var old []byte
		if c != nil {
			old = slices.Clone(c.Get([]byte(id)))
		}
		b, err := fn(old)
		if err != nil {
			fnErr = err
			return err
		}
		if b == nil {
			if c == nil || old == nil {
				return nil
			}
			if err := c.Delete([]byte(id)); err != nil {
				return err
			}
			if k, _ := c.Cursor().First(); k == nil { // the last document: drop the empty collection
				return root.DeleteBucket([]byte(coll))
			}
			return nil
		}
		if c == nil {
			if c, err = root.CreateBucket([]byte(coll)); err != nil {
				return err
			}
		}
		return c.Put([]byte(id), slices.Clone(b))
	})
	if fnErr != nil && errors.Is(err, fnErr) {
		return fnErr
	}
	if err != nil {
		return d.fail("update", coll, err)
	}
	return nil
}

func (d *DiskDocs) DeleteCollection(ctx context.Context, coll string) error {
	if err := checkDocName(ctx, coll, "", false); err != nil {
		return err
	}
	err := d.db.Batch(func(tx *bolt.Tx) error {
		err := tx.Bucket(docsRoot).DeleteBucket([]byte(coll))
		if errors.Is(err, bolterrors.ErrBucketNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return d.fail("delete", coll, err)
	}
	return nil
}

func (d *DiskDocs) fail(op, coll string, err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		err = fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return fmt.Errorf("rooms: %s documents %s in %s: %w", op, coll, d.path, err)
}
