package consumer

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/laurel-server/laurel/channelsproto"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(idleClientEnv); addr != "" {
		os.Exit(runIdleClients(addr)) // BenchmarkIdleSockets' client process
	}
	goleak.VerifyTestMain(m)
}

const (
	aliceCookie = "sessionid=alice"
	origin      = "http://app.example"
)

type env struct {
	t     *testing.T
	srv   *Server
	layer *fakeLayer
	auth  *fakeAuth
	http  *httptest.Server
	reg   *prometheus.Registry
}

func newEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	e := &env{t: t, layer: newFakeLayer(), reg: prometheus.NewRegistry()}
	e.auth = &fakeAuth{verdicts: map[string]Verdict{
		aliceCookie:         {Authenticated: true, UserID: "7", Username: "alice", Reason: "ok"},
		"sessionid=bob":     {Authenticated: true, UserID: "8", Username: "bob", Reason: "ok"},
		"sessionid=storedn": {Reason: ReasonStoreUnavailable},
	}}
	cfg := Config{
		Layer:         e.layer,
		Authenticator: e.auth,
		Origin:        allowOrigins{origin},
		Registerer:    e.reg,
		DrainPeriod:   50 * time.Millisecond,
		Logger:        slog.New(slog.DiscardHandler),
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.srv = srv
	e.layer.srv = srv
	e.http = httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		e.http.Close()
	})
	return e
}

func (e *env) url(path string) string { return "ws" + strings.TrimPrefix(e.http.URL, "http") + path }

// statusAfter opens open sockets of alice's on /ws/tasks/, then one more, and
// returns that last handshake's HTTP status (101 when it was accepted): the
// capacity tests' probe.
func (e *env) statusAfter(open int) int {
	for range open {
		e.mustDial("/ws/tasks/", aliceCookie)
	}
	c, status, _ := e.dial("/ws/tasks/", aliceCookie)
	if c != nil {
		status = http.StatusSwitchingProtocols
	}
	return status
}

// dial opens a socket; it returns the HTTP status when the handshake fails.
func (e *env) dial(path, cookie string) (*websocket.Conn, int, error) {
	h := http.Header{}
	h.Set("Origin", origin)
	if cookie != "" {
		h.Set("Cookie", cookie)
	}
	c, resp, err := websocket.DefaultDialer.Dial(e.url(path), h) //nolint:bodyclose // closed below
	status := 0
	if resp != nil {
		status = resp.StatusCode
		if resp.Body != nil {
			_ = resp.Body.Close()
		}
	}
	if c != nil {
		e.t.Cleanup(func() { _ = c.Close() })
	}
	return c, status, err
}

func (e *env) mustDial(path, cookie string) *websocket.Conn {
	e.t.Helper()
	c, _, err := e.dial(path, cookie)
	if err != nil {
		e.t.Fatalf("dial %s: %v", path, err)
	}
	return c
}

// rawHandshake sends a handshake over TCP and returns every byte the server
// wrote before closing.
func (e *env) rawHandshake(path string, headers map[string]string) string {
	e.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.http.URL, "http://"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	var b strings.Builder
	b.WriteString("GET " + path + " HTTP/1.1\r\nHost: app.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
	b.WriteString("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")
	for k, v := range headers {
		b.WriteString(k + ": " + v + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		e.t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	out, err := io.ReadAll(bufio.NewReader(conn))
	if err != nil {
		e.t.Fatalf("reading refusal: %v", err)
	}
	return string(out)
}

// eventually polls cond until it holds or fails the test after 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readText(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.TextMessage {
		t.Fatalf("frame type %d, want text", typ)
	}
	return string(data)
}

// readClose reads until the server's close frame and returns its code.
func readClose(t *testing.T, c *websocket.Conn) int {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if ok := asCloseError(err, &ce); ok {
			return ce.Code
		}
		t.Fatalf("read ended without a close frame: %v", err)
	}
}

func asCloseError(err error, target **websocket.CloseError) bool {
	ce, ok := err.(*websocket.CloseError) //nolint:errorlint // gorilla returns it unwrapped
	if ok {
		*target = ce
	}
	return ok
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue metric
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

func TestHandshakeRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	cases := []struct {
		name    string
		headers map[string]string
		want    string
		reason  string
	}{
		{"bad origin", map[string]string{"Origin": "http://evil.example", "Cookie": aliceCookie}, "HTTP/1.1 403 Access denied\r\n\r\n", "origin"},
		{"no origin", map[string]string{"Cookie": aliceCookie}, "HTTP/1.1 403 Access denied\r\n\r\n", "origin"},
		{"no cookie", map[string]string{"Origin": origin}, "HTTP/1.1 403 Access denied\r\n\r\n", "no_cookie"},
		{"unknown session", map[string]string{"Origin": origin, "Cookie": "sessionid=nobody"}, "HTTP/1.1 403 Access denied\r\n\r\n", "no_session"},
		{"store down", map[string]string{"Origin": origin, "Cookie": "sessionid=storedn"}, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\r\n", ReasonStoreUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := e.rawHandshake("/ws/tasks/", tc.headers)
			if got != tc.want {
				t.Fatalf("response %q, want %q", got, tc.want)
			}
		})
	}
	for _, tc := range cases {
		if n := counterValue(t, e.reg, "laurel_handshakes_total", map[string]string{"reason": tc.reason}); n < 1 {
			t.Errorf("handshakes{reason=%q} = %v, want ≥ 1", tc.reason, n)
		}
	}
	if g := e.layer.groupNames(); len(g) != 0 {
		t.Errorf("refused handshakes left groups %v", g)
	}
}

func TestHandshakeLayerDownIs503(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.layer.fail.Store(true)
	got := e.rawHandshake("/ws/tasks/", map[string]string{"Origin": origin, "Cookie": aliceCookie})
	if !strings.HasPrefix(got, "HTTP/1.1 503 ") {
		t.Fatalf("response %q, want 503", got)
	}
	if n := e.srv.OpenSockets(); n != 0 {
		t.Fatalf("%d sockets registered after a failed handshake", n)
	}
}

func TestUnknownPathIs404(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, status, err := e.dial("/ws/other/", aliceCookie)
	if err == nil || status != http.StatusNotFound {
		t.Fatalf("dial unknown path: err=%v status=%d, want 404", err, status)
	}
}

func TestConnectJoinsUserGroupAndDisconnectLeaves(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.mustDial("/ws/tasks/", aliceCookie)
	if m := e.layer.members("user_7"); len(m) != 1 {
		t.Fatalf("user_7 members %v, want one channel", m)
	}
	if err := c.WriteJSON(map[string]any{"action": "subscribe", "task_id": "abc-1"}); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteJSON(map[string]any{"action": "subscribe", "task_id": 42}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "task groups joined", func() bool {
		return len(e.layer.members("task_abc-1")) == 1 && len(e.layer.members("task_42")) == 1
	})
	if err := c.WriteJSON(map[string]any{"action": "unsubscribe", "task_id": "abc-1"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "task_abc-1 left", func() bool { return len(e.layer.members("task_abc-1")) == 0 })
	ch := e.layer.members("user_7")[0]
	_ = c.Close()
	eventually(t, "every group left", func() bool { return len(e.layer.groupNames()) == 0 })
	eventually(t, "socket unregistered", func() bool { return e.srv.OpenSockets() == 0 })
	if r := e.layer.releasedChannels(); len(r) != 1 || r[0] != ch {
		t.Fatalf("released %v, want [%s]", r, ch)
	}
}

func TestErrorFrames(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.SubscriptionLimit = 2 })
	c := e.mustDial("/ws/tasks/", aliceCookie)
	cases := []struct {
		name   string
		binary bool
		send   string
		code   string
	}{
		{"not json", false, "this is not json", ErrCodeInvalidJSON},
		{"trailing garbage", false, `{"action":"subscribe"} x`, ErrCodeInvalidJSON},
		{"array", false, "[1, 2, 3]", ErrCodeInvalidMessage},
		{"string", false, `"hello"`, ErrCodeInvalidMessage},
		{"binary", true, "\x00\x01binary", ErrCodeBinaryNotSupported},
		{"no action", false, `{"task_id": "1"}`, ErrCodeUnknownAction},
		{"unknown action", false, `{"action": "dance", "task_id": "1"}`, ErrCodeUnknownAction},
		{"missing task id", false, `{"action": "subscribe"}`, "invalid_task_id"},
		{"null task id", false, `{"action": "subscribe", "task_id": null}`, "invalid_task_id"},
		{"float task id", false, `{"action": "subscribe", "task_id": 1.5}`, "invalid_task_id"},
		{"object task id", false, `{"action": "subscribe", "task_id": {}}`, "invalid_task_id"},
		{"spaces", false, `{"action": "subscribe", "task_id": "has spaces and ünïcode"}`, "invalid_task_id"},
		{"too long", false, `{"action": "subscribe", "task_id": "` + strings.Repeat("x", 200) + `"}`, "invalid_task_id"},
		{"limit 1", false, `{"action": "subscribe", "task_id": "a"}`, ""},
		{"limit 2", false, `{"action": "subscribe", "task_id": "b"}`, ""},
		{"limit 3", false, `{"action": "subscribe", "task_id": "c"}`, ErrCodeSubscriptionLimit},
	}
	for _, tc := range cases {
		typ := websocket.TextMessage
		if tc.binary {
			typ = websocket.BinaryMessage
		}
		if err := c.WriteMessage(typ, []byte(tc.send)); err != nil {
			t.Fatalf("%s: write: %v", tc.name, err)
		}
		if tc.code == "" {
			continue
		}
		got := readText(t, c)
		want := `{"type": "error", "error": "` + tc.code + `", "message": "`
		if !strings.HasPrefix(got, want) {
			t.Errorf("%s: frame %s, want prefix %s", tc.name, got, want)
		}
	}
	if got := e.layer.members("task_a"); len(got) != 1 {
		t.Errorf("task_a members %v after subscribe", got)
	}
	// The socket is still open and forwarding.
	e.layer.groupSend("user_7", channelsproto.Map{{Key: "type", Value: "user.message"}, {Key: "seq", Value: int64(1)}})
	if got := readText(t, c); got != `{"type": "user_message", "seq": 1}` {
		t.Fatalf("after errors: %s", got)
	}
}

func TestLayerFailureDuringActionIsErrorFrame(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.mustDial("/ws/tasks/", aliceCookie)
	e.layer.fail.Store(true)
	if err := c.WriteJSON(map[string]any{"action": "subscribe", "task_id": "x"}); err != nil {
		t.Fatal(err)
	}
	if got := readText(t, c); !strings.Contains(got, `"error": "layer_unavailable"`) {
		t.Fatalf("frame %s, want layer_unavailable", got)
	}
	e.layer.fail.Store(false)
}

func TestForwarding(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	a := e.mustDial("/ws/tasks/", aliceCookie)
	b := e.mustDial("/ws/tasks/", aliceCookie)
	for _, c := range []*websocket.Conn{a, b} {
		if err := c.WriteJSON(map[string]any{"action": "subscribe", "task_id": "t1"}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "both subscribed", func() bool { return len(e.layer.members("task_t1")) == 2 })

	update := channelsproto.Map{
		{Key: "type", Value: "task.update"},
		{Key: "task_id", Value: "t1"},
		{Key: "status", Value: "processing"},
		{Key: "message", Value: "Processing 1500 records…"},
		{Key: "progress", Value: int64(45)},
		{Key: "data", Value: channelsproto.Map{}},
		{Key: "__asgi_channel__", Value: []any{"x"}},
	}
	// What Python's json.dumps({**event, "type": "task_update"}) writes.
	want := `{"type": "task_update", "task_id": "t1", "status": "processing", "message": "Processing 1500 records\u2026", "progress": 45, "data": {}}`
	e.layer.groupSend("task_t1", update)
	for _, c := range []*websocket.Conn{a, b} {
		if got := readText(t, c); got != want {
			t.Fatalf("frame\n%s\nwant\n%s", got, want)
		}
	}

	// Unknown, malformed and type-less events are dropped; the sockets live on.
	e.layer.groupSend("task_t1", channelsproto.Map{{Key: "type", Value: "report.unknown"}})
	e.layer.groupSend("task_t1", channelsproto.Map{{Key: "type", Value: "_private"}})
	e.layer.groupSend("task_t1", channelsproto.Map{{Key: "text", Value: "no type"}})
	// A direct send to one socket's channel.
	e.srv.mu.RLock()
	var chA string
	for ch, s := range e.srv.sockets {
		if s.conn != nil && s.conn.RemoteAddr().String() == a.LocalAddr().String() {
			chA = ch
		}
	}
	e.srv.mu.RUnlock()
	if chA == "" {
		t.Fatal("socket a not found")
	}
	e.srv.Deliver([]string{chA}, channelsproto.Map{{Key: "type", Value: "user.message"}, {Key: "text", Value: "direct"}}, time.Now())
	if got := readText(t, a); got != `{"type": "user_message", "text": "direct"}` {
		t.Fatalf("direct frame %s", got)
	}
	for reason, n := range map[string]float64{DropNotForwarded: 2, DropMalformedType: 2, DropNoType: 2} {
		if got := counterValue(t, e.reg, "laurel_drops_total", map[string]string{"reason": reason}); got != n {
			t.Errorf("drops{%s} = %v, want %v", reason, got, n)
		}
	}
	// The counter moves right after the write the client has already read.
	eventually(t, "3 frames delivered", func() bool {
		return counterValue(t, e.reg, "laurel_frames_delivered_total", nil) == 3
	})
}

func TestSlowClientClosed4008(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.QueueSize = 2 })
	slow := e.mustDial("/ws/tasks/", aliceCookie)
	fast := e.mustDial("/ws/tasks/", "sessionid=bob")
	big := strings.Repeat("x", 256<<10)
	// The slow client reads nothing until its queue has overflowed.
	for i := 0; i < 200 && e.srv.OpenSockets() == 2; i++ {
		e.layer.groupSend("user_7", channelsproto.Map{{Key: "type", Value: "user.message"}, {Key: "blob", Value: big}})
		if counterValue(t, e.reg, "laurel_drops_total", map[string]string{"reason": DropQueueFull}) > 0 {
			break
		}
	}
	if n := counterValue(t, e.reg, "laurel_drops_total", map[string]string{"reason": DropQueueFull}); n == 0 {
		t.Fatal("queue never overflowed")
	}
	if code := readClose(t, slow); code != CloseSlowConsumer {
		t.Fatalf("close code %d, want %d", code, CloseSlowConsumer)
	}
	// Another socket is unaffected.
	e.layer.groupSend("user_8", channelsproto.Map{{Key: "type", Value: "user.message"}})
	if got := readText(t, fast); got != `{"type": "user_message"}` {
		t.Fatalf("fast client got %s", got)
	}
}

func TestOversizeMessageCloses1009(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxMessageSize = 1024 })
	c := e.mustDial("/ws/tasks/", aliceCookie)
	if err := c.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("a", 2048))); err != nil {
		t.Fatal(err)
	}
	if code := readClose(t, c); code != websocket.CloseMessageTooBig {
		t.Fatalf("close code %d, want 1009", code)
	}
	eventually(t, "groups left", func() bool { return len(e.layer.groupNames()) == 0 })
}

func TestMaxLifetimeCloses1000(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxLifetime = 50 * time.Millisecond })
	c := e.mustDial("/ws/tasks/", aliceCookie)
	if code := readClose(t, c); code != CloseNormal {
		t.Fatalf("close code %d, want 1000", code)
	}
}

func TestRevalidationCloses4003(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.RevalidateInterval = 20 * time.Millisecond })
	c := e.mustDial("/ws/tasks/", "sessionid=bob")
	e.auth.set("sessionid=bob", Verdict{Reason: "no_session"})
	if code := readClose(t, c); code != CloseSessionEnded {
		t.Fatalf("close code %d, want %d", code, CloseSessionEnded)
	}
}

func TestPingTimeoutDropsSilentClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) {
		c.PingInterval = 20 * time.Millisecond
		c.PingTimeout = 30 * time.Millisecond
	})
	c := e.mustDial("/ws/tasks/", aliceCookie)
	// Answer no pings: the client never reads, so gorilla never sends pongs.
	_ = c
	eventually(t, "silent socket dropped", func() bool { return e.srv.OpenSockets() == 0 })
}

func TestShutdownDrains1001(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	var conns []*websocket.Conn
	for i := 0; i < 3; i++ {
		conns = append(conns, e.mustDial("/ws/tasks/", aliceCookie))
	}
	done := make(chan error, 1)
	go func() { done <- e.srv.Shutdown(context.Background()) }()
	for _, c := range conns {
		if code := readClose(t, c); code != CloseGoingAway {
			t.Fatalf("close code %d, want 1001", code)
		}
		_ = c.Close()
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if g := e.layer.groupNames(); len(g) != 0 {
		t.Fatalf("groups left after drain: %v", g)
	}
	got := e.rawHandshake("/ws/tasks/", map[string]string{"Origin": origin, "Cookie": aliceCookie})
	if !strings.HasPrefix(got, "HTTP/1.1 503 ") {
		t.Fatalf("handshake after shutdown: %q, want 503", got)
	}
}

func TestGroupRefreshRestoresExpiredMembership(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.GroupRefreshInterval = 20 * time.Millisecond })
	c := e.mustDial("/ws/tasks/", aliceCookie)
	if err := c.WriteJSON(map[string]any{"action": "subscribe", "task_id": "r"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "subscribed", func() bool { return len(e.layer.members("task_r")) == 1 })
	// channels_redis' group_expiry removes both memberships...
	ch := e.layer.members("user_7")[0]
	for _, g := range []string{"user_7", "task_r"} {
		if err := e.layer.GroupDiscard(context.Background(), g, ch); err != nil {
			t.Fatal(err)
		}
	}
	// ...and the socket's refresh adds them back.
	eventually(t, "memberships refreshed", func() bool {
		return len(e.layer.members("user_7")) == 1 && len(e.layer.members("task_r")) == 1
	})
}
