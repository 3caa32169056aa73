package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// ErrSetting is wrapped by every error about a setting's value.
var ErrSetting = errors.New("config: invalid setting")

// Settings is a loaded configuration.
type Settings struct {
	// Django holds the Django-named settings (upper-case top-level keys),
	// with environment overrides and {env = "VAR"} references resolved.
	Django map[string]any
	// Laurel holds the [laurel] table, defaults applied.
	Laurel Laurel
	// Warnings are non-fatal remarks (unknown LAUREL_ variables, settings
	// laurel ignores) for the caller to log.
	Warnings []string
}

// Laurel is the [laurel] table: laurel's own settings. Each can be overridden
// by LAUREL_<NAME IN UPPER CASE>, e.g. LAUREL_QUEUE_SIZE=512.
type Laurel struct {
	// Routes are the WebSocket routes; empty means the built-in /ws/tasks/.
	Routes []Route `toml:"routes"`
	// QueueSize is the per-socket send queue length in frames (default 256).
	QueueSize int `toml:"queue_size"`
	// MaxMessageSize is the largest incoming message in bytes (default
	// 1048576); larger closes the socket with 1009.
	MaxMessageSize int64 `toml:"max_message_size"`
	// GroupMembership is "socket" (default: each socket's own channel joins
	// its groups, as under Daphne) or "process" (one channel per laurel
	// process joins each group, and laurel fans out to its subscribers).
	GroupMembership string `toml:"group_membership"`
	// SubscriptionLimit is the most groups a socket may join by actions
	// (default 100).
	SubscriptionLimit int `toml:"subscription_limit"`
	// MaxSocketsPerAddress limits the sockets one client address may hold
	// open; further handshakes get 429 (default 0: no limit).
	MaxSocketsPerAddress int `toml:"max_sockets_per_address"`
	// MaxSockets caps the WebSocket sockets this process holds open;
	// further handshakes get 503 with Retry-After. 0 (the default) means
	// automatic: the open-file limit minus a reserve for everything else
	// laurel opens (ResolveMaxSockets); a negative value means no cap.
	MaxSockets int `toml:"max_sockets"`
	// DrainPeriod spreads the 1001 closes on shutdown (default 5 s).
	DrainPeriod Duration `toml:"drain_period"`
	// ShutdownTimeout bounds the whole shutdown (default drain_period + 10 s).
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	// RevalidateInterval re-checks each socket's session (0 means the
	// default, 60 s; a negative value turns revalidation off).
	RevalidateInterval Duration `toml:"revalidate_interval"`
	// GroupRefreshInterval re-adds sockets to their groups (default half of
	// CHANNEL_LAYERS group_expiry).
	GroupRefreshInterval Duration `toml:"group_refresh_interval"`
	// HeartbeatInterval is how often this process renews its heartbeat in
	// Redis and sweeps the group memberships of laurel processes whose
	// heartbeat is older than 3 intervals (killed without draining). 0 means
	// the default, 10 s; a negative value turns heartbeat and sweeping off.
	// Only for the core channels_redis layer.
	HeartbeatInterval Duration `toml:"heartbeat_interval"`
	// HandshakeTimeout bounds authentication and connect-time group_adds
	// (default 5 s).
	HandshakeTimeout Duration `toml:"handshake_timeout"`
	// WriteTimeout bounds each frame write (default 10 s).
	WriteTimeout Duration `toml:"write_timeout"`
	// PingInterval, PingTimeout and WebsocketTimeout are Daphne's
	// --ping-interval (20 s), --ping-timeout (30 s) and --websocket_timeout
	// (default 0: no limit); the flags override them.
	PingInterval     Duration `toml:"ping_interval"`
	PingTimeout      Duration `toml:"ping_timeout"`
	WebsocketTimeout Duration `toml:"websocket_timeout"`
	// Upstream is the ASGI server (Daphne, uvicorn) that serves everything
	// laurel's routes do not: http://host:port or unix:/path. "" means 404.
	Upstream string `toml:"upstream"`
	// MetricsBind serves /metrics, /healthz and /readyz on a separate
	// address; "" serves them on the main listener.
	MetricsBind string `toml:"metrics_bind"`
	// ProxyHeaders trusts X-Forwarded-For/-Proto for the client address.
	ProxyHeaders bool `toml:"proxy_headers"`
	// RootPath is Daphne's --root-path.
	RootPath string `toml:"root_path"`
	// AccessLog is the access log destination: "-" for stdout, a file
	// path, or "" for none.
	AccessLog string `toml:"access_log"`
	// LogFormat is "text" (default) or "json".
	LogFormat string `toml:"log_format"`
	// LogLevel is "debug", "info" (default), "warn" or "error".
	LogLevel string `toml:"log_level"`
}

// Route is one [[laurel.routes]] entry; see consumer.Route.
type Route struct {
	Path    string   `toml:"path" json:"path"`
	Auth    string   `toml:"auth" json:"auth"`
	Groups  []string `toml:"groups" json:"groups"`
	Actions []Action `toml:"actions" json:"actions"`
	Forward []string `toml:"forward" json:"forward"`
}

// Action is one [[laurel.routes.actions]] entry; see consumer.Action.
type Action struct {
	Name  string `toml:"name" json:"name"`
	Join  string `toml:"join" json:"join"`
	Leave string `toml:"leave" json:"leave"`
}

// Load reads the TOML file at path ("" means no file: environment only) and
// applies the LAUREL_* variables of environ (os.Environ form, "K=V").
func Load(path string, environ []string) (*Settings, error) {
	var data []byte
	if path != "" {
		var err error
		data, err = os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	return Parse(data, environ)
}

// Parse is Load for TOML text already read.
func Parse(data []byte, environ []string) (*Settings, error) {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	raw := map[string]any{}
	if _, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&raw); err != nil {
		return nil, fmt.Errorf("config: TOML: %w", err)
	}
	s := &Settings{Django: map[string]any{}}
	laurelRaw := map[string]any{}
	for k, v := range raw {
		switch {
		case k == "laurel":
			t, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%w: laurel must be a table", ErrSetting)
			}
			laurelRaw = t
		case k == strings.ToUpper(k):
			s.Django[k] = v
		default:
			return nil, fmt.Errorf("%w: unknown top-level key %q (Django settings are upper case; laurel's own go in [laurel])", ErrSetting, k)
		}
	}
	if err := s.applyEnv(env, laurelRaw); err != nil {
		return nil, err
	}
	resolved, err := resolveEnvRefs(s.Django, "", env)
	if err != nil {
		return nil, err
	}
	s.Django = resolved.(map[string]any)
	if err := s.decodeLaurel(laurelRaw); err != nil {
		return nil, err
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// decodeLaurel decodes the [laurel] table strictly: unknown keys are errors.
func (s *Settings) decodeLaurel(t map[string]any) error {
	for k, v := range t {
		if laurelSettings[k] == kDuration {
			var d Duration
			if err := d.UnmarshalTOML(v); err != nil {
				return fmt.Errorf("%w: laurel.%s: %w", ErrSetting, k, err)
			}
		}
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(t); err != nil {
		return fmt.Errorf("%w: laurel: %w", ErrSetting, err)
	}
	md, err := toml.NewDecoder(&buf).Decode(&s.Laurel)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("%w: laurel: %v", ErrSetting, pe.Message)
		}
		return fmt.Errorf("%w: laurel: %w", ErrSetting, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = "laurel." + k.String()
		}
		sort.Strings(keys)
		return fmt.Errorf("%w: unknown key %s", ErrSetting, strings.Join(keys, ", "))
	}
	return nil
}

// resolveEnvRefs replaces every {env = "VAR"} table with VAR's value.
func resolveEnvRefs(v any, path string, env map[string]string) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			if name, ok := x["env"].(string); ok {
				val, ok := env[name]
				if !ok {
					return nil, fmt.Errorf("%w: %s refers to environment variable %s, which is not set", ErrSetting, path, name)
				}
				return val, nil
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			r, err := resolveEnvRefs(e, p, env)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := resolveEnvRefs(e, fmt.Sprintf("%s[%d]", path, i), env)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case []map[string]any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := resolveEnvRefs(e, fmt.Sprintf("%s[%d]", path, i), env)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

// DjangoJSON returns the Django-named settings as a JSON object, the input of
// djangoauth.FromSettings.
func (s *Settings) DjangoJSON() ([]byte, error) {
	return json.Marshal(s.Django)
}

// ChannelLayer returns CHANNEL_LAYERS.default.CONFIG as JSON, the input of
// channelsproto.ParseConfig.
func (s *Settings) ChannelLayer() ([]byte, error) {
	def, err := s.channelLayerDefault()
	if err != nil {
		return nil, err
	}
	cfg, ok := def["CONFIG"]
	if !ok {
		cfg = map[string]any{}
	}
	if _, ok := cfg.(map[string]any); !ok {
		return nil, fmt.Errorf("%w: CHANNEL_LAYERS.default.CONFIG must be a table", ErrSetting)
	}
	return json.Marshal(cfg)
}

// Channel layer backends laurel speaks (CHANNEL_LAYERS.default.BACKEND).
const (
	LayerCore   = "channels_redis.core.RedisChannelLayer"
	LayerPubSub = "channels_redis.pubsub.RedisPubSubChannelLayer"
)

// ChannelLayerBackend returns CHANNEL_LAYERS.default.BACKEND.
func (s *Settings) ChannelLayerBackend() string {
	def, err := s.channelLayerDefault()
	if err != nil {
		return ""
	}
	b, _ := def["BACKEND"].(string)
	return b
}

func (s *Settings) channelLayerDefault() (map[string]any, error) {
	layers, ok := s.Django["CHANNEL_LAYERS"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: CHANNEL_LAYERS is required (a [CHANNEL_LAYERS.default] table with BACKEND and CONFIG)", ErrSetting)
	}
	def, ok := layers["default"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: CHANNEL_LAYERS.default is required", ErrSetting)
	}
	if b, _ := def["BACKEND"].(string); b != LayerCore && b != LayerPubSub {
		return nil, fmt.Errorf("%w: CHANNEL_LAYERS.default.BACKEND is %q; laurel supports %q and %q", ErrSetting, b, LayerCore, LayerPubSub)
	}
	return def, nil
}

func (s *Settings) validate() error {
	if k, _ := s.Django["SECRET_KEY"].(string); k == "" {
		return fmt.Errorf("%w: SECRET_KEY is required (in the file, or LAUREL_SECRET_KEY)", ErrSetting)
	}
	if _, err := s.channelLayerDefault(); err != nil {
		return err
	}
	hosts, _ := s.Django["ALLOWED_HOSTS"].([]any)
	debug, _ := s.Django["DEBUG"].(bool)
	if len(hosts) == 0 && !debug {
		return fmt.Errorf("%w: ALLOWED_HOSTS is empty and DEBUG is false, so every WebSocket Origin would be refused", ErrSetting)
	}
	l := &s.Laurel
	for name, v := range map[string]int64{"queue_size": int64(l.QueueSize), "max_message_size": l.MaxMessageSize,
		"subscription_limit": int64(l.SubscriptionLimit), "max_sockets_per_address": int64(l.MaxSocketsPerAddress)} {
		if v < 0 {
			return fmt.Errorf("%w: laurel.%s must not be negative", ErrSetting, name)
		}
	}
	for name, v := range map[string]Duration{"drain_period": l.DrainPeriod, "shutdown_timeout": l.ShutdownTimeout,
		"group_refresh_interval": l.GroupRefreshInterval, "handshake_timeout": l.HandshakeTimeout, "write_timeout": l.WriteTimeout, "ping_timeout": l.PingTimeout} {
		if v < 0 {
			return fmt.Errorf("%w: laurel.%s must not be negative", ErrSetting, name)
		}
	}
	switch l.LogFormat {
	case "", "text", "json":
	default:
		return fmt.Errorf("%w: laurel.log_format must be \"text\" or \"json\", not %q", ErrSetting, l.LogFormat)
	}
	switch l.GroupMembership {
	case "", "socket", "process":
	default:
		return fmt.Errorf("%w: laurel.group_membership must be \"socket\" or \"process\", not %q", ErrSetting, l.GroupMembership)
	}
	switch strings.ToLower(l.LogLevel) {
	case "", "debug", "info", "warn", "warning", "error":
	default:
		return fmt.Errorf("%w: laurel.log_level must be debug, info, warn or error, not %q", ErrSetting, l.LogLevel)
	}
	return nil
}
