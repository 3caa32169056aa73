package djangoauth

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Reason says why a Verdict is what it is. Every Reason except ReasonOK
// means anonymous.
type Reason string

// The reasons a Verdict can carry.
const (
	// ReasonOK: Django's get_user returns this user.
	ReasonOK Reason = "ok"
	// ReasonNoCookie: the Cookie header has no SESSION_COOKIE_NAME cookie.
	ReasonNoCookie Reason = "no_cookie"
	// ReasonBadSignature: the stored or cookie session data does not verify
	// with SECRET_KEY or any fallback (Django decodes it to an empty session).
	ReasonBadSignature Reason = "bad_signature"
	// ReasonExpired: the session exists but has expired (db expire_date,
	// file mtime + SESSION_COOKIE_AGE, signed_cookies max_age).
	ReasonExpired Reason = "expired"
	// ReasonNoSession: the session key is invalid (shorter than 8
	// characters, bad charset for file sessions) or names no session.
	ReasonNoSession Reason = "no_session"
	// ReasonNoUser: the session holds no _auth_user_id/_auth_user_backend,
	// or the user row does not exist.
	ReasonNoUser Reason = "no_user"
	// ReasonInactive: the user exists but is_active is false and the backend
	// checks it.
	ReasonInactive Reason = "inactive"
	// ReasonHashMismatch: _auth_user_hash is missing, empty or matches
	// neither SECRET_KEY nor any fallback (Django would flush the session).
	ReasonHashMismatch Reason = "hash_mismatch"
	// ReasonBackendNotAllowed: _auth_user_backend is not exactly one of
	// AUTHENTICATION_BACKENDS.
	ReasonBackendNotAllowed Reason = "backend_not_allowed"
	// ReasonStoreUnavailable: the session store or user database could not
	// be queried. Never cached.
	ReasonStoreUnavailable Reason = "store_unavailable"
	// ReasonBadSession: the session data is unusable: undecodable payload,
	// not a dict, or an _auth_user_id Django cannot convert (Django would
	// answer 500).
	ReasonBadSession Reason = "bad_session"
)

// Verdict is the authentication decision for one session.
type Verdict struct {
	// Authenticated is true only for ReasonOK.
	Authenticated bool
	// UserID is str(user.pk) as Django formats it ("" when anonymous).
	UserID string
	// Username is the USERNAME column ("" when anonymous).
	Username string
	// IsStaff and IsSuperuser are the user's flags (false when anonymous).
	IsStaff, IsSuperuser bool
	// Reason explains the decision.
	Reason Reason
	// Cached is true when the verdict came from the verdict cache.
	Cached bool
}

// LogValue implements slog.LogValuer. It carries no session key, secret or
// password hash.
func (v Verdict) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.Bool("authenticated", v.Authenticated),
		slog.String("reason", string(v.Reason)),
		slog.Bool("cached", v.Cached),
	}
	if v.Authenticated {
		attrs = append(attrs, slog.String("user_id", v.UserID))
	}
	return slog.GroupValue(attrs...)
}

func anonymous(r Reason) Verdict { return Verdict{Reason: r} }

// verdictCache keeps verdicts per session key for a short TTL. Expired
// entries are swept about once per TTL by a timer that is armed only while
// the cache holds entries (no goroutine waits in between), so a burst of
// handshakes does not leave its verdicts in memory once the server is idle;
// when a sweep leaves the map at under a quarter of its peak size, the map
// is rebuilt, since a Go map never gives back the room of deleted entries.
// Safe for concurrent use.
type verdictCache struct {
	ttl   time.Duration
	max   int
	clock func() time.Time // the sweeps' time

	mu      sync.Mutex
	entries map[string]cacheEntry
	peak    int         // largest len(entries) since the map was made
	timer   *time.Timer // pending sweep; nil when none is armed
	stopped bool
}

type cacheEntry struct {
	v       Verdict
	expires time.Time
}

// minRebuild is the peak size below which a sweep does not bother to
// rebuild the map (a few KB at most).
const minRebuild = 256

func newVerdictCache(ttl time.Duration, maxEntries int, clock func() time.Time) *verdictCache {
	return &verdictCache{ttl: ttl, max: maxEntries, clock: clock, entries: make(map[string]cacheEntry)}
}

func (c *verdictCache) get(key string, now time.Time) (Verdict, bool) {
	if c == nil {
		return Verdict{}, false
	}
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if !ok || !now.Before(e.expires) {
		return Verdict{}, false
	}
	e.v.Cached = true
	return e.v, true
}

func (c *verdictCache) put(key string, v Verdict, now time.Time) {
	if c == nil || v.Reason == ReasonStoreUnavailable {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		c.sweepLocked(now)
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[key] = cacheEntry{v: v, expires: now.Add(c.ttl)}
	c.peak = max(c.peak, len(c.entries))
	if c.timer == nil && !c.stopped {
		c.timer = time.AfterFunc(c.ttl, c.sweep)
	}
}

// sweep is the timer's: it drops the expired entries and arms the timer
// again while entries remain.
func (c *verdictCache) sweep() {
	now := c.clock()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timer = nil
	c.sweepLocked(now)
	if len(c.entries) > 0 && !c.stopped {
		c.timer = time.AfterFunc(c.ttl, c.sweep)
	}
}

// sweepLocked drops the entries expired at now and rebuilds the map when
// it holds under a quarter of its peak.
func (c *verdictCache) sweepLocked(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	if n := len(c.entries); c.peak >= minRebuild && n < c.peak/4 {
		m := make(map[string]cacheEntry, n)
		for k, e := range c.entries {
			m[k] = e
		}
		c.entries, c.peak = m, n
	}
}

// stop disarms the sweep timer for good (the Authenticator is closing).
func (c *verdictCache) stop() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}

// flight collapses concurrent computations for the same key (a reconnect
// storm of one user costs one store query). The first caller runs the
// computation on its own goroutine, with a context detached from its own
// cancellation: it is cancelled only when no caller waits for it any more,
// so the caller that started it going away does not fail the others.
type flight struct {
	mu     sync.Mutex
	calls  map[string]*call
	closed bool
}

type call struct {
	done    chan struct{}
	v       Verdict            // set before done is closed
	waiters int                // followers blocked on done (guarded by flight.mu)
	refs    int                // callers still waiting, leader included (guarded by flight.mu)
	cancel  context.CancelFunc // cancels the computation's context
}

// waiting reports how many callers wait on the computation for key besides
// the one running it.
func (f *flight) waiting(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.calls[key]; ok {
		return c.waiters
	}
	return 0
}

// release drops one caller's interest in c; the last one cancels it, and
// the next caller for key starts a fresh computation rather than join a
// cancelled one.
func (f *flight) release(key string, c *call, follower bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if follower {
		c.waiters--
	}
	c.refs--
	if c.refs == 0 {
		c.cancel()
		if f.calls[key] == c {
			delete(f.calls, key)
		}
	}
}

// do returns fn's verdict for key, sharing one running computation among
// concurrent callers; ctx's values (not its cancellation) are passed on to
// fn. A follower whose ctx ends returns ReasonStoreUnavailable at once; the
// caller running fn returns when fn does, which is promptly when no
// follower waits (fn's context is then cancelled). After shutdown do
// returns ReasonStoreUnavailable without calling fn.
func (f *flight) do(ctx context.Context, key string, fn func(context.Context) Verdict) Verdict {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return anonymous(ReasonStoreUnavailable)
	}
	if f.calls == nil {
		f.calls = make(map[string]*call)
	}
	if c, ok := f.calls[key]; ok {
		c.waiters++
		c.refs++
		f.mu.Unlock()
		select {
		case <-c.done:
			return c.v
		case <-ctx.Done():
			f.release(key, c, true)
			return anonymous(ReasonStoreUnavailable)
		}
	}
	qctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c := &call{done: make(chan struct{}), refs: 1, cancel: cancel}
	f.calls[key] = c
	f.mu.Unlock()
	// Run on this goroutine (its stack is already grown for the drivers'
	// deep calls); only the leader's cancellation is watched.
	stop := context.AfterFunc(ctx, func() { f.release(key, c, false) })
	c.v = fn(qctx)
	stop()
	cancel()
	f.mu.Lock()
	if f.calls[key] == c {
		delete(f.calls, key)
	}
	f.mu.Unlock()
	close(c.done)
	return c.v
}

// shutdown cancels the running computations; later do calls answer
// ReasonStoreUnavailable.
func (f *flight) shutdown() {
	f.mu.Lock()
	f.closed = true
	for _, c := range f.calls {
		c.cancel()
	}
	f.mu.Unlock()
}
