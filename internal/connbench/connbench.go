// Package connbench drives whole WebSocket connects over loopback TCP for
// benchmarks of laurel's handshake path (consumer's BenchmarkHandshake and
// cmd/laurel's BenchmarkServeHandshake): a pre-built upgrade request, the
// server's 101, then one pre-built subscribe frame, with nothing on the
// client side that would show in the server's profile.
package connbench

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Run connects b.N times with conc connects in flight: each writes req to
// addr, reads the answer's head (which must be a 101), writes sub, waits
// for one value from joined (the server's group_add of the subscribe) and
// closes. The first error fails b.
func Run(b *testing.B, conc int, addr string, req, sub []byte, joined <-chan struct{}) {
	b.Helper()
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		fail atomic.Value
	)
	b.ReportAllocs()
	b.ResetTimer()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 512)
			for next.Add(1) <= int64(b.N) {
				if err := Connect(addr, req, sub, buf, joined); err != nil {
					fail.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if err, _ := fail.Load().(error); err != nil {
		b.Fatal(err)
	}
}

// Connect is one of Run's connects; buf holds the answer's head.
func Connect(addr string, req, sub, buf []byte, joined <-chan struct{}) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	if _, err := c.Write(req); err != nil {
		return err
	}
	n := 0
	for !bytes.HasSuffix(buf[:n], []byte("\r\n\r\n")) {
		if n == len(buf) {
			return fmt.Errorf("handshake answer longer than %d bytes: %q", len(buf), buf[:n])
		}
		m, err := c.Read(buf[n:])
		if err != nil {
			return fmt.Errorf("reading the 101: %w", err)
		}
		n += m
	}
	if !bytes.HasPrefix(buf, []byte("HTTP/1.1 101 ")) {
		return fmt.Errorf("handshake answered %q", buf[:n])
	}
	if _, err := c.Write(sub); err != nil {
		return err
	}
	<-joined
	return nil
}

// MaskedText returns a masked client text frame carrying p (under 126
// bytes).
func MaskedText(p []byte) []byte {
	if len(p) > 125 {
		panic("connbench: MaskedText payload over 125 bytes")
	}
	key := [4]byte{1, 2, 3, 4}
	f := []byte{0x81, 0x80 | byte(len(p))} //nolint:gosec // len(p) ≤ 125, checked above
	f = append(f, key[:]...)
	for i, c := range p {
		f = append(f, c^key[i&3])
	}
	return f
}
