//go:build !unix

package cpuclock

import "time"

// Process returns ErrUnsupported: there is no getrusage here.
func Process() (time.Duration, error) { return 0, ErrUnsupported }
