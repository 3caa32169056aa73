package consumer

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestUpgradeMatchesGorilla sends the same raw handshakes to the Server and
// to gorilla/websocket v1.5.3's Upgrader (configured as the Server used it:
// any origin, no subprotocols, no compression) and compares every byte of
// the answers (Date headers aside).
func TestUpgradeMatchesGorilla(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ref := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err == nil {
			_ = c.Close()
		}
	}))
	t.Cleanup(ref.Close)

	const valid = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	cases := []struct {
		name, method, headers string
	}{
		{"valid", "GET", valid},
		{"token lists", "GET", "Connection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\nSec-WebSocket-Version: 8, 13\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"},
		{"version in a second header", "GET", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"},
		{"post", "POST", valid + "Content-Length: 0\r\n"},
		{"no version", "GET", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"},
		{"version 8", "GET", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"},
		{"version 13 inside a token", "GET", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13a\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"},
		{"version 13 after junk", "GET", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: x y, 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"},
		{"no key", "GET", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"},
		{"short key", "GET", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\n"},
		{"15-byte key", "GET", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\n"},
		{"17-byte key", "GET", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=\r\n"},
		{"unpadded key", "GET", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n"},
		{"non-canonical key bits", "GET", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\n"},
		{"url-safe key", "GET", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ-_\r\n"},
		{"key with inner space", "GET", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBs ZSBub25jZQ=\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.method + " /ws/tasks/ HTTP/1.1\r\nHost: app.example\r\nOrigin: " + origin + "\r\nCookie: " + aliceCookie + "\r\n" + tc.headers + "\r\n"
			want := exchange(t, strings.TrimPrefix(ref.URL, "http://"), req)
			got := exchange(t, strings.TrimPrefix(e.http.URL, "http://"), req)
			if got != want {
				t.Fatalf("laurel answered\n%q\ngorilla answered\n%q", got, want)
			}
		})
	}
}

var dateHeader = regexp.MustCompile(`(?m)^Date: [^\r]*\r\n`)

// exchange writes req on a new connection and returns the response head
// and body (without the Date header); after a 101 it stops at the head.
func exchange(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	var head strings.Builder
	for {
		line, err := br.ReadString('\n')
		head.WriteString(line)
		if err != nil {
			t.Fatalf("reading the answer: %v (so far %q)", err, head.String())
		}
		if line == "\r\n" {
			break
		}
	}
	out := dateHeader.ReplaceAllString(head.String(), "")
	if strings.HasPrefix(out, "HTTP/1.1 101 ") {
		return out
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(head.String())), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close() // the head only: the body is read from br below
	body := make([]byte, resp.ContentLength)
	if _, err := io.ReadFull(br, body); err != nil {
		t.Fatal(err)
	}
	return out + string(body)
}

// TestUpgradeRefusesEarlyData: a client that sends a frame before reading
// the 101 is dropped without an answer, as gorilla does, and leaves no
// socket or group membership behind.
func TestUpgradeRefusesEarlyData(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c, err := net.Dial("tcp", strings.TrimPrefix(e.http.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	req := "GET /ws/tasks/ HTTP/1.1\r\nHost: app.example\r\nOrigin: " + origin + "\r\nCookie: " + aliceCookie + "\r\n" +
		"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	frame := maskedFrame(opText, []byte(`{"action":"subscribe","task_id":"1"}`))
	if _, err := c.Write(append([]byte(req), frame...)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("answered %q", got)
	}
	eventually(t, "the refused socket to be gone", func() bool {
		return e.srv.OpenSockets() == 0 && len(e.layer.groupNames()) == 0
	})
	if v := counterValue(t, e.reg, "laurel_handshakes_total", map[string]string{"result": "error", "reason": "upgrade"}); v != 1 {
		t.Fatalf("upgrade errors counted %v, want 1", v)
	}
}

// TestAcceptKey checks RFC 6455 §1.3's example.
func TestAcceptKey(t *testing.T) {
	t.Parallel()
	got := string(acceptResponse(nil, "dGhlIHNhbXBsZSBub25jZQ=="))
	want := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// BenchmarkAcceptResponse measures the 101 response (checks and key hash).
func BenchmarkAcceptResponse(b *testing.B) {
	b.ReportAllocs()
	var buf [len(switching) + 32]byte
	for b.Loop() {
		if !validChallengeKey("dGhlIHNhbXBsZSBub25jZQ==") {
			b.Fatal("key refused")
		}
		if len(acceptResponse(buf[:0], "dGhlIHNhbXBsZSBub25jZQ==")) != 129 {
			b.Fatal("bad length")
		}
	}
}
