package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/laurel-server/laurel/channelsproto"
	"github.com/laurel-server/laurel/djangoauth"
	"github.com/laurel-server/laurel/internal/config"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
	_ "modernc.org/sqlite"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// database/sql and go-redis pools stop these asynchronously after Close.
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

const (
	testSecret   = "laurel-integration-secret-0123456789abcdef"
	testPassword = "pbkdf2_sha256$1000000$salt$hash="
	testOrigin   = "http://app.example"
)

// redisURL returns REDIS_URL, skipping when unset and failing when set but
// unreachable.
func redisURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("REDIS_URL")
	if u == "" {
		t.Skip("REDIS_URL not set")
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	defer func() { _ = c.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("REDIS_URL %s unreachable: %v", u, err)
	}
	return u
}

// djangoDB creates a SQLite database with Django 5.2's auth_user and
// django_session tables (as `manage.py migrate` creates them), one active
// user alice (id 1) and a logged-in session for her; it returns the path and
// the session key.
func djangoDB(t *testing.T) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "db.sqlite3")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	stmts := []string{
		`CREATE TABLE "auth_user" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "password" varchar(128) NOT NULL, "last_login" datetime NULL, "is_superuser" bool NOT NULL, "username" varchar(150) NOT NULL UNIQUE, "last_name" varchar(150) NOT NULL, "email" varchar(254) NOT NULL, "is_staff" bool NOT NULL, "is_active" bool NOT NULL, "date_joined" datetime NOT NULL, "first_name" varchar(150) NOT NULL)`,
		`CREATE TABLE "django_session" ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" datetime NOT NULL)`,
		`INSERT INTO auth_user VALUES (1, '` + testPassword + `', NULL, 0, 'alice', '', '', 0, 1, '2026-01-01 00:00:00', '')`,
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	key := "k" + randHex(t, 16)
	data, err := djangoauth.Dumps(map[string]any{
		"_auth_user_id":      "1",
		"_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
		"_auth_user_hash":    djangoauth.SessionAuthHash(testPassword, testSecret),
	}, testSecret, "django.contrib.sessions.SessionStore", true)
	if err != nil {
		t.Fatal(err)
	}
	expire := time.Now().UTC().Add(time.Hour).Format("2006-01-02 15:04:05.000000")
	if _, err := db.Exec(`INSERT INTO django_session VALUES (?, ?, ?)`, key, data, expire); err != nil {
		t.Fatal(err)
	}
	return path, key
}

func randHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

type running struct {
	dbPath string
	base   string
	prefix string
	redis  *redis.Client
	cancel context.CancelFunc
	done   chan error
}

// startApp runs `laurel serve` in process on a free port.
func startApp(t *testing.T, extra string, environ ...string) (*running, string) {
	t.Helper()
	return startAppWith(t, "channels_redis.core.RedisChannelLayer", extra, environ...)
}

func startAppWith(t *testing.T, backend, extra string, environ ...string) (*running, string) {
	t.Helper()
	return startAppListen(t, backend, extra, nil, environ...)
}

// startAppListen is startAppWith with listening flags (nil: a free TCP port).
func startAppListen(t *testing.T, backend, extra string, listenArgs []string, environ ...string) (*running, string) {
	t.Helper()
	rurl := redisURL(t)
	dbPath, key := djangoDB(t)
	prefix := "laureltest" + randHex(t, 4)
	doc := fmt.Sprintf(`
SECRET_KEY = %q
ALLOWED_HOSTS = ["app.example"]
LAUREL_VERDICT_TTL = 0
[DATABASES.default]
ENGINE = "django.db.backends.sqlite3"
NAME = %q
[CHANNEL_LAYERS.default]
BACKEND = %q
[CHANNEL_LAYERS.default.CONFIG]
hosts = [%q]
prefix = %q
[laurel]
drain_period = "100ms"
access_log = "off"
%s`, testSecret, dbPath, backend, rurl, prefix, extra)
	s, err := config.Parse([]byte(doc), environ)
	if err != nil {
		t.Fatal(err)
	}
	addr := ""
	if listenArgs == nil {
		addr = freeAddr(t)
		host, port, _ := net.SplitHostPort(addr)
		listenArgs = []string{"-b", host, "-p", port}
	}
	f, err := parseServeFlags(append(listenArgs, "-v", "0"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	f.applyFlags(&s.Laurel)
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, s, newLogger(io.Discard, s.Laurel), stdio{io.Discard, io.Discard, environ})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	a.reusePort, a.pprof = f.reusePort, f.pprof
	r := &running{dbPath: dbPath, base: addr, prefix: prefix, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.serve(ctx, listenAddr(f)) }()
	opt, _ := redis.ParseURL(rurl)
	r.redis = redis.NewClient(opt)
	t.Cleanup(func() {
		cancel()
		if err := <-r.done; err != nil {
			t.Errorf("serve: %v", err)
		}
		_ = r.redis.Close()
	})
	if addr != "" {
		waitHTTP(t, "http://"+addr+"/readyz")
	}
	return r, key
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String()
}

// get fetches url (with Host header host when set) and returns the status
// and body.
func get(t *testing.T, url, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil { //nolint:gosec // test URL
			ok := resp.StatusCode == 200
			_ = resp.Body.Close()
			if ok {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s not ready", url)
}

// dial opens a socket; it returns the HTTP status when the handshake fails.
func (r *running) dial(t *testing.T, path, cookie string) (*websocket.Conn, int, error) {
	t.Helper()
	h := http.Header{"Origin": {testOrigin}}
	if cookie != "" {
		h.Set("Cookie", cookie)
	}
	c, resp, err := websocket.DefaultDialer.Dial("ws://"+r.base+path, h) //nolint:bodyclose // closed below
	status := 0
	if resp != nil {
		status = resp.StatusCode
		if resp.Body != nil {
			_ = resp.Body.Close()
		}
	}
	if c != nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, status, err
}

// members returns the channels of a group as channels_redis stores them.
func (r *running) members(t *testing.T, group string) []string {
	t.Helper()
	m, err := r.redis.ZRange(context.Background(), r.prefix+":group:"+group, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sender is another process's layer (what Celery's channel_layer is).
func (r *running) sender(t *testing.T) *channelsproto.Layer {
	t.Helper()
	cfg, err := channelsproto.ParseConfig([]byte(fmt.Sprintf(`{"hosts": [%q], "prefix": %q}`, os.Getenv("REDIS_URL"), r.prefix)))
	if err != nil {
		t.Fatal(err)
	}
	l, err := channelsproto.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readText(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(data)
}

func TestServeEndToEnd(t *testing.T) {
	r, key := startApp(t, "")
	ctx := context.Background()

	// Refused without a session: Daphne's exact bytes.
	conn, err := net.Dial("tcp", r.base)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(conn, "GET /ws/tasks/ HTTP/1.1\r\nHost: app.example\r\nOrigin: "+testOrigin+
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	raw, _ := io.ReadAll(bufio.NewReader(conn))
	_ = conn.Close()
	if string(raw) != "HTTP/1.1 403 Access denied\r\n\r\n" {
		t.Fatalf("anonymous handshake answered %q", raw)
	}
	if _, status, err := r.dial(t, "/ws/tasks/", "sessionid=forged"); err == nil || status != 403 {
		t.Fatalf("forged session: %v %d", err, status)
	}

	// A real Django session is accepted and joins user_1.
	c, _, err := r.dial(t, "/ws/tasks/", "sessionid="+key)
	if err != nil {
		t.Fatalf("dial with session: %v", err)
	}
	eventually(t, "user_1 membership", func() bool { return len(r.members(t, "user_1")) == 1 })
	channel := r.members(t, "user_1")[0]
	if err := c.WriteJSON(map[string]any{"action": "subscribe", "task_id": "abc"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "task_abc membership", func() bool { return len(r.members(t, "task_abc")) == 1 })

	snd := r.sender(t)
	ev := channelsproto.Map{
		{Key: "type", Value: "task.complete"}, {Key: "task_id", Value: "abc"}, {Key: "status", Value: "completed"},
		{Key: "message", Value: "All done!"}, {Key: "result", Value: channelsproto.Map{{Key: "some", Value: "data"}}},
	}
	if err := snd.GroupSend(ctx, "task_abc", ev); err != nil {
		t.Fatal(err)
	}
	want := `{"type": "task_complete", "task_id": "abc", "status": "completed", "message": "All done!", "result": {"some": "data"}}`
	if got := readText(t, c); got != want {
		t.Fatalf("group event frame\n%s\nwant\n%s", got, want)
	}
	if err := snd.Send(ctx, channel, channelsproto.Map{{Key: "type", Value: "user.message"}, {Key: "text", Value: "direct"}}); err != nil {
		t.Fatal(err)
	}
	if got := readText(t, c); got != `{"type": "user_message", "text": "direct"}` {
		t.Fatalf("direct frame %s", got)
	}

	// Operations endpoints.
	// Counters move right after the writes the client has already read.
	eventually(t, "/metrics", func() bool {
		_, body := get(t, "http://"+r.base+"/metrics", "")
		for _, want := range []string{"laurel_sockets_open 1", "laurel_frames_delivered_total 2", `laurel_handshakes_total{reason="ok",result="accepted"} 1`, `laurel_auth_verdicts_total{source="store"} `} {
			if !strings.Contains(body, want) {
				return false
			}
		}
		return true
	})
	if status, _ := get(t, "http://"+r.base+"/some/page/", ""); status != 404 {
		t.Errorf("unclaimed path without upstream: %d, want 404", status)
	}

	// Graceful stop: 1001, memberships discarded, serve returns nil.
	r.cancel()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("after stop: %v, want close 1001", err)
	}
	_ = c.Close()
	if err := <-r.done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	r.done <- nil // for the cleanup
	if m := r.members(t, "user_1"); len(m) != 0 {
		t.Fatalf("user_1 still has %v after shutdown", m)
	}
	if m := r.members(t, "task_abc"); len(m) != 0 {
		t.Fatalf("task_abc still has %v after shutdown", m)
	}
}

func TestServeUpstream(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if websocket.IsWebSocketUpgrade(r) {
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
				_ = c.WriteMessage(typ, append([]byte("echo:"), data...))
			}
		}
		_, _ = fmt.Fprintf(w, "%s %s host=%s xff=%s proto=%s", r.Method, r.URL.RequestURI(), r.Host,
			r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"))
	}))
	defer up.Close()
	r, key := startApp(t, fmt.Sprintf("upstream = %q\n", up.URL))

	_, body := get(t, "http://"+r.base+"/api/x/?q=1", "app.example")
	if want := "GET /api/x/?q=1 host=app.example xff=127.0.0.1 proto=http"; body != want {
		t.Fatalf("proxied: %q, want %q", body, want)
	}
	// An unclaimed WebSocket path is tunnelled to the upstream.
	c, _, err := r.dial(t, "/ws/echo/", "")
	if err != nil {
		t.Fatalf("tunnel dial: %v", err)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if got := readText(t, c); got != "echo:hi" {
		t.Fatalf("tunnel echo %q", got)
	}
	// laurel's own route is still served by laurel.
	if _, _, err := r.dial(t, "/ws/tasks/", "sessionid="+key); err != nil {
		t.Fatalf("route with upstream: %v", err)
	}
	_ = c.Close()
}

func TestServeUpstreamDownIs502(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	r, _ := startApp(t, fmt.Sprintf("upstream = %q\n", "http://"+dead))
	if status, _ := get(t, "http://"+r.base+"/anything", ""); status != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", status)
	}
}

// With group_membership = "process" a group has one member per laurel
// process in Redis, whatever the number of subscribed sockets, and a
// group_send reaches every one of them.
func TestServeProcessMembership(t *testing.T) {
	r, key := startApp(t, "group_membership = \"process\"\n")
	var conns []*websocket.Conn
	for range 3 {
		c, _, err := r.dial(t, "/ws/tasks/", "sessionid="+key)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		if err := c.WriteJSON(map[string]any{"action": "subscribe", "task_id": "p"}); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	eventually(t, "three subscriptions", func() bool {
		_, body := get(t, "http://"+r.base+"/metrics", "")
		return strings.Contains(body, `laurel_client_actions_total{result="ok"} 3`)
	})
	for _, g := range []string{"user_1", "task_p"} {
		if m := r.members(t, g); len(m) != 1 {
			t.Fatalf("%s members %v, want one for the process", g, m)
		}
	}
	if err := r.sender(t).GroupSend(context.Background(), "task_p", channelsproto.Map{{Key: "type", Value: "task.update"}, {Key: "progress", Value: int64(5)}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		if got := readText(t, c); got != `{"type": "task_update", "progress": 5}` {
			t.Fatalf("frame %s", got)
		}
	}
	_ = conns[0].Close()
	_ = conns[1].Close()
	eventually(t, "two sockets gone", func() bool {
		_, body := get(t, "http://"+r.base+"/metrics", "")
		return strings.Contains(body, "laurel_sockets_open 1")
	})
	if m := r.members(t, "task_p"); len(m) != 1 {
		t.Fatalf("task_p members %v with one subscriber left, want one", m)
	}
	_ = conns[2].Close()
	eventually(t, "memberships discarded with the last socket", func() bool {
		return len(r.members(t, "task_p")) == 0 && len(r.members(t, "user_1")) == 0
	})
}

func TestServePubSubLayer(t *testing.T) {
	r, key := startAppWith(t, "channels_redis.pubsub.RedisPubSubChannelLayer", "")
	c, _, err := r.dial(t, "/ws/tasks/", "sessionid="+key)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	cfg, err := channelsproto.ParsePubSubConfig([]byte(fmt.Sprintf(`{"hosts": [%q], "prefix": %q}`, os.Getenv("REDIS_URL"), r.prefix)))
	if err != nil {
		t.Fatal(err)
	}
	snd, err := channelsproto.NewPubSub(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = snd.Close() }()
	// The connect-time group_add completed before the handshake answered.
	if err := snd.GroupSend(context.Background(), "user_1", channelsproto.Map{{Key: "type", Value: "user.notification"}, {Key: "unread", Value: int64(3)}}); err != nil {
		t.Fatal(err)
	}
	if got := readText(t, c); got != `{"type": "user_notification", "unread": 3}` {
		t.Fatalf("frame %s", got)
	}
	subscribed := func() int {
		chs, err := r.redis.PubSubChannels(context.Background(), r.prefix+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		return len(chs)
	}
	if subscribed() == 0 {
		t.Fatal("no channel subscribed while the socket is open")
	}
	// A closed socket leaves its group and releases its channel.
	_ = c.Close()
	eventually(t, "pub/sub channels released", func() bool { return subscribed() == 0 })
}

func TestServeUnixSocketMetricsBindAccessLog(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "laurel.sock")
	metrics := freeAddr(t)
	logPath := filepath.Join(t.TempDir(), "access.log")
	_, key := startAppListen(t, "channels_redis.core.RedisChannelLayer", fmt.Sprintf("metrics_bind = %q\n", metrics),
		[]string{"-u", sock}, "LAUREL_ACCESS_LOG="+logPath)
	waitHTTP(t, "http://"+metrics+"/readyz")

	dialer := websocket.Dialer{NetDial: func(_, _ string) (net.Conn, error) { return net.Dial("unix", sock) }}
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	c, resp, err := dialer.Dial("ws://app.example/ws/tasks/", http.Header{"Origin": {testOrigin}, "Cookie": {"sessionid=" + key}})
	if resp != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("dial over the unix socket: %v", err)
	}
	_ = c.Close()

	// /metrics lives on --metrics-bind only; /healthz on both.
	eventually(t, "handshake counted on the metrics listener", func() bool {
		status, body := get(t, "http://"+metrics+"/metrics", "")
		return status == 200 && strings.Contains(body, `laurel_handshakes_total{reason="ok",result="accepted"} 1`)
	})
	for path, want := range map[string]int{"/metrics": 404, "/healthz": 200} {
		resp, err := client.Get("http://app.example" + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("main listener %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	// Daphne's access log lines.
	eventually(t, "access log", func() bool {
		b, _ := os.ReadFile(logPath)
		s := string(b)
		return strings.Contains(s, `"WSCONNECTING /ws/tasks/" - -`) && strings.Contains(s, `"WSCONNECT /ws/tasks/" - -`) &&
			strings.Contains(s, `"WSDISCONNECT /ws/tasks/" - -`) && strings.Contains(s, `"GET /healthz" 200 3`)
	})
}

// TestServeRevalidationClosesLoggedOutSocket deletes the Django session row
// (what logout does) and expects the socket closed with 4003.
func TestServeRevalidationClosesLoggedOutSocket(t *testing.T) {
	r, key := startApp(t, "revalidate_interval = \"50ms\"\n")
	c, _, err := r.dial(t, "/ws/tasks/", "sessionid="+key)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	db, err := sql.Open("sqlite", r.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if _, err := db.Exec(`DELETE FROM django_session WHERE session_key = ?`, key); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err = c.ReadMessage()
	if !websocket.IsCloseError(err, 4003) {
		t.Fatalf("after logout: %v, want close 4003", err)
	}
	eventually(t, "user_1 left", func() bool { return len(r.members(t, "user_1")) == 0 })
}

// TestServePprofOnlyOnMetricsListener checks that --pprof serves profiles on
// --metrics-bind and never on the public listener.
func TestServePprofOnlyOnMetricsListener(t *testing.T) {
	metrics, addr := freeAddr(t), freeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	startAppListen(t, "channels_redis.core.RedisChannelLayer", fmt.Sprintf("metrics_bind = %q\n", metrics), []string{"-b", host, "-p", port, "--pprof"})
	waitHTTP(t, "http://"+metrics+"/readyz")
	if status, body := get(t, "http://"+metrics+"/debug/pprof/goroutine?debug=1", ""); status != 200 || !strings.Contains(body, "goroutine profile:") {
		t.Errorf("metrics listener /debug/pprof/goroutine: %d %.80q", status, body)
	}
	if status, _ := get(t, "http://"+addr+"/debug/pprof/", ""); status == 200 {
		t.Errorf("main listener serves /debug/pprof/")
	}
}

func TestServePprofNeedsMetricsBind(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "laurel.toml")
	doc := "SECRET_KEY = \"x\"\nALLOWED_HOSTS = [\"a.example\"]\n[CHANNEL_LAYERS.default]\nBACKEND = \"channels_redis.core.RedisChannelLayer\"\n" +
		"[CHANNEL_LAYERS.default.CONFIG]\nhosts = [\"redis://127.0.0.1:1\"]\n"
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	code := run(context.Background(), []string{"serve", "--config", cfg, "--pprof"}, stdio{stdout: io.Discard, stderr: &stderr})
	if code != 2 || !strings.Contains(stderr.String(), "--pprof needs --metrics-bind") {
		t.Fatalf("serve --pprof without --metrics-bind: exit %d, %q; want 2 and a message naming --metrics-bind", code, stderr.String())
	}
}
