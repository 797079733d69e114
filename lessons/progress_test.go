package lessons

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
)

func TestSpans(t *testing.T) {
	tests := []struct {
		name        string
		in          []span
		merged      []span
		minus       []span // subtracted from merged
		rest        []span
		budget      float64
		capped      []span
		mergedTotal float64
	}{
		{name: "empty", in: nil, merged: []span{}, rest: nil, budget: 10, capped: nil},
		{name: "overlap and touch", in: []span{{10, 20}, {0, 5}, {15, 30}, {30, 31}, {40, 40}},
			merged: []span{{0, 5}, {10, 31}}, minus: []span{{3, 12}, {20, 25}},
			rest: []span{{0, 3}, {12, 20}, {25, 31}}, budget: 20, capped: []span{{0, 5}, {10, 25}}, mergedTotal: 26},
		{name: "inside", in: []span{{0, 100}, {20, 30}}, merged: []span{{0, 100}}, minus: []span{{0, 100}},
			rest: nil, budget: 1000, capped: []span{{0, 100}}, mergedTotal: 100},
		{name: "reversed dropped", in: []span{{5, 1}, {2, 3}}, merged: []span{{2, 3}}, minus: []span{{0, 1}, {4, 9}},
			rest: []span{{2, 3}}, budget: 0.5, capped: []span{{2, 2.5}}, mergedTotal: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := mergeSpans(tc.in)
			if !reflect.DeepEqual(m, tc.merged) {
				t.Fatalf("merge %v = %v, want %v", tc.in, m, tc.merged)
			}
			if got := spansLength(m); got != tc.mergedTotal {
				t.Errorf("length %v = %v, want %v", m, got, tc.mergedTotal)
			}
			if got := subtractSpans(m, tc.minus); !reflect.DeepEqual(got, tc.rest) {
				t.Errorf("%v minus %v = %v, want %v", m, tc.minus, got, tc.rest)
			}
			if got := capSpans(m, tc.budget); !reflect.DeepEqual(got, tc.capped) {
				t.Errorf("cap %v to %v = %v, want %v", m, tc.budget, got, tc.capped)
			}
		})
	}
}

func TestJoinClosest(t *testing.T) {
	s := []span{{0, 1}, {5, 6}, {6.5, 7}, {20, 21}, {21.2, 22}}
	got := joinClosest(s, 3)
	want := []span{{0, 1}, {5, 7}, {20, 22}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("joinClosest = %v, want %v", got, want)
	}
}

func TestCheckBeat(t *testing.T) {
	rate := func(f float64) *float64 { return &f }
	many := make([]span, maxBeatRanges+1)
	for i := range many {
		many[i] = span{float64(i), float64(i) + 0.5}
	}
	tests := []struct {
		name string
		hb   heartbeat
		want []span
		err  string
	}{
		{"ok", heartbeat{Watched: []span{{0, 10}, {5, 12}}, Position: 12}, []span{{0, 12}}, ""},
		{"end clamped", heartbeat{Watched: []span{{90, 100.8}}, Position: 100.5}, []span{{90, 100}}, ""},
		{"past the end", heartbeat{Watched: []span{{90, 102}}, Position: 90}, nil, "past the end"},
		{"negative", heartbeat{Watched: []span{{-1, 2}}}, nil, "0 <= from < to"},
		{"empty range", heartbeat{Watched: []span{{3, 3}}}, nil, "0 <= from < to"},
		{"position", heartbeat{Position: 200}, nil, "position"},
		{"rate", heartbeat{Position: 1, Rate: rate(40)}, nil, "rate"},
		{"zero rate", heartbeat{Position: 1, Rate: rate(0)}, nil, "rate"},
		{"too many", heartbeat{Watched: many}, nil, "at most 64"},
		{"nothing watched", heartbeat{Position: 50, Rate: rate(2)}, []span{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := checkBeat(tc.hb, 100)
			if tc.err != "" {
				var re *reqError
				if !errors.As(err, &re) || re.status != 400 || !strings.Contains(re.msg, tc.err) {
					t.Fatalf("err = %v, want a 400 about %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("checkBeat = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// testRecords is a lesson of 600 s in room "math" over MemoryDocs.
func testRecords() *lessonRecords {
	return &lessonRecords{docs: rooms.NewMemoryDocs(), room: "math",
		lesson: rooms.Lesson{ID: "math-1", Room: "math", Status: "ready", Duration: 600, StartedAt: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}}
}

var (
	ana  = auth.Grant{Room: "math", Identity: "ana", Name: "Ana", Role: rooms.RoleStudent}
	ben  = auth.Grant{Room: "math", Identity: "ben", Name: "Ben", Role: rooms.RoleStudent}
	prof = auth.Grant{Room: "math", Identity: "prof", Name: "Prof. Lee", Role: rooms.RoleInstructor}
)

func TestRecordBeat(t *testing.T) {
	ctx := context.Background()
	lr := testRecords()
	t0 := time.Date(2025, 3, 2, 18, 0, 0, 0, time.UTC)
	steps := []struct {
		at      time.Duration // after t0
		watched []span
		want    []span // stored after the beat
		err     string
	}{
		{0, []span{{0, 12}}, []span{{0, 12}}, ""},
		{2 * time.Second, []span{{12, 14}}, nil, "429"},
		// 15 s later: a budget of 30 + 4×15 = 90 s of new time; replaying [0,12] costs nothing.
		{15 * time.Second, []span{{0, 12}, {12, 200}}, []span{{0, 102}}, ""},
		{30 * time.Second, []span{{300, 310}, {500, 510}}, []span{{0, 102}, {300, 310}, {500, 510}}, ""},
		{45 * time.Second, []span{{0, 700}}, nil, "past the end"},
	}
	for i, st := range steps {
		p, err := lr.recordBeat(ctx, ana, heartbeat{Watched: st.watched, Position: 10}, t0.Add(st.at))
		var ts *tooSoon
		switch {
		case st.err == "429":
			if !errors.As(err, &ts) || ts.retry != 3*time.Second {
				t.Fatalf("step %d: err %v, want too soon by 3 s", i, err)
			}
			continue
		case st.err != "":
			if err == nil || !strings.Contains(err.Error(), st.err) {
				t.Fatalf("step %d: err %v, want %q", i, err, st.err)
			}
			continue
		case err != nil:
			t.Fatalf("step %d: %v", i, err)
		}
		if !reflect.DeepEqual(p.Watched, st.want) {
			t.Fatalf("step %d: watched %v, want %v", i, p.Watched, st.want)
		}
	}
	p, err := lr.myProgress(ctx, ana)
	if err != nil || p.WatchedSeconds != 122 || p.Percent != 20.3 || p.Position != 10 || p.LastWatchedAt == nil {
		t.Fatalf("progress = %+v, %v", p, err)
	}
	if p, err := lr.myProgress(ctx, ben); err != nil || p.WatchedSeconds != 0 || len(p.Watched) != 0 || p.LastWatchedAt != nil {
		t.Fatalf("a viewer who never watched: %+v, %v", p, err)
	}
	lr.lesson.Duration = 0
	if _, err := lr.recordBeat(ctx, ben, heartbeat{}, t0); err == nil || !strings.Contains(err.Error(), "still being recorded") {
		t.Fatalf("progress on a lesson being recorded: %v", err)
	}
}

func TestDropoff(t *testing.T) {
	tests := []struct {
		name    string
		d       float64
		viewers [][]span
		want    []int
	}{
		{"none", 150, nil, []int{0, 0, 0}},
		{"whole and half", 150, [][]span{{{0, 150}}, {{0, 70}}}, []int{2, 2, 1}},
		{"skipped a minute", 180, [][]span{{{0, 60}, {125, 180}}}, []int{1, 0, 1}},
		{"under a second", 120, [][]span{{{59.5, 60.5}}}, []int{0, 0}},
		{"short last minute", 120.5, [][]span{{{120, 120.5}}}, []int{0, 0, 1}},
		{"no duration", 0, [][]span{{{0, 1}}}, []int{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := dropoff(tc.d, tc.viewers); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("dropoff = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDropoffSVG(t *testing.T) {
	for _, d := range []Dropoff{
		{Lesson: "x", Duration: 3012.4, Viewers: 14, Minutes: make([]int, 51)},
		{Lesson: "x", Duration: 42, Viewers: 0, Minutes: []int{0}},
		{Lesson: "x", Duration: 300, Viewers: 3, Minutes: []int{3, 3, 2, 1, 1}},
	} {
		svg := dropoffSVG(d, `Lesson <script>alert("x")</script> & more`)
		s := string(svg)
		if strings.Contains(s, "<script") {
			t.Fatalf("unescaped title: %s", s)
		}
		for _, want := range []string{"&lt;script&gt;", "minute of the lesson", "viewers", "<path", "</svg>"} {
			if want == "<path" && d.Viewers == 0 {
				want = "No student has watched"
			}
			if !strings.Contains(s, want) {
				t.Errorf("the chart lacks %q", want)
			}
		}
		// It is well-formed XML.
		dec := xml.NewDecoder(strings.NewReader(s))
		for {
			_, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("not XML: %v\n%s", err, s)
			}
		}
	}
}

func TestNiceStep(t *testing.T) {
	for _, tc := range []struct {
		span float64
		n    int
		want float64
	}{{14, 5, 5}, {50.2, 10, 10}, {3, 5, 1}, {0.7, 10, 0.1}, {180, 10, 20}, {0, 5, 1}} {
		if got := niceStep(tc.span, tc.n); got != tc.want {
			t.Errorf("niceStep(%v, %d) = %v, want %v", tc.span, tc.n, got, tc.want)
		}
	}
}
