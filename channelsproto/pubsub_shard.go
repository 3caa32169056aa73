package channelsproto

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// psReceiveTimeout bounds each read of a shard's subscriber connection; after
// an idle period the reader sends a PING to detect half-open connections.
const psReceiveTimeout = 30 * time.Second

// Reconnection backoff of a shard reader: doubled after each consecutive
// error, reset by the first message after a successful resubscription.
const (
	psBackoffMin = 50 * time.Millisecond
	psBackoffMax = 5 * time.Second
)

// psSub is one Redis Pub/Sub channel a shard holds.
type psSub struct {
	ready     chan struct{} // closed when Redis confirms the SUBSCRIBE
	confirmed bool
}

// release wakes the waiters of a subscription that is dropped before Redis
// confirmed it; they re-check the layer's state.
func (sub *psSub) release() {
	if !sub.confirmed {
		sub.confirmed = true
		close(sub.ready)
	}
}

// psShard is RedisSingleShardConnection: the subscriber connection of one
// host, the set of channels it must hold, and its reader goroutine.
type psShard struct {
	l      *PubSubLayer
	idx    int
	client redis.UniversalClient

	mu      sync.Mutex
	subs    map[string]*psSub
	ps      *redis.PubSub // nil between a failure and the resubscription
	started bool
	closed  bool
}

func newPSShard(l *PubSubLayer, idx int, c redis.UniversalClient) *psShard {
	return &psShard{l: l, idx: idx, client: c, subs: make(map[string]*psSub)}
}

// subscribe adds name to the shard's subscriptions and writes SUBSCRIBE
// unless it is already held. It starts the reader on first use. The returned
// channel is closed once Redis confirmed the subscription.
func (s *psShard) subscribe(ctx context.Context, name string) (<-chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if sub := s.subs[name]; sub != nil {
		return sub.ready, nil
	}
	sub := &psSub{ready: make(chan struct{})}
	s.subs[name] = sub
	if !s.started {
		s.started = true
		// No I/O: the connection is dialled by the first SUBSCRIBE.
		s.ps = s.client.Subscribe(s.l.ctx)
		s.l.wg.Add(1)
		go func() {
			defer s.l.wg.Done()
			s.run(s.l.ctx)
		}()
	}
	if s.ps == nil {
		// Reconnecting: the reader subscribes to everything in subs.
		return sub.ready, nil
	}
	return sub.ready, s.ps.Subscribe(ctx, name)
}

// unsubscribe drops name and writes UNSUBSCRIBE if it was held.
func (s *psShard) unsubscribe(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.subs[name]
	if !ok || s.closed {
		return nil
	}
	sub.release()
	delete(s.subs, name)
	if s.ps == nil {
		return nil
	}
	return s.ps.Unsubscribe(ctx, name)
}

// unsubscribeAll drops every subscription (Flush).
func (s *psShard) unsubscribeAll(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.subs) == 0 || s.closed {
		return nil
	}
	names := s.names()
	for _, sub := range s.subs {
		sub.release()
	}
	s.subs = make(map[string]*psSub)
	if s.ps == nil {
		return nil
	}
	return s.ps.Unsubscribe(ctx, names...)
}

// names returns the held subscriptions, sorted. s.mu must be held.
func (s *psShard) names() []string {
	names := make([]string, 0, len(s.subs))
	for n := range s.subs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// confirm marks name subscribed when Redis acknowledges it.
func (s *psShard) confirm(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub := s.subs[name]; sub != nil && !sub.confirmed {
		sub.confirmed = true
		close(sub.ready)
	}
}

// current returns the live subscriber connection, or nil.
func (s *psShard) current() *redis.PubSub {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ps
}

// drop closes ps after an error so the next round resubscribes on a fresh
// connection.
func (s *psShard) drop(ps *redis.PubSub) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ps == ps {
		_ = ps.Close()
		s.ps = nil
	}
}

// resubscribe opens a new subscriber connection holding every subscription
// of the shard. Confirmed subscriptions get a fresh, unconfirmed state;
// pending ones keep theirs, so their waiters are released by the new
// confirmation. It returns how many channels it subscribed.
func (s *psShard) resubscribe(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	for _, sub := range s.subs {
		if sub.confirmed {
			sub.confirmed = false
			sub.ready = make(chan struct{})
		}
	}
	names := s.names()
	ps := s.client.Subscribe(ctx)
	if len(names) > 0 {
		if err := ps.Subscribe(ctx, names...); err != nil {
			_ = ps.Close()
			return 0, err
		}
	}
	s.ps = ps
	return len(names), nil
}

// close ends the subscriber connection for Close; it unblocks the reader.
func (s *psShard) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.ps != nil {
		_ = s.ps.Close()
		s.ps = nil
	}
}

// run is _do_receiving for one shard: it reads the subscriber connection
// until ctx ends, delivering messages and confirmations. On an error
// (connection killed, Redis restarting) it counts and logs it, closes the
// connection, waits a backoff (50 ms doubling to 5 s) and resubscribes every
// channel of the shard on a new connection.
func (s *psShard) run(ctx context.Context) {
	l := s.l
	log := l.log.With(slog.Int("host", s.idx))
	backoff := psBackoffMin
	awaitingPong := false
	fail := func(err error) bool {
		l.readerErrors.Add(1)
		log.WarnContext(ctx, "pubsub reader error; resubscribing after backoff", slog.Any("error", err), slog.Duration("backoff", backoff))
		t := time.NewTimer(backoff)
		defer t.Stop()
		backoff = min(backoff*2, psBackoffMax)
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	for ctx.Err() == nil {
		ps := s.current()
		if ps == nil {
			n, err := s.resubscribe(ctx)
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, ErrClosed) || !fail(err) {
					return
				}
				continue
			}
			log.InfoContext(ctx, "pubsub reconnected and resubscribed", slog.Int("channels", n))
			continue
		}
		v, err := ps.ReceiveTimeout(ctx, l.idle)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if !awaitingPong {
					// Idle: check the connection is alive; no
					// answer within the next read means it is not.
					awaitingPong = true
					if err = ps.Ping(ctx); err == nil {
						continue
					}
				} else {
					err = errors.New("no PONG from an idle subscriber connection")
				}
			}
			awaitingPong = false
			s.drop(ps)
			if !fail(err) {
				return
			}
			continue
		}
		backoff = psBackoffMin
		awaitingPong = false
		switch m := v.(type) {
		case *redis.Message:
			l.handle(m.Channel, []byte(m.Payload), time.Now())
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				s.confirm(m.Channel)
			}
		}
	}
}
