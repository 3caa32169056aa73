package bench

import (
	"math"
	"sync/atomic"
	"time"
)

// histBase is the growth factor between histogram buckets: 2 % resolution.
const histBase = 1.02

// histBuckets covers 1 µs .. ~10^3 s at histBase resolution.
const histBuckets = 1400

var logBase = math.Log(histBase)

// Histogram is a lock-free latency histogram with logarithmic buckets
// (2 % relative resolution from 1 µs to about 1000 s). It is safe for
// concurrent use; the zero value is ready. Values below 1 µs count in the
// first bucket, above the range in the last.
type Histogram struct {
	counts [histBuckets]atomic.Int64
	max    atomic.Int64
}

func bucketOf(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us <= 1 {
		return 0
	}
	b := int(math.Log(us) / logBase)
	if b >= histBuckets {
		return histBuckets - 1
	}
	return b
}

// Record adds one observation.
func (h *Histogram) Record(d time.Duration) {
	h.counts[bucketOf(d)].Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// Snapshot returns the counts as a sparse map (bucket → count) and the
// maximum, the form client processes report.
func (h *Histogram) Snapshot() HistSnapshot {
	s := HistSnapshot{Buckets: map[int]int64{}, Max: time.Duration(h.max.Load())}
	for i := range h.counts {
		if c := h.counts[i].Load(); c != 0 {
			s.Buckets[i] = c
		}
	}
	return s
}

// HistSnapshot is a Histogram's content, JSON-serialisable and mergeable.
type HistSnapshot struct {
	Buckets map[int]int64 `json:"buckets"`
	Max     time.Duration `json:"max"`
}

// Merge adds o into s.
func (s *HistSnapshot) Merge(o HistSnapshot) {
	if s.Buckets == nil {
		s.Buckets = map[int]int64{}
	}
	for b, c := range o.Buckets {
		s.Buckets[b] += c
	}
	s.Max = max(s.Max, o.Max)
}

// Count is the number of observations.
func (s HistSnapshot) Count() int64 {
	var n int64
	for _, c := range s.Buckets {
		n += c
	}
	return n
}

// Quantile returns the upper bound of the bucket holding quantile q (0..1),
// capped at the maximum; 0 when empty.
func (s HistSnapshot) Quantile(q float64) time.Duration {
	n := s.Count()
	if n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	var seen int64
	for b := range histBuckets {
		seen += s.Buckets[b]
		if seen >= rank {
			upper := time.Duration(math.Pow(histBase, float64(b+1)) * float64(time.Microsecond))
			return min(upper, s.Max)
		}
	}
	return s.Max
}
