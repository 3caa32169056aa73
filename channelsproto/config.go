package channelsproto

import (
	"crypto/tls"
	"fmt"
	"math"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config mirrors CHANNEL_LAYERS["default"]["CONFIG"] of
// channels_redis.core.RedisChannelLayer 4.0–4.3. Zero values mean the Python
// defaults, applied on a copy by New.
type Config struct {
	// Hosts are the Redis shards, in order (the order decides sharding).
	// Zero value means one host redis://localhost:6379.
	Hosts []Host
	// Prefix is the key prefix. Zero value means "asgi".
	Prefix string
	// Expiry is the message lifetime, in whole seconds. Zero value means 60 s.
	Expiry time.Duration
	// GroupExpiry is the lifetime of a group membership since its last
	// GroupAdd, in whole seconds. Zero value means 86400 s.
	GroupExpiry time.Duration
	// Capacity is the default number of messages a Redis channel key may
	// hold. Zero value means 100.
	Capacity int
	// ChannelCapacity overrides Capacity per channel name; the first rule
	// that matches wins, in order, as Python iterates the dict.
	ChannelCapacity []CapacityRule
	// SymmetricEncryptionKeys enables Fernet encryption; the first key
	// encrypts, all decrypt. Nil or empty means no encryption.
	SymmetricEncryptionKeys []string
	// RandomPrefixLength is the number of random bytes before each payload.
	// Nil means 12; a pointer to 0 means none.
	RandomPrefixLength *int
	// SerializerFormat is "msgpack" or "json". Zero value means "msgpack".
	SerializerFormat string
}

// Host is one Redis shard, in one of the forms channels_redis accepts
// (utils.decode_hosts / create_pool). Exactly one of URL, Addr and Sentinels
// must be set.
type Host struct {
	// URL is a redis://, rediss:// (TLS) or unix:// URL, as
	// redis.ConnectionPool.from_url takes it (parsed by go-redis ParseURL,
	// which rejects unknown query options).
	URL string
	// Addr is host:port, from a [host, port] pair or a {"host", "port"} dict.
	Addr string
	// Sentinels are host:port addresses of Redis Sentinels; MasterName names
	// the monitored master (Python {"sentinels": ..., "master_name": ...}).
	Sentinels  []string
	MasterName string
	// SentinelUsername and SentinelPassword come from sentinel_kwargs.
	SentinelUsername string
	SentinelPassword string
	// Username, Password and DB apply to the data connection (they override
	// the URL's values when set).
	Username string
	Password string
	DB       int
	// TLS enables TLS for Addr and Sentinel hosts ("ssl": true); rediss://
	// URLs enable it themselves.
	TLS bool
	// InsecureSkipVerify disables certificate checks (Python
	// "ssl_cert_reqs": null / "none").
	InsecureSkipVerify bool
	// DialTimeout and ReadTimeout map socket_connect_timeout and
	// socket_timeout. Zero value means the go-redis defaults.
	DialTimeout time.Duration
	ReadTimeout time.Duration
	// PoolSize maps max_connections. Zero value means the go-redis default.
	PoolSize int
}

// String describes the host without secrets, for logs.
func (h Host) String() string {
	switch {
	case h.URL != "":
		if o, err := redis.ParseURL(h.URL); err == nil {
			return o.Network + "://" + o.Addr
		}
		return "invalid-url"
	case h.Addr != "":
		return h.Addr
	default:
		return "sentinel:" + h.MasterName
	}
}

// CapacityRule is one entry of channel_capacity. Pattern is a glob with
// fnmatch.translate semantics that must match the whole name (Python string
// keys), or, when Regex is true, a regular expression matched at the start of
// the name only, like a compiled re.Pattern's .match. Go's RE2 syntax is
// used for regexes, which lacks backreferences and lookaround, and its \d,
// \w and $ are ASCII / end-of-text only.
type CapacityRule struct {
	Pattern  string
	Regex    bool
	Capacity int
}

type compiledRule struct {
	re       *regexp.Regexp
	capacity int
}

func compileRules(rules []CapacityRule) ([]compiledRule, error) {
	out := make([]compiledRule, 0, len(rules))
	for _, r := range rules {
		var src string
		if r.Regex {
			src = `^(?:` + r.Pattern + `)`
		} else {
			src = fnmatchTranslate(r.Pattern)
		}
		re, err := regexp.Compile(src)
		if err != nil {
			return nil, fmt.Errorf("%w: channel_capacity pattern %q: %w", ErrConfig, r.Pattern, err)
		}
		out = append(out, compiledRule{re: re, capacity: r.Capacity})
	}
	return out, nil
}

// fnmatchTranslate converts a shell glob to an RE2 regex matching the whole
// string, following Python's fnmatch.translate: "*" any run, "?" one
// character, "[seq]" / "[!seq]" classes, an unclosed "[" is literal, and
// everything else is literal.
func fnmatchTranslate(pat string) string {
	var b strings.Builder
	b.WriteString(`(?s)^`)
	rs := []rune(pat)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch c {
		case '*':
			for i+1 < len(rs) && rs[i+1] == '*' {
				i++
			}
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		case '[':
			j := i + 1
			if j < len(rs) && rs[j] == '!' {
				j++
			}
			if j < len(rs) && rs[j] == ']' {
				j++
			}
			for j < len(rs) && rs[j] != ']' {
				j++
			}
			if j >= len(rs) {
				b.WriteString(`\[`)
				continue
			}
			stuff := rs[i+1 : j]
			i = j
			var cls strings.Builder
			for k, r := range stuff {
				switch {
				case k == 0 && r == '!':
					cls.WriteRune('^')
				case r == '\\' || r == '[' || r == ']' || (r == '^' && k == 0):
					cls.WriteRune('\\')
					cls.WriteRune(r)
				default:
					cls.WriteRune(r)
				}
			}
			if cls.Len() == 0 {
				// "[]" cannot match anything.
				b.WriteString(`[^\x00-\x{10FFFF}]`)
				continue
			}
			if cls.String() == "^" {
				// "[!]" matches any character.
				b.WriteString(`.`)
				continue
			}
			b.WriteString(`[` + cls.String() + `]`)
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`\z`)
	return b.String()
}

// ParseConfig decodes the JSON form of the Django CONFIG dict, e.g.
//
//	{"hosts": ["redis://localhost:6379/0", ["redis2", 6379],
//	           {"address": "rediss://r3:6380", "ssl_cert_reqs": null},
//	           {"sentinels": [["s1", 26379]], "master_name": "mymaster",
//	            "sentinel_kwargs": {"password": "x"}},
//	           {"host": "r4", "port": 6379, "password": "pw", "db": 1}],
//	 "prefix": "asgi", "expiry": 60, "group_expiry": 86400, "capacity": 100,
//	 "channel_capacity": {"http.request": 200, "re:^websocket\\.send!.*": 20},
//	 "symmetric_encryption_keys": ["secret"], "random_prefix_length": 12,
//	 "serializer_format": "msgpack"}
//
// JSON cannot carry a compiled re.Pattern, so a channel_capacity key
// starting with "re:" is the regex after that prefix (Python
// re.compile(...).match); every other key is a glob. Key order is kept.
// Durations are whole seconds and must be positive; unknown keys and values of
// the wrong type fail with an error wrapping ErrConfig that names the key.
func ParseConfig(configJSON []byte) (Config, error) {
	var cfg Config
	v, err := UnmarshalJSON(configJSON)
	if err != nil {
		return cfg, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	m, ok := v.(Map)
	if !ok {
		return cfg, fmt.Errorf("%w: CONFIG must be a JSON object", ErrConfig)
	}
	for _, f := range m {
		key, val := f.Key, f.Value
		switch key {
		case "hosts":
			if val == nil {
				continue
			}
			list, ok := val.([]any)
			if !ok {
				return cfg, fmt.Errorf("%w: hosts: must be a list of Redis hosts, even if there is only one", ErrConfig)
			}
			for i, e := range list {
				h, err := parseHost(e)
				if err != nil {
					return cfg, fmt.Errorf("%w: hosts[%d]: %w", ErrConfig, i, err)
				}
				cfg.Hosts = append(cfg.Hosts, h)
			}
		case "prefix":
			s, ok := val.(string)
			if !ok {
				return cfg, fmt.Errorf("%w: prefix: must be a string", ErrConfig)
			}
			if s == "" {
				return cfg, fmt.Errorf("%w: prefix: an empty prefix cannot be expressed (zero value means \"asgi\")", ErrConfig)
			}
			cfg.Prefix = s
		case "expiry", "group_expiry":
			n, err := positiveInt(val)
			if err != nil {
				return cfg, fmt.Errorf("%w: %s: %w", ErrConfig, key, err)
			}
			if key == "expiry" {
				cfg.Expiry = time.Duration(n) * time.Second
			} else {
				cfg.GroupExpiry = time.Duration(n) * time.Second
			}
		case "capacity":
			n, err := positiveInt(val)
			if err != nil {
				return cfg, fmt.Errorf("%w: capacity: %w", ErrConfig, err)
			}
			cfg.Capacity = n
		case "channel_capacity":
			if val == nil {
				continue
			}
			cm, ok := val.(Map)
			if !ok {
				return cfg, fmt.Errorf("%w: channel_capacity: must be an object", ErrConfig)
			}
			for _, cf := range cm {
				n, err := intValue(cf.Value)
				if err != nil {
					return cfg, fmt.Errorf("%w: channel_capacity[%q]: %w", ErrConfig, cf.Key, err)
				}
				rule := CapacityRule{Pattern: cf.Key, Capacity: n}
				if p, ok := strings.CutPrefix(cf.Key, "re:"); ok {
					rule.Pattern, rule.Regex = p, true
				}
				cfg.ChannelCapacity = append(cfg.ChannelCapacity, rule)
			}
			if _, err := compileRules(cfg.ChannelCapacity); err != nil {
				return cfg, err
			}
		case "symmetric_encryption_keys":
			if val == nil {
				continue
			}
			list, ok := val.([]any)
			if !ok {
				return cfg, fmt.Errorf("%w: symmetric_encryption_keys: must be a list of possible keys", ErrConfig)
			}
			for i, k := range list {
				s, ok := k.(string)
				if !ok {
					return cfg, fmt.Errorf("%w: symmetric_encryption_keys[%d]: must be a string", ErrConfig, i)
				}
				cfg.SymmetricEncryptionKeys = append(cfg.SymmetricEncryptionKeys, s)
			}
		case "random_prefix_length":
			n, err := intValue(val)
			if err != nil || n < 0 {
				return cfg, fmt.Errorf("%w: random_prefix_length: must be a non-negative integer", ErrConfig)
			}
			cfg.RandomPrefixLength = &n
		case "serializer_format":
			s, ok := val.(string)
			if !ok || (s != "msgpack" && s != "json") {
				return cfg, fmt.Errorf("%w: serializer_format: must be \"msgpack\" or \"json\"", ErrConfig)
			}
			cfg.SerializerFormat = s
		default:
			return cfg, fmt.Errorf("%w: unknown key %q", ErrConfig, key)
		}
	}
	return cfg, nil
}

func intValue(v any) (int, error) {
	switch n := v.(type) {
	case int64:
		if n > math.MaxInt32 || n < math.MinInt32 {
			return 0, fmt.Errorf("integer %d out of range", n)
		}
		return int(n), nil
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > math.MaxInt32 {
			return 0, fmt.Errorf("must be a whole number, got %v", n)
		}
		return int(n), nil
	default:
		return 0, fmt.Errorf("must be a number, got %T", v)
	}
}

func positiveInt(v any) (int, error) {
	n, err := intValue(v)
	if err != nil {
		return 0, err
	}
	if n <= 0 {
		return 0, fmt.Errorf("must be positive, got %d", n)
	}
	return n, nil
}

func hostPort(v any) (string, error) {
	pair, ok := v.([]any)
	if !ok || len(pair) != 2 {
		return "", fmt.Errorf("must be a [host, port] pair")
	}
	h, ok := pair[0].(string)
	if !ok {
		return "", fmt.Errorf("host must be a string")
	}
	p, err := intValue(pair[1])
	if err != nil {
		s, ok := pair[1].(string)
		if !ok {
			return "", fmt.Errorf("port: %w", err)
		}
		if p, err = strconv.Atoi(s); err != nil {
			return "", fmt.Errorf("port %q is not a number", s)
		}
	}
	return net.JoinHostPort(h, strconv.Itoa(p)), nil
}

func parseHost(e any) (Host, error) {
	var h Host
	switch x := e.(type) {
	case string:
		h.URL = x
	case []any:
		addr, err := hostPort(x)
		if err != nil {
			return h, err
		}
		h.Addr = addr
	case Map:
		host, port := "", "6379"
		for _, f := range x {
			var err error
			switch f.Key {
			case "address":
				h.URL, err = str(f.Value)
			case "host":
				host, err = str(f.Value)
			case "port":
				var p int
				p, err = intValue(f.Value)
				port = strconv.Itoa(p)
			case "password":
				if f.Value != nil {
					h.Password, err = str(f.Value)
				}
			case "username":
				if f.Value != nil {
					h.Username, err = str(f.Value)
				}
			case "db":
				h.DB, err = intValue(f.Value)
			case "ssl":
				b, ok := f.Value.(bool)
				if !ok {
					err = fmt.Errorf("must be a boolean")
				}
				h.TLS = b
			case "ssl_cert_reqs":
				s, _ := f.Value.(string)
				switch {
				case f.Value == nil || strings.EqualFold(s, "none"):
					h.InsecureSkipVerify = true
				case strings.EqualFold(s, "required"):
				default:
					err = fmt.Errorf("must be null, \"none\" or \"required\"")
				}
			case "socket_timeout", "socket_connect_timeout":
				var n int
				if n, err = positiveInt(f.Value); err == nil {
					if f.Key == "socket_timeout" {
						h.ReadTimeout = time.Duration(n) * time.Second
					} else {
						h.DialTimeout = time.Duration(n) * time.Second
					}
				}
			case "max_connections":
				h.PoolSize, err = positiveInt(f.Value)
			case "sentinels":
				list, ok := f.Value.([]any)
				if !ok || len(list) == 0 {
					err = fmt.Errorf("must be a non-empty list of [host, port] pairs")
				}
				for _, s := range list {
					var addr string
					if addr, err = hostPort(s); err != nil {
						break
					}
					h.Sentinels = append(h.Sentinels, addr)
				}
			case "master_name":
				h.MasterName, err = str(f.Value)
			case "sentinel_kwargs":
				if f.Value == nil {
					continue
				}
				sk, ok := f.Value.(Map)
				if !ok {
					err = fmt.Errorf("must be an object")
					break
				}
				for _, sf := range sk {
					switch sf.Key {
					case "password":
						h.SentinelPassword, err = str(sf.Value)
					case "username":
						h.SentinelUsername, err = str(sf.Value)
					default:
						err = fmt.Errorf("unsupported key %q", sf.Key)
					}
				}
			default:
				err = fmt.Errorf("unsupported option")
			}
			if err != nil {
				return h, fmt.Errorf("%q: %w", f.Key, err)
			}
		}
		if host != "" {
			h.Addr = net.JoinHostPort(host, port)
		}
		if h.URL == "" && h.Addr == "" && len(h.Sentinels) == 0 {
			// Python ConnectionPool() defaults to localhost:6379.
			h.Addr = net.JoinHostPort("localhost", port)
		}
	default:
		return h, fmt.Errorf("unsupported entry of type %T", e)
	}
	return h, h.validate()
}

func str(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("must be a string")
	}
	return s, nil
}

func (h Host) validate() error {
	n := 0
	for _, set := range []bool{h.URL != "", h.Addr != "", len(h.Sentinels) > 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("exactly one of address/URL, host/port or sentinels must be given")
	}
	if len(h.Sentinels) > 0 && h.MasterName == "" {
		return fmt.Errorf("\"master_name\" is required with \"sentinels\"")
	}
	if h.URL != "" {
		if _, err := redis.ParseURL(h.URL); err != nil {
			return fmt.Errorf("address: %w", err)
		}
	}
	return nil
}

// newClient builds the go-redis client for h, with ContextTimeoutEnabled so
// ctx deadlines bound socket reads and writes. Connections are named
// clientName (CLIENT SETNAME) so operators can tell laurel's connections
// apart in CLIENT LIST.
func (h Host) newClient(clientName string) (redis.UniversalClient, error) {
	if err := h.validate(); err != nil {
		return nil, err
	}
	var tlsCfg *tls.Config
	if h.TLS || h.InsecureSkipVerify {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: h.InsecureSkipVerify} //nolint:gosec // opt-in, mirrors ssl_cert_reqs=None
	}
	if len(h.Sentinels) > 0 {
		fo := &redis.FailoverOptions{
			MasterName: h.MasterName, SentinelAddrs: h.Sentinels,
			SentinelUsername: h.SentinelUsername, SentinelPassword: h.SentinelPassword,
			Username: h.Username, Password: h.Password, DB: h.DB,
			TLSConfig: tlsCfg, DialTimeout: h.DialTimeout, ReadTimeout: h.ReadTimeout, PoolSize: h.PoolSize,
			ClientName: clientName, ContextTimeoutEnabled: true,
		}
		return redis.NewFailoverClient(fo), nil
	}
	var o *redis.Options
	if h.URL != "" {
		var err error
		if o, err = redis.ParseURL(h.URL); err != nil {
			return nil, err
		}
		if o.TLSConfig != nil && h.InsecureSkipVerify {
			o.TLSConfig.InsecureSkipVerify = true
		}
	} else {
		o = &redis.Options{Addr: h.Addr, TLSConfig: tlsCfg}
	}
	// Honour ctx deadlines on the socket, not only before a command.
	o.ContextTimeoutEnabled = true
	if o.ClientName == "" {
		o.ClientName = clientName
	}
	if h.Username != "" {
		o.Username = h.Username
	}
	if h.Password != "" {
		o.Password = h.Password
	}
	if h.DB != 0 {
		o.DB = h.DB
	}
	if h.DialTimeout > 0 {
		o.DialTimeout = h.DialTimeout
	}
	if h.ReadTimeout > 0 {
		o.ReadTimeout = h.ReadTimeout
	}
	if h.PoolSize > 0 {
		o.PoolSize = h.PoolSize
	}
	return redis.NewClient(o), nil
}
