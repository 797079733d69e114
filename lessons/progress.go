package lessons

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
)

// Watch progress: what each viewer played of a lesson, as a set of ranges of the lesson's time.
// Ranges, not a position or a counter: a viewer who seeks back and replays a minute has not watched
// more of the lesson, one who skips has not watched what they skipped, and the drop-off chart needs
// to know which minutes each viewer saw. The player batches what it played into a heartbeat every
// 10–15 s, so the server does one small write per viewer per ~12 s rather than one a second. One
// document per (lesson, viewer): the rate limit and the merge are one atomic update of it, on
// every node.

// Heartbeat limits (docs/api.md, "Watch progress").
const (
	minBeat        = 5 * time.Second // at most one accepted heartbeat per viewer per lesson per minBeat
	maxBeatRanges  = 64
	endSlack       = 1.0   // a range may end this far past the lesson's end (players overshoot), clamped
	firstBeatMedia = 120.0 // new watched seconds the first heartbeat may add
	beatSlack      = 30.0  // ... and every later one, plus maxCredited × the seconds since the last
	maxCredited    = 4.0   // the fastest playback credited in full
	minRate        = 0.0625
	maxRate        = 16
	maxSpans       = 1000 // ranges kept per viewer: a script sending slivers cannot grow a document without end
)

// span is a range [from, to) of a lesson's time, in seconds. It is a JSON pair: [12.5, 30].
type span [2]float64

// UnmarshalJSON takes exactly two numbers: encoding/json would silently drop a third.
func (s *span) UnmarshalJSON(b []byte) error {
	var v []float64
	if err := json.Unmarshal(b, &v); err != nil || len(v) != 2 {
		return fmt.Errorf("a range is [from, to], two numbers of seconds; got %s", b)
	}
	*s = span{v[0], v[1]}
	return nil
}

// progressDoc is a viewer's progress on a lesson, as stored.
type progressDoc struct {
	Person
	Watched       []span    `json:"watched"` // sorted, disjoint, within the lesson
	Position      float64   `json:"position"`
	Rate          float64   `json:"rate"`
	LastWatchedAt time.Time `json:"lastWatchedAt"`
	LastBeatAt    time.Time `json:"lastBeatAt"`
}

// Progress is a viewer's progress on a lesson as the API shows it.
type Progress struct {
	Lesson string `json:"lesson"`
	Person
	Watched        []span     `json:"watched"`
	WatchedSeconds float64    `json:"watchedSeconds"`
	Percent        float64    `json:"percent"`
	Position       float64    `json:"position"`
	LastWatchedAt  *time.Time `json:"lastWatchedAt,omitempty"`
}

// heartbeat is the body of POST …/progress.
type heartbeat struct {
	Watched  []span   `json:"watched"`
	Position float64  `json:"position"`
	Rate     *float64 `json:"rate"`
}

// mergeSpans returns the union of s as sorted, disjoint spans (touching ones joined).
func mergeSpans(s []span) []span {
	s = slices.Clone(s)
	slices.SortFunc(s, func(a, b span) int {
		switch {
		case a[0] < b[0]:
			return -1
		case a[0] > b[0]:
			return 1
		}
		return 0
	})
	out := make([]span, 0, len(s))
	for _, v := range s {
		if v[1] <= v[0] {
			continue
		}
		if n := len(out); n > 0 && v[0] <= out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], v[1])
			continue
		}
		out = append(out, v)
	}
	return out
}

// spansLength is the total length of disjoint spans.
func spansLength(s []span) float64 {
	var n float64
	for _, v := range s {
		n += v[1] - v[0]
	}
	return n
}

// subtractSpans returns the parts of a (merged) not in b (merged).
func subtractSpans(a, b []span) []span {
	var out []span
	j := 0
	for _, v := range a {
		from := v[0]
		for j < len(b) && b[j][1] <= from {
			j++
		}
		for k := j; k < len(b) && b[k][0] < v[1]; k++ {
			if b[k][0] > from {
				out = append(out, span{from, b[k][0]})
			}
			from = max(from, b[k][1])
		}
		if from < v[1] {
			out = append(out, span{from, v[1]})
		}
	}
	return out
}

// capSpans keeps the first budget seconds of s (merged), in lesson order.
func capSpans(s []span, budget float64) []span {
	var out []span
	for _, v := range s {
		if budget <= 0 {
			break
		}
		if l := v[1] - v[0]; l > budget {
			v[1] = v[0] + budget
		}
		budget -= v[1] - v[0]
		out = append(out, v)
	}
	return out
}

// joinClosest joins the spans with the smallest gaps between them until at most n remain (the
// gaps then count as watched: a few seconds of a lesson).
func joinClosest(s []span, n int) []span {
	for len(s) > n {
		best := 1
		for i := 2; i < len(s); i++ {
			if s[i][0]-s[i-1][1] < s[best][0]-s[best-1][1] {
				best = i
			}
		}
		s[best-1][1] = s[best][1]
		s = slices.Delete(s, best, best+1)
	}
	return s
}

// checkBeat validates a heartbeat's ranges against a lesson of duration d, clamping small
// overshoots, and returns them merged.
func checkBeat(hb heartbeat, d float64) ([]span, float64, error) {
	if len(hb.Watched) > maxBeatRanges {
		return nil, 0, badRequest("watched: at most %d ranges per heartbeat; it has %d", maxBeatRanges, len(hb.Watched))
	}
	bad := func(f float64) bool { return math.IsNaN(f) || math.IsInf(f, 0) }
	spans := make([]span, 0, len(hb.Watched))
	for _, v := range hb.Watched {
		switch {
		case bad(v[0]) || bad(v[1]) || v[0] < 0 || v[0] >= v[1]:
			return nil, 0, badRequest("watched: each range is [from, to] with 0 <= from < to; got [%g, %g]", v[0], v[1])
		case v[1] > d+endSlack:
			return nil, 0, badRequest("watched: the range [%g, %g] goes past the end of the lesson (%.1f s)", v[0], v[1], d)
		}
		if v[1] = min(v[1], d); v[0] < v[1] {
			spans = append(spans, v)
		}
	}
	if bad(hb.Position) || hb.Position < 0 || hb.Position > d+endSlack {
		return nil, 0, badRequest("position must be 0 to %.1f seconds; it is %g", d, hb.Position)
	}
	rate := 1.0
	if hb.Rate != nil {
		rate = *hb.Rate
		if bad(rate) || rate < minRate || rate > maxRate {
			return nil, 0, badRequest("rate must be %g to %g; it is %g", minRate, float64(maxRate), rate)
		}
	}
	return mergeSpans(spans), rate, nil
}

// recordBeat merges a heartbeat into g's progress on the lesson.
func (lr *lessonRecords) recordBeat(ctx context.Context, g auth.Grant, hb heartbeat, now time.Time) (Progress, error) {
	if err := lr.needDuration(); err != nil {
		return Progress{}, err
	}
	d := lr.lesson.Duration
	spans, rate, err := checkBeat(hb, d)
	if err != nil {
		return Progress{}, err
	}
	doc, err := rooms.UpdateJSON(ctx, lr.docs, lr.coll(kindProgress), g.Identity, func(p *progressDoc, exists bool) error {
		budget := firstBeatMedia
		if exists {
			since := now.Sub(p.LastBeatAt)
			if since < -minBeat { // the last beat came through a node whose clock is ahead
				since = minBeat
			}
			if since < minBeat {
				return &tooSoon{retry: minBeat - since}
			}
			budget = beatSlack + maxCredited*since.Seconds()
		}
		fresh := capSpans(subtractSpans(spans, p.Watched), budget)
		p.Watched = joinClosest(mergeSpans(append(p.Watched, fresh...)), maxSpans)
		p.Person = personOf(g)
		p.Position, p.Rate = min(hb.Position, d), rate
		p.LastBeatAt = now.UTC()
		if len(spans) > 0 {
			p.LastWatchedAt = now.UTC()
		}
		return nil
	})
	if err != nil {
		return Progress{}, err
	}
	return lr.progressView(doc), nil
}

// progressView is a stored progress as the API shows it.
func (lr *lessonRecords) progressView(p progressDoc) Progress {
	v := Progress{Lesson: lr.lesson.ID, Person: p.Person, Watched: p.Watched, Position: p.Position}
	if v.Watched == nil {
		v.Watched = []span{}
	}
	v.WatchedSeconds = round3(spansLength(p.Watched))
	v.Percent = percentOf(v.WatchedSeconds, lr.lesson.Duration)
	if !p.LastWatchedAt.IsZero() {
		t := p.LastWatchedAt
		v.LastWatchedAt = &t
	}
	return v
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// percentOf is part of whole in percent, 0–100 with one decimal.
func percentOf(part, whole float64) float64 {
	if whole <= 0 {
		return 0
	}
	return math.Round(min(part/whole, 1)*1000) / 10
}

// myProgress returns g's progress (zero if none).
func (lr *lessonRecords) myProgress(ctx context.Context, g auth.Grant) (Progress, error) {
	p, err := rooms.GetJSON[progressDoc](ctx, lr.docs, lr.coll(kindProgress), g.Identity)
	if errors.Is(err, rooms.ErrNotFound) {
		p, err = progressDoc{Person: personOf(g)}, nil
	}
	if err != nil {
		return Progress{}, err
	}
	return lr.progressView(p), nil
}

// allProgress returns every viewer's progress, sorted by name.
func (lr *lessonRecords) allProgress(ctx context.Context) ([]Progress, error) {
	all, err := rooms.ListJSON[progressDoc](ctx, lr.docs, lr.coll(kindProgress))
	if err != nil {
		return nil, err
	}
	out := make([]Progress, 0, len(all))
	for _, p := range all {
		out = append(out, lr.progressView(p))
	}
	slices.SortFunc(out, func(a, b Progress) int { return comparePeople(a.Person, b.Person) })
	return out, nil
}

// dropoff counts, for each minute of a lesson of duration d, the viewers who watched at least
// 1 s of it (or all of a shorter last minute).
func dropoff(d float64, viewers [][]span) []int {
	if d <= 0 {
		return []int{}
	}
	n := int(math.Ceil(d / 60))
	counts := make([]int, n)
	for _, w := range viewers {
		for m := range n {
			from, to := float64(m)*60, min(float64(m+1)*60, d)
			need := min(1, to-from)
			var seen float64
			for _, v := range w {
				seen += max(0, min(v[1], to)-max(v[0], from))
			}
			if seen >= need-1e-9 {
				counts[m]++
			}
		}
	}
	return counts
}

// Dropoff is the answer of GET …/dropoff.
type Dropoff struct {
	Lesson   string  `json:"lesson"`
	Duration float64 `json:"duration"`
	Viewers  int     `json:"viewers"`
	Minutes  []int   `json:"minutes"`
}

// dropoff returns the lesson's drop-off over its students.
func (lr *lessonRecords) dropoff(ctx context.Context) (Dropoff, error) {
	all, err := rooms.ListJSON[progressDoc](ctx, lr.docs, lr.coll(kindProgress))
	if err != nil {
		return Dropoff{}, err
	}
	var ws [][]span
	for _, p := range all {
		if p.Role == rooms.RoleStudent && len(p.Watched) > 0 {
			ws = append(ws, p.Watched)
		}
	}
	return Dropoff{Lesson: lr.lesson.ID, Duration: lr.lesson.Duration, Viewers: len(ws), Minutes: dropoff(lr.lesson.Duration, ws)}, nil
}
