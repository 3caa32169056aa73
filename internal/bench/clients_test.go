package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/laurel-server/laurel/internal/cpuclock"
	"github.com/laurel-server/laurel/internal/wsproto"
)

func TestIntField(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, frame, key string
		want             int64
		ok               bool
	}{
		{"python json.dumps", `{"type": "task_update", "task_id": "x", "seq": 42, "ts": 1764123456789012345}`, `"ts":`, 1764123456789012345, true},
		{"seq", `{"type": "task_update", "seq": 42, "ts": 1}`, `"seq":`, 42, true},
		{"compact", `{"seq":7,"ts":9}`, `"seq":`, 7, true},
		{"absent", `{"type": "error"}`, `"seq":`, 0, false},
		{"not a number", `{"seq": "a"}`, `"seq":`, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := intField([]byte(tc.frame), tc.key)
			if got != tc.want || ok != tc.ok {
				t.Errorf("intField = %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func BenchmarkIntField(b *testing.B) {
	b.ReportAllocs()
	frame := []byte(`{"type": "task_update", "task_id": "task_bench-1", "status": "processing", "seq": 42, "ts": 1764123456789012345}`)
	for b.Loop() {
		if _, ok := intField(frame, `"ts":`); !ok {
			b.Fatal("no ts")
		}
	}
}

// connectServerEnv names the environment variable that makes the test
// binary a WebSocket server for BenchmarkConnect (see TestMain): its value
// is the address to listen on.
const connectServerEnv = "LAUREL_BENCH_CONNECT_SERVER"

// TestMain runs the test binary as BenchmarkConnect's server when
// connectServerEnv is set, so the benchmark's CPU figures are the client's
// alone.
func TestMain(m *testing.M) {
	if addr := os.Getenv(connectServerEnv); addr != "" {
		if err := serveConnects(addr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveConnects listens on addr, prints the address it listens on and
// answers each connection as laurel answers a storm's: a 101 for the
// upgrade request, then, once the subscribe frame came, one text frame;
// then it waits for the client to close. It returns when stdin closes.
func serveConnects(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(os.Stdout, ln.Addr()); err != nil {
		return err
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = ln.Close()
	}()
	frame := serverFrame(true, 0, opText, []byte(`{"type": "task_update", "task_id": "task_bench", "status": "queued"}`), false)
	for {
		c, err := ln.Accept()
		if err != nil {
			return nil
		}
		go func() {
			defer func() { _ = c.Close() }()
			buf := make([]byte, 2048)
			n := 0
			for !bytes.Contains(buf[:n], []byte("\r\n\r\n")) {
				m, err := c.Read(buf[n:])
				if err != nil {
					return
				}
				n += m
			}
			_, rest, _ := bytes.Cut(buf[:n], []byte("Sec-WebSocket-Key: "))
			key, _, _ := bytes.Cut(rest, []byte("\r\n"))
			acc := wsproto.Accept(key)
			resp := append([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "), acc[:]...)
			if _, err := c.Write(append(resp, "\r\n\r\n"...)); err != nil {
				return
			}
			// The subscribe frame: 2 header bytes, 4 mask bytes, payload < 126.
			n = 0
			for n < 2 || n < 6+int(buf[1]&0x7f) {
				m, err := c.Read(buf[n:])
				if err != nil {
					return
				}
				n += m
			}
			if _, err := c.Write(frame); err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, c)
		}()
	}
}

// startConnectServer starts the test binary as serveConnects in a child
// process and returns its address; or, when LAUREL_BENCH_CONNECT_ADDR is
// set, returns that address (a server started by hand, e.g. to count the
// client's syscalls alone under strace).
func startConnectServer(b *testing.B) string {
	b.Helper()
	if addr := os.Getenv("LAUREL_BENCH_CONNECT_ADDR"); addr != "" {
		return addr
	}
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe) //nolint:gosec // the test binary itself
	cmd.Env = append(os.Environ(), connectServerEnv+"=127.0.0.1:0")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = stdin.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	return strings.TrimSpace(line)
}

// BenchmarkConnect measures the client's cost of one storm connect: dial
// from a loopback source address, upgrade, subscribe, read the first frame
// (then close). The server is another process (the test binary as
// serveConnects), so cpu-ns/op is the client's CPU per connect, kernel time
// included. 8 connects are in flight, as on a few of RunClients' dialing
// goroutines.
func BenchmarkConnect(b *testing.B) {
	addr := startConnectServer(b)
	cfg := ClientConfig{URL: "ws://" + addr + "/ws/tasks/", Origin: "http://" + addr,
		Cookies: []string{"sessionid=0123456789abcdefghijklmnopqrstuv"}, Group: "bench", Each: true,
		SourceIPs: []string{"127.0.0.2", "127.0.0.3"}}
	r, err := newClientRun(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	const parallelism = 4
	guard := newHandshakeGuard(ctx, parallelism*runtime.GOMAXPROCS(0), 10*time.Second)
	defer guard.Close()
	var next, slots atomic.Int64
	b.SetParallelism(parallelism)
	b.ReportAllocs()
	cpu := cpuclock.Benchmark(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		s := guard.slot(int(slots.Add(1) - 1))
		for pb.Next() {
			c := r.connect(ctx, s, int(next.Add(1)))
			if c == nil {
				b.Error(r.firstErr)
				return
			}
			if _, err := c.readMessage(); err != nil {
				b.Error(err)
			}
			_ = c.close()
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(cpuclock.Benchmark(b)-cpu)/float64(b.N), "cpu-ns/op")
}

// connectedWriter is RunClients' output in BenchmarkRunClients: it calls
// cancel once the "connected" line is written.
type connectedWriter struct {
	cancel    context.CancelFunc
	connected int
}

func (w *connectedWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`"type":"connected"`)) {
		var l Line
		if err := json.Unmarshal(p, &l); err != nil {
			return 0, err
		}
		w.connected += l.Connected
		w.cancel()
	}
	return len(p), nil
}

// BenchmarkRunClients measures a client process's CPU per socket in a
// connect storm: RunClients opens sockets (from 2 loopback source addresses,
// 100 handshakes in flight, a reader goroutine per socket) against
// serveConnects in another process, in runs of at most 4,000 sockets, each
// closed once all of its sockets are open. cpu-ns/op is the process's CPU
// per socket (closing included).
func BenchmarkRunClients(b *testing.B) {
	addr := startConnectServer(b)
	cfg := ClientConfig{URL: "ws://" + addr + "/ws/tasks/", Origin: "http://" + addr,
		Cookies: []string{"sessionid=0123456789abcdefghijklmnopqrstuv"}, Group: "bench", Each: true,
		SourceIPs: []string{"127.0.0.2", "127.0.0.3"}, Progress: time.Hour}
	b.ReportAllocs()
	cpu := cpuclock.Benchmark(b)
	b.ResetTimer()
	for done := 0; done < b.N; {
		cfg.N = min(b.N-done, 4000)
		ctx, cancel := context.WithCancel(context.Background())
		w := &connectedWriter{cancel: cancel}
		err := RunClients(ctx, cfg, w)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		if w.connected != cfg.N {
			b.Fatalf("%d of %d sockets connected", w.connected, cfg.N)
		}
		done += cfg.N
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuclock.Benchmark(b)-cpu)/float64(b.N), "cpu-ns/op")
}
