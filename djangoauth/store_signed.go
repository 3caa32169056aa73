package djangoauth

import (
	"context"
	"time"
)

// signedCookieStore is django.contrib.sessions.backends.signed_cookies: the
// session key is the cookie value, signing.loads(cookie,
// salt="django.contrib.sessions.backends.signed_cookies",
// max_age=SESSION_COOKIE_AGE) with SECRET_KEY and its fallbacks. A custom
// set_expiry() is not honoured (as in Django, ticket #19201).
type signedCookieStore struct {
	codec  *envelopeCodec
	maxAge time.Duration
}

func newSignedCookieStore(cfg Config) (*signedCookieStore, error) {
	codec, err := newEnvelopeCodec(cfg, "django.contrib.sessions.backends.signed_cookies")
	if err != nil {
		return nil, err
	}
	return &signedCookieStore{codec: codec, maxAge: cfg.SessionCookieAge}, nil
}

func (s *signedCookieStore) load(_ context.Context, _ *dbRead, key string) (map[string]any, error) {
	return s.codec.decode(key, s.maxAge)
}

func (s *signedCookieStore) ping(context.Context) error { return nil }
func (s *signedCookieStore) close() error               { return nil }
