package rooms

import (
	"context"
	"slices"
)

// DeleteLesson implements Store.
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

// deleteLesson removes a lesson kept in the durable store's documents (memory_durable.go); r.mu
// must be held.
func (d *memDurable) deleteLesson(ctx context.Context, room, id string) error {
	return d.docs.UpdateDoc(ctx, lessonsColl(room), id, func(old []byte) ([]byte, error) {
		if old == nil {
			return nil, ErrNotFound
		}
		return nil, nil
	})
}
