package heapfloor

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	f := &Floor{floor: 32 << 20, gogc: 100}
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, 800},         // before the first collection: 4 MiB at GOGC=100
		{2 << 20, 1500},  // 2 MiB live: goal 32 MiB
		{8 << 20, 300},   // 8 MiB: 32
		{15 << 20, 113},  // just under half the floor
		{16 << 20, 100},  // half the floor: GOGC's own goal reaches it
		{500 << 20, 100}, // large heaps are left alone
	} {
		if got := f.percent(tc.live); got != tc.want {
			t.Errorf("percent(%d MiB) = %d, want %d", tc.live>>20, got, tc.want)
		}
	}
	high := &Floor{floor: 32 << 20, gogc: 400}
	if got := high.percent(20 << 20); got != 400 {
		t.Errorf("with GOGC=400 and 20 MiB live: %d, want GOGC kept", got)
	}
}

// The floor is applied at once, follows the live heap after collections,
// and Stop puts GOGC back.
func TestStartStop(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	f := Start(1<<40, 100) // a floor no test heap reaches
	runtime.GC()
	// The cleanup runs on its own goroutine after the collection.
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		cycles, applied := f.cycles, f.applied
		f.mu.Unlock()
		if cycles >= 1 && applied > 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a collection: %d cycles seen, GOGC %d", cycles, applied)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if got := debug.SetGCPercent(-1); got <= 100 {
		t.Errorf("GOGC under the floor = %d, want raised", got)
	}
	f.Stop()
	if got := debug.SetGCPercent(prev); got != 100 {
		t.Errorf("GOGC after Stop = %d, want 100", got)
	}
	f.Stop() // twice is harmless
}
