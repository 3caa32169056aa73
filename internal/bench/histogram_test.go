package bench

import (
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	t.Parallel()
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	s := h.Snapshot()
	if s.Count() != 1000 {
		t.Fatalf("count %d, want 1000", s.Count())
	}
	for _, tc := range []struct {
		name string
		q    float64
		want time.Duration
	}{
		{"p50", 0.50, 500 * time.Millisecond},
		{"p99", 0.99, 990 * time.Millisecond},
		{"p100", 1, 1000 * time.Millisecond},
		{"p0", 0, 1 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := s.Quantile(tc.q)
			// Buckets are 2 % wide: the answer is the bucket's upper bound.
			if got < tc.want || float64(got) > float64(tc.want)*1.021 {
				t.Errorf("Quantile(%v) = %v, want %v within +2.1 %%", tc.q, got, tc.want)
			}
		})
	}
	if s.Max != time.Second {
		t.Errorf("Max = %v, want 1s", s.Max)
	}
}

func TestHistogramMergeAndEdges(t *testing.T) {
	t.Parallel()
	var a, b Histogram
	a.Record(0)
	a.Record(-time.Second)
	b.Record(time.Hour * 1000)
	s := a.Snapshot()
	s.Merge(b.Snapshot())
	if s.Count() != 3 {
		t.Fatalf("count %d, want 3", s.Count())
	}
	if s.Max != time.Hour*1000 {
		t.Errorf("Max = %v", s.Max)
	}
	if got := s.Quantile(0.5); got > 2*time.Microsecond {
		t.Errorf("median %v, want the first bucket", got)
	}
	var empty HistSnapshot
	if empty.Quantile(0.99) != 0 {
		t.Error("empty histogram has a quantile")
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	b.ReportAllocs()
	var h Histogram
	for i := 0; b.Loop(); i++ {
		h.Record(time.Duration(i%100000) * time.Microsecond)
	}
}

func TestMedianIndex(t *testing.T) {
	for _, tc := range []struct {
		vs   []float64
		want int
	}{
		{[]float64{5}, 0},
		{[]float64{11045, 12267, 12735}, 1},
		{[]float64{12735, 11045, 12267}, 2},
		{[]float64{3, 1, 2, 4}, 2}, // lower middle: 2
		{[]float64{7, 7, 1}, 0},
	} {
		if got := medianIndex(tc.vs); got != tc.want {
			t.Errorf("medianIndex(%v) = %d, want %d", tc.vs, got, tc.want)
		}
	}
}
