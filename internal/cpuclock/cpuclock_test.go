//go:build unix

package cpuclock

import (
	"testing"
	"time"
)

// TestProcessGrowsWithWork: the clock advances by at least the CPU a busy
// loop burns (the loop runs until the clock itself has seen 20 ms go by, so
// a clock stuck at one value fails by timing out).
func TestProcessGrowsWithWork(t *testing.T) {
	start := Benchmark(t)
	deadline := time.Now().Add(10 * time.Second)
	x := 0
	for {
		for i := range 1_000_000 {
			x += i
		}
		d, err := Process()
		if err != nil {
			t.Fatal(err)
		}
		if d-start >= 20*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("process CPU time moved %v in 10 s of busy loop", d-start)
		}
	}
	_ = x
}
