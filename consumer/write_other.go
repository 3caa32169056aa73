//go:build !linux

package consumer

import (
	"net"
	"syscall"

	"github.com/laurel-server/laurel/internal/netpoll"
)

// nonBlockingWriter returns nil: without writev, every queue is written by
// the slow path.
func nonBlockingWriter(netpoll.Conn) syscall.RawConn { return nil }

func writeNonBlocking(syscall.RawConn, [][]byte) (int, error) { return 0, errNoRawConn }

// tryWrite writes nothing: the caller's blocking write does it all.
func tryWrite(net.Conn, []byte) (int, error) { return 0, nil }
