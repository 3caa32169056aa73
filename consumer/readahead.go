package consumer

import (
	"io"
	"sync"
)

// readAheadSize is how much one read of a frame's start asks the kernel
// for: a client message of a few dozen bytes (a subscribe) arrives with one
// read syscall instead of three (header, mask key, payload).
const readAheadSize = 512

var readAheadBufs = sync.Pool{New: func() any { return new([readAheadSize]byte) }}

// readAhead is the frame reader's source: small reads are served from one
// larger read of the connection. Bytes read beyond what the frame reader
// consumed stay pending here (the readiness poller cannot see them), so the
// socket's read handler keeps reading while pending reports true. The
// buffer is pooled and held only while bytes are pending, so an idle socket
// holds none. Not safe for concurrent use; one read handler uses it at a
// time.
type readAhead struct {
	r        io.Reader
	buf      *[readAheadSize]byte // nil when nothing is pending
	off, end int                  // pending bytes are buf[off:end]
}

// pending reports whether bytes read from the connection wait to be
// consumed.
func (ra *readAhead) pending() bool { return ra.buf != nil }

// Read serves pending bytes first; otherwise it reads the connection once,
// into p directly when p is at least readAheadSize long, or into a pooled
// buffer whose surplus stays pending.
func (ra *readAhead) Read(p []byte) (int, error) {
	if ra.buf != nil {
		n := copy(p, ra.buf[ra.off:ra.end])
		ra.off += n
		if ra.off == ra.end {
			ra.release()
		}
		return n, nil
	}
	if len(p) >= readAheadSize {
		return ra.r.Read(p)
	}
	b := readAheadBufs.Get().(*[readAheadSize]byte) //nolint:forcetypeassert // the pool holds only these
	n, err := ra.r.Read(b[:])
	k := copy(p, b[:n])
	if k < n {
		ra.buf, ra.off, ra.end = b, k, n
		// Any error comes back on the read after the pending bytes.
		return k, nil
	}
	readAheadBufs.Put(b)
	return k, err
}

func (ra *readAhead) release() {
	readAheadBufs.Put(ra.buf)
	ra.buf, ra.off, ra.end = nil, 0, 0
}
