//go:build unix

package bench

import (
	"fmt"
	"syscall"
)

// openFileLimit describes the process's open-file limit for the report, or
// is empty when it cannot be read.
func openFileLimit() string {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		return ""
	}
	return fmt.Sprintf(", open files per process %d (hard %d)", lim.Cur, lim.Max)
}
