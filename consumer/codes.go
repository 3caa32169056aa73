package consumer

// WebSocket close codes sent by the Server. 1000–1011 are RFC 6455 codes;
// 4000–4999 are the range RFC 6455 leaves to applications, which Channels
// consumers (and therefore Daphne deployments) already use.
const (
	// CloseNormal (1000) ends a socket that reached its maximum lifetime
	// (Config.MaxLifetime, Daphne's --websocket_timeout).
	CloseNormal = 1000
	// CloseGoingAway (1001) is sent to every socket while the server drains
	// on shutdown. Clients should reconnect, possibly to another instance.
	CloseGoingAway = 1001
	// CloseMessageTooBig (1009) closes a socket that sent a message larger
	// than Config.MaxMessageSize.
	CloseMessageTooBig = 1009
	// CloseSessionEnded (4003) closes a socket whose Django session stopped
	// being valid (logout, expiry, password change) when revalidation is on.
	CloseSessionEnded = 4003
	// CloseSlowConsumer (4008) closes a socket that did not drain its send
	// queue (Config.QueueSize frames) fast enough. Other sockets are not
	// slowed down by it.
	CloseSlowConsumer = 4008
)

// Error codes carried in the "error" field of an error frame
// {"type": "error", "error": <code>, "message": <text>}. The socket stays open
// after an error frame.
const (
	// ErrCodeInvalidJSON: a text frame that is not valid JSON.
	ErrCodeInvalidJSON = "invalid_json"
	// ErrCodeInvalidMessage: valid JSON that is not an object.
	ErrCodeInvalidMessage = "invalid_message"
	// ErrCodeBinaryNotSupported: a binary frame; routes speak JSON text only.
	ErrCodeBinaryNotSupported = "binary_not_supported"
	// ErrCodeUnknownAction: the "action" field is missing, not a string, or
	// not one the route declares.
	ErrCodeUnknownAction = "unknown_action"
	// ErrCodeInvalidPrefix prefixes the code for a missing or invalid action
	// field: a bad "task_id" gives "invalid_task_id". A field is invalid when
	// it is not a string or an integer, or when the group name it produces is
	// not a valid Channels group name (ASCII letters, digits, "-", "_", ".",
	// shorter than 100 characters).
	ErrCodeInvalidPrefix = "invalid_"
	// ErrCodeSubscriptionLimit: the socket already holds
	// Config.SubscriptionLimit groups joined by actions.
	ErrCodeSubscriptionLimit = "subscription_limit"
	// ErrCodeLayerUnavailable: the channel layer (Redis) failed the
	// group_add or group_discard; the client may retry.
	ErrCodeLayerUnavailable = "layer_unavailable"
)

// Drop reasons: the "reason" label of the drops metric, one per way an event
// or frame is discarded.
const (
	// DropNoType: the event has no string "type" field.
	DropNoType = "no_type"
	// DropMalformedType: the type maps to a handler name starting with "_",
	// which Channels refuses (ValueError "Malformed type in message").
	DropMalformedType = "malformed_type"
	// DropNotForwarded: the socket's route does not forward this type.
	DropNotForwarded = "not_forwarded"
	// DropNoSocket: the target channel has no socket here (already closed).
	DropNoSocket = "no_socket"
	// DropQueueFull: the socket's send queue was full; the socket is closed
	// with CloseSlowConsumer.
	DropQueueFull = "queue_full"
	// DropEncode: the event could not be encoded as JSON.
	DropEncode = "encode_error"
)
