package bench

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestDialTCPSource dials from an explicit loopback source address and
// checks that the socket has IP_BIND_ADDRESS_NO_PORT set, really uses that
// source address, and carries data both ways once the first write (which
// waits for the connection) went through.
func TestDialTCPSource(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	type accepted struct {
		remote net.Addr
		data   string
	}
	acc := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(acc)
			return
		}
		defer func() { _ = c.Close() }()
		b := make([]byte, 5)
		n, _ := c.Read(b)
		_, _ = c.Write([]byte("world"))
		acc <- accepted{c.RemoteAddr(), string(b[:n])}
	}()
	f, err := dialTCP(newEndpoint(&net.TCPAddr{IP: net.ParseIP("127.0.0.2")}), newEndpoint(ln.Addr().(*net.TCPAddr)), "tcp test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	if err := f.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatalf("SetDeadline: %v (the file is not pollable)", err)
	}
	raw, err := f.SyscallConn()
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
	if _, err := f.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 5)
	if n, err := f.Read(b); err != nil || string(b[:n]) != "world" {
		t.Fatalf("read %q, %v; want world", b[:n], err)
	}
	a := <-acc
	if remote, ok := a.remote.(*net.TCPAddr); !ok || !remote.IP.Equal(net.ParseIP("127.0.0.2")) {
		t.Errorf("server saw the client at %v, want 127.0.0.2", a.remote)
	}
	if a.data != "hello" {
		t.Errorf("server read %q, want hello", a.data)
	}
}
