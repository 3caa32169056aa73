package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/laurel-server/laurel/djangoauth"
	"github.com/laurel-server/laurel/internal/config"
)

func TestResolveSocketCapLogs(t *testing.T) {
	t.Parallel()
	limit := func(n uint64, ok bool) config.FileLimitFunc { return func() (uint64, bool) { return n, ok } }
	cases := []struct {
		name       string
		configured int
		limit      config.FileLimitFunc
		wantMax    int
		wantLogs   []string
		wantWarn   bool
	}{
		{"automatic", 0, limit(20000, true), 18000,
			[]string{"level=INFO", "max_sockets=18000", `from="open-file limit"`, "open_file_limit=20000", "reserve=2000"}, false},
		{"explicit within the limit", 5000, limit(20000, true), 5000,
			[]string{"level=INFO", "max_sockets=5000", "from=max_sockets"}, false},
		{"explicit over the limit", 30000, limit(20000, true), 30000,
			[]string{"level=INFO", "max_sockets=30000", "level=WARN", "allowed=18000", "LimitNOFILE"}, true},
		{"no rlimit", 0, limit(0, false), 0, []string{"socket cap: none", "open_file_limit=unknown"}, false},
		{"negative", -1, limit(20000, true), 0, []string{"socket cap: none"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			sc := resolveSocketCap(tc.configured, 100, tc.limit, slog.New(slog.NewTextHandler(&buf, nil)))
			if sc.Max != tc.wantMax {
				t.Fatalf("cap %d, want %d", sc.Max, tc.wantMax)
			}
			out := buf.String()
			for _, w := range tc.wantLogs {
				if !strings.Contains(out, w) {
					t.Errorf("log lacks %q:\n%s", w, out)
				}
			}
			if got := strings.Contains(out, "level=WARN"); got != tc.wantWarn {
				t.Errorf("warned %v, want %v:\n%s", got, tc.wantWarn, out)
			}
		})
	}
}

func TestSocketPools(t *testing.T) {
	t.Parallel()
	redisDefault := 10 * runtime.GOMAXPROCS(0)
	cases := []struct {
		name    string
		backend string
		layer   string
		auth    djangoauth.Config
		want    int
	}{
		{"default pool, default SQL", config.LayerCore, `{"hosts": ["redis://h:6379"]}`, djangoauth.Config{}, redisDefault + 4 + 16},
		{"two hosts with max_connections", config.LayerCore,
			`{"hosts": [{"address": "redis://a:6379", "max_connections": 50}, {"address": "redis://b:6379", "max_connections": 30}]}`,
			djangoauth.Config{MaxOpenConns: 4}, 54 + 34 + 8},
		{"pub/sub layer", config.LayerPubSub, `{"hosts": ["redis://h:6379"]}`, djangoauth.Config{}, redisDefault + 4 + 16},
		{"cache sessions", config.LayerCore, `{"hosts": ["redis://h:6379"]}`,
			djangoauth.Config{SessionEngine: djangoauth.EngineCache}, 2*redisDefault + 4 + 16},
		{"unparsable CONFIG", config.LayerCore, `[`, djangoauth.Config{}, redisDefault + 4 + 16},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := socketPools(tc.backend, []byte(tc.layer), tc.auth); got != tc.want {
				t.Fatalf("socketPools = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestMaxSocketsFlag(t *testing.T) {
	t.Parallel()
	f, err := parseServeFlags([]string{"--max-sockets", "1500"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	l := config.Laurel{MaxSockets: 7}
	f.applyFlags(&l)
	if l.MaxSockets != 1500 {
		t.Fatalf("--max-sockets 1500 gave max_sockets %d", l.MaxSockets)
	}
	f, err = parseServeFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	f.applyFlags(&l)
	if l.MaxSockets != 1500 {
		t.Fatalf("without --max-sockets the configured %d became %d", 1500, l.MaxSockets)
	}
	if _, err := parseServeFlags([]string{"--max-sockets", "many"}, io.Discard); err == nil || !strings.Contains(err.Error(), "max-sockets") {
		t.Fatalf("--max-sockets many: %v", err)
	}
}

// laurel serve with max_sockets = 2 holds two sockets, refuses the third
// with 503 and Retry-After, counts it, and takes a new socket once one
// closes.
func TestServeMaxSockets(t *testing.T) {
	r, key := startApp(t, "max_sockets = 2\n")
	cookie := "sessionid=" + key
	first, _, err := r.dial(t, "/ws/tasks/", cookie)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.dial(t, "/ws/tasks/", cookie); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+r.base+"/ws/tasks/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "app.example"
	for k, v := range map[string]string{"Origin": testOrigin, "Cookie": cookie, "Upgrade": "websocket", "Connection": "Upgrade",
		"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"} {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" {
		t.Fatalf("third socket: %d Retry-After %q, want 503 and 5", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	_, body := get(t, "http://"+r.base+"/metrics", "")
	for _, want := range []string{`laurel_handshakes_total{reason="socket_limit",result="unavailable"} 1`, "laurel_sockets_max 2"} {
		if !strings.Contains(body, want) {
			t.Fatalf("/metrics lacks %q", want)
		}
	}
	_ = first.Close()
	eventually(t, "a slot freed", func() bool {
		c, _, err := r.dial(t, "/ws/tasks/", cookie)
		return err == nil && c != nil
	})
	if _, status, _ := r.dial(t, "/ws/tasks/", cookie); status != http.StatusServiceUnavailable {
		t.Fatalf("at the cap again: status %d, want 503", status)
	}
}
