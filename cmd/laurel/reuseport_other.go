//go:build !linux

package main

import (
	"errors"
	"net"
)

// listenReusePort is Linux-only.
func listenReusePort(_, _ string) (net.Listener, error) {
	return nil, errors.New("--reuse-port is supported on Linux only")
}
