//go:build !linux

package bench

import "syscall"

// noPortControl does nothing outside Linux (IP_BIND_ADDRESS_NO_PORT is
// Linux's): sockets bound to a source address reserve their port.
func noPortControl(_, _ string, _ syscall.RawConn) error { return nil }
