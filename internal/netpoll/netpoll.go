// Package netpoll waits for read readiness of many connections with a few
// goroutines, so that an idle connection costs no goroutine of its own.
//
// A Poller watches registered file descriptors and, when one becomes
// readable (or its peer hangs up), runs that registration's handler on a
// worker goroutine: an idle one that ran an earlier handler, or a new one
// when none is idle, so handlers never wait for each other. Registrations are one-shot: after an event the descriptor is
// not watched again until the handler calls Rearm. On Linux this is epoll
// (EPOLLIN|EPOLLRDHUP|EPOLLONESHOT) through golang.org/x/sys/unix; elsewhere
// New returns ErrUnsupported and callers fall back to a goroutine per
// connection.
//
// Registrations are keyed by an id, not by the descriptor: once Remove has
// returned, no event of that registration is dispatched, even if the kernel
// reuses the descriptor number for a new connection.
package netpoll

import (
	"errors"
	"syscall"
)

// ErrUnsupported is returned by New on systems without epoll.
var ErrUnsupported = errors.New("netpoll: not supported on this system")

// ErrClosed is returned by Add once the Poller is closed.
var ErrClosed = errors.New("netpoll: poller closed")

// ErrNoFD is returned by Add when the connection has no file descriptor.
var ErrNoFD = errors.New("netpoll: connection exposes no file descriptor")

// Conn is what a connection must offer to be registered: *net.TCPConn and
// *net.UnixConn satisfy it.
type Conn interface {
	SyscallConn() (syscall.RawConn, error)
}
