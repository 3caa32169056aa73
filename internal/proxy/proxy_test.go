package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

func TestNewRejectsBadUpstreams(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"", "127.0.0.1:8000", "https://x:1", "http://", "http://x:1/path", "http://u:p@x:1", "unix:relative.sock", "tcp://x:1"} {
		if _, err := New(raw, false, quiet); !errors.Is(err, ErrBadUpstream) {
			t.Errorf("New(%q) = %v, want ErrBadUpstream", raw, err)
		}
	}
	for _, raw := range []string{"http://127.0.0.1:8001", "http://localhost", "unix:/run/d.sock", "unix:///run/d.sock"} {
		if _, err := New(raw, false, quiet); err != nil {
			t.Errorf("New(%q): %v", raw, err)
		}
	}
}

// unixUpstream serves h on a UNIX socket and returns "unix:/path".
func unixUpstream(t *testing.T, h http.Handler) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "up.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "unix:" + path
}

func echoWS(w http.ResponseWriter, r *http.Request) {
	u := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	c, err := u.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer func() { _ = c.Close() }()
	for {
		typ, data, err := c.ReadMessage()
		if err != nil {
			return
		}
		_ = c.WriteMessage(typ, append([]byte(r.Header.Get("X-Forwarded-For")+">"), data...))
	}
}

func TestProxyOverUnixSocketStreams(t *testing.T) {
	t.Parallel()
	addr := unixUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if websocket.IsWebSocketUpgrade(r) {
			echoWS(w, r)
			return
		}
		_, _ = fmt.Fprintf(w, "first host=%s\n", r.Host)
		w.(http.Flusher).Flush()
		<-r.Context().Done() // keep streaming until the client leaves
	}))
	up, err := New(addr, false, quiet)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if websocket.IsWebSocketUpgrade(r) {
			up.Tunnel(w, r)
			return
		}
		up.ServeHTTP(w, r)
	}))
	defer front.Close()
	defer func() { _ = up.Close() }()

	if err := up.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The first chunk arrives while the upstream is still streaming.
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, front.URL+"/stream", nil)
	req.Host = "app.example"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	cancel()
	_ = resp.Body.Close()
	if err != nil || line != "first host=app.example\n" {
		t.Fatalf("streamed %q, %v", line, err)
	}

	// WebSocket tunnel with the forwarded client address.
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(front.URL, "http")+"/ws/echo/", nil) //nolint:bodyclose // upgraded
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, data, err := c.ReadMessage(); err != nil || string(data) != "127.0.0.1>hi" {
		t.Fatalf("tunnel echo %q, %v", data, err)
	}
	// Close cuts open tunnels.
	_ = up.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := c.ReadMessage(); err == nil {
		t.Fatal("tunnel still open after Close")
	}
	_ = c.Close()
}

func TestUpstreamDown(t *testing.T) {
	t.Parallel()
	up, err := New("unix:"+filepath.Join(t.TempDir(), "absent.sock"), false, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = up.Close() }()
	for _, ws := range []bool{false, true} {
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		if ws {
			r.Header.Set("Connection", "Upgrade")
			r.Header.Set("Upgrade", "websocket")
		}
		w := httptest.NewRecorder()
		if ws {
			up.Tunnel(w, r)
		} else {
			up.ServeHTTP(w, r)
		}
		if w.Code != http.StatusBadGateway {
			t.Errorf("ws=%v: status %d, want 502", ws, w.Code)
		}
	}
	if err := up.Ping(context.Background()); err == nil {
		t.Error("Ping of an absent upstream succeeded")
	}
}
