package djangoauth

import (
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

// verdictCache keeps verdicts per session key for a short TTL. Safe for
// concurrent use.
type verdictCache struct {
	ttl time.Duration
	max int

	mu      sync.Mutex
	entries map[string]cacheEntry
}

type cacheEntry struct {
	v       Verdict
	expires time.Time
}

func newVerdictCache(ttl time.Duration, maxEntries int) *verdictCache {
	return &verdictCache{ttl: ttl, max: maxEntries, entries: make(map[string]cacheEntry)}
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
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[key] = cacheEntry{v: v, expires: now.Add(c.ttl)}
}

// flight collapses concurrent computations for the same key (a reconnect
// storm of one user costs one store query).
type flight struct {
	mu    sync.Mutex
	calls map[string]*call
}

type call struct {
	done    chan struct{}
	v       Verdict
	waiters int // followers blocked on done (guarded by flight.mu)
}

// waiting reports how many callers wait on the computation for key.
func (f *flight) waiting(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.calls[key]; ok {
		return c.waiters
	}
	return 0
}

func (f *flight) do(key string, fn func() Verdict) Verdict {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = make(map[string]*call)
	}
	if c, ok := f.calls[key]; ok {
		c.waiters++
		f.mu.Unlock()
		<-c.done
		return c.v
	}
	c := &call{done: make(chan struct{})}
	f.calls[key] = c
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.calls, key)
		f.mu.Unlock()
		close(c.done)
	}()
	c.v = fn()
	return c.v
}
