package channelsproto

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// brpopTimeout is RedisChannelLayer.brpop_timeout (5 s), the BZPOPMIN
// timeout of the inbox readers.
const brpopTimeout = 5 * time.Second

// normalReceiveTimeout bounds each BZPOPMIN of Receive on a normal channel so
// that a cancelled ctx is noticed within it (1 s is the smallest timeout
// go-redis sends).
const normalReceiveTimeout = time.Second

// drainBatch and drainBytes bound one drain round trip of a reader: at
// most drainBatch messages, and no more than drainBytes of payload unless
// the first message alone is larger (a 10k-member group message is about
// 0.8 MB).
const (
	drainBatch = 256
	drainBytes = 8 << 20
)

// cleanupLua is channels_redis 4.x _brpop_with_clean's cleanup script,
// verbatim: move everything from the $inflight backup back into the queue.
const cleanupLua = `
            local backed_up = redis.call('ZRANGE', ARGV[2], 0, -1, 'WITHSCORES')
            for i = #backed_up, 1, -2 do
                redis.call('ZADD', ARGV[1], backed_up[i], backed_up[i - 1])
            end
            redis.call('DEL', ARGV[2])
        `

// drainLua releases the previous batch (DEL of the backup KEYS[2], whose
// members were all delivered) and atomically moves the oldest members of
// the inbox KEYS[1] into the backup, at most ARGV[1] of them and ARGV[2]
// bytes (but at least one), returning them with their scores. It is the
// non-blocking form of Python's BZPOPMIN + ZADD to $inflight, for a deep
// inbox; the backup is written by this process's reader only.
const drainLua = `
redis.call('DEL', KEYS[2])
local items = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
local budget = tonumber(ARGV[2])
local n, size = 0, 0
local backup = {}
for i = 1, #items, 2 do
    if n > 0 and size + #items[i] > budget then break end
    size = size + #items[i]
    n = n + 1
    backup[2 * n - 1] = items[i + 1]
    backup[2 * n] = items[i]
end
if n == 0 then return {} end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - 1)
redis.call('ZADD', KEYS[2], unpack(backup))
return {unpack(items, 1, 2 * n)}
`

// The scripts run as EVALSHA, falling back to EVAL when Redis does not
// have them cached (go-redis Script.Run).
var (
	cleanupScript = redis.NewScript(cleanupLua)
	drainScript   = redis.NewScript(drainLua)
)

// backupKey is _backup_channel_name: key + "$inflight".
func backupKey(key string) string { return key + "$inflight" }

// localQueue is Python's per-channel BoundedQueue plus the wake-up signal of
// the Receive calls waiting on it.
type localQueue struct {
	items   []Map
	waiters int
	signal  chan struct{} // closed and replaced on every push
}

// startReaders starts one inbox reader per host, once.
func (l *Layer) startReaders() {
	// lifeMu orders this against Close, so no wg.Add runs after Close
	// started waiting.
	l.lifeMu.Lock()
	defer l.lifeMu.Unlock()
	if l.closed.Load() {
		return
	}
	l.startOnce.Do(func() {
		for i := range l.clients {
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				l.readLoop(l.ctx, i)
			}()
		}
	})
}

// readLoop reads the inbox key on host i until ctx ends. Errors (connection
// killed, Redis restarting) are logged and counted, and the loop retries with
// exponential backoff from 50 ms to 1 s, so that delivery resumes within
// about a second of Redis answering again.
func (l *Layer) readLoop(ctx context.Context, i int) {
	log := l.log.With(slog.Int("host", i), slog.String("key", l.inboxKey))
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := l.readOnce(ctx, i)
		if err == nil {
			backoff = 50 * time.Millisecond
			continue
		}
		if ctx.Err() != nil {
			return
		}
		l.readerErrors.Add(1)
		log.WarnContext(ctx, "channel layer inbox reader error; retrying", slog.Any("error", err), slog.Duration("backoff", backoff))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, time.Second)
	}
}

// readOnce runs the reader on host i until ctx ends or Redis fails: the
// cleanup script of channels_redis (requeue what an earlier failed round
// left in $inflight), then in a loop a drain round trip (release the
// previous batch, move the next batch into $inflight, deliver it) while the
// inbox is not empty, and otherwise Python's BZPOPMIN with its timeout
// followed by ZADD of the member to $inflight.
//
// Every message is in $inflight from the moment it leaves the inbox until
// it is delivered, as in Python; the backup is dropped by the next drain
// round trip (DEL rather than ZREM, so payloads are never sent back to
// Redis).
func (l *Layer) readOnce(ctx context.Context, i int) error {
	c := l.client(i)
	key, backup := l.inboxKey, backupKey(l.inboxKey)
	keys := []string{key, backup}
	if err := cleanupScript.Run(ctx, c, nil, key, backup).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	for ctx.Err() == nil {
		items, err := drainScript.Run(ctx, c, keys, drainBatch, drainBytes).Slice()
		if err != nil {
			return err
		}
		if len(items) > 0 {
			received := time.Now()
			for j := 0; j+1 < len(items); j += 2 {
				s, _ := items[j].(string)
				l.deliver(s, received)
			}
			continue
		}
		first, err := c.BZPopMin(ctx, brpopTimeout, key).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return err
		}
		received := time.Now()
		member, _ := first.Member.(string)
		if err := c.ZAdd(ctx, backup, redis.Z{Score: first.Score, Member: member}).Err(); err != nil {
			return err
		}
		l.deliver(member, received)
	}
	return nil
}

// deliver decodes one inbox payload and hands it to the Dispatcher and the
// local buffers. Malformed payloads are logged without their content and
// skipped.
func (l *Layer) deliver(payload string, received time.Time) {
	msg, err := l.ser.deserializeInbox(payload)
	if err != nil {
		l.malformed.Add(1)
		l.log.Warn("skipping undecodable channel layer message", slog.Int("bytes", len(payload)), slog.Any("error", err))
		return
	}
	channels, msg, err := splitTarget(msg)
	if err != nil {
		l.malformed.Add(1)
		l.log.Warn("skipping channel layer message without a valid target", slog.Any("error", err))
		return
	}
	l.delivered.Add(1)
	if l.disp != nil {
		l.disp.Dispatch(Delivery{Channels: channels, Message: msg, Received: received})
	}
	l.push(channels, msg)
}

// splitTarget removes "__asgi_channel__" from msg and returns its channels:
// a list from group_send, one str from send.
func splitTarget(msg Map) ([]string, Map, error) {
	v, ok := msg.Get(asgiChannelKey)
	if !ok {
		return nil, nil, fmt.Errorf("%w: no %s in inbox message", ErrMalformed, asgiChannelKey)
	}
	var channels []string
	switch x := v.(type) {
	case string:
		channels = []string{x}
	case []string:
		channels = x
	case []any:
		channels = make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, nil, fmt.Errorf("%w: %s holds a %T", ErrMalformed, asgiChannelKey, e)
			}
			channels = append(channels, s)
		}
	default:
		return nil, nil, fmt.Errorf("%w: %s is a %T", ErrMalformed, asgiChannelKey, v)
	}
	msg.Delete(asgiChannelKey)
	return channels, msg, nil
}

// push puts msg into the local buffer of each channel, dropping the oldest
// item of a full buffer (BoundedQueue). Without a Dispatcher buffers are
// created on demand, as in Python; with one, only channels that have a
// Receive waiting or unread buffered messages get a copy.
func (l *Layer) push(channels []string, msg Map) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.disp != nil && len(l.buffers) == 0 {
		return // nobody pulls with Receive: nothing to buffer
	}
	for _, ch := range channels {
		q := l.buffers[ch]
		if q == nil {
			if l.disp != nil {
				continue
			}
			q = &localQueue{signal: make(chan struct{})}
			l.buffers[ch] = q
		}
		if len(q.items) >= l.capacity {
			q.items[0] = nil
			q.items = q.items[1:]
		}
		q.items = append(q.items, msg)
		close(q.signal)
		q.signal = make(chan struct{})
	}
}

// Receive returns the next message for channel, like channels_redis 4.x
// receive(). For a specific channel ("specific.<ClientPrefix>!<local>") it
// waits on the channel's local buffer, which the inbox readers fill (messages
// that arrived before the call are returned first, oldest first; at most
// Capacity are kept, dropping the oldest). Names of other processes, or with
// another non-local part than NewChannel's, fail with ErrInvalidName. For a
// normal channel it pops prefix+channel from a round-robin host with Python's
// $inflight backup protocol. The returned Map may be shared with other
// receivers of the same group message: do not modify it.
//
// Cancelling ctx returns ctx.Err(); like Python, the channel's buffered
// messages are then dropped unless another Receive waits on it. After Close
// it returns ErrClosed.
func (l *Layer) Receive(ctx context.Context, channel string) (Map, error) {
	if l.closed.Load() {
		return nil, ErrClosed
	}
	if err := ValidateChannelName(channel); err != nil {
		return nil, err
	}
	if !strings.Contains(channel, "!") {
		return l.receiveNormal(ctx, channel)
	}
	if NonLocalName(channel) != l.inboxName {
		return nil, fmt.Errorf("%w: %q is not a channel of this layer (client prefix %s)", ErrInvalidName, channel, l.cp)
	}
	l.startReaders()
	l.mu.Lock()
	q := l.buffers[channel]
	if q == nil {
		q = &localQueue{signal: make(chan struct{})}
		l.buffers[channel] = q
	}
	q.waiters++
	for {
		if len(q.items) > 0 {
			m := q.items[0]
			q.items[0] = nil
			q.items = q.items[1:]
			q.waiters--
			l.dropIdle(channel, q)
			l.mu.Unlock()
			return m, nil
		}
		wait := q.signal
		l.mu.Unlock()
		var err error
		select {
		case <-wait:
		case <-ctx.Done():
			err = ctx.Err()
		case <-l.ctx.Done():
			err = ErrClosed
		}
		l.mu.Lock()
		if err != nil {
			q.waiters--
			if q.waiters == 0 {
				delete(l.buffers, channel)
			}
			l.mu.Unlock()
			return nil, err
		}
	}
}

// dropIdle forgets an empty buffer nobody waits on. l.mu must be held.
func (l *Layer) dropIdle(channel string, q *localQueue) {
	if q.waiters == 0 && len(q.items) == 0 && l.buffers[channel] == q {
		delete(l.buffers, channel)
	}
}

// receiveNormal is receive_single for a normal channel.
func (l *Layer) receiveNormal(ctx context.Context, channel string) (Map, error) {
	idx := roundRobin(&l.recvRR, len(l.clients))
	c := l.client(idx)
	key, backup := l.prefix+channel, backupKey(l.prefix+channel)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if l.closed.Load() {
			return nil, ErrClosed
		}
		if err := cleanupScript.Run(ctx, c, nil, key, backup).Err(); err != nil && !errors.Is(err, redis.Nil) {
			return nil, l.wrapErr("receive", err)
		}
		// BZPOPMIN pops destructively: it must not be cut off by a ctx
		// deadline after Redis popped, so it runs without ctx for at most
		// normalReceiveTimeout and ctx is checked between rounds.
		res, err := c.BZPopMin(context.WithoutCancel(ctx), normalReceiveTimeout, key).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, l.wrapErr("receive", err)
		}
		member, _ := res.Member.(string)
		// The message is popped: finish even if ctx ends now, so it is not
		// lost. Back it up, decode, then drop the backup, as Python's
		// cleaner task does with ZPOPMIN.
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if err := c.ZAdd(bctx, backup, redis.Z{Score: res.Score, Member: member}).Err(); err != nil {
			cancel()
			return nil, l.wrapErr("receive", err)
		}
		msg, derr := l.ser.Deserialize([]byte(member))
		err = c.ZPopMin(bctx, backup).Err()
		cancel()
		if err != nil {
			return nil, l.wrapErr("receive", err)
		}
		if derr != nil {
			return nil, derr
		}
		msg.Delete(asgiChannelKey)
		return msg, nil
	}
}
