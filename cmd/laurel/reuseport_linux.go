package main

import (
	"context"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// listenReusePort listens with SO_REUSEPORT, so several laurel processes
// can share one port and the kernel spreads connections over them.
// keepAlive is as listenOn's.
func listenReusePort(network, addr string, keepAlive time.Duration) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: keepAlive, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	return lc.Listen(context.Background(), network, addr)
}

// deferAcceptSeconds is the TCP_DEFER_ACCEPT period of the main listener:
// how long the kernel keeps a connection that has sent nothing before
// handing it to accept anyway. Linux counts it in SYN-ACK retransmissions:
// one second is one retransmission, after which a silent client's next ACK
// is accepted and the fast path's header timeout applies as before.
const deferAcceptSeconds = 1

// deferAccept sets TCP_DEFER_ACCEPT on ln when it is a TCP listener, so
// that accept returns a connection once its first bytes (the request head)
// have arrived: the fast path's first read then finds them instead of
// failing with EAGAIN and parking the goroutine on the netpoller until they
// come. Other listeners (unix sockets) are left as they are.
func deferAccept(ln net.Listener) error {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return nil
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, deferAcceptSeconds)
	}); err != nil {
		return err
	}
	return serr
}
