package djangoauth

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"
)

// Cache backends laurel reads (CACHES[alias]["BACKEND"]).
const (
	backendDjangoRedis = "django.core.cache.backends.redis.RedisCache"
	backendDjRedis     = "django_redis.cache.RedisCache"
)

// cacheClient reads one Django cache alias stored in Redis.
type cacheClient struct {
	rdb        redis.UniversalClient
	keyPrefix  string
	version    int
	djRedis    bool   // django-redis (else Django's built-in RedisCache)
	compressor string // django-redis COMPRESSOR short name
	serializer string // "pickle", "json" or "msgpack"
}

// newCacheClient builds a reader for CACHES[alias]:
//   - Django's RedisCache (4.0+): values are the decimal text of an int or
//     pickle protocol 5 (RedisSerializer); LOCATION may list several servers
//     (split on "," and ";"): laurel reads the first, where Django writes.
//   - django-redis DefaultClient: int text, else COMPRESSOR(SERIALIZER(v));
//     serializers pickle (any protocol), json and msgpack; compressors
//     identity, zlib and gzip. lzma, lz4 and zstd need modules laurel does
//     not ship and are rejected at startup, as are HerdClient and
//     ShardedClient.
//
// Keys go through Django's default key function "KEY_PREFIX:VERSION:key";
// a custom KEY_FUNCTION is rejected by FromSettings.
func newCacheClient(cfg Config, alias string) (*cacheClient, error) {
	cc, ok := cfg.Caches[alias]
	name := "CACHES." + alias
	if !ok {
		return nil, fmt.Errorf("%w: SESSION_CACHE_ALIAS %q is not in CACHES", ErrSettings, alias)
	}
	c := &cacheClient{keyPrefix: cc.KeyPrefix, version: cc.Version, serializer: "pickle"}
	if c.version == 0 {
		c.version = 1
	}
	opt := func(k string) string {
		if v, ok := cc.Options[k]; ok && v != nil {
			return fmt.Sprint(v)
		}
		return ""
	}
	switch cc.Backend {
	case backendDjangoRedis:
		if s := opt("serializer"); s != "" {
			return nil, fmt.Errorf("%w: %s.OPTIONS.serializer: custom serializers are not supported", ErrSettings, name)
		}
	case backendDjRedis:
		c.djRedis = true
		switch cl := opt("CLIENT_CLASS"); cl {
		case "", "django_redis.client.DefaultClient":
		default:
			return nil, fmt.Errorf("%w: %s.OPTIONS.CLIENT_CLASS %q is not supported", ErrSettings, name, cl)
		}
		switch s := opt("SERIALIZER"); s {
		case "", "django_redis.serializers.pickle.PickleSerializer":
		case "django_redis.serializers.json.JSONSerializer":
			c.serializer = "json"
		case "django_redis.serializers.msgpack.MSGPackSerializer":
			c.serializer = "msgpack"
		default:
			return nil, fmt.Errorf("%w: %s.OPTIONS.SERIALIZER %q is not supported", ErrSettings, name, s)
		}
		switch comp := opt("COMPRESSOR"); comp {
		case "", "django_redis.compressors.identity.IdentityCompressor":
		case "django_redis.compressors.zlib.ZlibCompressor":
			c.compressor = "zlib"
		case "django_redis.compressors.gzip.GzipCompressor":
			c.compressor = "gzip"
		default:
			return nil, fmt.Errorf("%w: %s.OPTIONS.COMPRESSOR %q is not supported (identity, zlib and gzip are)", ErrSettings, name, comp)
		}
	default:
		return nil, fmt.Errorf("%w: %s.BACKEND %q is not supported", ErrSettings, name, cc.Backend)
	}
	if len(cc.Location) == 0 {
		return nil, fmt.Errorf("%w: %s.LOCATION is required", ErrSettings, name)
	}
	loc := strings.TrimSpace(cc.Location[0])
	if !strings.Contains(loc, "://") {
		loc = "redis://" + loc
	}
	ro, err := redis.ParseURL(loc)
	if err != nil {
		return nil, fmt.Errorf("%w: %s.LOCATION is not a Redis URL", ErrSettings, name)
	}
	for _, k := range []string{"PASSWORD", "password"} {
		if p := opt(k); p != "" {
			ro.Password = p
		}
	}
	for _, k := range []string{"db", "DB"} {
		if d := opt(k); d != "" {
			n, err := strconv.Atoi(d)
			if err != nil {
				return nil, fmt.Errorf("%w: %s.OPTIONS.%s must be an integer", ErrSettings, name, k)
			}
			ro.DB = n
		}
	}
	ro.ContextTimeoutEnabled = true
	// Fail fast: a dead cache must answer store_unavailable quickly, not
	// after seconds of retries while a reconnect storm piles up.
	ro.MaxRetries = 1
	ro.DialerRetries = 1
	if ro.DialTimeout == 0 {
		ro.DialTimeout = 2 * time.Second
	}
	if ro.ReadTimeout == 0 {
		ro.ReadTimeout = 2 * time.Second
	}
	c.rdb = redis.NewClient(ro)
	return c, nil
}

// key is django.core.cache.backends.base.default_key_func.
func (c *cacheClient) key(raw string) string {
	return c.keyPrefix + ":" + strconv.Itoa(c.version) + ":" + raw
}

// get returns the decoded value, (nil, nil) on a miss, errBadSession for an
// undecodable value, or an error wrapping ErrStoreUnavailable.
func (c *cacheClient) get(ctx context.Context, raw string) (any, error) {
	b, err := c.rdb.Get(ctx, c.key(raw)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: redis: %w", ErrStoreUnavailable, err)
	}
	v, err := c.decode(b)
	if err != nil {
		return nil, errBadSession
	}
	return v, nil
}

// decode is RedisSerializer.loads (Django) or DefaultClient.decode
// (django-redis).
func (c *cacheClient) decode(b []byte) (any, error) {
	if n, ok := pyIntString(latin1String(string(b))); ok && isASCII(b) {
		if n.IsInt64() {
			return n.Int64(), nil
		}
		return n, nil
	}
	if !c.djRedis {
		return DecodePickle(b)
	}
	switch c.compressor {
	case "zlib":
		if out, err := inflate(b); err == nil {
			b = out
		}
	case "gzip":
		if out, err := gunzip(b); err == nil {
			b = out
		}
	}
	switch c.serializer {
	case "json":
		return unmarshalPythonJSON(b)
	case "msgpack":
		var v any
		if err := msgpack.Unmarshal(b, &v); err != nil {
			return nil, err
		}
		return normalizeMsgpack(v), nil
	}
	return DecodePickle(b)
}

// gunzip is gzip.decompress: every member is decompressed.
func gunzip(b []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(r, maxDecompressed+1))
	if err != nil || len(out) > maxDecompressed {
		return nil, errBadSession
	}
	return out, nil
}

func normalizeMsgpack(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeMsgpack(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalizeMsgpack(e)
		}
		return x
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		if x <= 1<<63-1 {
			return int64(x)
		}
	case float32:
		return float64(x)
	}
	return v
}

func (c *cacheClient) ping(ctx context.Context) error {
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("%w: redis: %w", ErrStoreUnavailable, err)
	}
	return nil
}

func (c *cacheClient) close() error { return c.rdb.Close() }

// cacheSessionStore is django.contrib.sessions.backends.cache: the session
// dict itself (not a signed string) is cached under KEY_PREFIX +
// session key, with no separator. A value that is not a dict is a session
// Django would crash on (bad_session).
type cacheSessionStore struct {
	cache  *cacheClient
	prefix string
}

func (s *cacheSessionStore) load(ctx context.Context, _ *dbRead, key string) (map[string]any, error) {
	v, err := s.cache.get(ctx, s.prefix+key)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, errNoSession
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errNotDict
	}
	return m, nil
}

// errNotDict: the cache holds a value that is not a dict (Django would
// crash in get_user rather than fall back to the database).
var errNotDict = fmt.Errorf("%w: cached session is not a dict", errBadSession)

func (s *cacheSessionStore) ping(ctx context.Context) error { return s.cache.ping(ctx) }
func (s *cacheSessionStore) close() error                   { return s.cache.close() }

// cachedDBStore is django.contrib.sessions.backends.cached_db: the cache
// first ("django.contrib.sessions.cached_db" + key); on a miss, or when
// the cache fails or holds an undecodable value (Django catches every
// exception of cache.get), the db store. laurel never writes the cache back.
type cachedDBStore struct {
	cache *cacheSessionStore
	db    *dbSessionStore
}

func (s *cachedDBStore) load(ctx context.Context, rd *dbRead, key string) (map[string]any, error) {
	m, err := s.cache.load(ctx, rd, key)
	if err == nil || errors.Is(err, errNotDict) {
		return m, err
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%w: %w", ErrStoreUnavailable, ctx.Err())
	}
	return s.db.load(ctx, rd, key)
}

// ping requires the database only: Django serves cached_db sessions from
// the database when the cache is down.
func (s *cachedDBStore) ping(ctx context.Context) error { return s.db.ping(ctx) }
func (s *cachedDBStore) close() error                   { return s.cache.close() }
