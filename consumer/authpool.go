package consumer

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// authPool runs Authenticator calls on warm goroutines. Authenticating goes
// deep (database/sql, the SQLite engine's large frames): on net/http's
// fresh per-connection goroutine it grew and copied the stack on every
// handshake. A worker keeps the stack it grew for the next call.
//
// It is never a queue: a call that finds no idle worker starts a new one,
// so handshakes are not serialized behind slow session-store reads; only
// the number of idle workers is bounded (maxIdleAuthWorkers). All methods
// are safe for concurrent use.
type authPool struct {
	auth Authenticator
	work chan *authJob // unbuffered: a send succeeds only to an idle worker
	idle atomic.Int32  // workers waiting on work
	// started counts the workers ever started.
	started atomic.Int64

	mu      sync.Mutex // guards stopped and wg.Add against stop
	stopped bool
	stop    chan struct{}
	wg      sync.WaitGroup
}

// maxIdleAuthWorkers bounds the workers kept waiting; a worker finishing a
// call when this many already wait ends. authIdleTimeout ends a worker that
// waited that long: a worker holds the stack a session-store read grew
// (the SQLite engine's frames are large), which sockets at rest should not
// pay for.
const (
	maxIdleAuthWorkers = 64
	authIdleTimeout    = 2 * time.Second
)

type authJob struct {
	ctx    context.Context
	cookie string
	v      Verdict
	done   chan struct{}
}

var authJobs = sync.Pool{New: func() any { return &authJob{done: make(chan struct{}, 1)} }}

func newAuthPool(a Authenticator) *authPool {
	return &authPool{auth: a, work: make(chan *authJob), stop: make(chan struct{})}
}

// authenticate returns the Authenticator's verdict for cookie, computed on a
// worker. Cancelling ctx is the Authenticator's to honour, as when called
// directly. After close it calls the Authenticator on the caller's
// goroutine.
func (p *authPool) authenticate(ctx context.Context, cookie string) Verdict {
	j := authJobs.Get().(*authJob) //nolint:forcetypeassert // the pool holds only *authJob
	j.ctx, j.cookie = ctx, cookie
	select {
	case p.work <- j:
	default:
		p.mu.Lock()
		if p.stopped {
			p.mu.Unlock()
			j.ctx, j.cookie = nil, ""
			authJobs.Put(j)
			return p.auth.Authenticate(ctx, cookie)
		}
		p.wg.Add(1)
		p.mu.Unlock()
		p.started.Add(1)
		go p.worker(j)
	}
	<-j.done
	v := j.v
	j.ctx, j.cookie, j.v = nil, "", Verdict{}
	authJobs.Put(j)
	return v
}

func (p *authPool) worker(j *authJob) {
	defer p.wg.Done()
	var idle *time.Timer
	for {
		j.v = p.auth.Authenticate(j.ctx, j.cookie)
		j.done <- struct{}{}
		if p.idle.Add(1) > maxIdleAuthWorkers {
			p.idle.Add(-1)
			return
		}
		if idle == nil {
			idle = time.NewTimer(authIdleTimeout)
			defer idle.Stop()
		} else {
			idle.Reset(authIdleTimeout)
		}
		select {
		case j = <-p.work:
			p.idle.Add(-1)
		case <-idle.C:
			p.idle.Add(-1)
			return
		case <-p.stop:
			p.idle.Add(-1)
			return
		}
	}
}

// close ends the idle workers and waits for the busy ones to finish their
// call. Safe to call more than once.
func (p *authPool) close() {
	p.mu.Lock()
	if !p.stopped {
		p.stopped = true
		close(p.stop)
	}
	p.mu.Unlock()
	p.wg.Wait()
}
