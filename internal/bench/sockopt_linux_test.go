package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/laurel-server/laurel/internal/wsproto"
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

// TestDialNotYetConnected dials a listener whose accept queue is full, so
// the kernel drops the first SYN and the connection is still being set up
// when the request is written (write() fails with EAGAIN): the request must
// still go out once the connection is established (the SYN is sent again
// after a second) and the handshake succeed.
func TestDialNotYetConnected(t *testing.T) {
	t.Parallel()
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(lfd, 0); err != nil { // the queue holds one connection
		t.Fatal(err)
	}
	lf := os.NewFile(uintptr(lfd), "listener")
	ln, err := net.FileListener(lf)
	_ = lf.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	filler, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = filler.Close() })
	d, err := newWSDialer("ws://"+ln.Addr().String()+"/ws/", "http://x")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan string, 1)
	go func() {
		time.Sleep(200 * time.Millisecond) // the dial below has written by now
		for range 2 {                      // the filler, then the dial's connection
			c, err := ln.Accept()
			if err != nil {
				served <- err.Error()
				return
			}
			if c.RemoteAddr().String() == filler.LocalAddr().String() {
				defer func() { _ = c.Close() }()
				continue
			}
			defer func() { _ = c.Close() }()
			req := string(readUntil(c, "\r\n\r\n"))
			_, key, _ := strings.Cut(req, "Sec-WebSocket-Key: ")
			key, _, _ = strings.Cut(key, "\r\n")
			acc := wsproto.Accept(key)
			_, _ = c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + string(acc[:]) + "\r\n\r\n"))
			op, p := readClientFrame(t, c)
			served <- fmt.Sprint(op, " ", string(p))
		}
	}()
	start := time.Now()
	c, err := d.dial(testGuard(t, context.Background(), 10*time.Second), nil, "c=1", []byte("sub"), start)
	if err != nil {
		t.Fatalf("dial after %v: %v", time.Since(start), err)
	}
	t.Cleanup(func() { _ = c.close() })
	if got := <-served; got != fmt.Sprint(opText, " sub") {
		t.Fatalf("server: %s", got)
	}
}

// TestDialTCPIPv6 dials an IPv6 loopback listener from an explicit IPv6
// source address (the sockaddr conversion of both, port included).
func TestDialTCPIPv6(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer func() { _ = c.Close() }()
		b := make([]byte, 2)
		n, _ := c.Read(b)
		got <- c.RemoteAddr().(*net.TCPAddr).IP.String() + " " + string(b[:n])
	}()
	f, err := dialTCP(newEndpoint(&net.TCPAddr{IP: net.IPv6loopback}), newEndpoint(ln.Addr().(*net.TCPAddr)), "tcp6 test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	if err := f.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if g := <-got; g != "::1 hi" {
		t.Fatalf("server: %q, want ::1 hi", g)
	}
}
