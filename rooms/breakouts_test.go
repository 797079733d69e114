package rooms_test

import (
	"fmt"
	"testing"

	"github.com/chalk-edu/chalk/rooms"
)

func TestBreakoutRoomNames(t *testing.T) {
	for _, tc := range []struct {
		room string
		main string
		n    int
	}{
		{"math", "math", 0},
		{"math.b1", "math", 1},
		{"math.b50", "math", 50},
		{"math.b51", "math.b51", 0},
		{"math.b0", "math.b0", 0},
		{"math.b01", "math.b01", 0},
		{"math.bx", "math.bx", 0},
		{"math.b", "math.b", 0},
		{"math.b-1", "math.b-1", 0},
	} {
		main, n := rooms.ParseBreakoutRoom(tc.room)
		if main != tc.main || n != tc.n {
			t.Errorf("ParseBreakoutRoom(%q) = %q, %d; want %q, %d", tc.room, main, n, tc.main, tc.n)
		}
	}
	for n := 1; n <= rooms.MaxBreakouts; n++ {
		name := rooms.BreakoutRoomName("class-7_b", n)
		if main, got := rooms.ParseBreakoutRoom(name); main != "class-7_b" || got != n {
			t.Fatalf("round trip of breakout %d: %q → %q, %d", n, name, main, got)
		}
	}
}

func TestSpreadEvenly(t *testing.T) {
	for _, tc := range []struct {
		people, count int
		fixed         []rooms.Assignment
		sizes         []int // wanted sizes of breakouts 1..count, counting fixed ones; nil: differ by at most 1
	}{
		{people: 10, count: 3},
		{people: 2, count: 5},
		{people: 0, count: 2},
		{people: 49, count: 50},
		{people: 7, count: 1, sizes: []int{7}},
		// Two already in breakout 1: the four others fill 2 and 3 first.
		{people: 4, count: 3, fixed: []rooms.Assignment{{Identity: "x", Breakout: 1}, {Identity: "y", Breakout: 1}}, sizes: []int{2, 2, 2}},
	} {
		t.Run(fmt.Sprint(tc.people, "in", tc.count), func(t *testing.T) {
			for range 20 { // random order and ties: try several draws
				ids := make([]string, tc.people)
				for i := range ids {
					ids[i] = fmt.Sprint("u", i)
				}
				got := rooms.SpreadEvenly(ids, tc.count, tc.fixed)
				if len(got) != tc.people {
					t.Fatalf("assigned %d of %d", len(got), tc.people)
				}
				sizes := make([]int, tc.count)
				for _, a := range tc.fixed {
					sizes[a.Breakout-1]++
				}
				for id, n := range got {
					if n < 1 || n > tc.count {
						t.Fatalf("%s assigned to %d", id, n)
					}
					sizes[n-1]++
				}
				if tc.sizes != nil {
					if fmt.Sprint(sizes) != fmt.Sprint(tc.sizes) {
						t.Fatalf("sizes %v, want %v", sizes, tc.sizes)
					}
					continue
				}
				lo, hi := sizes[0], sizes[0]
				for _, s := range sizes {
					lo, hi = min(lo, s), max(hi, s)
				}
				if hi-lo > 1 {
					t.Fatalf("sizes %v differ by more than one", sizes)
				}
			}
		})
	}
}
