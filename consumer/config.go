package consumer

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/laurel-server/laurel/channelsproto"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Server. The zero value of every optional field selects
// the documented default; New works on a copy.
type Config struct {
	// Layer gives sockets channel names and group memberships. Required.
	Layer Layer
	// Authenticator authenticates handshakes. Required.
	Authenticator Authenticator
	// Origin checks handshake Origin headers. Nil allows every origin (only
	// for tests; cmd/laurel always sets Django's ALLOWED_HOSTS policy).
	Origin OriginPolicy
	// Encode encodes frames. Nil means channelsproto.MarshalPythonJSON,
	// which writes what Channels' send_json (Python json.dumps) writes.
	Encode Encoder
	// ValidateGroup reports whether a group name is valid. Nil means
	// channelsproto.ValidateGroupName (channels' own rule).
	ValidateGroup func(name string) error

	// Routes are the WebSocket routes served. Empty means DefaultRoutes().
	Routes []Route
	// RootPath is stripped from request paths before route matching, like
	// Daphne's --root-path with Channels' URLRouter. "" means none.
	RootPath string

	// QueueSize is the number of frames a socket may have waiting to be
	// written. Zero means 256.
	QueueSize int
	// MaxMessageSize is the largest incoming message in bytes; a larger one
	// closes the socket with 1009. Zero means 1 MiB; negative means no limit.
	MaxMessageSize int64
	// GroupMembership says which channel joins a group when a socket
	// subscribes: the socket's own (MembershipSocket, the default, as under
	// Daphne) or one per Server and group (MembershipProcess).
	GroupMembership GroupMembership
	// SubscriptionLimit is the most groups a socket may join through
	// actions. Zero means 100; negative means no limit.
	SubscriptionLimit int
	// MaxSocketsPerAddress is the most sockets one client address (the
	// host part of the request's RemoteAddr, as rewritten by trusted proxy
	// headers) may hold open at once; further handshakes are refused with
	// 429. Zero or negative means no limit (the default: browsers behind one
	// NAT share an address).
	MaxSocketsPerAddress int
	// MaxSockets is the most sockets the Server holds open at once; further
	// handshakes are refused with 503 and Retry-After (reason
	// "socket_limit"), so that a process at capacity still has descriptors
	// for what its open sockets need (Redis and database connections) and
	// clients are told to come back instead of hanging in the listen
	// backlog. Zero or negative means no cap. laurel serve derives its
	// default from the open-file limit (internal/config.ResolveMaxSockets).
	MaxSockets int
	// PingInterval is how long a socket may be idle before a ping is sent.
	// Zero means 20 s (Daphne's default); negative disables pings.
	PingInterval time.Duration
	// PingTimeout is how long a socket may stay silent after a ping before it
	// is closed. Zero means 30 s (Daphne's default).
	PingTimeout time.Duration
	// MaxLifetime closes a socket with 1000 after this long, as Daphne's
	// --websocket_timeout. Zero or negative means no limit.
	MaxLifetime time.Duration
	// HandshakeTimeout bounds authentication and the connect-time group_adds.
	// Zero means 5 s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds each frame write. Zero means 10 s.
	WriteTimeout time.Duration
	// GroupRefreshInterval is how often a socket re-adds itself to its groups
	// so that they do not reach channels_redis' group_expiry. Zero means
	// 12 h (half of the default group_expiry of 86400 s); negative disables.
	GroupRefreshInterval time.Duration
	// RevalidateInterval is how often a socket's session is re-checked; a
	// session that stopped being valid (logout, password change, user
	// deactivated, expiry) closes the socket with CloseSessionEnded (4003).
	// Zero means 60 s; negative disables revalidation (Daphne never
	// re-checks).
	RevalidateInterval time.Duration
	// DrainPeriod is the time over which Shutdown spreads the 1001 closes.
	// Zero means 5 s.
	DrainPeriod time.Duration

	// Logger receives the Server's logs; each socket logs through a child
	// logger. Nil means slog.Default().
	Logger *slog.Logger
	// Registerer registers the Server's metrics. Nil means no metrics.
	Registerer prometheus.Registerer
	// Hooks observe socket life cycle events (access log).
	Hooks Hooks
}

// ErrConfig is wrapped by every configuration error New returns.
var ErrConfig = errors.New("consumer: invalid config")

func (c Config) withDefaults() (Config, error) {
	if c.Layer == nil {
		return c, fmt.Errorf("%w: Layer is required", ErrConfig)
	}
	if c.Authenticator == nil {
		return c, fmt.Errorf("%w: Authenticator is required", ErrConfig)
	}
	if c.Encode == nil {
		c.Encode = channelsproto.MarshalPythonJSON
	}
	if c.ValidateGroup == nil {
		c.ValidateGroup = channelsproto.ValidateGroupName
	}
	if len(c.Routes) == 0 {
		c.Routes = DefaultRoutes()
	}
	if c.QueueSize == 0 {
		c.QueueSize = 256
	}
	if c.QueueSize < 0 {
		return c, fmt.Errorf("%w: QueueSize %d must be positive", ErrConfig, c.QueueSize)
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = 1 << 20
	}
	if c.GroupMembership == "" {
		c.GroupMembership = MembershipSocket
	}
	if _, err := ParseGroupMembership(string(c.GroupMembership)); err != nil {
		return c, fmt.Errorf("%w: GroupMembership: %w", ErrConfig, err)
	}
	if c.SubscriptionLimit == 0 {
		c.SubscriptionLimit = 100
	}
	if c.PingInterval == 0 {
		c.PingInterval = 20 * time.Second
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = 30 * time.Second
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 5 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.GroupRefreshInterval == 0 {
		c.GroupRefreshInterval = 12 * time.Hour
	}
	if c.RevalidateInterval == 0 {
		c.RevalidateInterval = 60 * time.Second
	}
	if c.DrainPeriod <= 0 {
		c.DrainPeriod = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}
