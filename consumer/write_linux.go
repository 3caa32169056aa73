//go:build linux

package consumer

import (
	"errors"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// nonBlockingWriter returns the raw connection flushers write through.
func nonBlockingWriter(raw syscall.RawConn) syscall.RawConn { return raw }

// writeNonBlocking makes one writev attempt on the non-blocking descriptor
// and never waits: a full kernel buffer gives n < the total and no error.
func writeNonBlocking(raw syscall.RawConn, bufs [][]byte) (int, error) {
	w := rawWrites.Get().(*rawWrite) //nolint:forcetypeassert // the pool holds only *rawWrite
	w.bufs, w.vector = bufs, true
	n, err := w.attempt(raw)
	rawWrites.Put(w)
	return n, err
}

// tryWrite makes one non-blocking write attempt of p on raw (nil: none);
// it returns how much the kernel took (0 when it would have blocked).
func tryWrite(raw syscall.RawConn, p []byte) (int, error) {
	if raw == nil {
		return 0, nil
	}
	w := rawWrites.Get().(*rawWrite) //nolint:forcetypeassert // the pool holds only *rawWrite
	w.p = p
	n, err := w.attempt(raw)
	rawWrites.Put(w)
	return n, err
}

// rawWrite is one write attempt: a write of p, or a writev of bufs when
// vector is set. It is pooled with its callback bound once, since a closure passed to
// RawConn.Write escapes and its captured variables with it (three
// allocations per write).
type rawWrite struct {
	p      []byte
	bufs   [][]byte
	vector bool
	n      int
	err    error
	fn     func(fd uintptr) bool // w.do
}

var rawWrites = sync.Pool{New: func() any {
	w := new(rawWrite)
	w.fn = w.do
	return w
}}

func (w *rawWrite) do(fd uintptr) bool {
	if w.vector {
		w.n, w.err = unix.Writev(int(fd), w.bufs) //nolint:gosec // a descriptor fits an int
	} else {
		w.n, w.err = unix.Write(int(fd), w.p) //nolint:gosec // a descriptor fits an int
	}
	return true
}

// attempt makes the write once and returns how much the kernel took (0 when
// it would have blocked); it leaves w empty for the pool.
func (w *rawWrite) attempt(raw syscall.RawConn) (int, error) {
	err := raw.Write(w.fn)
	n, werr := w.n, w.err
	*w = rawWrite{fn: w.fn}
	if err != nil {
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
