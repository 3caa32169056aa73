package consumer

import (
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestLazyCounter: the series appears on the first Inc, as with
// WithLabelValues, and concurrent Incs all count.
func TestLazyCounter(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total", Help: "h"}, []string{"result"})
	reg.MustRegister(vec)
	series := func() int {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, mf := range mfs {
			n += len(mf.GetMetric())
		}
		return n
	}
	ok := lazyCounter{vec: vec, label: "ok"}
	if n := series(); n != 0 {
		t.Fatalf("%d series before the first Inc", n)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				ok.Inc()
			}
		})
	}
	wg.Wait()
	if n := series(); n != 1 {
		t.Fatalf("%d series", n)
	}
	if v := counterValue(t, reg, "c_total", map[string]string{"result": "ok"}); v != 800 {
		t.Fatalf("ok = %v", v)
	}
}
