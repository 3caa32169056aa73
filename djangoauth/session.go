package djangoauth

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrStoreUnavailable wraps every failure to reach a session store or the
// user database.
var ErrStoreUnavailable = errors.New("djangoauth: store unavailable")

// Store outcomes that are not failures.
var (
	errNoSession  = errors.New("djangoauth: no such session")
	errExpired    = errors.New("djangoauth: session expired")
	errBadSession = errors.New("djangoauth: undecodable session")
)

// sessionStore loads the session dict for a validated session key. Errors:
// errNoSession, errExpired, ErrBadSignature, errBadSession or an error
// wrapping ErrStoreUnavailable. Stores that read the SQL database do it
// through rd, the verdict's database access. Implementations are safe for
// concurrent use and never write.
type sessionStore interface {
	load(ctx context.Context, rd *dbRead, key string) (map[string]any, error)
	ping(ctx context.Context) error
	close() error
}

// serializer names (SESSION_SERIALIZER).
const (
	serializerJSON       = "django.contrib.sessions.serializers.JSONSerializer"
	serializerSigning    = "django.core.signing.JSONSerializer"
	serializerPickle     = "django.contrib.sessions.serializers.PickleSerializer"
	serializerPickleCore = "django.core.serializers.base.PickleSerializer"
)

// envelopeCodec decodes the signed session_data that the db, cached_db and
// file stores keep: SessionBase.decode (django/contrib/sessions/backends/base.py),
// i.e. signing.loads with salt "django.contrib.sessions.<StoreClass>", no
// max_age, SECRET_KEY_FALLBACKS honoured.
type envelopeCodec struct {
	signer *TimestampSigner
	pickle bool
}

func newEnvelopeCodec(cfg Config, salt string) (*envelopeCodec, error) {
	c := &envelopeCodec{signer: NewTimestampSigner(cfg.SecretKey, cfg.SecretKeyFallbacks, salt)}
	switch cfg.SessionSerializer {
	case serializerJSON, serializerSigning:
	case serializerPickle, serializerPickleCore:
		c.pickle = true
	default:
		return nil, fmt.Errorf("%w: SESSION_SERIALIZER %q is not supported", ErrSettings, cfg.SessionSerializer)
	}
	return c, nil
}

// decode returns the session dict, ErrBadSignature or errBadSession.
func (c *envelopeCodec) decode(s string, maxAge time.Duration) (map[string]any, error) {
	data, err := unsignObject(c.signer, s, maxAge)
	if err != nil {
		if errors.Is(err, ErrSignatureExpired) {
			return nil, errExpired
		}
		if errors.Is(err, ErrBadSignature) {
			return nil, ErrBadSignature
		}
		return nil, errBadSession
	}
	var v any
	if c.pickle {
		v, err = DecodePickle(data)
	} else {
		v, err = unmarshalPythonJSON(data)
	}
	if err != nil {
		return nil, errBadSession
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errBadSession
	}
	return m, nil
}

// validSessionKey is SessionBase._validate_session_key: truthy and at least
// 8 characters. The cookie is latin-1 text under ASGI, so characters are
// bytes.
func validSessionKey(key string) bool { return len(key) >= 8 }
