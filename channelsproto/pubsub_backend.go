package channelsproto

import (
	"context"
	"fmt"
)

// Django CHANNEL_LAYERS BACKEND values laurel speaks.
const (
	// BackendCore is channels_redis' default layer (sorted sets): Layer.
	BackendCore = "channels_redis.core.RedisChannelLayer"
	// BackendPubSub is channels_redis' Pub/Sub layer: PubSubLayer.
	BackendPubSub = "channels_redis.pubsub.RedisPubSubChannelLayer"
)

// Backend is what a server needs from either channel layer; *Layer and
// *PubSubLayer satisfy it. Implementations are safe for concurrent use.
type Backend interface {
	// NewChannel returns a new process-local channel name.
	NewChannel() string
	// Send sends msg to channel.
	Send(ctx context.Context, channel string, msg Map) error
	// Receive returns the next message for channel.
	Receive(ctx context.Context, channel string) (Map, error)
	// GroupAdd adds channel to group.
	GroupAdd(ctx context.Context, group, channel string) error
	// GroupDiscard removes channel from group.
	GroupDiscard(ctx context.Context, group, channel string) error
	// GroupSend sends msg to every member of group.
	GroupSend(ctx context.Context, group string, msg Map) error
	// Flush resets the layer (see each implementation).
	Flush(ctx context.Context) error
	// Ping checks that every Redis host answers.
	Ping(ctx context.Context) error
	// Stats returns the layer's counters.
	Stats() Stats
	// Close releases the layer; idempotent.
	Close() error
}

var (
	_ Backend = (*Layer)(nil)
	_ Backend = (*PubSubLayer)(nil)
)

// NewBackend returns the layer for a Django CHANNEL_LAYERS["default"]:
// backend is its BACKEND string and configJSON the JSON form of its CONFIG
// (see ParseConfig and ParsePubSubConfig). BackendCore gives a *Layer,
// BackendPubSub a *PubSubLayer; any other BACKEND is an error wrapping
// ErrConfig that names CHANNEL_LAYERS.default.BACKEND. CONFIG errors name
// CHANNEL_LAYERS.default.CONFIG.
func NewBackend(backend string, configJSON []byte, opts ...Option) (Backend, error) {
	switch backend {
	case BackendCore:
		cfg, err := ParseConfig(configJSON)
		if err != nil {
			return nil, fmt.Errorf("CHANNEL_LAYERS.default.CONFIG: %w", err)
		}
		l, err := New(cfg, opts...)
		if err != nil {
			return nil, fmt.Errorf("CHANNEL_LAYERS.default: %w", err)
		}
		return l, nil
	case BackendPubSub:
		cfg, err := ParsePubSubConfig(configJSON)
		if err != nil {
			return nil, fmt.Errorf("CHANNEL_LAYERS.default.CONFIG: %w", err)
		}
		l, err := NewPubSub(cfg, opts...)
		if err != nil {
			return nil, fmt.Errorf("CHANNEL_LAYERS.default: %w", err)
		}
		return l, nil
	default:
		return nil, fmt.Errorf("%w: CHANNEL_LAYERS.default.BACKEND is %q; laurel supports %q and %q",
			ErrConfig, backend, BackendCore, BackendPubSub)
	}
}
