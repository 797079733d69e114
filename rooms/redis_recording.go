package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Recording state and lessons in the RedisStore. Keys under the room's base: recording (the active
// Recording's JSON, absent when not recording), lessons (hash: lesson id → Lesson JSON) and
// lessonids (list of lesson ids, oldest first, for order and trimming). None expire: lessons outlive
// the class, like chat.

// StartRecording implements Store.
func (s *RedisStore) StartRecording(ctx context.Context, room string, r Recording) error {
	if err := checkRecording(ctx, room, r); err != nil {
		return err
	}
	now := time.Now()
	rj, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("rooms: redis start recording: %w", err)
	}
	ej, err := json.Marshal(Event{Room: room, Type: EventRecordingStarted, At: now, Recording: &r})
	if err != nil {
		return fmt.Errorf("rooms: redis start recording: %w", err)
	}
	res, err := s.run(ctx, startRecordingScript, room, now, rj, ej)
	if err != nil {
		return fmt.Errorf("rooms: redis start recording: %w", err)
	}
	if n, _ := res.(int64); n == -2 {
		return fmt.Errorf("rooms: start recording %s: %w", room, ErrRecordingActive)
	}
	return nil
}

// StopRecording implements Store. The stopped event carries the Recording, which only the script
// knows, so the script splices it into the event JSON built here around a placeholder.
func (s *RedisStore) StopRecording(ctx context.Context, room, by, reason string) (Recording, error) {
	if err := ctx.Err(); err != nil {
		return Recording{}, err
	}
	now := time.Now()
	ej, err := json.Marshal(Event{Room: room, Type: EventRecordingStopped, At: now, By: by, Reason: reason})
	if err != nil {
		return Recording{}, fmt.Errorf("rooms: redis stop recording: %w", err)
	}
	res, err := s.run(ctx, stopRecordingScript, room, now, ej)
	if err != nil {
		return Recording{}, fmt.Errorf("rooms: redis stop recording: %w", err)
	}
	raw, ok := res.(string)
	if !ok {
		return Recording{}, fmt.Errorf("rooms: stop recording %s: %w", room, ErrNotFound)
	}
	var r Recording
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return Recording{}, fmt.Errorf("rooms: redis stop recording: %w", err)
	}
	return r, nil
}

// ActiveRecording implements Store.
func (s *RedisStore) ActiveRecording(ctx context.Context, room string) (*Recording, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	raw, err := s.client.Get(ctx, s.base(room)+"recording").Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rooms: redis recording: %w", err)
	}
	var r Recording
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return nil, fmt.Errorf("rooms: redis recording of %s: %w", room, err)
	}
	return &r, nil
}

// UpdateLesson implements Store.
func (s *RedisStore) UpdateLesson(ctx context.Context, room string, l Lesson) error {
	if err := checkLesson(ctx, room, l); err != nil {
		return err
	}
	now := time.Now()
	lj, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("rooms: redis update lesson: %w", err)
	}
	ej, err := json.Marshal(Event{Room: room, Type: EventLessonUpdated, At: now, Lesson: &l})
	if err != nil {
		return fmt.Errorf("rooms: redis update lesson: %w", err)
	}
	if _, err := s.run(ctx, updateLessonScript, room, now, l.ID, lj, ej, MaxLessonsKept); err != nil {
		return fmt.Errorf("rooms: redis update lesson: %w", err)
	}
	return nil
}

// Lessons implements Store. The script reads list and hash in one step, so the order matches.
func (s *RedisStore) Lessons(ctx context.Context, room string) ([]Lesson, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	res, err := lessonsScript.Run(ctx, s.client, []string{s.base(room)}).Result()
	if err != nil {
		return nil, fmt.Errorf("rooms: redis lessons: %w", err)
	}
	vals, _ := res.([]any)
	out := make([]Lesson, 0, len(vals))
	for _, v := range vals {
		raw, _ := v.(string)
		var l Lesson
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			return nil, fmt.Errorf("rooms: redis lessons of %s: %w", room, err)
		}
		out = append(out, l)
	}
	return out, nil
}

var (
	// ARGV[3..]: recording JSON, event JSON. Answers the Seq, or -2 if a recording is active.
	startRecordingScript = redis.NewScript(luaLib + `
if redis.call('EXISTS', base .. 'recording') == 1 then return -2 end
redis.call('SET', base .. 'recording', ARGV[3])
return emit(ARGV[4])
`)
	// ARGV[3..]: event JSON without its recording (a JSON object). Answers the ended recording's
	// JSON, or 0 if none was active.
	stopRecordingScript = redis.NewScript(luaLib + `
local rec = redis.call('GET', base .. 'recording')
if not rec then return 0 end
redis.call('DEL', base .. 'recording')
-- The event is '{...}' built in Go; add the recording as its last member.
emit(string.sub(ARGV[3], 1, -2) .. ',"recording":' .. rec .. '}')
return rec
`)
	// ARGV[3..]: lesson id, lesson JSON, event JSON, how many lessons to keep.
	updateLessonScript = redis.NewScript(luaLib + `
local lkey, okey = base .. 'lessons', base .. 'lessonids'
if redis.call('HSET', lkey, ARGV[3], ARGV[4]) == 1 then
  redis.call('RPUSH', okey, ARGV[3])
  while redis.call('LLEN', okey) > tonumber(ARGV[6]) do redis.call('HDEL', lkey, redis.call('LPOP', okey)) end
end
return emit(ARGV[5])
`)
	lessonsScript = redis.NewScript(`
local base = KEYS[1]
local out = {}
for _, id in ipairs(redis.call('LRANGE', base .. 'lessonids', 0, -1)) do
  local raw = redis.call('HGET', base .. 'lessons', id)
  if raw then out[#out + 1] = raw end
end
return out
`)
)
