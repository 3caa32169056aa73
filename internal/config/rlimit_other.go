//go:build !(linux || darwin)

package config

// FileLimit reports no open-file limit on systems where laurel does not
// read one: the automatic max_sockets is then no cap.
func FileLimit() (uint64, bool) { return 0, false }
