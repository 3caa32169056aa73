package consumer

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// sharedDeadline hands out contexts that end a fixed timeout from now, the
// way context.WithTimeout(context.Background(), timeout) does, but shared:
// calls within the same slack window (timeout/20) get the same context, so
// a connect storm creates one timer per window instead of one (and its
// cancel bookkeeping) per handshake and per group call. The deadline a
// caller gets is between timeout and timeout*21/20 from its call. The
// contexts are never cancelled early, so a caller must not expect its
// context to end when its own call returns. Safe for concurrent use.
type sharedDeadline struct {
	timeout time.Duration
	slack   time.Duration

	cur atomic.Pointer[deadlineCtx]
	mu  sync.Mutex // serialises replacing cur
}

type deadlineCtx struct {
	context.Context
	deadline time.Time
	// cancel is never called: the context's own timer ends it at
	// deadline and releases everything then; calling it earlier would end
	// every caller sharing it.
	cancel context.CancelFunc
}

func newSharedDeadline(timeout time.Duration) *sharedDeadline {
	return &sharedDeadline{timeout: timeout, slack: timeout / 20}
}

// ctx returns a context whose deadline is at least timeout from now and at
// most timeout+slack.
func (d *sharedDeadline) ctx() context.Context {
	want := time.Now().Add(d.timeout)
	if c := d.cur.Load(); c != nil && d.fits(c, want) {
		return c.Context
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if c := d.cur.Load(); c != nil && d.fits(c, want) {
		return c.Context
	}
	dl := want.Add(d.slack)
	ctx, cancel := context.WithDeadline(context.Background(), dl) //nolint:gosec // ended by its own timer at dl (see deadlineCtx.cancel)
	d.cur.Store(&deadlineCtx{Context: ctx, deadline: dl, cancel: cancel})
	return ctx
}

func (d *sharedDeadline) fits(c *deadlineCtx, want time.Time) bool {
	return !c.deadline.Before(want) && c.deadline.Sub(want) <= d.slack
}
