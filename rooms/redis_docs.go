package rooms

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Documents (docs.go) live in one hash per collection, for prefix P:
//
//	P docs:{<collection>}   hash   id → document JSON
//
// An update is an optimistic transaction: WATCH the hash, read, compute, MULTI/EXEC; if another
// client changed the collection in between, EXEC fails and the update runs again on the new value.
// Course records change a few times a minute per collection, so a retry is rare and cheap, and the
// logic stays in Go instead of one Lua script per feature.

// maxDocAttempts bounds the retries of a contended update.
const maxDocAttempts = 64

func (s *RedisStore) docsKey(coll string) string { return s.prefix + "docs:{" + coll + "}" }

func (s *RedisStore) GetDoc(ctx context.Context, coll, id string) ([]byte, error) {
	if err := checkDocName(ctx, coll, id, true); err != nil {
		return nil, err
	}
	b, err := s.client.HGet(ctx, s.docsKey(coll), id).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("document %s/%s: %w", coll, id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("rooms: document %s/%s: %w", coll, id, err)
	}
	return b, nil
}

func (s *RedisStore) ListDocs(ctx context.Context, coll string) (map[string][]byte, error) {
	if err := checkDocName(ctx, coll, "", false); err != nil {
		return nil, err
	}
	all, err := s.client.HGetAll(ctx, s.docsKey(coll)).Result()
	if err != nil {
		return nil, fmt.Errorf("rooms: documents %s: %w", coll, err)
	}
	out := make(map[string][]byte, len(all))
	for id, v := range all {
		out[id] = []byte(v)
	}
	return out, nil
}

func (s *RedisStore) UpdateDoc(ctx context.Context, coll, id string, fn func(old []byte) ([]byte, error)) error {
	if err := checkDocName(ctx, coll, id, true); err != nil {
		return err
	}
	key := s.docsKey(coll)
	for range maxDocAttempts {
		var fnErr error
		err := s.client.Watch(ctx, func(tx *redis.Tx) error {
			old, err := tx.HGet(ctx, key, id).Bytes()
			if errors.Is(err, redis.Nil) {
				old, err = nil, nil
			}
			if err != nil {
				return err
			}
			b, err := fn(old)
			if err != nil {
				fnErr = err
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				if b == nil {
					p.HDel(ctx, key, id)
				} else {
					p.HSet(ctx, key, id, b)
				}
				return nil
			})
			return err
		}, key)
		switch {
		case fnErr != nil:
			return fnErr
		case errors.Is(err, redis.TxFailedErr):
			continue // the collection changed under us: run fn again on the new value
		case err != nil:
			return fmt.Errorf("rooms: document %s/%s: %w", coll, id, err)
		}
		return nil
	}
	return fmt.Errorf("document %s/%s: %w", coll, id, ErrConflict)
}

func (s *RedisStore) DeleteCollection(ctx context.Context, coll string) error {
	if err := checkDocName(ctx, coll, "", false); err != nil {
		return err
	}
	if err := s.client.Del(ctx, s.docsKey(coll)).Err(); err != nil {
		return fmt.Errorf("rooms: documents %s: %w", coll, err)
	}
	return nil
}
