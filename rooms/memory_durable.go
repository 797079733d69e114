package rooms

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// The durable parts of a MemoryStore. Live state (participants, hands, polls in progress, chat)
// dies with the process, as it would with any single node; lessons and attendance are course
// records, so a MemoryStore given a Docs (the disk engine, in the embedded default) keeps them only
// there — never also in memory — and reads them back from there:
//
//	room/<room>/lessons      lesson id → {"n": order, "lesson": Lesson}
//	room/<room>/attendance   stay id (19 digits, increasing) → AttendanceRecord
//	store/open-stays         "<room>/<stay id>" → openStay: the stays in progress, in every room
//
// Writes happen under the room's lock, before the change's event, so the order of the records is
// the order of the events. A process killed mid-class leaves stays open; the next NewDurableMemoryStore
// closes them at the moment it starts (the latest the participants can have been there).

const (
	collOpenStays  = "store/open-stays"
	durableTimeout = 10 * time.Second // one record's write; the disk engine fsyncs in milliseconds
	stayIDFormat   = "%019d"
)

func lessonsColl(room string) string    { return "room/" + room + "/lessons" }
func attendanceColl(room string) string { return "room/" + room + "/attendance" }

// memDurable is a MemoryStore's link to its Docs.
type memDurable struct {
	docs Docs
	log  *slog.Logger

	mu   sync.Mutex
	last int64 // the last order number handed out
}

// lessonDoc is a stored lesson with its place in the room's list.
type lessonDoc struct {
	N      int64  `json:"n"`
	Lesson Lesson `json:"lesson"`
}

// openStay points at a stay in progress.
type openStay struct {
	Room string `json:"room"`
	Stay string `json:"stay"`
}

// durableStay is a room's stay in progress, as the room remembers it while the identity is there.
type durableStay struct {
	id  string
	rec AttendanceRecord
}

// NewDurableMemoryStore returns a MemoryStore that keeps lessons and attendance in docs; the rest of
// its state is in memory as in NewMemoryStore. Stays a previous process left open are closed now.
// Failures to record a leave are logged to log (the leave itself cannot be refused).
func NewDurableMemoryStore(ctx context.Context, docs Docs, log *slog.Logger) (*MemoryStore, error) {
	if log == nil {
		log = slog.Default()
	}
	d := &memDurable{docs: docs, log: log}
	if err := d.closeStaleStays(ctx, time.Now().UTC()); err != nil {
		return nil, err
	}
	s := NewMemoryStore()
	s.durable = d
	return s, nil
}

// next returns an order number above every earlier one: the time in nanoseconds, so that the order
// also holds across restarts.
func (d *memDurable) next() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.last = max(time.Now().UnixNano(), d.last+1)
	return d.last
}

func (d *memDurable) closeStaleStays(ctx context.Context, at time.Time) error {
	open, err := ListJSON[openStay](ctx, d.docs, collOpenStays)
	if err != nil {
		return fmt.Errorf("rooms: read the stays a previous run left open: %w", err)
	}
	for key, o := range open {
		if _, err := UpdateJSON(ctx, d.docs, attendanceColl(o.Room), o.Stay, func(rec *AttendanceRecord, exists bool) error {
			if !exists {
				return ErrDeleteDoc // its join was not recorded: nothing to close
			}
			if rec.LeftAt.IsZero() {
				rec.LeftAt = later(at, rec.JoinedAt)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("rooms: close stay %s: %w", key, err)
		}
		if err := d.docs.UpdateDoc(ctx, collOpenStays, key, func([]byte) ([]byte, error) { return nil, nil }); err != nil {
			return fmt.Errorf("rooms: close stay %s: %w", key, err)
		}
	}
	if len(open) > 0 {
		d.log.Info("closed the attendance stays a previous run left open", "stays", len(open), "at", at)
	}
	return nil
}

func (d *memDurable) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), durableTimeout)
}

// openStayFor records a new stay of p in room and returns it; r.mu must be held. The pointer in
// store/open-stays is written first: if the stay's own write then fails, the next start finds a
// pointer to nothing and drops it, whereas the other order could leave a stay open for ever.
func (d *memDurable) openStayFor(room string, p *Participant) (durableStay, error) {
	ctx, cancel := d.ctx()
	defer cancel()
	st := durableStay{id: fmt.Sprintf(stayIDFormat, d.next()), rec: AttendanceRecord{Room: room, Identity: p.Identity,
		Name: p.Name, Role: p.Role, JoinedAt: time.Now().UTC()}}
	pointer := room + "/" + st.id
	if _, err := UpdateJSON(ctx, d.docs, collOpenStays, pointer, func(o *openStay, _ bool) error {
		*o = openStay{Room: room, Stay: st.id}
		return nil
	}); err != nil {
		return st, fmt.Errorf("rooms: record the attendance of %s in %s: %w", p.Identity, room, err)
	}
	if _, err := UpdateJSON(ctx, d.docs, attendanceColl(room), st.id, func(rec *AttendanceRecord, _ bool) error {
		*rec = st.rec
		return nil
	}); err != nil {
		_ = d.docs.UpdateDoc(ctx, collOpenStays, pointer, func([]byte) ([]byte, error) { return nil, nil }) // best effort
		return st, fmt.Errorf("rooms: record the attendance of %s in %s: %w", p.Identity, room, err)
	}
	return st, nil
}

// closeStay records the end of a stay. A failure is logged: the participant has left regardless,
// and the stay stays listed as open, so the next start closes it.
func (d *memDurable) closeStay(room string, st durableStay) {
	ctx, cancel := d.ctx()
	defer cancel()
	st.rec.LeftAt = later(time.Now().UTC(), st.rec.JoinedAt)
	_, err := UpdateJSON(ctx, d.docs, attendanceColl(room), st.id, func(rec *AttendanceRecord, _ bool) error {
		*rec = st.rec
		return nil
	})
	if err == nil {
		err = d.docs.UpdateDoc(ctx, collOpenStays, room+"/"+st.id, func([]byte) ([]byte, error) { return nil, nil })
	}
	if err != nil {
		d.log.Error("could not record the end of a stay; it will be closed at the next start", "room", room,
			"identity", st.rec.Identity, "err", err)
	}
}

// attendance reads a room's stays in joining order.
func (d *memDurable) attendance(ctx context.Context, room string) ([]AttendanceRecord, error) {
	recs, err := ListJSON[AttendanceRecord](ctx, d.docs, attendanceColl(room))
	if err != nil {
		return nil, fmt.Errorf("rooms: attendance of %s: %w", room, err)
	}
	out := make([]AttendanceRecord, 0, len(recs))
	for _, id := range slices.Sorted(maps.Keys(recs)) { // fixed-width numbers: text order is joining order
		out = append(out, recs[id])
	}
	return out, nil
}

// updateLesson stores l, keeping its place if known, and trims the room's list to MaxLessonsKept;
// r.mu must be held.
func (d *memDurable) updateLesson(ctx context.Context, room string, l Lesson) error {
	added := false
	if _, err := UpdateJSON(ctx, d.docs, lessonsColl(room), l.ID, func(doc *lessonDoc, exists bool) error {
		if !exists {
			doc.N, added = d.next(), true
		}
		doc.Lesson = l
		return nil
	}); err != nil {
		return fmt.Errorf("rooms: update lesson %s of %s: %w", l.ID, room, err)
	}
	if !added {
		return nil
	}
	all, err := d.lessonDocs(ctx, room)
	if err != nil {
		return err
	}
	for _, old := range all[:max(len(all)-MaxLessonsKept, 0)] {
		if err := d.docs.UpdateDoc(ctx, lessonsColl(room), old.Lesson.ID, func([]byte) ([]byte, error) { return nil, nil }); err != nil {
			return fmt.Errorf("rooms: trim the lessons of %s: %w", room, err)
		}
	}
	return nil
}

// lessonDocs reads a room's lessons, oldest first.
func (d *memDurable) lessonDocs(ctx context.Context, room string) ([]lessonDoc, error) {
	m, err := ListJSON[lessonDoc](ctx, d.docs, lessonsColl(room))
	if err != nil {
		return nil, fmt.Errorf("rooms: lessons of %s: %w", room, err)
	}
	all := slices.Collect(maps.Values(m))
	slices.SortFunc(all, func(a, b lessonDoc) int {
		return cmp.Or(cmp.Compare(a.N, b.N), strings.Compare(a.Lesson.ID, b.Lesson.ID))
	})
	return all, nil
}

func (d *memDurable) lessons(ctx context.Context, room string) ([]Lesson, error) {
	all, err := d.lessonDocs(ctx, room)
	if err != nil {
		return nil, err
	}
	out := make([]Lesson, 0, len(all))
	for _, doc := range all {
		out = append(out, doc.Lesson)
	}
	return out, nil
}

// durableJoin opens a stay for p's identity unless one is in progress (a reconnect replacing its own
// session continues it); r.mu must be held. Without a Docs, attendJoin does this in memory.
func (r *memRoom) durableJoin(p *Participant) error {
	if r.durable == nil {
		return nil
	}
	if _, ok := r.mod.dopen[p.Identity]; ok {
		return nil
	}
	st, err := r.durable.openStayFor(r.name, p)
	if err != nil {
		return err
	}
	if r.mod.dopen == nil {
		r.mod.dopen = make(map[string]durableStay)
	}
	r.mod.dopen[p.Identity] = st
	return nil
}

// attendanceWithBreakouts reads the attendance of a main room and its breakout rooms.
func (d *memDurable) attendanceWithBreakouts(ctx context.Context, room string) ([]AttendanceRecord, error) {
	out := []AttendanceRecord{}
	for n := range breakoutRooms + 1 {
		name := room
		if n > 0 {
			name = BreakoutRoomName(room, n)
		}
		recs, err := d.attendance(ctx, name)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	return out, nil
}

func later(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

// deleteLesson removes one of the room's lessons from its list, or returns ErrNotFound; r.mu must
// be held. It is the durable half of MemoryStore.DeleteLesson (the lesson library's delete).
func (d *memDurable) deleteLesson(ctx context.Context, room, id string) error {
	err := d.docs.UpdateDoc(ctx, lessonsColl(room), id, func(old []byte) ([]byte, error) {
		if old == nil {
			return nil, fmt.Errorf("rooms: delete lesson %s of %s: %w", id, room, ErrNotFound)
		}
		return nil, nil
	})
	return err
}
