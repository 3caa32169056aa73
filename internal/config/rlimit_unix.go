//go:build linux || darwin

package config

import "syscall"

// FileLimit returns the process's open-file soft limit (getrlimit
// RLIMIT_NOFILE). Go raises the soft limit to the hard one at start, so
// after start this is the hard limit too (unless the program lowered it).
func FileLimit() (uint64, bool) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, false
	}
	return r.Cur, true
}
