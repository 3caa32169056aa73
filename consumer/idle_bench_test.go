package consumer

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var idleSockets = flag.Int("idle-sockets", 5000, "BenchmarkIdleSockets: sockets opened")

// idleClientEnv, when set in the environment of this test binary, makes it
// the client process of BenchmarkIdleSockets instead of running tests: it
// holds idleClientCount sockets open to the address, prints "ready", and
// exits when its stdin closes.
const (
	idleClientEnv   = "LAUREL_IDLE_CLIENT_ADDR"
	idleClientCount = "LAUREL_IDLE_CLIENT_N"
)

// BenchmarkIdleSockets opens -idle-sockets real TCP WebSockets (authenticated,
// each in its user group) to a Server from a child process, so that only the
// server side is in this process, and reports per idle socket: the RSS
// (VmRSS) delta, the Go memory delta (runtime/metrics, heap and stacks) and
// the goroutines. It reports, never asserts. Run it alone:
//
//	go test -run '^$' -bench BenchmarkIdleSockets -benchtime 1x ./consumer/
func BenchmarkIdleSockets(b *testing.B) {
	n := *idleSockets
	layer := newFakeLayer()
	auth := &fakeAuth{verdicts: map[string]Verdict{aliceCookie: {Authenticated: true, UserID: "7", Username: "alice", Reason: "ok"}}}
	srv, err := New(Config{Layer: layer, Authenticator: auth, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	layer.srv = srv
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer func() { _ = srv.Shutdown(context.Background()) }()

	// One socket first, so the server's shared machinery is not counted.
	warm := exec.Command(os.Args[0], "-test.run=^$")
	warm.Env = append(os.Environ(), idleClientEnv+"="+hs.Listener.Addr().String(), idleClientCount+"=1")
	stopWarm := startIdleClients(b, warm)
	waitSockets(b, srv, 1)

	rss0, mem0, g0 := settledUsage()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), idleClientEnv+"="+hs.Listener.Addr().String(), idleClientCount+"="+strconv.Itoa(n))
	stop := startIdleClients(b, cmd)
	waitSockets(b, srv, n+1)
	time.Sleep(time.Second) // let handshake garbage and stacks be collected
	rss1, mem1, g1 := settledUsage()

	for b.Loop() {
	}
	b.ReportMetric(float64(rss1-rss0)/float64(n), "rss-B/socket")
	b.ReportMetric(float64(mem1-mem0)/float64(n), "gomem-B/socket")
	b.ReportMetric(float64(g1-g0)/float64(n), "goroutines/socket")
	stop()
	stopWarm()
	_ = srv.Shutdown(context.Background())
}

func waitSockets(b *testing.B, srv *Server, n int) {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for srv.OpenSockets() < n {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d sockets open", srv.OpenSockets(), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settledUsage collects garbage, returns memory to the OS, and reads VmRSS,
// the Go runtime's mapped memory in use (heap objects and goroutine stacks)
// and the goroutine count.
func settledUsage() (rss, gomem int64, goroutines int) {
	runtime.GC()
	debug.FreeOSMemory()
	data, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				rss = kb << 10
			}
		}
	}
	samples := []rtmetrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
	}
	rtmetrics.Read(samples)
	for _, s := range samples {
		gomem += int64(s.Value.Uint64()) //nolint:gosec // memory sizes fit
	}
	return rss, gomem, runtime.NumGoroutine()
}

// startIdleClients starts the client process and waits until it is ready;
// the returned func ends it.
func startIdleClients(b *testing.B, cmd *exec.Cmd) func() {
	b.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		b.Fatalf("client process: %q, %v", line, err)
	}
	return func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}
}

// runIdleClients is the client process: it opens the sockets with raw
// handshakes (no goroutine per socket), then holds them until stdin closes.
func runIdleClients(addr string) int {
	n, err := strconv.Atoi(os.Getenv(idleClientCount))
	if err != nil {
		fmt.Fprintln(os.Stderr, "idle clients:", err)
		return 2
	}
	conns := make([]net.Conn, n)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ferr error
	)
	sem := make(chan struct{}, 64)
	req := "GET /ws/tasks/ HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nCookie: " + aliceCookie + "\r\n\r\n"
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := dialHandshake(addr, req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && ferr == nil {
				ferr = err
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	if ferr != nil {
		fmt.Fprintln(os.Stderr, "idle clients:", ferr)
		return 1
	}
	_, _ = fmt.Fprintln(os.Stdout, "ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		_ = c.Close()
	}
	return 0
}

func dialHandshake(addr, req string) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		_ = c.Close()
		return nil, err
	}
	var resp []byte
	buf := make([]byte, 512)
	for !bytes.Contains(resp, []byte("\r\n\r\n")) {
		k, err := c.Read(buf)
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		resp = append(resp, buf[:k]...)
	}
	if !bytes.HasPrefix(resp, []byte("HTTP/1.1 101 ")) {
		_ = c.Close()
		return nil, fmt.Errorf("handshake answered %q", resp)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
