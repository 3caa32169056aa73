//go:build !unix

package bench

// openFileLimit is empty where the system has no open-file rlimit.
func openFileLimit() string { return "" }
