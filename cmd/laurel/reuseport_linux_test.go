package main

import (
	"net"
	"testing"
)

// Two listeners with SO_REUSEPORT share one port; a plain listen on it fails.
func TestListenReusePortShares(t *testing.T) {
	a, err := listenReusePort("tcp", "127.0.0.1:0", -1)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.Close() }()
	addr := a.Addr().String()
	b, err := listenReusePort("tcp", addr, -1)
	if err != nil {
		t.Fatalf("second SO_REUSEPORT listener on %s: %v", addr, err)
	}
	defer func() { _ = b.Close() }()
	if c, err := net.Listen("tcp", addr); err == nil {
		_ = c.Close()
		t.Fatalf("plain listen on %s succeeded while it is taken", addr)
	}
}
