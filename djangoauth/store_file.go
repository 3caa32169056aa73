package djangoauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// validKeyChars is django.contrib.sessions.backends.base.VALID_KEY_CHARS.
const validKeyChars = "abcdefghijklmnopqrstuvwxyz0123456789"

// maxSessionFile bounds the size of a session file read.
const maxSessionFile = 4 << 20

// fileStore is django.contrib.sessions.backends.file: the file
// SESSION_FILE_PATH/<SESSION_COOKIE_NAME><key> holds the signed envelope;
// the key must consist of VALID_KEY_CHARS; the session has expired when
// get_expiry_age(expiry=_session_expiry or mtime + SESSION_COOKIE_AGE) <= 0.
type fileStore struct {
	dir    string
	prefix string
	age    time.Duration
	codec  *envelopeCodec
	now    func() time.Time
}

func newFileStore(cfg Config, codec *envelopeCodec, now func() time.Time) *fileStore {
	return &fileStore{dir: cfg.SessionFilePath, prefix: cfg.SessionCookieName, age: cfg.SessionCookieAge, codec: codec, now: now}
}

func (s *fileStore) load(_ context.Context, _ *dbRead, key string) (map[string]any, error) {
	for i := 0; i < len(key); i++ {
		if strings.IndexByte(validKeyChars, key[i]) < 0 {
			return nil, errNoSession // InvalidSessionKey
		}
	}
	f, err := os.Open(filepath.Join(s.dir, s.prefix+key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("%w: session file: %w", ErrStoreUnavailable, pathless(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: session file: %w", ErrStoreUnavailable, pathless(err))
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSessionFile))
	if err != nil {
		return nil, fmt.Errorf("%w: session file: %w", ErrStoreUnavailable, pathless(err))
	}
	if len(data) == 0 {
		return nil, errNoSession
	}
	if !isASCII(data) {
		return nil, errBadSession // Django's ascii read raises: a 500
	}
	sess, decErr := s.codec.decode(string(data), 0)
	if sess == nil {
		sess = map[string]any{}
	}
	expired, err := s.expired(sess, st.ModTime())
	if err != nil {
		return nil, errBadSession
	}
	if expired {
		return nil, errExpired
	}
	if decErr != nil {
		return nil, decErr
	}
	return sess, nil
}

// expired applies FileStore._expiry_date and SessionBase.get_expiry_age.
func (s *fileStore) expired(sess map[string]any, mtime time.Time) (bool, error) {
	now := s.now()
	switch x := sess["_session_expiry"].(type) {
	case nil:
	case bool:
		if x { // True is the int 1: an age of one second
			return false, nil
		}
	case int64:
		if x != 0 {
			return x <= 0, nil
		}
	case float64:
		if x != 0 {
			return x <= 0, nil
		}
	case string:
		if x != "" {
			t, err := parseISODatetime(x)
			if err != nil {
				return false, err
			}
			return expiryAge(t.Sub(now)) <= 0, nil
		}
	default:
		return false, errBadSession
	}
	return expiryAge(mtime.Add(s.age).Sub(now)) <= 0, nil
}

// expiryAge is delta.days*86400 + delta.seconds: the delta floored to whole
// seconds.
func expiryAge(d time.Duration) int64 {
	return int64(math.Floor(d.Seconds()))
}

// parseISODatetime accepts what set_expiry writes (datetime.isoformat()).
// An aware value is required: Django compares it with an aware now under
// USE_TZ; naive values are treated as UTC.
func parseISODatetime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errBadSession
}

func (s *fileStore) ping(context.Context) error {
	if _, err := os.Stat(s.dir); err != nil {
		return fmt.Errorf("%w: SESSION_FILE_PATH: %w", ErrStoreUnavailable, err)
	}
	return nil
}

func (s *fileStore) close() error { return nil }

// pathless drops the file name (which contains the session key) from a
// *fs.PathError.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
