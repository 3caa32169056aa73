//go:build !linux

package netpoll

import "syscall"

// Poller is unavailable on this system: New returns ErrUnsupported.
type Poller struct{}

// Registration is unavailable on this system.
type Registration struct{}

// New returns ErrUnsupported.
func New() (*Poller, error) { return nil, ErrUnsupported }

// Add returns ErrUnsupported.
func (p *Poller) Add(Conn, func()) (*Registration, error) { return nil, ErrUnsupported }

// AddRaw returns ErrUnsupported.
func (p *Poller) AddRaw(syscall.RawConn, func()) (*Registration, error) { return nil, ErrUnsupported }

// Len returns 0.
func (p *Poller) Len() int { return 0 }

// Close does nothing.
func (p *Poller) Close() error { return nil }

// Rearm does nothing.
func (r *Registration) Rearm() error { return nil }

// Remove does nothing.
func (r *Registration) Remove() error { return nil }
