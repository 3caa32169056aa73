package djangoauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// maxVerdictEntries bounds the verdict cache.
const maxVerdictEntries = 100000

// Authenticator answers "which Django user owns this Cookie header?" the way
// Django's SessionMiddleware + AuthenticationMiddleware (get_user) would,
// reading Django's stores read-only. It is safe for concurrent use.
type Authenticator struct {
	cfg      Config
	log      *slog.Logger
	store    sessionStore
	db       *sqlDB
	users    *userStore
	verdicts *verdictCache
	flight   flight
	now      func() time.Time
	backends map[string]bool
	authMACs []*saltedMAC // get_session_auth_hash under SECRET_KEY, then each fallback

	closeMu sync.Mutex
	closers []func() error
}

// Option configures optional dependencies of New.
type Option func(*Authenticator)

// WithLogger sets the logger (default: slog.Default()). Records never
// contain session keys, secrets or password hashes.
func WithLogger(l *slog.Logger) Option {
	return func(a *Authenticator) {
		if l != nil {
			a.log = l
		}
	}
}

// New validates cfg (on a copy, with defaults applied), opens the session
// store and the user database (lazily: no connection is made until the
// first query or Ping) and returns an Authenticator. Errors wrap
// ErrSettings and name the offending setting.
func New(cfg Config, opts ...Option) (*Authenticator, error) {
	cfg = cfg.withDefaults()
	a := &Authenticator{cfg: cfg, log: slog.Default(), now: time.Now, backends: map[string]bool{}}
	for _, o := range opts {
		o(a)
	}
	if cfg.SecretKey == "" {
		return nil, fmt.Errorf("%w: SECRET_KEY is required", ErrSettings)
	}
	for _, b := range cfg.AuthenticationBackends {
		a.backends[b] = true
	}
	for _, k := range append([]string{cfg.SecretKey}, cfg.SecretKeyFallbacks...) {
		a.authMACs = append(a.authMACs, newSaltedMAC(sessionAuthHashSalt, k))
	}
	if cfg.VerdictTTL > 0 {
		a.verdicts = newVerdictCache(cfg.VerdictTTL, maxVerdictEntries, func() time.Time { return a.now() })
	}
	db, err := openSQL(cfg)
	if err != nil {
		return nil, err
	}
	a.db = db
	a.closers = append(a.closers, db.close)
	if a.users, err = newUserStore(db, cfg.User); err != nil {
		_ = a.Close()
		return nil, err
	}
	if a.store, err = a.newStore(); err != nil {
		_ = a.Close()
		return nil, err
	}
	a.closers = append(a.closers, a.store.close)
	return a, nil
}

func (a *Authenticator) clock() time.Time { return a.now() }

func (a *Authenticator) newStore() (sessionStore, error) {
	cfg := a.cfg
	salt := "django.contrib.sessions." + cfg.SessionStoreClass
	switch cfg.SessionEngine {
	case EngineDB:
		codec, err := newEnvelopeCodec(cfg, salt)
		if err != nil {
			return nil, err
		}
		return newDBSessionStore(a.db, cfg.SessionTable, codec, a.clock)
	case EngineSignedCookies:
		return newSignedCookieStore(cfg)
	case EngineFile:
		codec, err := newEnvelopeCodec(cfg, salt)
		if err != nil {
			return nil, err
		}
		return newFileStore(cfg, codec, a.clock), nil
	case EngineCache, EngineCachedDB:
		cache, err := newCacheClient(cfg, cfg.SessionCacheAlias)
		if err != nil {
			return nil, err
		}
		if cfg.SessionEngine == EngineCache {
			return &cacheSessionStore{cache: cache, prefix: "django.contrib.sessions.cache"}, nil
		}
		codec, err := newEnvelopeCodec(cfg, salt)
		if err != nil {
			_ = cache.close()
			return nil, err
		}
		dbs, err := newDBSessionStore(a.db, cfg.SessionTable, codec, a.clock)
		if err != nil {
			_ = cache.close()
			return nil, err
		}
		return &cachedDBStore{cache: &cacheSessionStore{cache: cache, prefix: "django.contrib.sessions.cached_db"}, db: dbs}, nil
	}
	return nil, fmt.Errorf("%w: SESSION_ENGINE %q is not supported", ErrSettings, cfg.SessionEngine)
}

// Authenticate decides for the raw value of a Cookie header (latin-1
// bytes, as received). Only the last SESSION_COOKIE_NAME cookie counts, as
// in Django's parse_cookie. When a handshake carries several Cookie headers,
// pass the first: Channels' CookieMiddleware reads only the first (Django
// 4.2–5.2 join them with "," and 6.0 with "; ", so the result there
// depends on the version). Cancelling ctx returns ReasonStoreUnavailable
// promptly (see VerdictForSessionKey).
func (a *Authenticator) Authenticate(ctx context.Context, cookieHeader string) Verdict {
	key, ok := cookieValue(cookieHeader, a.cfg.SessionCookieName)
	if !ok {
		return anonymous(ReasonNoCookie)
	}
	return a.VerdictForSessionKey(ctx, key)
}

// VerdictForSessionKey decides for a session key (for signed_cookies: the
// whole cookie value). Verdicts other than ReasonStoreUnavailable are
// reused for VerdictTTL; concurrent calls for the same key share one
// store query, run by the first of them. A caller whose ctx ends gets
// ReasonStoreUnavailable (the one running the query once it returns) while
// the query goes on for the others; it is cancelled when no caller waits
// for it any more.
func (a *Authenticator) VerdictForSessionKey(ctx context.Context, sessionKey string) Verdict {
	if !validSessionKey(sessionKey) {
		return anonymous(ReasonNoSession)
	}
	ck := cacheKey(sessionKey)
	if v, ok := a.verdicts.get(ck, a.now()); ok {
		return v
	}
	v := a.flight.do(ctx, ck, func(qctx context.Context) Verdict {
		v := a.compute(qctx, sessionKey)
		a.verdicts.put(ck, v, a.now())
		return v
	})
	if v.Reason == ReasonStoreUnavailable {
		a.log.LogAttrs(ctx, slog.LevelWarn, "djangoauth: session store unavailable", slog.Any("verdict", v))
	}
	return v
}

// cacheKey bounds the memory a verdict-cache entry takes: long keys
// (signed_cookies values run to kilobytes) are replaced by their SHA-256.
func cacheKey(sessionKey string) string {
	if len(sessionKey) <= 64 {
		return sessionKey
	}
	h := sha256.Sum256([]byte(sessionKey))
	return string(h[:])
}

func (a *Authenticator) compute(ctx context.Context, key string) Verdict {
	rd := a.db.read()
	defer rd.release()
	if pk, ok := a.users.guess.next(); ok {
		rd.speculate(a.users.query, pk, userColumns)
	}
	sess, err := a.store.load(ctx, &rd, key)
	switch {
	case err == nil:
	case errors.Is(err, errNoSession):
		return anonymous(ReasonNoSession)
	case errors.Is(err, errExpired):
		return anonymous(ReasonExpired)
	case errors.Is(err, ErrBadSignature):
		return anonymous(ReasonBadSignature)
	case errors.Is(err, errBadSession):
		return anonymous(ReasonBadSession)
	default:
		a.log.LogAttrs(ctx, slog.LevelWarn, "djangoauth: session load failed", slog.String("error", err.Error()))
		return anonymous(ReasonStoreUnavailable)
	}
	return a.getUser(ctx, &rd, sess)
}

// getUser is django.contrib.auth.get_user (identical in Django 4.2 to 6.0)
// without its writes (see the package documentation).
func (a *Authenticator) getUser(ctx context.Context, rd *dbRead, sess map[string]any) Verdict {
	rawID, ok := sess["_auth_user_id"]
	if !ok {
		return anonymous(ReasonNoUser)
	}
	pk, err := a.users.toPK(rawID)
	if errors.Is(err, errBadPK) {
		return anonymous(ReasonBadSession) // Django raises ValidationError: a 500
	}
	backend, ok := sess["_auth_user_backend"]
	if !ok {
		return anonymous(ReasonNoUser)
	}
	bs, _ := backend.(string)
	if !a.backends[bs] {
		return anonymous(ReasonBackendNotAllowed)
	}
	if errors.Is(err, errNoSuchPK) || pk == nil {
		return anonymous(ReasonNoUser)
	}
	u, err := a.users.get(ctx, rd, pk)
	if err != nil {
		a.log.LogAttrs(ctx, slog.LevelWarn, "djangoauth: user lookup failed", slog.String("error", err.Error()))
		return anonymous(ReasonStoreUnavailable)
	}
	if u == nil {
		return anonymous(ReasonNoUser)
	}
	if !u.active && !allowAllBackends[bs] {
		return anonymous(ReasonInactive)
	}
	h, _ := sess["_auth_user_hash"].(string)
	if h == "" || !a.hashMatches(h, u.password) {
		return anonymous(ReasonHashMismatch)
	}
	return Verdict{Authenticated: true, UserID: u.id, Username: u.username, IsStaff: u.staff, IsSuperuser: u.superuser, Reason: ReasonOK}
}

// hashMatches compares in constant time with SECRET_KEY's hash, then each
// fallback's (Django 4.1.8+; channels.auth skips the fallbacks).
func (a *Authenticator) hashMatches(h, password string) bool {
	for _, m := range a.authMACs {
		if m.matchesHex(h, password) {
			return true
		}
	}
	return false
}

// Ping reports whether the session store (and the user database) can be
// reached; use it for readiness. Errors wrap ErrStoreUnavailable.
func (a *Authenticator) Ping(ctx context.Context) error {
	if err := a.store.ping(ctx); err != nil {
		return err
	}
	return a.db.ping(ctx)
}

// OriginValidator returns the validator for the configured ALLOWED_HOSTS
// and DEBUG.
func (a *Authenticator) OriginValidator() *OriginValidator {
	return NewOriginValidator(a.cfg.AllowedHosts, a.cfg.Debug)
}

// Close releases pools and connections. It is safe to call more than once;
// calls made after Close answer ReasonStoreUnavailable.
func (a *Authenticator) Close() error {
	a.closeMu.Lock()
	defer a.closeMu.Unlock()
	a.flight.shutdown()
	a.verdicts.stop()
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}
