package rooms

// The durable part of classroom state: course records kept for months — lesson details, discussion
// threads on lessons, questions placed in recordings and their answers, watch progress, the
// schedule. Live state (membership, hands, polls in progress) changes many times a second and is
// fanned out as events; course records change a few times a minute, are read over HTTP, and must
// survive a restart of every node. So they are JSON documents in named collections behind one small
// interface with three engines (memory for unit tests, Redis for clusters, a file on local disk for
// the embedded default), and the logic of each feature is written once, over Docs, in its own file.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Docs stores JSON documents in collections. A collection name is a path such as
// "lesson/<room>/<lesson>/threads"; an id is unique within its collection. All methods are safe for
// concurrent use, from any number of processes sharing the engine.
type Docs interface {
	// GetDoc returns a document, or an error wrapping ErrNotFound.
	GetDoc(ctx context.Context, coll, id string) ([]byte, error)
	// ListDocs returns every document of a collection by id (an empty map for an unknown one).
	ListDocs(ctx context.Context, coll string) (map[string][]byte, error)
	// UpdateDoc changes one document atomically: fn gets the current document (nil if there is
	// none) and returns the new one, or nil to delete it, or an error to change nothing (UpdateDoc
	// returns that error as is). No other change to the collection lands between fn's read and the
	// write: under contention an engine may call fn again with the newer document, so fn must have
	// no side effects beyond its result.
	UpdateDoc(ctx context.Context, coll, id string, fn func(old []byte) ([]byte, error)) error
	// DeleteCollection removes a collection and all its documents; an unknown one is not an error.
	DeleteCollection(ctx context.Context, coll string) error
}

// ErrConflict: a document changed under an update too many times in a row (Redis engine).
var ErrConflict = errors.New("rooms: too much contention on a document collection")

// maxDocCollection and maxDocID bound names so that a key built from user input stays sane.
const (
	maxDocCollection = 512
	maxDocID         = 256
)

func checkDocName(ctx context.Context, coll, id string, needID bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if coll == "" || len(coll) > maxDocCollection || strings.ContainsAny(coll, "\x00\n") {
		return invalid("a document collection needs a name of 1 to %d bytes without NUL or newline", maxDocCollection)
	}
	if needID && (id == "" || len(id) > maxDocID || strings.ContainsAny(id, "\x00\n")) {
		return invalid("a document needs an id of 1 to %d bytes without NUL or newline", maxDocID)
	}
	return nil
}

// GetJSON reads a document into a T. The error wraps ErrNotFound if there is none.
func GetJSON[T any](ctx context.Context, d Docs, coll, id string) (T, error) {
	var v T
	b, err := d.GetDoc(ctx, coll, id)
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("rooms: document %s/%s: %w", coll, id, err)
	}
	return v, nil
}

// ListJSON reads every document of a collection, by id. A document that does not decode is an error.
func ListJSON[T any](ctx context.Context, d Docs, coll string) (map[string]T, error) {
	raw, err := d.ListDocs(ctx, coll)
	if err != nil {
		return nil, err
	}
	out := make(map[string]T, len(raw))
	for id, b := range raw {
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("rooms: document %s/%s: %w", coll, id, err)
		}
		out[id] = v
	}
	return out, nil
}

// UpdateJSON changes one document as a T: fn gets the current value and whether it exists, and
// changes it in place; returning ErrDeleteDoc deletes it, any other error changes nothing. The
// value stored is returned. fn may run more than once (see Docs.UpdateDoc).
func UpdateJSON[T any](ctx context.Context, d Docs, coll, id string, fn func(v *T, exists bool) error) (T, error) {
	var out T
	err := d.UpdateDoc(ctx, coll, id, func(old []byte) ([]byte, error) {
		var v T
		if old != nil {
			if err := json.Unmarshal(old, &v); err != nil {
				return nil, fmt.Errorf("rooms: document %s/%s: %w", coll, id, err)
			}
		}
		if err := fn(&v, old != nil); err != nil {
			if errors.Is(err, ErrDeleteDoc) {
				var zero T
				out = zero
				return nil, nil
			}
			return nil, err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("rooms: document %s/%s: %w", coll, id, err)
		}
		out = v
		return b, nil
	})
	return out, err
}

// ErrDeleteDoc, returned by an UpdateJSON function, deletes the document.
var ErrDeleteDoc = errors.New("rooms: delete the document")
