package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/laurel-server/laurel/internal/config"
)

func runCLI(t *testing.T, environ []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, stdio{&out, &errb, environ})
	return code, out.String(), errb.String()
}

func TestDispatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"version", []string{"version"}, 0, "laurel "},
		{"help", []string{"help"}, 0, "check-session"},
		{"unknown", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"serve bad flag", []string{"serve", "--no-such-flag"}, 2, "no-such-flag"},
		{"default serve with flags", []string{"--config", "/nonexistent/laurel.toml"}, 1, "laurel serve: config"},
		{"asgi path first", []string{"myproject.asgi:application", "--config", "/nonexistent.toml"}, 1, "laurel serve: config"},
		{"two asgi paths", []string{"serve", "a.asgi:app", "b.asgi:app"}, 2, "unexpected argument"},
		{"check-session needs one", []string{"check-session"}, 2, "exactly one"},
		{"config needs module", []string{"config"}, 2, "--from-django"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, errs := runCLI(t, nil, tc.args...)
			if code != tc.code || !strings.Contains(out+errs, tc.contains) {
				t.Fatalf("exit %d (want %d), output %q lacks %q", code, tc.code, out+errs, tc.contains)
			}
		})
	}
}

func TestServeFlags(t *testing.T) {
	t.Parallel()
	f, err := parseServeFlags([]string{"-b", "0.0.0.0", "--port", "9000", "--proxy-headers", "--ping-interval", "0",
		"--websocket_timeout", "60", "-v", "2", "proj.asgi:application", "--root-path", "/app", "--group-membership", "process"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if f.asgiApp != "proj.asgi:application" {
		t.Fatalf("asgi app %q", f.asgiApp)
	}
	if l := listenAddr(f); l.network != "tcp" || l.addr != "0.0.0.0:9000" {
		t.Fatalf("listen %v", l)
	}
	var l config.Laurel
	l.PingTimeout = 99
	f.applyFlags(&l)
	if !l.ProxyHeaders || l.PingInterval >= 0 || l.WebsocketTimeout.D().Seconds() != 60 || l.LogLevel != "debug" || l.RootPath != "/app" || l.GroupMembership != "process" {
		t.Fatalf("applied %+v", l)
	}
	if l.PingTimeout != 99 {
		t.Fatal("an unset flag overrode the config")
	}
	// A full Daphne 4.2.3 command line is accepted.
	f, err = parseServeFlags([]string{"-b", "0.0.0.0", "-p", "8000", "--websocket-max-message-size", "0",
		"--websocket_connect_timeout", "9", "-t", "60", "--application-close-timeout", "10", "--websocket-max-frame-size", "5",
		"-s", "daphne", "--log-fmt", "%(message)s", "--proxy-headers-host", "X-Real-IP", "Toca3d.asgi:application"}, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("Daphne command line: %v", err)
	}
	var d config.Laurel
	f.applyFlags(&d)
	if d.MaxMessageSize != -1 || d.HandshakeTimeout.D().Seconds() != 9 || len(f.ignored) != 6 {
		t.Fatalf("Daphne flags: %+v ignored=%v", d, f.ignored)
	}
	if _, err := parseServeFlags([]string{"--group-membership", "shared"}, &bytes.Buffer{}); err == nil {
		t.Fatal("--group-membership shared accepted")
	}
	f, _ = parseServeFlags([]string{"-u", "/run/laurel.sock"}, &bytes.Buffer{})
	if l := listenAddr(f); l.network != "unix" || l.addr != "/run/laurel.sock" {
		t.Fatalf("unix listen %v", l)
	}
	f, _ = parseServeFlags(nil, &bytes.Buffer{})
	if l := listenAddr(f); l.network != "tcp" || l.addr != "127.0.0.1:8000" {
		t.Fatalf("default listen %v", l)
	}
}

// TestConfigFromDjango runs `laurel config --from-django` on a settings
// module with the real Python and Django of .venv, and loads the result.
func TestConfigFromDjango(t *testing.T) {
	t.Parallel()
	python, err := filepath.Abs("../../.venv/bin/python")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(python); err != nil {
		t.Skipf("no project venv at %s (scripts/deps.sh builds it)", python)
	}
	dir := t.TempDir()
	settings := `
SECRET_KEY = "py-secret"
ALLOWED_HOSTS = ["app.example", ".example.org"]
DEBUG = False
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "app", "USER": "u", "PASSWORD": "pw",
                         "HOST": "db", "PORT": 5432, "CONN_MAX_AGE": 60, "TEST": {"NAME": "x"}}}
CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://r:6379/1", "TIMEOUT": None}}
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                  "CONFIG": {"hosts": [("r", 6379), {"address": "redis://r2:6379/0", "socket_timeout": 1.5}],
                             "capacity": 1500, "channel_capacity": {"http.request": 200}}}}
LAUREL_VERDICT_TTL = 5
`
	if err := os.WriteFile(filepath.Join(dir, "mysettings.py"), []byte(settings), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "LAUREL_SECRET_KEY=from-env", "LAUREL_DATABASES__default__PASSWORD=pw-env")
	code, out, errs := runCLI(t, env, "config", "--from-django", "mysettings", "--pythonpath", dir, "--python", python)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if strings.Contains(out, "py-secret") || strings.Contains(out, `"pw"`) {
		t.Fatalf("secrets written without --include-secrets:\n%s", out)
	}
	s, err := config.Parse([]byte(out), env)
	if err != nil {
		t.Fatalf("generated config does not load: %v\n%s", err, out)
	}
	if s.Django["SECRET_KEY"] != "from-env" || s.Django["LAUREL_VERDICT_TTL"] != int64(5) {
		t.Fatalf("settings %v", s.Django)
	}
	db := s.Django["DATABASES"].(map[string]any)["default"].(map[string]any)
	if db["PASSWORD"] != "pw-env" || db["PORT"] != int64(5432) || db["ENGINE"] != "django.db.backends.postgresql" {
		t.Fatalf("DATABASES.default %v", db)
	}
	layer, err := s.ChannelLayer()
	if err != nil {
		t.Fatal(err)
	}
	var lc map[string]any
	if err := json.Unmarshal(layer, &lc); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(lc["hosts"]); got != "[[r 6379] map[address:redis://r2:6379/0 socket_timeout:1.5]]" {
		t.Fatalf("hosts %s", got)
	}

	code, out, errs = runCLI(t, env, "config", "--from-django", "mysettings", "--pythonpath", dir, "--python", python, "--include-secrets")
	if code != 0 || !strings.Contains(out, `SECRET_KEY = "py-secret"`) {
		t.Fatalf("--include-secrets: exit %d %s\n%s", code, errs, out)
	}
	code, _, errs = runCLI(t, env, "config", "--from-django", "no_such_module", "--python", python)
	if code != 1 || !strings.Contains(errs, "No module named") {
		t.Fatalf("bad module: exit %d %s", code, errs)
	}
	if _, err := exec.LookPath(python); err != nil {
		t.Fatal(err)
	}
}

func TestCheckSession(t *testing.T) {
	t.Parallel()
	dbPath, key := djangoDB(t)
	cfg := filepath.Join(t.TempDir(), "laurel.toml")
	doc := fmt.Sprintf(`SECRET_KEY = %q
ALLOWED_HOSTS = ["app.example"]
[DATABASES.default]
ENGINE = "django.db.backends.sqlite3"
NAME = %q
[CHANNEL_LAYERS.default]
BACKEND = "channels_redis.core.RedisChannelLayer"
`, testSecret, dbPath)
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"cookie value", []string{"--cookie", key}, 0, "verdict: authenticated\nreason: ok\nuser_id: 1\nusername: alice\n"},
		{"cookie header", []string{"--cookie", "csrftoken=x; sessionid=" + key}, 0, "user_id: 1"},
		{"session key", []string{"--session-key", key}, 0, "username: alice"},
		{"unknown", []string{"--cookie", "nope"}, 1, "verdict: anonymous\nreason: no_session\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(t, nil, append([]string{"check-session", "--config", cfg}, tc.args...)...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d (want %d), output %q lacks %q; stderr %s", code, tc.code, out, tc.want, errs)
			}
		})
	}
}

// The heap floor runs unless the operator set GOGC.
func TestStartHeapFloor(t *testing.T) {
	if f := startHeapFloor([]string{"HOME=/", "GOGC=200"}); f != nil {
		f.Stop()
		t.Fatal("heap floor started although GOGC is set")
	}
	f := startHeapFloor([]string{"HOME=/"})
	if f == nil {
		t.Fatal("no heap floor without GOGC")
	}
	f.Stop()
}
