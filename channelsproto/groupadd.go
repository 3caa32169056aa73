package channelsproto

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxAddBatch bounds how many GroupAdd/GroupDiscard calls share one
// pipeline.
const maxAddBatch = 1024

// addReq is one GroupAdd (or, with discard, GroupDiscard) call waiting for
// its host's adder.
type addReq struct {
	key, channel string
	score        float64
	discard      bool
	// state is addQueued until the adder takes the request (addTaken) or
	// its caller gives up first (addAbandoned, never sent).
	state atomic.Int32
	err   error         // set before done is closed
	done  chan struct{} // closed when err is final
}

const (
	addQueued int32 = iota
	addTaken
	addAbandoned
)

// adder coalesces the GroupAdd and GroupDiscard calls of one host:
// concurrent calls are sent as one pipeline (each GroupAdd's ZADD then
// EXPIRE, each GroupDiscard's ZREM, calls in arrival order), so a connect or
// disconnect storm of N sockets costs a few round trips instead of 2N.
// Its goroutine is started with the layer's other goroutines and stopped by
// Close.
type adder struct {
	mu     sync.Mutex
	queue  []*addReq
	closed bool
	wake   chan struct{} // capacity 1
}

// enqueue queues r and wakes the adder; false means the adder has stopped.
func (a *adder) enqueue(r *addReq) bool {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return false
	}
	a.queue = append(a.queue, r)
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
	return true
}

// take removes up to maxAddBatch queued requests.
func (a *adder) take() []*addReq {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := min(len(a.queue), maxAddBatch)
	batch := a.queue[:n:n]
	if n == len(a.queue) {
		a.queue = nil
	} else {
		a.queue = a.queue[n:]
	}
	return batch
}

// startAdders starts one adder goroutine per host, once; false means the
// layer is closed.
func (l *Layer) startAdders() bool {
	if l.addersOn.Load() {
		return true // enqueue reports a closed adder
	}
	l.lifeMu.Lock()
	defer l.lifeMu.Unlock()
	if l.closed.Load() {
		return false
	}
	l.adderOnce.Do(func() {
		for i := range l.adders {
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				l.runAdder(l.ctx, l.client(i), &l.adders[i])
			}()
		}
		l.addersOn.Store(true)
	})
	return true
}

// runAdder sends the queued GroupAdd calls of one host until ctx ends, then
// fails the ones left with ErrClosed.
func (l *Layer) runAdder(ctx context.Context, c redis.UniversalClient, a *adder) {
	expiry := time.Duration(l.groupExpiry) * time.Second
	for {
		select {
		case <-ctx.Done():
			a.mu.Lock()
			a.closed = true
			left := a.queue
			a.queue = nil
			a.mu.Unlock()
			for _, r := range left {
				r.err = ErrClosed
				close(r.done)
			}
			return
		case <-a.wake:
		}
		for {
			batch := a.take()
			if len(batch) == 0 {
				break
			}
			l.sendAdds(ctx, c, batch, expiry)
		}
	}
}

// sendAdds sends the requests of batch their callers have not abandoned as
// one pipeline and hands each its own result.
func (l *Layer) sendAdds(ctx context.Context, c redis.UniversalClient, batch []*addReq, expiry time.Duration) {
	type cmds struct {
		r      *addReq
		first  redis.Cmder // ZADD or ZREM
		expire *redis.BoolCmd
	}
	sent := make([]cmds, 0, len(batch))
	p := c.Pipeline()
	for _, r := range batch {
		if !r.state.CompareAndSwap(addQueued, addTaken) {
			continue
		}
		if r.discard {
			sent = append(sent, cmds{r: r, first: p.ZRem(ctx, r.key, r.channel)})
			continue
		}
		sent = append(sent, cmds{
			r:      r,
			first:  p.ZAdd(ctx, r.key, redis.Z{Score: r.score, Member: r.channel}),
			expire: p.Expire(ctx, r.key, expiry),
		})
	}
	if len(sent) == 0 {
		return
	}
	_, _ = p.Exec(ctx) // errors are read per command below
	for _, s := range sent {
		s.r.err = s.first.Err()
		if s.r.err == nil && s.expire != nil {
			s.r.err = s.expire.Err()
		}
		close(s.r.done)
	}
}

// groupAdd queues one GroupAdd (or GroupDiscard) on host i and waits for
// its result or ctx.
func (l *Layer) groupAdd(ctx context.Context, i int, key, channel string, discard bool) error {
	op := "group_add"
	if discard {
		op = "group_discard"
	}
	if err := ctx.Err(); err != nil {
		return l.wrapErr(op, err)
	}
	if !l.startAdders() {
		return ErrClosed
	}
	r := &addReq{key: key, channel: channel, discard: discard, done: make(chan struct{})}
	if !discard {
		r.score = l.nowScore()
	}
	if !l.adders[i].enqueue(r) {
		return ErrClosed
	}
	select {
	case <-r.done:
		return l.wrapErr(op, r.err)
	case <-ctx.Done():
		// Abandoned before it was taken, the call is never sent; after,
		// its commands run for the other callers of its pipeline and
		// their effect is unknown to this caller, as with any cancelled
		// command.
		r.state.CompareAndSwap(addQueued, addAbandoned)
		return l.wrapErr(op, ctx.Err())
	}
}
