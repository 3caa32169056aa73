package channelsproto

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// asgiChannelKey is the reserved message key channels_redis uses to carry the
// target channel name (send) or names (group_send) through the shared
// process-specific Redis key.
const asgiChannelKey = "__asgi_channel__"

// Option configures optional injectables of a Layer.
type Option func(*Layer)

// WithLogger sets the logger; the default discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(layer *Layer) {
		if l != nil {
			layer.log = l
		}
	}
}

// WithDispatcher routes every message read from this process's inbox to d
// and starts the inbox readers in New instead of lazily.
func WithDispatcher(d Dispatcher) Option {
	return func(layer *Layer) { layer.disp = d }
}

// Dispatcher receives, when set with WithDispatcher, every message read from this process's
// inbox once per Redis message, with the list of local channel names it
// targets (a list from group_send, one name from send). The Map is shared and
// must not be modified. Dispatch must not block for long: it runs on the
// reader goroutine of the Redis host the message came from, and may be called
// concurrently from the readers of different hosts. It may call Send,
// GroupSend and the other operations, but must not call Close (Close waits
// for the readers).
type Dispatcher interface {
	Dispatch(d Delivery)
}

// DispatcherFunc adapts a function to Dispatcher.
type DispatcherFunc func(Delivery)

// Dispatch calls f(d).
func (f DispatcherFunc) Dispatch(d Delivery) { f(d) }

// Delivery is one message read from the process inbox.
type Delivery struct {
	// Channels are the local channel names the message is for, in the
	// order of __asgi_channel__. The names are substrings of the Redis
	// payload (no copy per name), so retaining one keeps the payload in
	// memory: strings.Clone those kept for long.
	Channels []string
	// Message is the decoded message without "__asgi_channel__". Shared:
	// do not modify.
	Message Map
	// Received is when the reader popped the message from Redis.
	Received time.Time
}

// Stats are counters of a Layer since New, for metrics.
type Stats struct {
	// Delivered counts Redis messages read from the inbox and delivered.
	Delivered int64
	// Malformed counts inbox payloads that could not be decoded (skipped).
	Malformed int64
	// ReaderErrors counts Redis errors of the inbox readers, each followed
	// by a reconnect attempt after a backoff.
	ReaderErrors int64
}

// Layer is a channels_redis 4.x RedisChannelLayer speaking the same Redis
// keys, commands, Lua scripts and payload bytes, so Go and Python processes
// can share groups and channels. All methods are safe for concurrent use.
type Layer struct {
	prefix      string
	expiry      int64 // seconds
	groupExpiry int64 // seconds
	capacity    int
	rules       []compiledRule
	ser         *Serializer
	hosts       []Host
	clients     []redis.UniversalClient
	log         *slog.Logger
	disp        Dispatcher

	cp        string // client prefix, 32 hex
	inboxName string // "specific.<cp>!"
	inboxKey  string // prefix + inboxName

	sendRR, recvRR atomic.Uint64

	ctx       context.Context // cancelled by Close; owns the readers
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	lifeMu    sync.Mutex // guards starting readers against Close
	startOnce sync.Once
	adderOnce sync.Once
	closeOnce sync.Once
	closed    atomic.Bool

	mu      sync.Mutex
	buffers map[string]*localQueue

	adders   []adder     // per host, coalescing GroupAdd calls
	addersOn atomic.Bool // the adders' goroutines were started

	delivered, malformed, readerErrors atomic.Int64

	// now is the clock for scores; replaced in tests.
	now func() time.Time
}

// New validates cfg, applies the channels_redis defaults on a copy, and
// returns a Layer with one go-redis client per host. It does no I/O: use
// Ping to check reachability. With WithDispatcher, the inbox readers start
// immediately; otherwise on the first NewChannel or Receive.
func New(cfg Config, opts ...Option) (*Layer, error) {
	if len(cfg.Hosts) == 0 {
		cfg.Hosts = []Host{{URL: "redis://localhost:6379"}}
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "asgi"
	}
	if cfg.Expiry == 0 {
		cfg.Expiry = 60 * time.Second
	}
	if cfg.GroupExpiry == 0 {
		cfg.GroupExpiry = 86400 * time.Second
	}
	if cfg.Capacity == 0 {
		cfg.Capacity = 100
	}
	prefixLen := 12
	if cfg.RandomPrefixLength != nil {
		prefixLen = *cfg.RandomPrefixLength
	}
	switch {
	case cfg.Expiry < time.Second || cfg.Expiry%time.Second != 0:
		return nil, fmt.Errorf("%w: expiry must be a positive whole number of seconds", ErrConfig)
	case cfg.GroupExpiry < time.Second || cfg.GroupExpiry%time.Second != 0:
		return nil, fmt.Errorf("%w: group_expiry must be a positive whole number of seconds", ErrConfig)
	case cfg.Capacity < 0:
		return nil, fmt.Errorf("%w: capacity must be positive", ErrConfig)
	}
	rules, err := compileRules(cfg.ChannelCapacity)
	if err != nil {
		return nil, err
	}
	ser, err := NewSerializer(cfg.SerializerFormat, cfg.SymmetricEncryptionKeys, prefixLen, cfg.Expiry)
	if err != nil {
		return nil, err
	}
	l := &Layer{
		prefix:      cfg.Prefix,
		expiry:      int64(cfg.Expiry / time.Second),
		groupExpiry: int64(cfg.GroupExpiry / time.Second),
		capacity:    cfg.Capacity,
		rules:       rules,
		ser:         ser,
		hosts:       append([]Host(nil), cfg.Hosts...),
		log:         slog.New(slog.DiscardHandler),
		cp:          uuid4Hex(),
		buffers:     make(map[string]*localQueue),
		now:         time.Now,
	}
	for _, o := range opts {
		o(l)
	}
	l.inboxName = "specific." + l.cp + "!"
	l.inboxKey = l.prefix + l.inboxName
	for i, h := range l.hosts {
		c, err := h.newClient("laurel-" + l.cp)
		if err != nil {
			for _, c := range l.clients {
				_ = c.Close()
			}
			return nil, fmt.Errorf("%w: hosts[%d]: %w", ErrConfig, i, err)
		}
		l.clients = append(l.clients, c)
	}
	l.adders = make([]adder, len(l.clients))
	for i := range l.adders {
		l.adders[i].wake = make(chan struct{}, 1)
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	if l.disp != nil {
		l.startReaders()
	}
	return l, nil
}

// roundRobin returns the next index of itertools.cycle(range(n)).
func roundRobin(counter *atomic.Uint64, n int) int {
	return int((counter.Add(1) - 1) % uint64(n)) //nolint:gosec // the result is < n, an int
}

// uuid4Hex returns uuid.uuid4().hex: 32 lowercase hex digits of a random
// version-4 UUID.
func uuid4Hex() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hex.EncodeToString(b[:])
}

// ClientPrefix returns this layer's client_prefix: 32 lowercase hex digits,
// the same for every channel made by NewChannel.
func (l *Layer) ClientPrefix() string { return l.cp }

// InboxKey returns the Redis key all specific channels of this layer share,
// prefix + "specific." + ClientPrefix() + "!".
func (l *Layer) InboxKey() string { return l.inboxKey }

// Serializer returns the layer's serializer.
func (l *Layer) Serializer() *Serializer { return l.ser }

// NewChannel returns a new process-specific channel name
// "specific.<ClientPrefix>!<uuid4 hex>" as Python's new_channel() does. It
// does no I/O, but starts the inbox readers if they are not running.
func (l *Layer) NewChannel() string {
	l.startReaders()
	return l.inboxName + uuid4Hex()
}

// Stats returns the layer's counters.
func (l *Layer) Stats() Stats {
	return Stats{Delivered: l.delivered.Load(), Malformed: l.malformed.Load(), ReaderErrors: l.readerErrors.Load()}
}

// CapacityFor returns channels_redis get_capacity(channel): the capacity of
// the first ChannelCapacity rule matching channel, else Capacity.
func (l *Layer) CapacityFor(channel string) int {
	for _, r := range l.rules {
		if r.re.MatchString(channel) {
			return r.capacity
		}
	}
	return l.capacity
}

func (l *Layer) client(i int) redis.UniversalClient { return l.clients[i] }

// wrapErr maps errors of a closed layer to ErrClosed.
func (l *Layer) wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if l.closed.Load() || errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("channelsproto: %s: %w", op, ErrClosed)
	}
	return fmt.Errorf("channelsproto: %s: %w", op, err)
}

func (l *Layer) nowScore() float64 {
	return float64(l.now().UnixNano()) / 1e9
}

// Send stores msg on channel exactly as channels_redis 4.x send() does:
// for a specific channel ("...!local") a copy gets "__asgi_channel__" = channel
// (as a str, last) and goes to the shared key prefix+NonLocalName(channel);
// a normal channel uses key prefix+channel on a round-robin host. Then, as
// four commands: ZREMRANGEBYSCORE key 0 int(now)-expiry, ZCOUNT key -inf
// +inf (ErrChannelFull when ≥ CapacityFor(channel)), ZADD key now payload,
// EXPIRE key expiry.
//
// Deliberate difference: with several hosts, a specific channel's shard is
// ConsistentHash(NonLocalName(channel)), the shard its receiver reads, where
// Python 2.2–4.3 hashes the full name and so loses most such messages.
//
// Cancelling ctx aborts the commands in flight.
func (l *Layer) Send(ctx context.Context, channel string, msg Map) error {
	if l.closed.Load() {
		return ErrClosed
	}
	if err := ValidateChannelName(channel); err != nil {
		return err
	}
	if _, ok := msg.Get(asgiChannelKey); ok {
		return fmt.Errorf("%w: message contains the reserved key %q", ErrInvalidMessage, asgiChannelKey)
	}
	key := l.prefix + channel
	var idx int
	if strings.Contains(channel, "!") {
		m := make(Map, len(msg), len(msg)+1)
		copy(m, msg)
		msg = append(m, Field{Key: asgiChannelKey, Value: channel})
		nl := NonLocalName(channel)
		key = l.prefix + nl
		idx = ConsistentHash(nl, len(l.clients))
	} else {
		idx = roundRobin(&l.sendRR, len(l.clients))
	}
	payload, err := l.ser.Serialize(msg)
	if err != nil {
		return err
	}
	c := l.client(idx)
	now := l.now()
	// Python awaits each command; the read-only ZCOUNT shares the first
	// one's round trip. ZADD and EXPIRE stay apart: EXPIRE must not run
	// when ZADD failed.
	var count *redis.IntCmd
	_, err = c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRemRangeByScore(ctx, key, "0", strconv.FormatInt(now.Unix()-l.expiry, 10))
		count = p.ZCount(ctx, key, "-inf", "+inf")
		return nil
	})
	if err != nil {
		return l.wrapErr("send", err)
	}
	if count.Val() >= int64(l.CapacityFor(channel)) {
		return fmt.Errorf("%w: %s", ErrChannelFull, channel)
	}
	if err := c.ZAdd(ctx, key, redis.Z{Score: float64(now.UnixNano()) / 1e9, Member: payload}).Err(); err != nil {
		return l.wrapErr("send", err)
	}
	return l.wrapErr("send", c.Expire(ctx, key, time.Duration(l.expiry)*time.Second).Err())
}

// groupKey is f"{prefix}:group:{group}".
func (l *Layer) groupKey(group string) string { return l.prefix + ":group:" + group }

// GroupAdd adds channel to group like channels_redis group_add: ZADD
// prefix:group:<group> now channel, then EXPIRE group_expiry, on the shard
// ConsistentHash(group). Adding again refreshes the membership's age.
//
// Concurrent calls on one host share a pipeline (each call's ZADD and
// EXPIRE, calls in arrival order; a call made after another returned comes
// after it), and each returns the error of its own commands. Cancelling
// ctx returns ctx's error at once; the membership is then added or not,
// depending on whether the pipeline had already taken the call, and the
// other calls are not affected.
func (l *Layer) GroupAdd(ctx context.Context, group, channel string) error {
	if l.closed.Load() {
		return ErrClosed
	}
	if err := ValidateGroupName(group); err != nil {
		return err
	}
	if err := ValidateChannelName(channel); err != nil {
		return err
	}
	return l.groupAdd(ctx, ConsistentHash(group, len(l.clients)), l.groupKey(group), channel, false)
}

// GroupDiscard removes channel from group (ZREM); a missing member is not an
// error. Like GroupAdd, concurrent calls share a pipeline (in arrival order,
// with GroupAdd calls of the same host), each returns its own command's
// error, and cancelling ctx returns at once without affecting the others.
func (l *Layer) GroupDiscard(ctx context.Context, group, channel string) error {
	if l.closed.Load() {
		return ErrClosed
	}
	if err := ValidateGroupName(group); err != nil {
		return err
	}
	if err := ValidateChannelName(channel); err != nil {
		return err
	}
	return l.groupAdd(ctx, ConsistentHash(group, len(l.clients)), l.groupKey(group), channel, true)
}

// groupSendLua is channels_redis 4.x group_send's script, verbatim.
const groupSendLua = `
                local over_capacity = 0
                local current_time = ARGV[#ARGV - 1]
                local expiry = ARGV[#ARGV]
                for i=1,#KEYS do
                    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
                        redis.call('ZADD', KEYS[i], current_time, ARGV[i])
                        redis.call('EXPIRE', KEYS[i], expiry)
                    else
                        over_capacity = over_capacity + 1
                    end
                end
                return over_capacity
            `

// groupSendScript runs groupSendLua as EVALSHA (EVAL when Redis does not
// have it cached): the script is longer than a small group's payload.
var groupSendScript = redis.NewScript(groupSendLua)

// GroupPayloads is the per-shard work of one group_send.
type groupShard struct {
	keys     []string
	payloads []any
	caps     []any
}

// buildGroupSend is _map_channel_keys_to_connection: bucket members by
// prefix+NonLocalName(member), one message per key with the member list
// appended last as "__asgi_channel__", keyed by shard index in first-seen
// order.
func (l *Layer) buildGroupSend(members []string, msg Map) (map[int]*groupShard, []int, error) {
	type entry struct {
		key      string
		shard    int
		channels []string
		capacity int
		size     int // bytes of the channel names
		count    int
	}
	// Keyed by the non-local name, a substring of the member: prefix+nl
	// would allocate a string per member.
	// Two passes so each channel list is allocated once at its size.
	order := make([]*entry, 0, 4)
	byName := make(map[string]*entry, 4)
	of := make([]*entry, len(members))
	for i, m := range members {
		nl := NonLocalName(m)
		e, ok := byName[nl]
		if !ok {
			e = &entry{key: l.prefix + nl, shard: ConsistentHash(nl, len(l.clients)), capacity: l.CapacityFor(m)}
			byName[nl] = e
			order = append(order, e)
		}
		of[i] = e
		e.size += len(m)
		e.count++
	}
	for _, e := range order {
		e.channels = make([]string, 0, e.count)
	}
	for i, m := range members {
		of[i].channels = append(of[i].channels, m)
	}
	shards := make(map[int]*groupShard)
	var shardOrder []int
	body := make(Map, len(msg), len(msg)+1)
	copy(body, msg)
	body = append(body, Field{Key: asgiChannelKey})
	for _, e := range order {
		body[len(body)-1].Value = e.channels
		// Room for the names with their str headers, the rest of the
		// message and the Fernet overhead is grown by Serialize.
		payload, err := l.ser.serialize(body, e.size+5*len(e.channels)+256)
		if err != nil {
			return nil, nil, err
		}
		s, ok := shards[e.shard]
		if !ok {
			s = &groupShard{}
			shards[e.shard] = s
			shardOrder = append(shardOrder, e.shard)
		}
		s.keys = append(s.keys, e.key)
		s.payloads = append(s.payloads, payload)
		s.caps = append(s.caps, e.capacity)
	}
	return shards, shardOrder, nil
}

// GroupSend delivers msg to every member of group as channels_redis 4.x
// group_send does: on shard ConsistentHash(group), ZREMRANGEBYSCORE
// prefix:group:<group> 0 int(now)-group_expiry and ZRANGE 0 -1; members are
// bucketed into one message per Redis key (one per process for specific
// channels) whose "__asgi_channel__" is the list of members, appended last,
// each with its own random prefix; then per shard a MULTI/EXEC pipeline of
// ZREMRANGEBYSCORE key 0 int(now)-expiry and one EVAL (EVALSHA once cached) of Python's Lua script
// with the keys' capacities. Keys over capacity are skipped and logged at
// INFO ("channels over capacity in group"); GroupSend never returns
// ErrChannelFull. An empty group sends nothing.
//
// Deliberate difference: the expiry pipeline runs on each bucket's own shard,
// where Python runs it on the previous connection (a multi-host bug).
func (l *Layer) GroupSend(ctx context.Context, group string, msg Map) error {
	if l.closed.Load() {
		return ErrClosed
	}
	if err := ValidateGroupName(group); err != nil {
		return err
	}
	if _, ok := msg.Get(asgiChannelKey); ok {
		return fmt.Errorf("%w: message contains the reserved key %q", ErrInvalidMessage, asgiChannelKey)
	}
	gc := l.client(ConsistentHash(group, len(l.clients)))
	key := l.groupKey(group)
	// Python awaits each of the two; the read-only ZRANGE can share the
	// round trip (if the first fails, the result is not used).
	var rng *redis.StringSliceCmd
	_, err := gc.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRemRangeByScore(ctx, key, "0", strconv.FormatInt(l.now().Unix()-l.groupExpiry, 10))
		rng = p.ZRange(ctx, key, 0, -1)
		return nil
	})
	if err != nil {
		return l.wrapErr("group_send", err)
	}
	members := rng.Val()
	if len(members) == 0 {
		return nil
	}
	shards, order, err := l.buildGroupSend(members, msg)
	if err != nil {
		return err
	}
	for _, idx := range order {
		s := shards[idx]
		c := l.client(idx)
		cutoff := strconv.FormatInt(l.now().Unix()-l.expiry, 10)
		_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range s.keys {
				p.ZRemRangeByScore(ctx, k, "0", cutoff)
			}
			return nil
		})
		if err != nil {
			return l.wrapErr("group_send", err)
		}
		args := make([]any, 0, 2*len(s.keys)+2)
		args = append(args, s.payloads...)
		args = append(args, s.caps...)
		args = append(args, l.nowScore(), l.expiry)
		over, err := groupSendScript.Run(ctx, c, s.keys, args...).Int64()
		if err != nil {
			return l.wrapErr("group_send", err)
		}
		if over > 0 {
			l.log.InfoContext(ctx, "channels over capacity in group",
				slog.Int64("over_capacity", over), slog.Int("members", len(members)), slog.String("group", group))
		}
	}
	return nil
}

// flushLua is channels_redis 4.x flush()'s script, verbatim.
const flushLua = `
            local keys = redis.call('keys', ARGV[1])
            for i=1,#keys,5000 do
                redis.call('del', unpack(keys, i, math.min(i+4999, #keys)))
            end
        `

// Flush deletes every key starting with the prefix on every host (Python
// flush(): EVAL of KEYS prefix* + DEL in batches of 5000). Like Python it also
// removes keys of other layers whose prefix starts with this one, and KEYS
// blocks Redis while it runs. Local receive buffers are kept.
func (l *Layer) Flush(ctx context.Context) error {
	if l.closed.Load() {
		return ErrClosed
	}
	for i, c := range l.clients {
		if err := c.Eval(ctx, flushLua, nil, l.prefix+"*").Err(); err != nil && !errors.Is(err, redis.Nil) {
			return l.wrapErr(fmt.Sprintf("flush host %d", i), err)
		}
	}
	return nil
}

// Ping checks that every host answers PING, for readiness probes.
func (l *Layer) Ping(ctx context.Context) error {
	if l.closed.Load() {
		return ErrClosed
	}
	var errs []error
	for i, c := range l.clients {
		if err := c.Ping(ctx).Err(); err != nil {
			errs = append(errs, fmt.Errorf("host %d (%s): %w", i, l.hosts[i], err))
		}
	}
	if len(errs) > 0 {
		return l.wrapErr("ping", errors.Join(errs...))
	}
	return nil
}

// Close stops the inbox readers, wakes pending Receive calls with ErrClosed,
// waits for every goroutine of the layer, and closes the Redis clients. It is
// idempotent and safe to call concurrently; later calls return nil. Group
// memberships are not removed: discard them before closing.
func (l *Layer) Close() error {
	var err error
	l.closeOnce.Do(func() {
		l.lifeMu.Lock()
		l.closed.Store(true)
		l.lifeMu.Unlock()
		l.cancel()
		// Closing the clients unblocks readers parked in BZPOPMIN.
		var errs []error
		for _, c := range l.clients {
			if cerr := c.Close(); cerr != nil && !errors.Is(cerr, redis.ErrClosed) {
				errs = append(errs, cerr)
			}
		}
		l.wg.Wait()
		err = errors.Join(errs...)
	})
	return err
}
