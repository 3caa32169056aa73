//go:build linux

package consumer

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// nonBlockingWriter returns the raw connection flushers write through.
func nonBlockingWriter(raw syscall.RawConn) syscall.RawConn { return raw }

// writeNonBlocking makes one writev attempt on the non-blocking descriptor
// and never waits: a full kernel buffer gives n < the total and no error.
func writeNonBlocking(raw syscall.RawConn, bufs [][]byte) (int, error) {
	var (
		n    int
		werr error
	)
	err := raw.Write(func(fd uintptr) bool {
		n, werr = unix.Writev(int(fd), bufs) //nolint:gosec // a descriptor fits an int
		return true
	})
	if err != nil {
		return 0, err
	}
	if werr != nil {
		if errors.Is(werr, unix.EAGAIN) || errors.Is(werr, unix.EINTR) {
			return 0, nil
		}
		return 0, werr
	}
	return n, nil
}

// tryWrite makes one non-blocking write attempt of p on raw (nil: none);
// it returns how much the kernel took (0 when it would have blocked).
func tryWrite(raw syscall.RawConn, p []byte) (int, error) {
	if raw == nil {
		return 0, nil
	}
	var (
		n    int
		werr error
	)
	if err := raw.Write(func(fd uintptr) bool {
		n, werr = unix.Write(int(fd), p) //nolint:gosec // a descriptor fits an int
		return true
	}); err != nil {
		return 0, err
	}
	if werr != nil {
		if errors.Is(werr, unix.EAGAIN) || errors.Is(werr, unix.EINTR) {
			return 0, nil
		}
		return 0, werr
	}
	return max(n, 0), nil
}
