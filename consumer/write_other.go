//go:build !linux

package consumer

import "syscall"

// nonBlockingWriter returns nil: without writev, every queue is written by
// the slow path.
func nonBlockingWriter(syscall.RawConn) syscall.RawConn { return nil }

func writeNonBlocking(syscall.RawConn, [][]byte) (int, error) { return 0, errNoRawConn }

// tryWrite writes nothing: the caller's blocking write does it all.
func tryWrite(syscall.RawConn, []byte) (int, error) { return 0, nil }
