package consumer

import "context"

// Layer is what the Server needs from a channel layer. *channelsproto.Layer
// satisfies it. Implementations must be safe for concurrent use.
type Layer interface {
	// NewChannel returns a new, unique process-local channel name (no I/O).
	NewChannel() string
	// GroupAdd adds channel to group. Cancelling ctx abandons the call.
	GroupAdd(ctx context.Context, group, channel string) error
	// GroupDiscard removes channel from group. Cancelling ctx abandons the
	// call.
	GroupDiscard(ctx context.Context, group, channel string) error
}

// ChannelReleaser is implemented by layers that hold resources per channel
// (*channelsproto.PubSubLayer keeps each channel SUBSCRIBEd). When a socket
// ends, after leaving its groups, the Server calls ReleaseChannel with its
// channel name, as Channels does implicitly when it cancels a finished
// consumer's receive().
type ChannelReleaser interface {
	ReleaseChannel(ctx context.Context, channel string) error
}

// Authenticator decides who a handshake belongs to from its Cookie header.
// cmd/laurel adapts *djangoauth.Authenticator to it. Implementations must be
// safe for concurrent use and must not block longer than ctx allows.
type Authenticator interface {
	Authenticate(ctx context.Context, cookieHeader string) Verdict
}

// ReasonStoreUnavailable is the Verdict.Reason an Authenticator reports when
// the session store (database, cache, files) could not be read. The handshake
// is then refused with 503 instead of 403, and revalidation keeps the socket.
const ReasonStoreUnavailable = "store_unavailable"

// Verdict is the outcome of authenticating a handshake.
type Verdict struct {
	// Authenticated is true when the session belongs to an active user.
	Authenticated bool
	// UserID is the user's primary key as text ("" when anonymous).
	UserID string
	// Username is the user's USERNAME_FIELD value ("" when anonymous).
	Username string
	// Reason says why, using djangoauth's reason strings ("ok",
	// "no_cookie", "expired", ..., ReasonStoreUnavailable).
	Reason string
}

// OriginPolicy decides whether a handshake's Origin headers are acceptable.
// *djangoauth.OriginValidator (ALLOWED_HOSTS, as Channels'
// AllowedHostsOriginValidator) satisfies it.
type OriginPolicy interface {
	Allow(originHeaders []string) bool
}

// Encoder turns a frame into the exact bytes sent on the socket.
// channelsproto.MarshalPythonJSON is the encoder that makes frames equal to
// what Channels' send_json (Python json.dumps) writes.
type Encoder func(v any) ([]byte, error)

// Hooks are optional observers of socket life cycle events, e.g. an access
// log. Each func may be nil; they are called synchronously and must be quick.
type Hooks struct {
	// Connecting is called when a WebSocket handshake starts.
	Connecting func(client, path string)
	// Rejected is called when a handshake is refused.
	Rejected func(client, path string)
	// Connected is called when a socket is accepted.
	Connected func(client, path string)
	// Disconnected is called when an accepted socket ends.
	Disconnected func(client, path string)
}
