//go:build !linux

package bench

import (
	"net"
	"time"
)

// endpoint is a resolved TCP address the client sockets bind to or connect
// to.
type endpoint struct{ addr *net.TCPAddr }

// newEndpoint wraps a (port 0 for a source address).
func newEndpoint(a *net.TCPAddr) *endpoint { return &endpoint{addr: a} }

// dialTCP connects from local (nil: the kernel's choice) to remote through
// net.Dialer, waiting at most a minute (the handshake's own timeout then
// bounds what follows). Outside Linux there is no IP_BIND_ADDRESS_NO_PORT
// nor the raw path of sockopt_linux.go: sockets bound to a source address
// reserve their port. name is unused.
func dialTCP(local, remote *endpoint, _ string) (*net.TCPConn, error) {
	d := net.Dialer{Timeout: time.Minute, KeepAlive: -1}
	if local != nil {
		d.LocalAddr = local.addr
	}
	c, err := d.Dial("tcp", remote.addr.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// writeRequest writes req, the upgrade request, on c.
func writeRequest(c *net.TCPConn, req []byte) error {
	_, err := c.Write(req)
	return err
}
