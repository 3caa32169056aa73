package bench

import (
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// endpoint is a resolved TCP address the client sockets bind to or connect
// to, kept as the sockaddr the system calls take.
type endpoint struct {
	family int
	v4     unix.SockaddrInet4
	v6     unix.SockaddrInet6
}

// newEndpoint converts a (port 0 for a source address).
func newEndpoint(a *net.TCPAddr) *endpoint {
	if ip4 := a.IP.To4(); ip4 != nil {
		return &endpoint{family: unix.AF_INET, v4: unix.SockaddrInet4{Port: a.Port, Addr: [4]byte(ip4)}}
	}
	e := &endpoint{family: unix.AF_INET6, v6: unix.SockaddrInet6{Port: a.Port, Addr: [16]byte(a.IP.To16())}}
	if a.Zone != "" {
		if ifi, err := net.InterfaceByName(a.Zone); err == nil {
			e.v6.ZoneId = uint32(ifi.Index) //nolint:gosec // an interface index
		}
	}
	return e
}

// sockaddr returns a copy of e's sockaddr (the unix package writes its raw
// form into the value it is given, so concurrent dials must not share one).
func (e *endpoint) sockaddr() unix.Sockaddr {
	if e.family == unix.AF_INET {
		sa := e.v4
		return &sa
	}
	sa := e.v6
	return &sa
}

// dialTCP starts a TCP connection from local (nil: the kernel's choice) to
// remote and returns it as a pollable *os.File named name, without waiting
// for the connection to be established: the first write waits for that
// (on a connecting socket, write() fails with EAGAIN, so the file waits in
// the netpoller until the socket is writable) and reports a refused or
// failed connection. Whatever deadline is then set on the file bounds that
// wait. It costs socket(), connect() and the file's fcntl() and epoll_ctl()
// (plus setsockopt() and bind() with local): net.Dialer also reads back
// SO_ERROR, the peer and the local address, sets TCP_NODELAY, and resolves
// the address, builds a context and arms a timer per dial.
//
// A socket bound to local sets IP_BIND_ADDRESS_NO_PORT first. Without it,
// bind() to an explicit source address with port 0 must pick a port without
// knowing the destination, so it reserves the port for that source address
// exclusively: tens of thousands of client sockets then exhaust
// net.ipv4.ip_local_port_range and other programs' outgoing connections
// (laurel's to Redis) fail with EADDRNOTAVAIL. With the option, the port is
// chosen at connect() time per 4-tuple, as for an unbound socket.
//
// TCP_NODELAY is left off (Nagle's algorithm on): a client socket writes
// its upgrade request on a fresh connection, its subscribe frame once the
// 101 (which acknowledges the request) arrived, and then only pongs and a
// close reply, so none of its writes waits behind unacknowledged data, and
// what the benchmark measures is the server's frames, not these writes.
func dialTCP(local, remote *endpoint, name string) (*os.File, error) {
	fd, err := unix.Socket(remote.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if local != nil {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1); err != nil {
			_ = unix.Close(fd)
			return nil, os.NewSyscallError("setsockopt", err)
		}
		if err := unix.Bind(fd, local.sockaddr()); err != nil {
			_ = unix.Close(fd)
			return nil, os.NewSyscallError("bind", err)
		}
	}
	switch err := unix.Connect(fd, remote.sockaddr()); err {
	case nil, unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
	default:
		_ = unix.Close(fd)
		return nil, os.NewSyscallError("connect", err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// writeRequest writes req, the upgrade request, on f (from dialTCP) and
// returns once f is readable (the response's first bytes arrived), or the
// connection failed, or f's deadline passed. It saves the read() that would
// find nothing yet: the netpoller forgets a socket's readiness each time a
// read starts, so a read must be tried before waiting for the next event,
// but here the wait is armed before the request is written, so the event
// of the response, which can only follow the request, is not missed. If
// the connection is not established yet (the write fails with EAGAIN) the
// request is written by f.Write, which waits for it, and the caller's first
// read waits for the response as usual.
func writeRequest(f *os.File, req []byte) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var n int
	var werr error
	first := true
	err = rc.Read(func(fd uintptr) bool {
		if !first {
			return true // readable, or a spurious wake-up: the caller's read tells
		}
		first = false
		for {
			n, werr = unix.Write(int(fd), req)
			if werr != unix.EINTR {
				break
			}
		}
		return werr != nil || n < len(req)
	})
	switch {
	case err != nil:
		return err
	case werr == unix.EAGAIN:
		n = 0
	case werr != nil:
		return &os.PathError{Op: "write", Path: f.Name(), Err: werr}
	}
	if n < len(req) {
		_, err = f.Write(req[n:])
	}
	return err
}
