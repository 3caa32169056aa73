package consumer

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func socketLimitRefusals(t *testing.T, e *env) float64 {
	t.Helper()
	return counterValue(t, e.reg, "laurel_handshakes_total", map[string]string{"result": "unavailable", "reason": "socket_limit"})
}

func TestMaxSockets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		limit    int
		open     int
		wantLast int // status of the handshake after `open` sockets
		refused  float64
	}{
		{"no cap", 0, 8, http.StatusSwitchingProtocols, 0},
		{"negative is no cap", -1, 8, http.StatusSwitchingProtocols, 0},
		{"under cap", 3, 2, http.StatusSwitchingProtocols, 0},
		{"cap reached", 3, 3, http.StatusServiceUnavailable, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *Config) { c.MaxSockets = tc.limit })
			if status := e.statusAfter(tc.open); status != tc.wantLast {
				t.Fatalf("handshake after %d sockets: status %d, want %d", tc.open, status, tc.wantLast)
			}
			if got := socketLimitRefusals(t, e); got != tc.refused {
				t.Fatalf("socket_limit refusals = %v, want %v", got, tc.refused)
			}
			wantMax := float64(max(tc.limit, 0))
			if got := counterValue(t, e.reg, "laurel_sockets_max", nil); got != wantMax {
				t.Fatalf("laurel_sockets_max = %v, want %v", got, wantMax)
			}
		})
	}
}

// At the cap the refusal is the 503 with Retry-After that the browser
// client and laurel-bench retry after; a closed socket frees its slot.
func TestMaxSocketsRefusesWithRetryAfterAndFreesOnClose(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxSockets = 2 })
	first := e.mustDial("/ws/tasks/", aliceCookie)
	e.mustDial("/ws/tasks/", "sessionid=bob")
	got := e.rawHandshake("/ws/tasks/", map[string]string{"Origin": origin, "Cookie": aliceCookie})
	if got != refused503 {
		t.Fatalf("refusal at the cap = %q, want %q", got, refused503)
	}
	if !strings.Contains(got, "Retry-After: 5\r\n") {
		t.Fatalf("refusal %q has no Retry-After", got)
	}
	_ = first.Close()
	eventually(t, "the closed socket's slot freed", func() bool { return e.srv.OpenSockets() == 1 })
	e.mustDial("/ws/tasks/", aliceCookie)
	if _, status, _ := e.dial("/ws/tasks/", aliceCookie); status != http.StatusServiceUnavailable {
		t.Fatalf("handshake at the cap again: status %d, want 503", status)
	}
	if got := socketLimitRefusals(t, e); got != 2 {
		t.Fatalf("socket_limit refusals = %v, want 2", got)
	}
}

// Concurrent handshakes never take the server past its cap: exactly limit
// of them are accepted, the others refused and counted.
func TestMaxSocketsConcurrentHandshakes(t *testing.T) {
	t.Parallel()
	const limit, dialers = 5, 40
	e := newEnv(t, func(c *Config) { c.MaxSockets = limit })
	var (
		wg       sync.WaitGroup
		accepted atomic.Int64
		refused  atomic.Int64
		other    atomic.Int64
		start    = make(chan struct{})
	)
	for range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c, status, _ := e.dial("/ws/tasks/", aliceCookie)
			switch {
			case c != nil:
				accepted.Add(1)
			case status == http.StatusServiceUnavailable:
				refused.Add(1)
			default:
				other.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if accepted.Load() != limit || refused.Load() != dialers-limit || other.Load() != 0 {
		t.Fatalf("accepted %d, refused %d, other %d; want %d, %d, 0",
			accepted.Load(), refused.Load(), other.Load(), limit, dialers-limit)
	}
	if n := e.srv.OpenSockets(); n != limit {
		t.Fatalf("OpenSockets = %d, want %d", n, limit)
	}
	if got := socketLimitRefusals(t, e); got != dialers-limit {
		t.Fatalf("socket_limit refusals = %v, want %d", got, dialers-limit)
	}
}

// register itself, raced by many handshakes that all passed the cheap check
// before authenticating, admits exactly the cap.
func TestRegisterCapIsExact(t *testing.T) {
	t.Parallel()
	const limit, racers = 7, 64
	e := newEnv(t, func(c *Config) { c.MaxSockets = limit })
	rt, kw := e.srv.find("/ws/tasks/")
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		added []*socket
		start = make(chan struct{})
	)
	for range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sock := newSocket(e.srv, rt, kw, Verdict{}, "", "10.0.0.1:4000", "/ws/tasks/")
			<-start
			switch reason := e.srv.register(sock); reason {
			case "":
				mu.Lock()
				added = append(added, sock)
				mu.Unlock()
			case refuseSockets:
			default:
				t.Errorf("register refused with %q", reason)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(added) != limit || e.srv.OpenSockets() != limit || !e.srv.socketsFull() {
		t.Fatalf("registered %d, open %d, full %v; want %d, %d, true", len(added), e.srv.OpenSockets(), e.srv.socketsFull(), limit, limit)
	}
	for _, sock := range added {
		e.srv.unregister(sock)
	}
	if e.srv.OpenSockets() != 0 || e.srv.socketsFull() {
		t.Fatalf("after unregistering: open %d, full %v", e.srv.OpenSockets(), e.srv.socketsFull())
	}
}

// A storm of refusals at the cap logs one warning, not one per handshake.
func TestMaxSocketsWarnsOncePerInterval(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	e := newEnv(t, func(c *Config) {
		c.MaxSockets = 1
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	e.mustDial("/ws/tasks/", aliceCookie)
	const refusals = 12
	for range refusals {
		if _, status, _ := e.dial("/ws/tasks/", aliceCookie); status != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503", status)
		}
	}
	if got := socketLimitRefusals(t, e); got != refusals {
		t.Fatalf("socket_limit refusals = %v, want %d", got, refusals)
	}
	out := logs.String()
	if n := strings.Count(out, "socket limit reached"); n != 1 {
		t.Fatalf("%d socket limit warnings within %v, want 1:\n%s", n, capLogEvery, out)
	}
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "limit=1") || !strings.Contains(out, "refused=1") {
		t.Fatalf("warning lacks level, limit or count: %s", out)
	}
}
