package bench

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/laurel-server/laurel/internal/wsproto"
)

func TestAcceptFor(t *testing.T) {
	t.Parallel()
	// RFC 6455 §1.3's example.
	if got := wsproto.Accept([]byte("dGhlIHNhbXBsZSBub25jZQ==")); string(got[:]) != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("wsproto.Accept = %s", got)
	}
	a, b := newKey(), newKey()
	if a == b {
		t.Fatal("two keys alike")
	}
}

func TestCheckResponse(t *testing.T) {
	t.Parallel()
	acc := wsproto.Accept([]byte("dGhlIHNhbXBsZSBub25jZQ=="))
	ok := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + string(acc[:]) + "\r\n\r\n"
	tests := []struct {
		name       string
		head       string
		wantErr    string // "" when valid
		wantStatus int    // a *handshakeError's status
		wantRetry  string
	}{
		{"valid", ok, "", 0, ""},
		{"header case and token list", "HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\nsec-websocket-accept:" +
			string(acc[:]) + "\r\nServer: Daphne\r\n\r\n", "", 0, ""},
		{"wrong accept", strings.Replace(ok, string(acc[:]), "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", 1), "Sec-WebSocket-Accept", 0, ""},
		{"no accept", strings.Replace(ok, "Sec-WebSocket-Accept", "X-Other", 1), "Sec-WebSocket-Accept", 0, ""},
		{"no upgrade", strings.Replace(ok, "Upgrade: websocket\r\n", "", 1), "Upgrade", 0, ""},
		{"connection without upgrade", strings.Replace(ok, "Connection: Upgrade", "Connection: keep-alive", 1), "Connection", 0, ""},
		{"extension", strings.Replace(ok, "\r\n\r\n", "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n", 1), "extension", 0, ""},
		{"subprotocol", strings.Replace(ok, "\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat\r\n\r\n", 1), "subprotocol", 0, ""},
		{"bad status line", "HTTX 101\r\n\r\n", "malformed status line", 0, ""},
		{"bad header line", "HTTP/1.1 101 OK\r\nno colon\r\n\r\n", "malformed header", 0, ""},
		{"refused", "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", "(HTTP 403)", 403, ""},
		{"not ready", "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\n\r\n", "(HTTP 503)", 503, "2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := checkResponse([]byte(tc.head), acc[:])
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("checkResponse: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, errBadHandshake) {
				t.Fatalf("checkResponse error %v, want one mentioning %q", err, tc.wantErr)
			}
			var he *handshakeError
			if got := errors.As(err, &he); got != (tc.wantStatus != 0) || (got && (he.Status != tc.wantStatus || he.RetryAfter != tc.wantRetry)) {
				t.Fatalf("handshake error %+v, want status %d retry %q", he, tc.wantStatus, tc.wantRetry)
			}
		})
	}
}

// TestDialGorillaServer runs the client against gorilla/websocket's server
// side: it must accept our request (Origin, Cookie, key), read our masked
// frame, and we must read its fragmented message (a small write buffer
// splits it), answer its ping, and report and answer its close.
func TestDialGorillaServer(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("fragment ", 200) // 1,800 bytes in 128-byte frames
	pong := make(chan string, 1)
	closeReply := make(chan error, 1)
	up := websocket.Upgrader{WriteBufferSize: 128,
		CheckOrigin: func(r *http.Request) bool { return r.Header.Get("Origin") == "http://example.test" }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Cookie") != "sessionid=s1" {
			http.Error(w, "bad cookie or origin", http.StatusForbidden)
			return
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer func() { _ = c.Close() }()
		c.SetPongHandler(func(s string) error { pong <- s; return nil })
		_, sub, err := c.ReadMessage()
		if err != nil || string(sub) != `{"action":"subscribe","task_id":"g"}` {
			t.Errorf("server read %q, %v", sub, err)
			return
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte(long))
		_ = c.WriteControl(websocket.PingMessage, []byte("p1"), time.Now().Add(time.Second))
		_ = c.WriteMessage(websocket.TextMessage, []byte("after ping"))
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "bye"), time.Now().Add(time.Second))
		_, _, err = c.ReadMessage() // the pong is handled inside; then our close reply
		closeReply <- err
	}))
	t.Cleanup(srv.Close)
	d, err := newWSDialer("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws/tasks/", "http://example.test")
	if err != nil {
		t.Fatal(err)
	}
	s := testGuard(t, context.Background(), 5*time.Second)
	if _, err := d.dial(s, nil, "sessionid=other", nil, time.Now()); !strings.Contains(fmtErr(err), "(HTTP 403)") {
		t.Fatalf("dial with a bad cookie: %v, want a 403", err)
	}
	c, err := d.dial(s, nil, "sessionid=s1", []byte(`{"action":"subscribe","task_id":"g"}`), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.close() }()
	for _, want := range []string{long, "after ping"} {
		m, err := c.readMessage()
		if err != nil || !bytes.Equal(m, []byte(want)) {
			t.Fatalf("readMessage = %.30q (%d bytes), %v; want %.30q (%d bytes)", m, len(m), err, want, len(want))
		}
	}
	_, err = c.readMessage()
	var ce *closeError
	if !errors.As(err, &ce) || ce.Code != 4001 || ce.Text != "bye" {
		t.Fatalf("after the close: %v, want close 4001 bye", err)
	}
	if got := <-pong; got != "p1" {
		t.Fatalf("server got pong %q, want p1", got)
	}
	var sce *websocket.CloseError
	if err := <-closeReply; !errors.As(err, &sce) || sce.Code != 4001 {
		t.Fatalf("server read %v, want our close reply with 4001", err)
	}
}

// testGuard returns the only slot of a handshake guard on ctx with timeout,
// closed when the test ends.
func testGuard(t *testing.T, ctx context.Context, timeout time.Duration) *handshakeSlot {
	t.Helper()
	g := newHandshakeGuard(ctx, 1, timeout)
	t.Cleanup(g.Close)
	return g.slot(0)
}

func TestDialTimeout(t *testing.T) {
	t.Parallel()
	// A server that accepts the TCP connection and never answers.
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-block }))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(block) })
	d, err := newWSDialer("ws"+strings.TrimPrefix(srv.URL, "http"), "http://x")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = d.dial(testGuard(t, context.Background(), 200*time.Millisecond), nil, "c=1", nil, start)
	if !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) < 200*time.Millisecond || time.Since(start) > 5*time.Second {
		t.Fatalf("dial to a silent server: %v after %v, want a timeout after 200ms", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := testGuard(t, ctx, time.Minute)
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	if _, err := d.dial(s, nil, "c=1", nil, start); !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Fatalf("dial cancelled: %v after %v, want context.Canceled at once", err, time.Since(start))
	}
	if _, err := d.dial(s, nil, "c=1", nil, time.Now()); !errors.Is(err, context.Canceled) {
		t.Fatalf("dial after the cancel: %v, want context.Canceled", err)
	}
}

// TestDialRefused dials a port nobody listens on: the error comes from the
// request's write, at once.
func TestDialRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	d, err := newWSDialer("ws://"+addr+"/", "http://x")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := d.dial(testGuard(t, context.Background(), time.Minute), nil, "c=1", nil, start); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial to a closed port: %v after %v, want ECONNREFUSED", err, time.Since(start))
	}
}

// TestDialFirstFrameWithResponse has the server send the 101 and the first
// frame in one write, before the subscribe: the frame must not be lost with
// the response head. The server then checks the subscribe frame.
func TestDialFirstFrameWithResponse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer func() { _ = c.Close() }()
		req := readUntil(c, "\r\n\r\n")
		_, key, _ := strings.Cut(string(req), "Sec-WebSocket-Key: ")
		key, _, _ = strings.Cut(key, "\r\n")
		acc := wsproto.Accept(key)
		resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + string(acc[:]) + "\r\n\r\n"
		_, _ = c.Write(append([]byte(resp), serverFrame(true, 0, opText, []byte("first"), false)...))
		op, p := readClientFrame(t, c)
		if op != opText {
			p = nil
		}
		got <- p
	}()
	d, err := newWSDialer("ws://"+ln.Addr().String()+"/ws/", "http://x")
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.dial(testGuard(t, context.Background(), 5*time.Second), newEndpoint(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)}), "c=1", []byte("sub"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.close() }()
	if m, err := c.readMessage(); err != nil || string(m) != "first" {
		t.Fatalf("first message %q, %v; want first", m, err)
	}
	if p := <-got; string(p) != "sub" {
		t.Fatalf("server read %q, want the subscribe text sub", p)
	}
}

// readUntil reads c until its bytes contain end (or an error).
func readUntil(c net.Conn, end string) []byte {
	var b []byte
	buf := make([]byte, 512)
	for !bytes.Contains(b, []byte(end)) {
		n, err := c.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			break
		}
	}
	return b
}

// TestHandshakeSlot checks the guard's two outcomes directly: a handshake
// ended in time leaves its connection without a deadline; one that runs
// past the timeout is cut (its I/O fails) and end reports it.
func TestHandshakeSlot(t *testing.T) {
	t.Parallel()
	s := testGuard(t, context.Background(), 50*time.Millisecond)
	a, b := net.Pipe()
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	if err := s.begin(a, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.end(); err != nil {
		t.Fatalf("end in time: %v", err)
	}
	time.Sleep(150 * time.Millisecond) // several ticks past the timeout
	go func() { _, _ = b.Read(make([]byte, 1)) }()
	if _, err := a.Write([]byte("x")); err != nil {
		t.Fatalf("write after a handshake ended in time: %v", err)
	}
	if err := s.begin(a, time.Now()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := a.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("read in a handshake past its timeout: %v after %v", err, time.Since(start))
	}
	if err := s.end(); !errors.Is(err, errHandshakeTimeout) {
		t.Fatalf("end after the timeout: %v, want errHandshakeTimeout", err)
	}
}

func TestNewWSDialer(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"wss://127.0.0.1/x", "http://127.0.0.1/x", "ws://[bad"} {
		if _, err := newWSDialer(u, "o"); err == nil {
			t.Errorf("newWSDialer(%q) accepted", u)
		}
	}
	d, err := newWSDialer("ws://localhost/ws/tasks/?a=1", "http://o")
	if err != nil {
		t.Fatal(err)
	}
	if d.addr != "localhost:80" || !bytes.HasPrefix(d.head, []byte("GET /ws/tasks/?a=1 HTTP/1.1\r\nHost: localhost\r\n")) {
		t.Fatalf("addr %q head %q", d.addr, d.head)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
