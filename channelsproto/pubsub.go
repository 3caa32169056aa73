package channelsproto

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// groupChannelInfix separates the prefix and the group name in a group's
// Pub/Sub channel: f"{prefix}__group__{group}".
const groupChannelInfix = "__group__"

// PubSubLayer is channels_redis 4.x RedisPubSubChannelLayer
// (channels_redis/pubsub.py, 4.3.0; wire-identical to 4.2.1+ and, without
// encryption, to 4.0.0–4.2.0): every message is one PUBLISH, and a process
// receives by SUBSCRIBE, so Go and Python processes can share groups and
// channels on the same Redis.
//
//   - NewChannel returns prefix + "specific." + uuid4 hex (no "!") and
//     SUBSCRIBEs to it.
//   - Send is PUBLISH <channel exactly as given> <payload>; GroupSend is
//     PUBLISH <prefix>__group__<group> <payload>. A message nobody is
//     subscribed to is lost, silently, as in Python.
//   - The payload is the Serializer's output with no random prefix and no
//     Fernet TTL (random_prefix_length=0, expiry=None): the msgpack bytes are
//     those of the core layer's body.
//   - Each name (channel or group channel) lives on the shard
//     ConsistentHash(name, len(hosts)).
//   - Group membership is process-local, as in Python: GroupAdd needs a
//     channel of this process, SUBSCRIBEs to the group channel once, and
//     GroupDiscard UNSUBSCRIBEs when the last local member leaves. Nothing is
//     stored in Redis: no keys, capacity, expiry or name validation.
//
// Delivery is at most once. Messages published while a shard's connection is
// down are lost; when it comes back, the reader resubscribes every channel
// and group the process holds (after a backoff, logged and counted in
// Stats().ReaderErrors). Python 4.x relies on redis-py to do the same, and
// its on_disconnect/on_reconnect options are accepted but do nothing.
//
// With WithDispatcher, each Redis message is decoded once and dispatched once
// with the local channels it is for (the named channel, or every local member
// of the group), on the reader goroutine of its shard: Dispatch must not
// block, and must not call GroupAdd or Receive, which wait for a subscription
// confirmation that only that reader can deliver.
//
// All methods are safe for concurrent use.
type PubSubLayer struct {
	prefix   string
	capacity int
	ser      *Serializer
	hosts    []Host
	clients  []redis.UniversalClient
	shards   []*psShard
	log      *slog.Logger
	disp     Dispatcher
	id       string // 32 hex, names the Redis connections
	// idle is how long a reader waits for traffic before it PINGs, and
	// then for the PONG; psReceiveTimeout except in tests.
	idle time.Duration

	ctx       context.Context // cancelled by Close; owns the readers
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closed    atomic.Bool

	// subMu serializes the changes of subscriptions (local state + the
	// SUBSCRIBE/UNSUBSCRIBE write) so concurrent GroupAdd/GroupDiscard of
	// the same group cannot reorder them. Order: subMu, then mu or a
	// shard's mu; never mu and a shard's mu together.
	subMu sync.Mutex
	// mu guards channels and groups.
	mu       sync.Mutex
	channels map[string]*localQueue // local channel name → buffer
	groups   map[string][]string    // group channel → local members (copy on write)

	delivered, malformed, readerErrors atomic.Int64
}

// NewPubSub validates cfg and returns a PubSubLayer with one go-redis client
// per host. It accepts the same Config and Options as New (WithLogger,
// WithDispatcher). Of Config it uses Hosts (zero value: one host
// redis://localhost:6379), Prefix (zero value "asgi"), SerializerFormat and
// SymmetricEncryptionKeys, like channels_redis 4.2.1+; Expiry, GroupExpiry,
// ChannelCapacity and RandomPrefixLength are ignored as Python ignores them.
// Capacity (zero value 100) bounds each channel's local Receive buffer, which
// drops its oldest message when full (Python's asyncio.Queue is unbounded).
//
// It does no I/O: connections are opened by the first subscription or
// publish; use Ping to check reachability.
func NewPubSub(cfg Config, opts ...Option) (*PubSubLayer, error) {
	if len(cfg.Hosts) == 0 {
		cfg.Hosts = []Host{{URL: "redis://localhost:6379"}}
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "asgi"
	}
	if cfg.Capacity == 0 {
		cfg.Capacity = 100
	}
	if cfg.Capacity < 0 {
		return nil, fmt.Errorf("%w: capacity must be positive", ErrConfig)
	}
	ser, err := NewSerializer(cfg.SerializerFormat, cfg.SymmetricEncryptionKeys, 0, 0)
	if err != nil {
		return nil, err
	}
	// Options are written against *Layer: apply them to a scratch one and
	// take the injectables they set.
	scratch := &Layer{log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(scratch)
	}
	l := &PubSubLayer{
		prefix:   cfg.Prefix,
		capacity: cfg.Capacity,
		ser:      ser,
		hosts:    append([]Host(nil), cfg.Hosts...),
		log:      scratch.log,
		disp:     scratch.disp,
		id:       uuid4Hex(),
		idle:     psReceiveTimeout,
		channels: make(map[string]*localQueue),
		groups:   make(map[string][]string),
	}
	for i, h := range l.hosts {
		c, err := h.newClient("laurel-ps-" + l.id)
		if err != nil {
			for _, c := range l.clients {
				_ = c.Close()
			}
			return nil, fmt.Errorf("%w: hosts[%d]: %w", ErrConfig, i, err)
		}
		l.clients = append(l.clients, c)
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	for i, c := range l.clients {
		l.shards = append(l.shards, newPSShard(l, i, c))
	}
	return l, nil
}

// ParsePubSubConfig is ParseConfig for a RedisPubSubChannelLayer CONFIG: it
// also accepts "on_disconnect" and "on_reconnect" (a string or null), which
// channels_redis 4.x stores and never uses, and drops them.
func ParsePubSubConfig(configJSON []byte) (Config, error) {
	v, err := UnmarshalJSON(configJSON)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	m, ok := v.(Map)
	if !ok {
		return Config{}, fmt.Errorf("%w: CONFIG must be a JSON object", ErrConfig)
	}
	kept := make(Map, 0, len(m))
	for _, f := range m {
		if f.Key == "on_disconnect" || f.Key == "on_reconnect" {
			if _, isStr := f.Value.(string); !isStr && f.Value != nil {
				return Config{}, fmt.Errorf("%w: %s: must be a string or null", ErrConfig, f.Key)
			}
			continue
		}
		kept = append(kept, f)
	}
	b, err := MarshalPythonJSON(kept)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return ParseConfig(b)
}

// ID returns the 32 hex digits naming this layer's Redis connections
// ("laurel-ps-<ID>" in CLIENT LIST).
func (l *PubSubLayer) ID() string { return l.id }

// Serializer returns the layer's serializer (no random prefix, no TTL).
func (l *PubSubLayer) Serializer() *Serializer { return l.ser }

// GroupChannel returns the Pub/Sub channel of group, prefix + "__group__" +
// group, as _get_group_channel_name does.
func (l *PubSubLayer) GroupChannel(group string) string {
	return l.prefix + groupChannelInfix + group
}

// Stats returns the layer's counters: Redis messages delivered to at least
// one local channel, undecodable payloads, and reader errors (each followed
// by a resubscription after a backoff).
func (l *PubSubLayer) Stats() Stats {
	return Stats{Delivered: l.delivered.Load(), Malformed: l.malformed.Load(), ReaderErrors: l.readerErrors.Load()}
}

func (l *PubSubLayer) shard(name string) *psShard {
	return l.shards[ConsistentHash(name, len(l.shards))]
}

// wrapErr maps errors of a closed layer to ErrClosed.
func (l *PubSubLayer) wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if l.closed.Load() || errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("channelsproto: pubsub %s: %w", op, ErrClosed)
	}
	return fmt.Errorf("channelsproto: pubsub %s: %w", op, err)
}

// NewChannel returns a new channel name prefix + "specific." + uuid4 hex, as
// Python's new_channel() does, registers it locally and writes SUBSCRIBE on
// its shard without waiting for Redis to confirm it (a failed write is
// logged; the reader resubscribes after reconnecting). After Close it still
// returns a name, which receives nothing.
func (l *PubSubLayer) NewChannel() string {
	ch := l.prefix + "specific." + uuid4Hex()
	if l.closed.Load() {
		return ch
	}
	l.subMu.Lock()
	l.mu.Lock()
	l.channels[ch] = &localQueue{signal: make(chan struct{})}
	l.mu.Unlock()
	_, err := l.shard(ch).subscribe(l.ctx, ch)
	l.subMu.Unlock()
	if err != nil && !l.closed.Load() {
		l.log.Warn("pubsub SUBSCRIBE failed; retried on reconnect", slog.String("channel", ch), slog.Any("error", err))
	}
	return ch
}

// Send publishes msg to channel as channels_redis pubsub send() does:
// PUBLISH channel payload on shard ConsistentHash(channel). The channel name
// is not validated or prefixed. Nobody subscribed means the message is lost
// without error. Cancelling ctx aborts the command.
func (l *PubSubLayer) Send(ctx context.Context, channel string, msg Map) error {
	if l.closed.Load() {
		return ErrClosed
	}
	payload, err := l.ser.Serialize(msg)
	if err != nil {
		return err
	}
	c := l.clients[ConsistentHash(channel, len(l.clients))]
	return l.wrapErr("send", c.Publish(ctx, channel, payload).Err())
}

// GroupSend publishes msg once to GroupChannel(group) on that name's shard;
// every process with a local member delivers it to all its members.
func (l *PubSubLayer) GroupSend(ctx context.Context, group string, msg Map) error {
	if l.closed.Load() {
		return ErrClosed
	}
	payload, err := l.ser.Serialize(msg)
	if err != nil {
		return err
	}
	gch := l.GroupChannel(group)
	c := l.clients[ConsistentHash(gch, len(l.clients))]
	return l.wrapErr("group_send", c.Publish(ctx, gch, payload).Err())
}

// GroupAdd adds the local channel to group: it records the membership in
// memory and, for the group's first local member, SUBSCRIBEs to
// GroupChannel(group), then waits until Redis confirmed that subscription
// (so a GroupSend from any process after GroupAdd returns reaches it).
//
// Like Python, channel must exist in this process (made by NewChannel, or
// subscribed by Receive); otherwise the error wraps ErrInvalidName. If the
// SUBSCRIBE fails or ctx ends first, the membership stays recorded and the
// error is returned; the reader subscribes again after reconnecting.
func (l *PubSubLayer) GroupAdd(ctx context.Context, group, channel string) error {
	if l.closed.Load() {
		return ErrClosed
	}
	gch := l.GroupChannel(group)
	l.subMu.Lock()
	l.mu.Lock()
	if _, ok := l.channels[channel]; !ok {
		l.mu.Unlock()
		l.subMu.Unlock()
		return fmt.Errorf("%w: group_add(%q, %q): only channels that exist in-process can join a group (channels_redis pubsub)",
			ErrInvalidName, group, channel)
	}
	members := l.groups[gch]
	if !contains(members, channel) {
		next := make([]string, len(members), len(members)+1)
		copy(next, members)
		l.groups[gch] = append(next, channel)
	}
	l.mu.Unlock()
	ready, err := l.shard(gch).subscribe(ctx, gch)
	l.subMu.Unlock()
	if err != nil {
		return l.wrapErr("group_add", err)
	}
	return l.waitReady(ctx, "group_add", ready)
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// waitReady waits for a subscription confirmation.
func (l *PubSubLayer) waitReady(ctx context.Context, op string, ready <-chan struct{}) error {
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("channelsproto: pubsub %s: waiting for SUBSCRIBE confirmation: %w", op, ctx.Err())
	case <-l.ctx.Done():
		return ErrClosed
	}
}

// GroupDiscard removes channel from the local group; a non-member is not an
// error (4.1.0+). When the last local member leaves, it UNSUBSCRIBEs from
// GroupChannel(group).
func (l *PubSubLayer) GroupDiscard(ctx context.Context, group, channel string) error {
	if l.closed.Load() {
		return ErrClosed
	}
	gch := l.GroupChannel(group)
	l.subMu.Lock()
	defer l.subMu.Unlock()
	l.mu.Lock()
	members := l.groups[gch]
	if !contains(members, channel) {
		l.mu.Unlock()
		return nil
	}
	last := l.removeMember(gch, channel)
	l.mu.Unlock()
	if !last {
		return nil
	}
	return l.wrapErr("group_discard", l.shard(gch).unsubscribe(ctx, gch))
}

// removeMember drops channel from group channel gch and reports whether the
// group is now empty (and forgotten). l.mu must be held.
func (l *PubSubLayer) removeMember(gch, channel string) bool {
	members := l.groups[gch]
	next := make([]string, 0, len(members))
	for _, m := range members {
		if m != channel {
			next = append(next, m)
		}
	}
	if len(next) == 0 {
		delete(l.groups, gch)
		return true
	}
	l.groups[gch] = next
	return false
}

// ReleaseChannel forgets a local channel: it leaves every local group
// (UNSUBSCRIBE of groups left empty) and UNSUBSCRIBEs the channel itself.
// Python has no such call (it unsubscribes a channel only when a receive() on
// it is cancelled); a server should call it when a socket's channel is done,
// or the channel stays subscribed until Close. Unknown channels are ignored.
// Pending Receive calls on the channel keep waiting on a channel that no
// longer receives anything.
func (l *PubSubLayer) ReleaseChannel(ctx context.Context, channel string) error {
	if l.closed.Load() {
		return ErrClosed
	}
	l.subMu.Lock()
	defer l.subMu.Unlock()
	l.mu.Lock()
	_, known := l.channels[channel]
	delete(l.channels, channel)
	var empty []string
	for gch, members := range l.groups {
		if contains(members, channel) && l.removeMember(gch, channel) {
			empty = append(empty, gch)
		}
	}
	l.mu.Unlock()
	var errs []error
	for _, gch := range empty {
		errs = append(errs, l.shard(gch).unsubscribe(ctx, gch))
	}
	if known {
		errs = append(errs, l.shard(channel).unsubscribe(ctx, channel))
	}
	return l.wrapErr("release_channel", errors.Join(errs...))
}

// Receive returns the next message for channel, like pubsub receive(): an
// unknown channel is first subscribed (waiting for Redis to confirm), then
// the call waits on the channel's local buffer, oldest message first. With a
// Dispatcher, only messages that arrive while a Receive waits or while
// earlier ones are still buffered are kept. The returned Map may be shared
// with other receivers of the same group message: do not modify it.
//
// Cancelling ctx returns ctx.Err() and, as Python does on cancellation,
// forgets the channel and UNSUBSCRIBEs it unless another Receive waits on it
// (its group memberships stay but deliver nothing until it is subscribed
// again). After Close it returns ErrClosed. After Flush, a pending Receive
// subscribes its channel again and keeps waiting.
func (l *PubSubLayer) Receive(ctx context.Context, channel string) (Map, error) {
	for {
		if l.closed.Load() {
			return nil, ErrClosed
		}
		q, err := l.ensureLocal(ctx, channel)
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if l.channels[channel] != q {
			l.mu.Unlock()
			continue
		}
		if len(q.items) > 0 {
			m := q.items[0]
			q.items[0] = nil
			q.items = q.items[1:]
			l.mu.Unlock()
			return m, nil
		}
		q.waiters++
		wait := q.signal
		l.mu.Unlock()
		select {
		case <-wait:
			l.mu.Lock()
			q.waiters--
			l.mu.Unlock()
		case <-ctx.Done():
			l.mu.Lock()
			q.waiters--
			forget := q.waiters == 0 && l.channels[channel] == q
			l.mu.Unlock()
			if forget {
				l.forgetChannel(channel, q)
			}
			return nil, ctx.Err()
		case <-l.ctx.Done():
			return nil, ErrClosed
		}
	}
}

// ensureLocal returns channel's buffer, subscribing it first if the channel
// is not local.
func (l *PubSubLayer) ensureLocal(ctx context.Context, channel string) (*localQueue, error) {
	l.mu.Lock()
	q := l.channels[channel]
	l.mu.Unlock()
	if q != nil {
		return q, nil
	}
	l.subMu.Lock()
	l.mu.Lock()
	q = l.channels[channel]
	if q != nil {
		l.mu.Unlock()
		l.subMu.Unlock()
		return q, nil
	}
	q = &localQueue{signal: make(chan struct{})}
	l.channels[channel] = q
	l.mu.Unlock()
	ready, err := l.shard(channel).subscribe(ctx, channel)
	l.subMu.Unlock()
	if err != nil {
		return nil, l.wrapErr("receive", err)
	}
	if err := l.waitReady(ctx, "receive", ready); err != nil {
		return nil, err
	}
	return q, nil
}

// forgetChannel is receive()'s cancellation cleanup: drop the channel and
// UNSUBSCRIBE it, if it is still q and nobody waits on it.
func (l *PubSubLayer) forgetChannel(channel string, q *localQueue) {
	l.subMu.Lock()
	defer l.subMu.Unlock()
	l.mu.Lock()
	if l.channels[channel] != q || q.waiters > 0 {
		l.mu.Unlock()
		return
	}
	delete(l.channels, channel)
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(l.ctx, 5*time.Second)
	defer cancel()
	if err := l.shard(channel).unsubscribe(ctx, channel); err != nil && !l.closed.Load() {
		l.log.Warn("pubsub UNSUBSCRIBE failed", slog.String("channel", channel), slog.Any("error", err))
	}
}

// handle delivers one Pub/Sub message received on Redis channel name, as
// _receive_message does: to the local channel of that name if there is one,
// else to every local member of the group channel of that name. The
// Dispatcher gets one Delivery per Redis message. Undecodable payloads are
// counted and logged without their content.
func (l *PubSubLayer) handle(name string, payload []byte, received time.Time) {
	msg, err := l.ser.Deserialize(payload)
	if err != nil {
		l.malformed.Add(1)
		l.log.Warn("skipping undecodable pubsub message", slog.String("channel", name), slog.Int("bytes", len(payload)), slog.Any("error", err))
		return
	}
	l.mu.Lock()
	var targets []string
	if q, ok := l.channels[name]; ok {
		targets = []string{name}
		l.push(q, msg)
	} else if members, ok := l.groups[name]; ok {
		// One map lookup per member; a member forgotten by a cancelled
		// Receive is skipped, copying the list only then.
		var kept []string
		for i, m := range members {
			q, ok := l.channels[m]
			if !ok {
				if kept == nil {
					kept = append(make([]string, 0, len(members)), members[:i]...)
				}
				continue
			}
			if kept != nil {
				kept = append(kept, m)
			}
			l.push(q, msg)
		}
		targets = members
		if kept != nil {
			targets = kept
		}
	}
	if len(targets) == 0 {
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	l.delivered.Add(1)
	if l.disp != nil {
		l.disp.Dispatch(Delivery{Channels: targets, Message: msg, Received: received})
	}
}

// push appends msg to q, dropping the oldest message of a full buffer, and
// wakes q's Receive calls. With a Dispatcher, a buffer nobody reads is left
// empty. l.mu must be held.
func (l *PubSubLayer) push(q *localQueue, msg Map) {
	if l.disp != nil && q.waiters == 0 && len(q.items) == 0 {
		return
	}
	if len(q.items) >= l.capacity {
		q.items[0] = nil
		q.items = q.items[1:]
	}
	q.items = append(q.items, msg)
	close(q.signal)
	q.signal = make(chan struct{})
}

// Flush makes the layer like new, as pubsub flush() does: it forgets every
// local channel and group and UNSUBSCRIBEs them. Nothing in Redis is
// deleted (the layer stores nothing there). Connections stay open. Pending
// Receive calls subscribe their channel again.
func (l *PubSubLayer) Flush(ctx context.Context) error {
	if l.closed.Load() {
		return ErrClosed
	}
	l.subMu.Lock()
	defer l.subMu.Unlock()
	l.mu.Lock()
	for _, q := range l.channels {
		close(q.signal)
		q.signal = make(chan struct{})
	}
	l.channels = make(map[string]*localQueue)
	l.groups = make(map[string][]string)
	l.mu.Unlock()
	var errs []error
	for _, s := range l.shards {
		errs = append(errs, s.unsubscribeAll(ctx))
	}
	return l.wrapErr("flush", errors.Join(errs...))
}

// Ping checks that every host answers PING, for readiness probes.
func (l *PubSubLayer) Ping(ctx context.Context) error {
	if l.closed.Load() {
		return ErrClosed
	}
	var errs []error
	for i, c := range l.clients {
		if err := c.Ping(ctx).Err(); err != nil {
			errs = append(errs, fmt.Errorf("host %d (%s): %w", i, l.hosts[i], err))
		}
	}
	return l.wrapErr("ping", errors.Join(errs...))
}

// Close stops the readers, wakes pending Receive calls with ErrClosed, waits
// for every goroutine of the layer and closes the Redis connections (which
// ends every subscription). It is idempotent and safe to call concurrently;
// later calls return nil.
func (l *PubSubLayer) Close() error {
	var err error
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		l.cancel()
		for _, s := range l.shards {
			s.close()
		}
		l.wg.Wait()
		var errs []error
		for _, c := range l.clients {
			if cerr := c.Close(); cerr != nil && !errors.Is(cerr, redis.ErrClosed) {
				errs = append(errs, cerr)
			}
		}
		err = errors.Join(errs...)
	})
	return err
}
