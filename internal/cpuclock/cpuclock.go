// Package cpuclock reads the CPU time the process has used, for benchmarks
// that report it per operation (cpu-ns/op): on a machine whose cores are all
// busy, what an operation costs is its CPU, not its wall time.
package cpuclock

import (
	"errors"
	"testing"
	"time"
)

// ErrUnsupported is returned by Process where the system reports no
// process CPU time.
var ErrUnsupported = errors.New("cpuclock: process CPU time not available on this system")

// Benchmark returns the process's CPU time (user + system), failing b when
// it cannot be read.
func Benchmark(b testing.TB) time.Duration {
	b.Helper()
	d, err := Process()
	if err != nil {
		b.Fatal(err)
	}
	return d
}
