package consumer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/laurel-server/laurel/channelsproto"
	"github.com/prometheus/client_golang/prometheus"
)

// rawSocket performs a handshake over TCP and returns the connection, ready
// for hand-built frames.
func (e *env) rawSocket(cookie string) net.Conn {
	e.t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.http.URL, "http://"))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = c.Close() })
	req := "GET /ws/tasks/ HTTP/1.1\r\nHost: app.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: " + origin +
		"\r\nCookie: " + cookie + "\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		e.t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	// Read the response byte by byte so no frame is consumed with it.
	var resp []byte
	one := make([]byte, 1)
	for !bytes.HasSuffix(resp, []byte("\r\n\r\n")) {
		if _, err := c.Read(one); err != nil {
			e.t.Fatalf("handshake: %v (%q)", err, resp)
		}
		resp = append(resp, one[0])
	}
	if !bytes.HasPrefix(resp, []byte("HTTP/1.1 101 ")) {
		e.t.Fatalf("handshake answered %q", resp)
	}
	return c
}

// readServerFrame reads one unmasked server frame.
func readServerFrame(t *testing.T, c net.Conn) (op byte, payload []byte) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var h [10]byte
	if _, err := io.ReadFull(c, h[:2]); err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	if h[0]&0x80 == 0 || h[1]&0x80 != 0 {
		t.Fatalf("server frame header % x", h[:2])
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(c, h[:2]); err != nil {
			t.Fatal(err)
		}
		n = int(binary.BigEndian.Uint16(h[:2]))
	case 127:
		if _, err := io.ReadFull(c, h[:8]); err != nil {
			t.Fatal(err)
		}
		n = int(binary.BigEndian.Uint64(h[:8])) //nolint:gosec // test frames are small
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(c, payload); err != nil {
		t.Fatal(err)
	}
	return h[0] & 0x0f, payload
}

// expectEOF checks that the server ends the connection.
func expectEOF(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("connection still open (read %d, %v)", n, err)
	}
}

func TestHostileFramesOnTheWire(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxMessageSize = 1024 })
	cases := []struct {
		name string
		in   []byte
		code int
	}{
		{"unmasked", rawFrame(0x81, false, []byte(`{}`)), 1002},
		{"rsv1", clientFrame(0xc1, []byte(`{}`)), 1002},
		{"unknown opcode", clientFrame(0x85, nil), 1002},
		{"fragmented ping", clientFrame(opPing, nil), 1002},
		{"continuation first", clientFrame(0x80, []byte("x")), 1002},
		{"text inside fragments", cat(clientFrame(opText, []byte("{")), clientFrame(0x81, []byte("}"))), 1002},
		{"over the limit", clientFrame(0x81, bytes.Repeat([]byte("a"), 2048)), 1009},
		{"fragments over the limit", cat(clientFrame(opText, bytes.Repeat([]byte("a"), 600)), clientFrame(opContinuation, bytes.Repeat([]byte("a"), 600))), 1009},
		{"invalid utf8", clientFrame(0x81, []byte("{\"action\": \"\xff\"}")), 1007},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := e.rawSocket(aliceCookie)
			if _, err := c.Write(tc.in); err != nil {
				t.Fatal(err)
			}
			op, p := readServerFrame(t, c)
			if op != opClose || closeCode(p) != tc.code {
				t.Fatalf("frame op %d % x, want close %d", op, p, tc.code)
			}
			// The server ends the connection, without waiting for the
			// client's answer after a protocol error (as gorilla did).
			_, _ = c.Write(clientFrame(0x80|opClose, p[:2]))
			expectEOF(t, c)
		})
	}
	eventually(t, "every socket gone", func() bool { return e.srv.OpenSockets() == 0 })
	eventually(t, "groups left", func() bool { return len(e.layer.groupNames()) == 0 })
}

// TestInvalidUTF8CloseHandshake checks the 1007 close handshake end to end:
// frames the client sends after the refused message are dropped, the
// client's answer to the close is read, and the server then ends the
// connection at once with a FIN, never a reset that could destroy the close
// frame. Twenty sockets make the race a reset would show likely to happen.
func TestInvalidUTF8CloseHandshake(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for i := range 20 {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			c := e.rawSocket(aliceCookie)
			bad := clientFrame(0x81, []byte("{\"action\": \"\xff\"}"))
			after := clientFrame(0x81, []byte(`{"action": "nope"}`))
			if _, err := c.Write(cat(bad, after)); err != nil {
				t.Fatal(err)
			}
			op, p := readServerFrame(t, c)
			if op != opClose || closeCode(p) != 1007 {
				t.Fatalf("frame op %d % x, want close 1007", op, p)
			}
			start := time.Now()
			if _, err := c.Write(clientFrame(0x80|opClose, p[:2])); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := c.Read(make([]byte, 64))
			if n != 0 || !errors.Is(err, io.EOF) {
				t.Fatalf("after the close handshake: read %d bytes, %v; want EOF (no error frame, no reset)", n, err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("connection ended %v after the client's close; want at once", d)
			}
		})
	}
}

func TestPingPongAndClientClose(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.rawSocket(aliceCookie)
	if _, err := c.Write(clientFrame(0x80|opPing, []byte("hello"))); err != nil {
		t.Fatal(err)
	}
	if op, p := readServerFrame(t, c); op != opPong || string(p) != "hello" {
		t.Fatalf("op %d %q, want pong hello", op, p)
	}
	// A fragmented message with a ping between its fragments.
	msg := []byte(`{"action": "nope"}`)
	if _, err := c.Write(cat(clientFrame(opText, msg[:5]), clientFrame(0x80|opPing, nil), clientFrame(0x80|opContinuation, msg[5:]))); err != nil {
		t.Fatal(err)
	}
	if op, _ := readServerFrame(t, c); op != opPong {
		t.Fatalf("op %d, want pong", op)
	}
	if op, p := readServerFrame(t, c); op != opText || !strings.Contains(string(p), `"unknown_action"`) {
		t.Fatalf("op %d %s, want the unknown_action error frame", op, p)
	}
	// The client closes: the server echoes the code and ends.
	if _, err := c.Write(clientFrame(0x80|opClose, []byte{0x0f, 0xa0, 'b', 'y', 'e'})); err != nil {
		t.Fatal(err)
	}
	if op, p := readServerFrame(t, c); op != opClose || !bytes.Equal(p, []byte{0x0f, 0xa0}) {
		t.Fatalf("op %d % x, want close 4000 without reason", op, p)
	}
	expectEOF(t, c)
	eventually(t, "socket released", func() bool { return e.srv.OpenSockets() == 0 && len(e.layer.groupNames()) == 0 })
}

// TestIdleSocketsHoldNoGoroutine opens sockets and checks that the
// goroutine count does not grow with them.
func TestIdleSocketsHoldNoGoroutine(t *testing.T) {
	e := newEnv(t, nil)
	e.mustDial("/ws/tasks/", aliceCookie) // starts the shared I/O goroutines
	eventually(t, "first socket", func() bool { return e.srv.OpenSockets() == 1 })
	time.Sleep(50 * time.Millisecond)
	before := runtime.NumGoroutine()
	const n = 50
	for range n {
		_ = e.rawSocket(aliceCookie)
	}
	eventually(t, "sockets open", func() bool { return e.srv.OpenSockets() == n+1 })
	// Handshake goroutines end; nothing stays per socket.
	var after int
	for range 100 {
		if after = runtime.NumGoroutine(); after-before < n/5 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if after-before >= n/5 {
		t.Fatalf("%d goroutines for %d idle sockets", after-before, n)
	}
}

// pipeListener serves connections made with net.Pipe: they expose no file
// descriptor, so the Server reads them on a goroutine each and writes them
// on the blocking path.
type pipeListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

func (l *pipeListener) dial(context.Context, string, string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func TestFallbackWithoutFileDescriptor(t *testing.T) {
	t.Parallel()
	layer := newFakeLayer()
	auth := &fakeAuth{verdicts: map[string]Verdict{aliceCookie: {Authenticated: true, UserID: "7", Username: "alice", Reason: "ok"}}}
	reg := prometheus.NewRegistry()
	srv, err := New(Config{Layer: layer, Authenticator: auth, Registerer: reg, Logger: slog.New(slog.DiscardHandler),
		DrainPeriod: 10 * time.Millisecond, MaxMessageSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	layer.srv = srv
	ln := newPipeListener()
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	t.Cleanup(func() {
		_ = hs.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	d := websocket.Dialer{NetDialContext: ln.dial}
	dial := func() *websocket.Conn {
		c, resp, err := d.Dial("ws://app.example/ws/tasks/", http.Header{"Cookie": {aliceCookie}})
		if resp != nil {
			_ = resp.Body.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}

	a := dial()
	if err := a.WriteJSON(map[string]any{"action": "subscribe", "task_id": "p"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "subscribed", func() bool { return len(layer.members("task_p")) == 1 })
	layer.groupSend("task_p", channelsproto.Map{{Key: "type", Value: "task.update"}, {Key: "n", Value: int64(1)}})
	if got := readText(t, a); got != `{"type": "task_update", "n": 1}` {
		t.Fatalf("frame %s", got)
	}
	if err := a.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("x"), 100)); err != nil {
		t.Fatal(err)
	}
	if code := readClose(t, a); code != CloseMessageTooBig {
		t.Fatalf("close %d, want 1009", code)
	}

	b := dial()
	eventually(t, "second socket", func() bool { return srv.OpenSockets() == 1 })
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(context.Background()) }()
	if code := readClose(t, b); code != CloseGoingAway {
		t.Fatalf("close %d, want 1001", code)
	}
	_ = b.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if g := layer.groupNames(); len(g) != 0 {
		t.Fatalf("groups left: %v", g)
	}
}

// TestSlowPathHandsBackToFlushers fills a client's kernel buffers while it
// does not read (the socket moves to the blocking slow path), lets it catch
// up, and checks that later frames, sent after the slow path's write
// deadline would have expired, still arrive through the flushers.
func TestSlowPathHandsBackToFlushers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) {
		c.QueueSize = 1024
		// Long enough that a client reader slowed by a loaded machine
		// (-race, parallel tests) is not taken for a stuck one: 300 ms
		// closed the socket with 1006 once under a load of 7.
		c.WriteTimeout = 2 * time.Second
	})
	c := e.mustDial("/ws/tasks/", aliceCookie)
	big := strings.Repeat("y", 256<<10)
	const n = 24 // 6 MiB: more than loopback socket buffers hold
	for i := range n {
		e.layer.groupSend("user_7", channelsproto.Map{{Key: "type", Value: "user.message"}, {Key: "i", Value: int64(i)}, {Key: "blob", Value: big}})
	}
	for i := range n {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, data, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if want := `"i": ` + strconv.Itoa(i) + `,`; !strings.Contains(string(data[:40]), want) {
			t.Fatalf("frame %d starts %q", i, data[:40])
		}
	}
	time.Sleep(2500 * time.Millisecond) // past the slow path's last write deadline
	e.layer.groupSend("user_7", channelsproto.Map{{Key: "type", Value: "user.message"}, {Key: "after", Value: true}})
	if got := readText(t, c); got != `{"type": "user_message", "after": true}` {
		t.Fatalf("frame after the slow path: %s", got)
	}
}
