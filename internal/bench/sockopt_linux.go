package bench

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// noPortControl is a net.Dialer Control function that sets
// IP_BIND_ADDRESS_NO_PORT on the socket before Go binds it to the dialer's
// LocalAddr. Without it, bind() to an explicit source address with port 0
// must pick a port without knowing the destination, so it reserves the port
// for that source address exclusively: tens of thousands of client sockets
// then exhaust net.ipv4.ip_local_port_range and other programs' outgoing
// connections (laurel's to Redis) fail with EADDRNOTAVAIL. With the option,
// the port is chosen at connect() time per 4-tuple, as for an unbound socket.
func noPortControl(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	}); err != nil {
		return err
	}
	return serr
}
