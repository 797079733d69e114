package rooms

import (
	"context"
	"fmt"
	"slices"
)

// memRecording is a room's recording state and lessons in the MemoryStore.
type memRecording struct {
	active  *Recording
	lessons []Lesson // oldest first
}

// StartRecording implements Store.
func (s *MemoryStore) StartRecording(ctx context.Context, room string, rec Recording) error {
	if err := checkRecording(ctx, room, rec); err != nil {
		return err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	if r.rec.active != nil {
		return fmt.Errorf("rooms: start recording %s: %w", room, ErrRecordingActive)
	}
	r.rec.active = &rec
	r.emit(Event{Type: EventRecordingStarted, Recording: &rec})
	return nil
}

// StopRecording implements Store.
func (s *MemoryStore) StopRecording(ctx context.Context, room, by, reason string) (Recording, error) {
	if err := ctx.Err(); err != nil {
		return Recording{}, err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return Recording{}, err
	}
	defer r.mu.Unlock()
	rec := r.rec.active
	if rec == nil {
		return Recording{}, fmt.Errorf("rooms: stop recording %s: %w", room, ErrNotFound)
	}
	r.rec.active = nil
	r.emit(Event{Type: EventRecordingStopped, Recording: rec, By: by, Reason: reason})
	return *rec, nil
}

// ActiveRecording implements Store.
func (s *MemoryStore) ActiveRecording(ctx context.Context, room string) (*Recording, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return nil, err
	}
	defer r.mu.Unlock()
	if r.rec.active == nil {
		return nil, nil
	}
	rec := *r.rec.active
	return &rec, nil
}

// UpdateLesson implements Store.
func (s *MemoryStore) UpdateLesson(ctx context.Context, room string, l Lesson) error {
	if err := checkLesson(ctx, room, l); err != nil {
		return err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	if s.durable != nil {
		if err := s.durable.updateLesson(ctx, room, l); err != nil {
			return err
		}
		r.emit(Event{Type: EventLessonUpdated, Lesson: &l})
		return nil
	}
	if i := slices.IndexFunc(r.rec.lessons, func(x Lesson) bool { return x.ID == l.ID }); i >= 0 {
		r.rec.lessons[i] = l
	} else {
		r.rec.lessons = append(r.rec.lessons, l)
		if n := len(r.rec.lessons); n > MaxLessonsKept {
			r.rec.lessons = slices.Delete(r.rec.lessons, 0, n-MaxLessonsKept)
		}
	}
	r.emit(Event{Type: EventLessonUpdated, Lesson: &l})
	return nil
}

// Lessons implements Store.
func (s *MemoryStore) Lessons(ctx context.Context, room string) ([]Lesson, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return nil, err
	}
	defer r.mu.Unlock()
	if s.durable != nil {
		return s.durable.lessons(ctx, room)
	}
	return append([]Lesson{}, r.rec.lessons...), nil
}
