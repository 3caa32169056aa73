package main

import (
	"net"
	"testing"
	"time"

	"github.com/laurel-server/laurel/internal/config"
	"golang.org/x/sys/unix"
)

// TestAcceptedKeepAlive: accepted connections get TCP keep-alive only when
// WebSocket pings are disabled, on both kinds of listener.
func TestAcceptedKeepAlive(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		ping  time.Duration
		reuse bool
		want  int
	}{
		{"default pings", 0, false, 0},
		{"pings every 5s", 5 * time.Second, false, 0},
		{"pings disabled", -1, false, 1},
		{"reuse-port, default pings", 0, true, 0},
		{"reuse-port, pings disabled", -1, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := &app{cfg: config.Laurel{PingInterval: config.Duration(tc.ping)}}
			var (
				ln  net.Listener
				err error
			)
			if tc.reuse {
				ln, err = listenReusePort("tcp", "127.0.0.1:0", a.tcpKeepAlive())
			} else {
				ln, err = listenOn(listen{network: "tcp", addr: "127.0.0.1:0"}, a.tcpKeepAlive())
			}
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = ln.Close() }()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = c.Close() }()
			s, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = s.Close() }()
			raw, err := s.(*net.TCPConn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var (
				got  int
				gerr error
			)
			if err := raw.Control(func(fd uintptr) {
				got, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE)
			}); err != nil {
				t.Fatal(err)
			}
			if gerr != nil {
				t.Fatal(gerr)
			}
			if got != tc.want {
				t.Fatalf("SO_KEEPALIVE %d, want %d", got, tc.want)
			}
		})
	}
}
