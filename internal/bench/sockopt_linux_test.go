package bench

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// TestNoPortControl dials from an explicit loopback source address with
// noPortControl and checks that the socket has IP_BIND_ADDRESS_NO_PORT set
// and really uses that source address.
func TestNoPortControl(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	accepted := make(chan net.Addr, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c.RemoteAddr()
		_ = c.Close()
	}()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Control: noPortControl}
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		v, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT)
	}); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	if v != 1 {
		t.Errorf("IP_BIND_ADDRESS_NO_PORT = %d, want 1", v)
	}
	remote, ok := (<-accepted).(*net.TCPAddr)
	if !ok || !remote.IP.Equal(net.ParseIP("127.0.0.2")) {
		t.Errorf("server saw the client at %v, want 127.0.0.2", remote)
	}
}
