//go:build !linux

package main

import (
	"errors"
	"net"
	"time"
)

// listenReusePort is Linux-only.
func listenReusePort(_, _ string, _ time.Duration) (net.Listener, error) {
	return nil, errors.New("--reuse-port is supported on Linux only")
}

// deferAccept is Linux-only (TCP_DEFER_ACCEPT); elsewhere accept returns
// connections as soon as they are established.
func deferAccept(net.Listener) error { return nil }
