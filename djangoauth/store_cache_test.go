package djangoauth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisURL returns REDIS_URL, skipping when unset and failing when set but
// unreachable.
func redisURL(t testing.TB) string {
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
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("REDIS_URL set but unreachable: %v", err)
	}
	return u
}

func uniquePrefix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "laurel-test-" + hex.EncodeToString(b)
}

// goldenPickle returns the bytes real Python wrote for (name, source,
// protocol, compressor) in pickles.json.
func goldenPickle(t testing.TB, name, source string, protocol int, compressor string) []byte {
	t.Helper()
	var fx []pickleCase
	loadFixture(t, "pickles.json", &fx)
	for _, c := range fx {
		if c.Name == name && c.Source == source && c.Protocol == protocol && c.Compressor == compressor {
			b, err := hex.DecodeString(c.Hex)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("no pickle %s/%s/%d/%s", name, source, protocol, compressor)
	return nil
}

func redisWriter(t testing.TB, url string) *redis.Client {
	t.Helper()
	opt, _ := redis.ParseURL(url)
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestCacheEngineRedis stores session values exactly as Django's RedisCache
// and django-redis wrote them (bytes from real Python) and reads them back
// through the cache engine; users come from the Django-generated SQLite.
func TestCacheEngineRedis(t *testing.T) {
	t.Parallel()
	url := redisURL(t)
	w := redisWriter(t, url)
	ctx := context.Background()
	const key = "abcdefghijklmnopqrstuvwxyz012345"
	tests := []struct {
		name    string
		backend string
		options map[string]any
		value   []byte // nil: no key
		want    Reason
	}{
		{"django redis S", backendDjangoRedis, nil, goldenPickle(t, "S", "django.core.cache.backends.redis", 0, ""), ReasonOK},
		{"django redis V13", backendDjangoRedis, nil, goldenPickle(t, "V13", "django.core.cache.backends.redis", 0, ""), ReasonOK},
		{"django redis datetime values", backendDjangoRedis, nil, goldenPickle(t, "datetime", "django.core.cache.backends.redis", 0, ""), ReasonOK},
		{"django redis int", backendDjangoRedis, nil, []byte("42"), ReasonBadSession},
		{"django redis evil", backendDjangoRedis, nil, goldenPickle(t, "evil", "pickle", 0, ""), ReasonBadSession},
		{"django redis missing", backendDjangoRedis, nil, nil, ReasonNoSession},
		{"django-redis p4", backendDjRedis, nil, goldenPickle(t, "S", "django_redis", 4, "identity"), ReasonOK},
		{"django-redis p5", backendDjRedis, nil, goldenPickle(t, "S", "django_redis", 5, "identity"), ReasonOK},
		{"django-redis zlib", backendDjRedis, map[string]any{"COMPRESSOR": "django_redis.compressors.zlib.ZlibCompressor"}, goldenPickle(t, "S", "django_redis", 4, "zlib"), ReasonOK},
		{"django-redis gzip", backendDjRedis, map[string]any{"COMPRESSOR": "django_redis.compressors.gzip.GzipCompressor"}, goldenPickle(t, "V13", "django_redis", 4, "gzip"), ReasonOK},
		{"django-redis zlib small raw", backendDjRedis, map[string]any{"COMPRESSOR": "django_redis.compressors.zlib.ZlibCompressor"}, goldenPickle(t, "empty", "django_redis", 4, "zlib"), ReasonNoUser},
		{"django-redis anonymous", backendDjRedis, nil, goldenPickle(t, "one", "django_redis", 4, "identity"), ReasonNoUser},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := uniquePrefix(t)
			rkey := prefix + ":2:django.contrib.sessions.cache" + key
			if tc.value != nil {
				if err := w.Set(ctx, rkey, tc.value, time.Minute).Err(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { w.Del(context.Background(), rkey) })
			}
			a, _ := sqliteAuthenticator(t, func(c *Config) {
				c.SessionEngine = EngineCache
				c.SessionCacheAlias = "sessions"
				c.Caches = map[string]CacheConfig{"sessions": {Backend: tc.backend, Location: []string{url}, KeyPrefix: prefix, Version: 2, Options: tc.options}}
			})
			got := a.VerdictForSessionKey(ctx, key)
			if got.Reason != tc.want || got.Authenticated != (tc.want == ReasonOK) {
				t.Fatalf("got %+v, want %s", got, tc.want)
			}
			if tc.want == ReasonOK && (got.UserID != "1" || got.Username != "alice") {
				t.Fatalf("got %+v", got)
			}
			if err := a.Ping(ctx); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			// laurel never writes: the value and its TTL are untouched
			if tc.value != nil {
				b, err := w.Get(ctx, rkey).Bytes()
				if err != nil || string(b) != string(tc.value) {
					t.Fatalf("value changed: %v", err)
				}
			}
		})
	}
}

func TestCachedDBEngineRedis(t *testing.T) {
	t.Parallel()
	url := redisURL(t)
	w := redisWriter(t, url)
	ctx := context.Background()
	prefix := uniquePrefix(t)
	a, fx := sqliteAuthenticator(t, func(c *Config) {
		c.SessionEngine = EngineCachedDB
		c.Caches = map[string]CacheConfig{"default": {Backend: backendDjangoRedis, Location: []string{url}, KeyPrefix: prefix}}
	})
	keys := map[string]string{}
	for _, sc := range fx.Scenarios {
		keys[sc.Name] = sc.SessionKey
	}
	set := func(key string, v []byte) {
		rkey := prefix + ":1:django.contrib.sessions.cached_db" + key
		if err := w.Set(ctx, rkey, v, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Del(context.Background(), rkey) })
	}
	// cache hit: the cached dict decides even though the db row is expired
	set(keys["expired"], goldenPickle(t, "S", "django.core.cache.backends.redis", 0, ""))
	// undecodable cache value: Django's cache.get raises, load falls back to the db
	set(keys["valid"], []byte("\x80\x05garbage"))
	// a cached non-dict: Django would crash
	set(keys["superuser"], []byte("42"))
	tests := map[string]Reason{
		"expired":      ReasonOK,
		"valid":        ReasonOK,
		"superuser":    ReasonBadSession,
		"stale_hash":   ReasonHashMismatch, // miss: db row decides
		"fallback_key": ReasonNoSession,
	}
	keys["fallback_key"] = "nosuchsessionkey12345"
	for name, want := range tests {
		if got := a.VerdictForSessionKey(ctx, keys[name]); got.Reason != want {
			t.Errorf("%s: got %+v, want %s", name, got, want)
		}
	}
}

// TestCacheUnavailable: a dead Redis yields store_unavailable, never
// cached, never a crash; cached_db keeps working from the database.
func TestCacheUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dead := map[string]CacheConfig{"default": {Backend: backendDjangoRedis, Location: []string{"redis://127.0.0.1:1/0"}}}
	a, fx := sqliteAuthenticator(t, func(c *Config) {
		c.SessionEngine = EngineCache
		c.Caches = dead
		c.VerdictTTL = time.Minute
	})
	for range 2 {
		got := a.VerdictForSessionKey(ctx, "abcdefghijklmnopqrstuvwxyz012345")
		if got.Reason != ReasonStoreUnavailable || got.Authenticated || got.Cached {
			t.Fatalf("got %+v", got)
		}
	}
	if err := a.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded against a dead Redis")
	}
	b, _ := sqliteAuthenticator(t, func(c *Config) {
		c.SessionEngine = EngineCachedDB
		c.Caches = dead
	})
	for _, sc := range fx.Scenarios {
		if sc.Name == "valid" {
			if got := b.VerdictForSessionKey(ctx, sc.SessionKey); got.Reason != ReasonOK {
				t.Fatalf("cached_db with dead cache: %+v", got)
			}
		}
	}
}
