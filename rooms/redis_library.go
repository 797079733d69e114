package rooms

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// DeleteLesson implements Store: the lesson leaves the hash and the order list in one script.
func (s *RedisStore) DeleteLesson(ctx context.Context, room, id string) error {
	if err := checkLesson(ctx, room, Lesson{ID: id}); err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	n, err := deleteLessonScript.Run(ctx, s.client, []string{s.base(room)}, id).Int()
	if err != nil {
		return fmt.Errorf("rooms: redis delete lesson: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// ARGV[1]: the lesson id. Answers 1 if it was there, else 0.
var deleteLessonScript = redis.NewScript(`
local base = KEYS[1]
if redis.call('HDEL', base .. 'lessons', ARGV[1]) == 0 then return 0 end
redis.call('LREM', base .. 'lessonids', 0, ARGV[1])
return 1
`)
