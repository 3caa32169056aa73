package channelsproto

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Integration-test helpers. Tests that need Redis read REDIS_URL: they skip
// when it is unset and fail when it is set but unreachable.

func testRedisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("REDIS_URL")
	if u == "" {
		t.Skip("REDIS_URL not set")
	}
	c := rawClient(t, u)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("REDIS_URL=%s is set but unreachable: %v", u, err)
	}
	return u
}

func rawClient(t testing.TB, url string) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("REDIS_URL: %v", err)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// testConfig returns a config on REDIS_URL with a prefix unique to the test.
func testConfig(t testing.TB) Config {
	t.Helper()
	url := testRedisURL(t)
	prefix := "t" + uuid4Hex()[:12] + "."
	raw := rawClient(t, url)
	t.Cleanup(func() {
		ctx := context.Background()
		if keys := raw.Keys(ctx, prefix+"*").Val(); len(keys) > 0 {
			raw.Del(ctx, keys...)
		}
	})
	return Config{Hosts: []Host{{URL: url}}, Prefix: prefix}
}

func newTestLayer(t testing.TB, cfg Config, opts ...Option) *Layer {
	t.Helper()
	l, err := New(cfg, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond every 10 ms until it holds or 10 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startRedis starts an extra redis-server on a free port for the test and
// returns its URL. Only used when REDIS_URL is set (so redis-server exists).
func startRedis(t testing.TB) string {
	t.Helper()
	testRedisURL(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	c := rawClient(t, url)
	eventually(t, "second redis-server", func() bool { return c.Ping(context.Background()).Err() == nil })
	return url
}

// recorder is a Dispatcher collecting deliveries.
type recorder struct {
	mu   sync.Mutex
	got  []Delivery
	wake chan struct{}
}

func newRecorder() *recorder { return &recorder{wake: make(chan struct{}, 1)} }

func (r *recorder) Dispatch(d Delivery) {
	r.mu.Lock()
	r.got = append(r.got, d)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *recorder) deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.got...)
}

func (r *recorder) waitN(t testing.TB, n int) []Delivery {
	t.Helper()
	eventually(t, fmt.Sprintf("%d deliveries", n), func() bool { return len(r.deliveries()) >= n })
	return r.deliveries()
}

// logBuffer is a concurrency-safe log sink for asserting on log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// restartableRedis is a redis-server the test can stop and start again on
// the same port.
type restartableRedis struct {
	port int
	url  string
	cmd  *exec.Cmd
}

func startRestartableRedis(t testing.TB) *restartableRedis {
	t.Helper()
	testRedisURL(t)
	r := &restartableRedis{port: freePort(t)}
	r.url = fmt.Sprintf("redis://127.0.0.1:%d/0", r.port)
	r.start(t)
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *restartableRedis) start(t testing.TB) {
	t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	c := rawClient(t, r.url)
	eventually(t, "redis-server up", func() bool { return c.Ping(context.Background()).Err() == nil })
}

func (r *restartableRedis) stop(t testing.TB) {
	t.Helper()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}
