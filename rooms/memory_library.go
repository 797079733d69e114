package rooms

import (
	"context"
	"slices"
)

// DeleteLesson implements Store. A durable MemoryStore keeps lessons only in its Docs
// (memory_durable.go), so the lesson's document goes there.
func (s *MemoryStore) DeleteLesson(ctx context.Context, room, id string) error {
	if err := checkLesson(ctx, room, Lesson{ID: id}); err != nil {
		return err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	if s.durable != nil {
		return s.durable.deleteLesson(ctx, room, id)
	}
	i := slices.IndexFunc(r.rec.lessons, func(x Lesson) bool { return x.ID == id })
	if i < 0 {
		return ErrNotFound
	}
	r.rec.lessons = slices.Delete(r.rec.lessons, i, i+1)
	return nil
}
