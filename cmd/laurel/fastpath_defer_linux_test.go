package main

import (
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestFastPathDeferAccept: the fast path's TCP listener has TCP_DEFER_ACCEPT
// set, and a client that connects and sends nothing is still accepted, then
// dropped at the header timeout (2 s in newFastEnv), without an answer.
func TestFastPathDeferAccept(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	if e.ln == nil {
		t.Fatal("newFastEnv kept no listener")
	}
	raw, err := e.ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var (
		got  int
		gerr error
	)
	// run sets the option as it starts: wait for it.
	deadline := time.Now().Add(5 * time.Second)
	for got == 0 && gerr == nil && time.Now().Before(deadline) {
		if err := raw.Control(func(fd uintptr) {
			got, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT)
		}); err != nil {
			t.Fatal(err)
		}
		if got == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if gerr != nil || got != deferAcceptSeconds {
		t.Fatalf("TCP_DEFER_ACCEPT %d (%v), want %d", got, gerr, deferAcceptSeconds)
	}

	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	start := time.Now()
	out, err := io.ReadAll(c)
	if err != nil || len(out) != 0 {
		t.Fatalf("read %q, %v; want a silent close", out, err)
	}
	// Accepted after about deferAcceptSeconds (the kernel's first SYN-ACK
	// retransmission), then the 2 s header timeout.
	if d := time.Since(start); d < 2*time.Second || d > 10*time.Second {
		t.Fatalf("closed after %v, want about %d s + the 2 s header timeout", d, deferAcceptSeconds)
	}
}
