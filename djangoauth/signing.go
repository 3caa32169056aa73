package djangoauth

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors returned by the signing functions. ErrSignatureExpired wraps
// ErrBadSignature, as Django's SignatureExpired subclasses BadSignature, so
// errors.Is(err, ErrBadSignature) holds for both.
var (
	// ErrBadSignature reports a value whose signature does not verify with
	// the key or any fallback key, or that is malformed (django.core.signing.BadSignature).
	ErrBadSignature = errors.New("djangoauth: bad signature")
	// ErrSignatureExpired reports a timestamped value older than max_age
	// (django.core.signing.SignatureExpired).
	ErrSignatureExpired = fmt.Errorf("%w: signature expired", ErrBadSignature)
	// ErrBadPayload reports a correctly signed value whose payload cannot be
	// decoded (bad base64, zlib or JSON).
	ErrBadPayload = errors.New("djangoauth: undecodable signed payload")
)

// DefaultSalt is the salt django.core.signing.dumps and loads use by default.
const DefaultSalt = "django.core.signing"

const b62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// b62Encode is django.core.signing.b62_encode.
func b62Encode(s int64) string {
	if s == 0 {
		return "0"
	}
	sign := ""
	var u uint64
	if s < 0 {
		sign = "-"
		u = uint64(-(s + 1)) + 1 //nolint:gosec // -(s+1) >= 0 for every negative int64
	} else {
		u = uint64(s) //nolint:gosec // s >= 0
	}
	var buf [16]byte
	i := len(buf)
	for u > 0 {
		i--
		buf[i] = b62Alphabet[u%62]
		u /= 62
	}
	return sign + string(buf[i:])
}

// b62Decode is django.core.signing.b62_decode. Python ints are unbounded;
// values beyond int64 are reported as an error (they cannot be a timestamp
// Django wrote).
func b62Decode(s string) (int64, error) {
	if s == "0" {
		return 0, nil
	}
	if s == "" {
		return 0, fmt.Errorf("%w: empty base62 timestamp", ErrBadPayload)
	}
	sign := int64(1)
	if s[0] == '-' {
		s = s[1:]
		sign = -1
	}
	var n int64
	for i := 0; i < len(s); i++ {
		d := strings.IndexByte(b62Alphabet, s[i])
		if d < 0 {
			return 0, fmt.Errorf("%w: bad base62 timestamp", ErrBadPayload)
		}
		if n > (1<<62)/62 {
			return 0, fmt.Errorf("%w: base62 timestamp out of range", ErrBadPayload)
		}
		n = n*62 + int64(d)
	}
	return sign * n, nil
}

// b64Decode is django.core.signing.b64_decode: it re-pads and decodes URL-safe
// base64. Like Python's urlsafe_b64decode it discards characters outside the
// alphabet (binascii non-strict mode).
func b64Decode(s string) ([]byte, error) {
	if out, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return out, nil
	}
	// Python's non-strict decoder: drop characters not in the alphabet,
	// then decode with padding.
	var clean strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '=' {
			break
		}
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			clean.WriteByte(c)
		}
	}
	cs := clean.String()
	if len(cs)%4 == 1 {
		return nil, fmt.Errorf("%w: bad base64", ErrBadPayload)
	}
	out, err := base64.RawURLEncoding.DecodeString(cs)
	if err != nil {
		return nil, fmt.Errorf("%w: bad base64", ErrBadPayload)
	}
	return out, nil
}

// saltedHMAC is django.utils.crypto.salted_hmac with algorithm="sha256":
// HMAC-SHA256 keyed by sha256(keySalt+secret).
func saltedHMAC(keySalt, value, secret string) []byte {
	k := sha256.Sum256([]byte(keySalt + secret))
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte(value))
	return m.Sum(nil)
}

// SessionAuthHash is AbstractBaseUser._get_session_auth_hash (Django 4.2+):
// the lower-case hex HMAC-SHA256 of the full password column under the salt
// "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash".
func SessionAuthHash(password, secret string) string {
	return hex.EncodeToString(saltedHMAC(sessionAuthHashSalt, password, secret))
}

// sessionAuthHashSalt is get_session_auth_hash's key_salt.
const sessionAuthHashSalt = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"

// Signer is django.core.signing.Signer with sep=":" and algorithm="sha256"
// (Django 4.2 to 6.x). A Signer is immutable and safe for concurrent use.
type Signer struct {
	macs []*saltedMAC // SECRET_KEY's, then each fallback's, under the key salt salt+"signer"
	salt string
}

// NewSigner returns a Signer using key for signing and key then fallbacks, in
// order, for verification. An empty salt means Django's default,
// "django.core.signing.Signer".
func NewSigner(key string, fallbacks []string, salt string) *Signer {
	if salt == "" {
		salt = "django.core.signing.Signer"
	}
	keys := append([]string{key}, fallbacks...)
	macs := make([]*saltedMAC, len(keys))
	for i, k := range keys {
		macs[i] = newSaltedMAC(salt+"signer", k)
	}
	return &Signer{macs: macs, salt: salt}
}

// Sign returns value + ":" + signature(value), as Signer.sign.
func (s *Signer) Sign(value string) string {
	mac := s.macs[0].sum(value)
	return value + ":" + base64.RawURLEncoding.EncodeToString(mac[:])
}

// Unsign verifies a value produced by Sign with the key or any fallback key
// and returns the unsigned value, or an error wrapping ErrBadSignature.
func (s *Signer) Unsign(signed string) (string, error) {
	i := strings.LastIndexByte(signed, ':')
	if i < 0 {
		return "", fmt.Errorf("%w: no separator", ErrBadSignature)
	}
	value, sig := signed[:i], signed[i+1:]
	for _, m := range s.macs {
		if m.matchesB64(sig, value) {
			return value, nil
		}
	}
	return "", fmt.Errorf("%w: signature does not match", ErrBadSignature)
}

// TimestampSigner is django.core.signing.TimestampSigner: the wire format is
// "<value>:<base62 unix seconds>:<signature>". Safe for concurrent use.
type TimestampSigner struct {
	Signer
	// now returns the current time; nil means time.Now.
	now func() time.Time
}

// NewTimestampSigner returns a TimestampSigner; see NewSigner for the
// arguments. An empty salt means "django.core.signing.TimestampSigner".
func NewTimestampSigner(key string, fallbacks []string, salt string) *TimestampSigner {
	if salt == "" {
		salt = "django.core.signing.TimestampSigner"
	}
	return &TimestampSigner{Signer: *NewSigner(key, fallbacks, salt)}
}

func (s *TimestampSigner) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// Sign appends the current timestamp and signs the result.
func (s *TimestampSigner) Sign(value string) string {
	return s.SignAt(value, s.clock())
}

// SignAt signs value with the timestamp t (for tests and fixtures).
func (s *TimestampSigner) SignAt(value string, t time.Time) string {
	return s.Signer.Sign(value + ":" + b62Encode(t.Unix()))
}

// Unsign verifies the signature, then the timestamp; maxAge 0 disables the
// age check. A value is expired only when now - timestamp > maxAge (strictly),
// with the sub-second precision of Python's time.time(). Timestamps in the
// future are accepted, as in Django.
func (s *TimestampSigner) Unsign(signed string, maxAge time.Duration) (string, error) {
	v, err := s.Signer.Unsign(signed)
	if err != nil {
		return "", err
	}
	i := strings.LastIndexByte(v, ':')
	if i < 0 {
		return "", fmt.Errorf("%w: no timestamp", ErrBadSignature)
	}
	value, tsText := v[:i], v[i+1:]
	ts, err := b62Decode(tsText)
	if err != nil {
		return "", err
	}
	if maxAge > 0 {
		age := s.clock().Sub(time.Unix(ts, 0))
		if age > maxAge {
			return "", ErrSignatureExpired
		}
	}
	return value, nil
}

// Dumps is django.core.signing.dumps with the JSON serializer: obj is
// serialized as json.dumps(obj, separators=(",", ":")) would (see
// MarshalPythonJSON for the accepted types), optionally zlib-compressed when
// that saves at least 2 bytes (marked by a leading "."), base64url-encoded
// without padding and signed with a TimestampSigner using key and salt (an
// empty salt means DefaultSalt).
//
// Without compression the output is byte-identical to Django's. With
// compression it is a value Django loads, but the zlib stream comes from
// Go's compress/flate, whose bytes (and so whether compression pays off at
// all) differ from CPython's zlib; laurel only ever reads Django's values.
func Dumps(obj any, key, salt string, compress bool) (string, error) {
	return dumpsAt(obj, key, salt, compress, time.Now())
}

func dumpsAt(obj any, key, salt string, compress bool, t time.Time) (string, error) {
	if salt == "" {
		salt = DefaultSalt
	}
	data, err := MarshalPythonJSON(obj)
	if err != nil {
		return "", err
	}
	isCompressed := false
	if compress {
		var buf bytes.Buffer
		w := zlib.NewWriter(&buf)
		_, _ = w.Write(data)
		_ = w.Close()
		if buf.Len() < len(data)-1 {
			data = buf.Bytes()
			isCompressed = true
		}
	}
	b := base64.RawURLEncoding.EncodeToString(data)
	if isCompressed {
		b = "." + b
	}
	s := NewTimestampSigner(key, nil, salt)
	return s.SignAt(b, t), nil
}

// Loads is django.core.signing.loads with the JSON serializer: it verifies
// s with key, then each fallback, under salt (empty means DefaultSalt),
// enforces maxAge when it is not 0 and returns the decoded JSON value
// (objects as map[string]any, numbers as float64 or json.Number-free
// float64, strings, bools, nil, []any). Errors wrap ErrBadSignature,
// ErrSignatureExpired or ErrBadPayload.
func Loads(s, key string, fallbacks []string, salt string, maxAge time.Duration) (any, error) {
	data, err := unsignObject(NewTimestampSigner(key, fallbacks, orDefault(salt, DefaultSalt)), s, maxAge)
	if err != nil {
		return nil, err
	}
	return unmarshalPythonJSON(data)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// unsignObject is Signer.unsign_object without the final deserialization:
// it returns the serialized bytes.
func unsignObject(ts *TimestampSigner, s string, maxAge time.Duration) ([]byte, error) {
	b, err := ts.Unsign(s, maxAge)
	if err != nil {
		return nil, err
	}
	decompress := strings.HasPrefix(b, ".")
	if decompress {
		b = b[1:]
	}
	data, err := b64Decode(b)
	if err != nil {
		return nil, err
	}
	if decompress {
		out, err := inflate(data)
		if err != nil {
			return nil, fmt.Errorf("%w: bad zlib stream", ErrBadPayload)
		}
		data = out
	}
	return data, nil
}
