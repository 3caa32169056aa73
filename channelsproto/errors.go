package channelsproto

import "errors"

// Sentinel errors returned by this package. Compare with errors.Is: most are
// wrapped with context naming the channel, group or key involved.
var (
	// ErrChannelFull is returned by Layer.Send when the target Redis key
	// already holds its capacity of messages, like channels.exceptions.ChannelFull
	// raised by channels_redis 4.x send(). GroupSend never returns it.
	ErrChannelFull = errors.New("channelsproto: channel over capacity")

	// ErrInvalidName reports a channel or group name that the Channels 4.x
	// validators (require_valid_channel_name / require_valid_group_name)
	// reject, or a specific channel that does not belong to this process.
	ErrInvalidName = errors.New("channelsproto: invalid channel or group name")

	// ErrInvalidMessage reports a message that channels_redis would refuse to
	// send: one carrying the reserved "__asgi_channel__" key, or holding a value
	// the serializer cannot represent.
	ErrInvalidMessage = errors.New("channelsproto: invalid message")

	// ErrClosed is returned by every Layer operation after Close.
	ErrClosed = errors.New("channelsproto: layer closed")

	// ErrMalformed reports bytes that Python's msgpack.unpackb or json.loads
	// would reject, or a payload too short for its random prefix.
	ErrMalformed = errors.New("channelsproto: malformed payload")

	// ErrInvalidToken reports a Fernet token that cryptography's
	// MultiFernet.decrypt would reject (bad structure, signature, padding, or
	// timestamp outside the TTL / clock-skew window).
	ErrInvalidToken = errors.New("channelsproto: invalid fernet token")

	// ErrConfig reports an invalid Config or CONFIG JSON; the wrapping message
	// names the offending key.
	ErrConfig = errors.New("channelsproto: invalid config")
)
