package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/laurel-server/laurel/channelsproto"
	"github.com/laurel-server/laurel/djangoauth"
	"github.com/laurel-server/laurel/internal/config"
)

// Config configures Start.
type Config struct {
	// Dir holds the SQLite file (db.sqlite3), the secret key (secret_key)
	// and the laurel configuration (laurel.toml); it is created if missing
	// and reused by later runs. Empty means <os.TempDir()>/laurel-dev.
	Dir string
	// RedisAddr is where Redis is used or started. Empty means
	// 127.0.0.1:6379.
	RedisAddr string
	// AllowedHosts is ALLOWED_HOSTS for the Origin check. Nil means
	// localhost, 127.0.0.1 and [::1].
	AllowedHosts []string
	// DemoUser and DemoPassword are the user created when missing. Empty
	// means "demo" / "demo".
	DemoUser, DemoPassword string
	// Task shapes the simulated tasks.
	Task TaskPlan
	// Logger receives the demo application's logs. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Env is a started development environment: Redis, the session database,
// the laurel configuration pointing at both, and the demo application
// listening on a loopback port (laurel's upstream).
type Env struct {
	// Dir is the absolute data directory.
	Dir string
	// DBPath is the absolute path of the SQLite session database.
	DBPath string
	// ConfigPath is the laurel TOML configuration (`laurel serve --config`).
	ConfigPath string
	// SecretKey is the SECRET_KEY shared by laurel and the demo application.
	SecretKey string
	// Redis is the Redis in use.
	Redis *Redis
	// AppURL is the demo application's base URL (http://127.0.0.1:PORT),
	// to be given to laurel as its upstream.
	AppURL string
	// User is the demo user.
	User User

	settings *config.Settings
	db       *Database
	auth     *djangoauth.Authenticator
	layer    *channelsproto.Layer
	app      *App
	srv      *http.Server
	served   chan error
}

// secretKeyChars are the characters of Django's get_random_secret_key.
const secretKeyChars = "abcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*(-_=+)"

// Start prepares and starts everything `laurel dev` needs besides laurel:
// Redis (StartRedis), the data directory with its secret key, the SQLite
// database with Django's tables and the demo user, the laurel configuration
// file, and the demo application on a loopback port. On error everything
// started is stopped. Close stops it all.
func Start(ctx context.Context, cfg Config) (_ *Env, err error) {
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(os.TempDir(), "laurel-dev")
	}
	if cfg.RedisAddr == "" {
		cfg.RedisAddr = "127.0.0.1:6379"
	}
	if cfg.AllowedHosts == nil {
		cfg.AllowedHosts = []string{"localhost", "127.0.0.1", "[::1]"}
	}
	if cfg.DemoUser == "" {
		cfg.DemoUser = "demo"
	}
	if cfg.DemoPassword == "" {
		cfg.DemoPassword = "demo"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
	}
	e := &Env{Dir: dir, DBPath: filepath.Join(dir, "db.sqlite3"), ConfigPath: filepath.Join(dir, "laurel.toml")}
	defer func() {
		if err != nil {
			_ = e.Close(context.Background())
		}
	}()
	if e.SecretKey, err = loadSecretKey(filepath.Join(dir, "secret_key")); err != nil {
		return nil, err
	}
	if e.Redis, err = StartRedis(ctx, cfg.RedisAddr); err != nil {
		return nil, err
	}
	if e.db, err = OpenDatabase(ctx, e.DBPath, e.SecretKey); err != nil {
		return nil, err
	}
	if e.User, err = e.db.EnsureUser(ctx, cfg.DemoUser, cfg.DemoPassword); err != nil {
		return nil, err
	}

	toml := e.laurelTOML(cfg.AllowedHosts)
	if err := os.WriteFile(e.ConfigPath, []byte(toml), 0o600); err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
	}
	// The demo application reads the same settings laurel reads, as a Django
	// project and laurel share one settings module.
	if e.settings, err = config.Parse([]byte(toml), nil); err != nil {
		return nil, fmt.Errorf("devserver: generated configuration: %w", err)
	}
	djJSON, err := e.settings.DjangoJSON()
	if err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
	}
	authCfg, err := djangoauth.FromSettings(djJSON)
	if err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
	}
	if e.auth, err = djangoauth.New(authCfg, djangoauth.WithLogger(cfg.Logger)); err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
	}
	layerJSON, err := e.settings.ChannelLayer()
	if err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
	}
	layerCfg, err := channelsproto.ParseConfig(layerJSON)
	if err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
	}
	if e.layer, err = channelsproto.New(layerCfg, channelsproto.WithLogger(cfg.Logger)); err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
	}
	if e.app, err = NewApp(AppConfig{
		DB: e.db, Sessions: e.auth, Layer: e.layer, DemoUser: cfg.DemoUser, DemoPassword: cfg.DemoPassword,
		CookieName: authCfg.SessionCookieName, SessionAge: authCfg.SessionCookieAge, Task: cfg.Task, Logger: cfg.Logger,
	}); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("devserver: demo application: %w", err)
	}
	e.AppURL = "http://" + ln.Addr().String()
	e.srv = &http.Server{Handler: e.app, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug)}
	e.served = make(chan error, 1)
	go func() { e.served <- e.srv.Serve(ln) }()
	return e, nil
}

// loadSecretKey reads the secret key file, creating it with a new
// "django-insecure-" key (as startproject writes) when missing.
func loadSecretKey(path string) (string, error) {
	b, err := os.ReadFile(path) //nolint:gosec // our own data directory
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("devserver: %w", err)
	}
	key := "django-insecure-" + RandomString(50, secretKeyChars)
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("devserver: %w", err)
	}
	return key, nil
}

func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// laurelTOML is the configuration `laurel serve` runs with in dev mode.
func (e *Env) laurelTOML(allowedHosts []string) string {
	return fmt.Sprintf(`# Written by laurel dev: laurel serve --config %s
SECRET_KEY = %s
DEBUG = true
ALLOWED_HOSTS = %s
SESSION_ENGINE = "django.contrib.sessions.backends.db"

[DATABASES.default]
ENGINE = "django.db.backends.sqlite3"
NAME = %s

[CHANNEL_LAYERS.default]
BACKEND = "channels_redis.core.RedisChannelLayer"

[CHANNEL_LAYERS.default.CONFIG]
hosts = [%s]
`, e.ConfigPath, strconv.Quote(e.SecretKey), quoteList(allowedHosts), strconv.Quote(e.DBPath), strconv.Quote(e.Redis.URL()))
}

// DjangoSettings returns the settings.py lines that make a Django project
// share this environment: the SECRET_KEY, the SQLite database holding the
// sessions and users, the db session engine and the channel layer on the
// same Redis.
func (e *Env) DjangoSettings() string {
	return fmt.Sprintf(`SECRET_KEY = %s
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": %s}}
SESSION_ENGINE = "django.contrib.sessions.backends.db"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [%s]},
    }
}
`, strconv.Quote(e.SecretKey), strconv.Quote(e.DBPath), strconv.Quote(e.Redis.URL()))
}

// Close stops the demo application (cancelling running tasks), then closes
// the channel layer, the authenticator, the database and an embedded Redis,
// in that order. ctx bounds the HTTP shutdown. It is safe to call on a
// partly started Env.
func (e *Env) Close(ctx context.Context) error {
	var errs []error
	if e.srv != nil {
		if err := e.srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		if err := <-e.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
		e.srv = nil
	}
	if e.app != nil {
		e.app.Close()
		e.app = nil
	}
	if e.layer != nil {
		errs = append(errs, e.layer.Close())
		e.layer = nil
	}
	if e.auth != nil {
		errs = append(errs, e.auth.Close())
		e.auth = nil
	}
	if e.db != nil {
		errs = append(errs, e.db.Close())
		e.db = nil
	}
	if e.Redis != nil {
		e.Redis.Close()
	}
	return errors.Join(errs...)
}
