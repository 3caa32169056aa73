package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/laurel-server/laurel/channelsproto"
)

// fastEnv runs a fastAccept and its http.Server on a loopback listener. The
// handler records, for each request, whether it came through the fast path
// (its ResponseWriter is a *hijackWriter); claimed requests (path /ws/) are
// hijacked and answered "fast <RemoteAddr> <Host> <Cookie>\n".
type fastEnv struct {
	addr string
	ln   net.Listener // the fast path's listener
	f    *fastAccept
	mu   sync.Mutex
	seen []string // "fast /path" or "http /path"
}

func newFastEnv(t *testing.T) *fastEnv {
	t.Helper()
	e := &fastEnv{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr, e.ln = ln.Addr().String(), ln
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, fast := w.(*hijackWriter)
		kind := "http"
		if fast {
			kind = "fast"
		}
		e.mu.Lock()
		e.seen = append(e.seen, kind+" "+r.URL.Path)
		e.mu.Unlock()
		if r.URL.Path == "/ws/write" {
			http.Error(w, "written", http.StatusTeapot)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/ws/") {
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			if fast && brw.Reader.Buffered() != 0 {
				t.Errorf("%d bytes buffered at hijack", brw.Reader.Buffered())
			}
			_, _ = io.WriteString(c, kind+" "+r.RemoteAddr+" "+r.Host+" "+r.Header.Get("Cookie")+" "+strings.Join(r.Header["Host"], ",")+"\n")
			_ = c.Close()
			return
		}
		_, _ = io.WriteString(w, "plain "+r.URL.Path)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	q := newConnQueue(ln.Addr())
	f := &fastAccept{ln: ln, h: h, claims: func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/ws/") },
		handoff: q, log: slog.New(slog.DiscardHandler), headTimeout: 2 * time.Second}
	e.f = f
	runErr := make(chan error, 1)
	go func() { runErr <- f.run() }()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(q) }()
	t.Cleanup(func() {
		_ = ln.Close()
		_ = srv.Close()
		if err := <-runErr; err == nil {
			t.Error("run returned no error after Close")
		}
		if err := <-serveErr; err == nil {
			t.Error("Serve returned no error after Close")
		}
	})
	return e
}

// roundTrip writes raw (in parts, with a pause between them) and returns
// everything the server wrote until it closed the connection.
func (e *fastEnv) roundTrip(t *testing.T, parts ...string) string {
	t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	for i, p := range parts {
		if i > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		if _, err := io.WriteString(c, p); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading: %v (so far %q)", err, out)
	}
	return string(out)
}

func (e *fastEnv) last() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.seen) == 0 {
		return ""
	}
	return e.seen[len(e.seen)-1]
}

func TestFastPath(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	const hs = "GET /ws/a HTTP/1.1\r\nHost: app.example:80\r\nCookie: sessionid=x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
	cases := []struct {
		name  string
		parts []string
		path  string // "fast /ws/a" or "http /..."
		want  string // prefix of the answer; "" when nothing is expected
	}{
		{"claimed", []string{hs}, "fast /ws/a", "fast 127.0.0.1:"},
		{"claimed, head in pieces", []string{hs[:10], hs[10:40], hs[40:]}, "fast /ws/a", "fast 127.0.0.1:"},
		{"not claimed", []string{"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"}, "http /healthz", "HTTP/1.1 200 OK"},
		{"bytes after the head", []string{hs + "\x81\x80"}, "http /ws/a", "http 127.0.0.1:"},
		{"HTTP/1.0", []string{strings.Replace(hs, "HTTP/1.1", "HTTP/1.0", 1)}, "http /ws/a", "http 127.0.0.1:"},
		{"two Host headers", []string{strings.Replace(hs, "Cookie", "Host: b\r\nCookie", 1)}, "", "HTTP/1.1 400 Bad Request"},
		{"no Host", []string{strings.Replace(hs, "Host: app.example:80\r\n", "", 1)}, "", "HTTP/1.1 400 Bad Request"},
		{"absolute target", []string{strings.Replace(hs, "GET /ws/a", "GET http://app.example/ws/a", 1)}, "http /ws/a", "http 127.0.0.1:"},
		{"a body", []string{strings.Replace(hs, "Cookie", "Content-Length: 2\r\nCookie", 1) + "{}"}, "http /ws/a", "http 127.0.0.1:"},
		{"control character in a value", []string{strings.Replace(hs, "sessionid=x", "sessionid=\x01", 1)}, "", "HTTP/1.1 400 Bad Request"},
		{"head over 4 KiB", []string{strings.Replace(hs, "sessionid=x", "sessionid="+strings.Repeat("x", 5000), 1)}, "http /ws/a", "http 127.0.0.1:"},
		{"handler writes a response", []string{strings.Replace(hs, "/ws/a", "/ws/write", 1)}, "fast /ws/write", "HTTP/1.1 418 I'm a teapot\r\n"},
		{"garbage", []string{"NOT HTTP\r\n\r\n"}, "", "HTTP/1.1 400 Bad Request"},
		{"closed before a head", []string{"GET /ws/a HTT"}, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.last()
			parts := tc.parts
			if tc.name == "closed before a head" {
				// Half-close after the partial head: net/http answers 400.
				c, err := net.Dial("tcp", e.addr)
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = c.Close() }()
				_, _ = io.WriteString(c, parts[0])
				_ = c.(*net.TCPConn).CloseWrite()
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				out, _ := io.ReadAll(c)
				if !strings.HasPrefix(string(out), "HTTP/1.1 400 Bad Request") {
					t.Fatalf("answered %q", out)
				}
				return
			}
			got := e.roundTrip(t, parts...)
			if !strings.HasPrefix(got, tc.want) {
				t.Fatalf("answered %q, want %q...", got, tc.want)
			}
			if tc.path == "" {
				if e.last() != before {
					t.Fatalf("handler ran (%s)", e.last())
				}
				return
			}
			if e.last() != tc.path {
				t.Fatalf("handler saw %q, want %q", e.last(), tc.path)
			}
		})
	}
	// What the fast path hands the handler matches net/http's request:
	// RemoteAddr, Host moved out of the header, the headers.
	got := e.roundTrip(t, hs)
	if !strings.HasSuffix(got, " app.example:80 sessionid=x \n") {
		t.Fatalf("fast path request %q", got)
	}
	got = e.roundTrip(t, hs+"x")
	if !strings.HasSuffix(got, " app.example:80 sessionid=x \n") || !strings.HasPrefix(got, "http ") {
		t.Fatalf("net/http request %q", got)
	}
}

// TestFastPathHeadTimeout: a client that sends no whole head is dropped at
// the header timeout, without an answer.
// TestFastPathReusesWorkers checks that connections served one after the
// other are served by the workers of the earlier ones, not each by a new
// goroutine.
func TestFastPathReusesWorkers(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	const (
		hs = "GET /ws/a HTTP/1.1\r\nHost: app.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
		n  = 40
	)
	for range n {
		if got := e.roundTrip(t, hs); !strings.HasPrefix(got, "fast ") {
			t.Fatalf("answer %q", got)
		}
	}
	if got := e.f.started.Load(); got > n/2 {
		t.Fatalf("%d workers started for %d connections in turn", got, n)
	}
}

func TestFastPathHeadTimeout(t *testing.T) {
	t.Parallel()
	e := newFastEnv(t)
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	_, _ = io.WriteString(c, "GET /ws/a HTTP/1.1\r\n")
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	out, err := io.ReadAll(bufio.NewReader(c))
	if err != nil || len(out) != 0 {
		t.Fatalf("read %q, %v; want a silent close", out, err)
	}
	if d := time.Since(start); d < time.Second || d > 8*time.Second {
		t.Fatalf("closed after %v, want the 2 s header timeout", d)
	}
}

// TestFastPathCloseEndsHeadReads: closing the listener ends run at once,
// even with a client that never finishes its head.
func TestFastPathCloseEndsHeadReads(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	q := newConnQueue(ln.Addr())
	f := &fastAccept{ln: ln, h: http.NotFoundHandler(), claims: func(*http.Request) bool { return true },
		handoff: q, log: slog.New(slog.DiscardHandler), headTimeout: time.Minute}
	runErr := make(chan error, 1)
	go func() { runErr <- f.run() }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\n")
	// Wait until the connection is being read.
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		n := len(f.reading)
		f.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("connection never read")
		}
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	_ = ln.Close()
	_ = q.Close()
	select {
	case err := <-runErr:
		if err == nil {
			t.Error("run returned no error after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run still waits for the head read")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("run returned after %v", d)
	}
}

// TestServeHandshakeThroughNetHTTP: a handshake whose head is too large for
// the fast path is served by net/http, and its socket works as any other
// (subscribe, group events) on the connection net/http hijacked.
func TestServeHandshakeThroughNetHTTP(t *testing.T) {
	r, key := startApp(t, "")
	h := http.Header{"Origin": {testOrigin}, "Cookie": {"sessionid=" + key}, "X-Padding": {strings.Repeat("p", 2*headBufSize)}}
	c, resp, err := websocket.DefaultDialer.Dial("ws://"+r.base+"/ws/tasks/", h)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer func() { _ = c.Close() }()
	if err := c.WriteJSON(map[string]any{"action": "subscribe", "task_id": "big"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "task_big membership", func() bool { return len(r.members(t, "task_big")) == 1 })
	if err := r.sender(t).GroupSend(context.Background(), "task_big", channelsproto.Map{{Key: "type", Value: "task.update"}, {Key: "n", Value: int64(1)}}); err != nil {
		t.Fatal(err)
	}
	if got := readText(t, c); got != `{"type": "task_update", "n": 1}` {
		t.Fatalf("frame %s", got)
	}
}

// TestAddrString checks addrString against net.Addr.String, which it
// replaces for the fast path's RemoteAddr.
func TestAddrString(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		addr net.Addr
	}{
		{"IPv4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 54321}},
		{"IPv4, 4 bytes", &net.TCPAddr{IP: net.IP{10, 1, 2, 3}, Port: 80}},
		{"IPv4-mapped IPv6", &net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 1}},
		{"IPv6", &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 65535}},
		{"IPv6 loopback", &net.TCPAddr{IP: net.IPv6loopback, Port: 8000}},
		{"IPv6 with a zone", &net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 443, Zone: "eth0"}},
		{"IPv4 with a zone", &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 443, Zone: "eth0"}},
		{"port 0", &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1)}},
		{"no IP", &net.TCPAddr{Port: 9}},
		{"Unix socket", &net.UnixAddr{Name: "/run/laurel.sock", Net: "unix"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got, want := addrString(c.addr), c.addr.String(); got != want {
				t.Fatalf("addrString %q, String %q", got, want)
			}
		})
	}
}

// TestHijackWriterHijackConn: the connection is handed over once, by
// either Hijack or HijackConn, and finish leaves a hijacked connection to
// its new owner.
func TestHijackWriterHijackConn(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	defer func() { _ = b.Close() }()
	w := &hijackWriter{c: a}
	c, err := w.HijackConn()
	if err != nil || c != a {
		t.Fatalf("HijackConn: %v, %v", c, err)
	}
	if _, err := w.HijackConn(); !errors.Is(err, http.ErrHijacked) {
		t.Fatalf("second HijackConn: %v", err)
	}
	if _, _, err := w.Hijack(); !errors.Is(err, http.ErrHijacked) {
		t.Fatalf("Hijack after HijackConn: %v", err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, http.ErrHijacked) {
		t.Fatalf("Write after HijackConn: %v", err)
	}
	w.finish()
	// a is still open: a write reaches b.
	go func() { _, _ = a.Write([]byte("ok")); _ = a.Close() }()
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "ok" {
		t.Fatalf("after finish: %q, %v", got, err)
	}
}
