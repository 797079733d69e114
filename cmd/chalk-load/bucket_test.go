package main

import (
	"math"
	"testing"
)

func TestBucketQuantile(t *testing.T) {
	const name = "d_bucket"
	before := map[string]float64{`d_bucket{le="0.001"}`: 10, `d_bucket{le="0.01"}`: 10, `d_bucket{le="+Inf"}`: 10}
	for _, tc := range []struct {
		name  string
		after map[string]float64
		q     float64
		want  float64
	}{
		{"no samples", before, 0.5, 0},
		{"inside the first bucket", map[string]float64{`d_bucket{le="0.001"}`: 110, `d_bucket{le="0.01"}`: 110, `d_bucket{le="+Inf"}`: 110}, 0.5, 0.0005},
		{"interpolated in the second", map[string]float64{`d_bucket{le="0.001"}`: 60, `d_bucket{le="0.01"}`: 110, `d_bucket{le="+Inf"}`: 110}, 0.99, 0.001 + 0.009*49.0/50},
		{"beyond the last bound", map[string]float64{`d_bucket{le="0.001"}`: 10, `d_bucket{le="0.01"}`: 10, `d_bucket{le="+Inf"}`: 110}, 0.5, 0.01},
		{"other series ignored", map[string]float64{`d_bucket{le="0.001"}`: 110, `d_bucket{le="+Inf"}`: 110, `e_bucket{le="5"}`: 1e9}, 0.99, 0.00099},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := bucketQuantile(before, tc.after, name, tc.q); math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("bucketQuantile(%v) = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
}
