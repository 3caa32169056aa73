package djangoauth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestFromSettings(t *testing.T) {
	t.Parallel()
	cfg, err := FromSettings([]byte(`{
		"SECRET_KEY": "k", "SECRET_KEY_FALLBACKS": ["o"], "SESSION_ENGINE": "django.contrib.sessions.backends.cache",
		"SESSION_COOKIE_NAME": "sid", "SESSION_COOKIE_AGE": 60, "SESSION_CACHE_ALIAS": "sessions",
		"DATABASES": {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "app", "PORT": 5433, "HOST": "db"}},
		"CACHES": {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
		           "sessions": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://a:6379/1,redis://b:6379/1", "KEY_PREFIX": "p", "VERSION": 3}},
		"AUTH_USER_MODEL": "accounts.Member", "USE_TZ": false, "TIME_ZONE": "Asia/Tokyo",
		"ALLOWED_HOSTS": [".example.com"], "DEBUG": true, "LAUREL_VERDICT_TTL": 0.5, "UNKNOWN_SETTING": {"x": 1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SecretKey != "k" || cfg.SecretKeyFallbacks[0] != "o" || cfg.SessionCookieName != "sid" || cfg.SessionCookieAge != time.Minute ||
		cfg.Database.Port != "5433" || cfg.User.Table != "accounts_member" || cfg.UseTZ || cfg.TimeZone != "Asia/Tokyo" ||
		!cfg.Debug || cfg.VerdictTTL != 500*time.Millisecond || len(cfg.Caches["sessions"].Location) != 2 || cfg.Caches["sessions"].Version != 3 {
		t.Fatalf("%+v", cfg)
	}
	d, err := FromSettings([]byte(`{"SECRET_KEY": "k"}`))
	if err != nil || !d.UseTZ || d.VerdictTTL != 0 {
		t.Fatalf("defaults: %+v %v", d, err)
	}
	if off, _ := FromSettings([]byte(`{"LAUREL_VERDICT_TTL": 0}`)); off.VerdictTTL >= 0 {
		t.Fatalf("TTL 0 must disable the cache: %v", off.VerdictTTL)
	}
}

func TestFromSettingsErrorsNameTheKey(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		`{"SECRET_KEY": 1}`:                              "SECRET_KEY",
		`{"SESSION_COOKIE_AGE": "x"}`:                    "SESSION_COOKIE_AGE",
		`{"USE_TZ": "yes"}`:                              "USE_TZ",
		`{"ALLOWED_HOSTS": "example.com"}`:               "ALLOWED_HOSTS",
		`{"AUTH_USER_MODEL": "nodot"}`:                   "AUTH_USER_MODEL",
		`{"CACHES": {"default": {"VERSION": "x"}}}`:      "CACHES.default.VERSION",
		`{"CACHES": {"default": {"KEY_FUNCTION": "f"}}}`: "KEY_FUNCTION",
		`{"DATABASES": {"default": {"NAME": []}}}`:       "DATABASES.default.NAME",
		`[]`: "JSON object",
	}
	for in, key := range tests {
		_, err := FromSettings([]byte(in))
		if !errors.Is(err, ErrSettings) || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: err = %v, want one naming %s", in, err, key)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	sqlite := DatabaseConfig{Engine: "django.db.backends.sqlite3", Name: "/nonexistent/x.sqlite3"}
	tests := map[string]Config{
		"SECRET_KEY":          {Database: sqlite},
		"ENGINE":              {SecretKey: "k", Database: DatabaseConfig{Engine: "django.db.backends.oracle"}},
		"SESSION_ENGINE":      {SecretKey: "k", Database: sqlite, SessionEngine: "myapp.sessions"},
		"SESSION_SERIALIZER":  {SecretKey: "k", Database: sqlite, SessionSerializer: "x.Y"},
		"SESSION_CACHE_ALIAS": {SecretKey: "k", Database: sqlite, SessionEngine: EngineCache},
		"COMPRESSOR": {SecretKey: "k", Database: sqlite, SessionEngine: EngineCache, Caches: map[string]CacheConfig{"default": {
			Backend: backendDjRedis, Location: []string{"redis://x"}, Options: map[string]any{"COMPRESSOR": "django_redis.compressors.lzma.LzmaCompressor"}}}},
		"BACKEND":           {SecretKey: "k", Database: sqlite, SessionEngine: EngineCache, Caches: map[string]CacheConfig{"default": {Backend: "django.core.cache.backends.locmem.LocMemCache"}}},
		"LAUREL_USER_TABLE": {SecretKey: "k", Database: sqlite, User: UserConfig{Table: `a"b`}},
	}
	for key, cfg := range tests {
		a, err := New(cfg)
		if err == nil {
			_ = a.Close()
		}
		if !errors.Is(err, ErrSettings) || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: err = %v", key, err)
		}
	}
}
