// Package heapfloor keeps a Go program's heap goal from falling below a
// floor while its live heap is small.
//
// With the default GOGC of 100 a collection starts whenever the heap has
// doubled since the last one marked. A process that starts small and then
// grows fast, as laurel does when thousands of browsers reconnect to it
// after a restart, collects again and again while its heap is a few
// megabytes: a 10,000-socket connect storm on a fresh laurel ran 12
// collections in 0.8 s, as its live heap grew from 2 to 21 MB, and they
// took about 15% of its CPU. Start keeps the goal at least the floor
// until the live heap is half of it: from then on, GOGC is what it was,
// and a process at rest with a large heap keeps the memory it would have
// kept anyway.
//
// It works by raising GOGC after each collection (debug.SetGCPercent) to
// max(gogc, 100·(floor/live − 1)), where live is the heap the collection
// left. The memory limit (GOMEMLIMIT), when set, still bounds the heap.
package heapfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// Floor is a running heap floor. Stop ends it.
type Floor struct {
	floor uint64
	gogc  int

	mu      sync.Mutex
	stopped bool
	sample  []metrics.Sample
	applied int // the GOGC last set
	cycles  int // collections seen
}

// Start keeps the heap goal at floor bytes or more while GOGC is gogc
// (the process's setting, which must be positive: GOGC=off leaves nothing
// to raise). It applies the floor at once and again after every
// collection, until Stop.
func Start(floor uint64, gogc int) *Floor {
	f := &Floor{floor: floor, gogc: gogc, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	f.adjust()
	f.arm()
	return f
}

// arm registers a cleanup on a fresh object: the next collection finds it
// unreachable and runs the cleanup, which adjusts GOGC and arms again.
func (f *Floor) arm() {
	p := new([16]byte) // big enough not to be batched with other tiny objects
	runtime.AddCleanup(p, func(f *Floor) {
		f.mu.Lock()
		f.cycles++
		stopped := f.stopped
		f.mu.Unlock()
		if !stopped {
			f.adjust()
			f.arm()
		}
	}, f)
}

// runtimeHeapMinimum is the Go runtime's goal before its first collection
// at GOGC=100 (it scales with GOGC): the goal while live is not known yet.
const runtimeHeapMinimum = 4 << 20

// percent is the GOGC that gives a goal of at least floor over live (0:
// no collection yet).
func (f *Floor) percent(live uint64) int {
	if live == 0 {
		return max(int(100*f.floor/runtimeHeapMinimum), f.gogc) //nolint:gosec // a floor of some MiB
	}
	if live >= f.floor/2 {
		return f.gogc
	}
	return max(int(100*(f.floor-live)/live), f.gogc) //nolint:gosec // live < floor/2
}

func (f *Floor) adjust() {
	metrics.Read(f.sample)
	var live uint64
	if f.sample[0].Value.Kind() == metrics.KindUint64 {
		live = f.sample[0].Value.Uint64()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	p := f.percent(live)
	if p != f.applied {
		debug.SetGCPercent(p)
		f.applied = p
	}
}

// Stop restores GOGC to gogc and stops adjusting it.
func (f *Floor) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	f.stopped = true
	debug.SetGCPercent(f.gogc)
}
