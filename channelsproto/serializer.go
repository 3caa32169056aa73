package channelsproto

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
	"unsafe"

	"github.com/fernet/fernet-go"
)

// fernetMaxClockSkew is cryptography's _MAX_CLOCK_SKEW (60 s): with a TTL,
// tokens stamped further in the future are rejected.
const fernetMaxClockSkew = 60

// Serializer turns messages into the member bytes channels_redis 4.x stores
// in Redis and back, reproducing channels_redis.serializers (4.2.1+, and the
// identical inline code of 4.0.0–4.2.0):
//
//	serialize:   body = msgpack.packb(msg) or json.dumps(msg).encode()
//	             body = MultiFernet(keys).encrypt(body)        if keys
//	             return random_bytes(randomPrefixLength) + body
//	deserialize: strip randomPrefixLength bytes, decrypt with
//	             ttl = expiry + 10 s (no TTL when expiry is 0), decode.
//
// A Serializer is safe for concurrent use.
type Serializer struct {
	json      bool
	keys      []*fernet.Key
	prefixLen int
	ttl       int64 // seconds; 0 means no TTL check
	now       func() time.Time
}

// NewSerializer returns the serializer channels_redis builds with
// registry.get_serializer(format, symmetric_encryption_keys=keys,
// random_prefix_length=randomPrefixLength, expiry=expiry). format is
// "msgpack" (also for "") or "json". Each key is derived as Fernet key
// urlsafe_b64encode(sha256(utf8(key))); the first key encrypts, all are tried
// when decrypting (MultiFernet). expiry 0 means no TTL check, as expiry=None
// does in Python; otherwise tokens older than expiry+10 s or stamped more than
// 60 s in the future are rejected, in whole seconds as cryptography 3.x–50.x
// computes them.
func NewSerializer(format string, keys []string, randomPrefixLength int, expiry time.Duration) (*Serializer, error) {
	s := &Serializer{prefixLen: randomPrefixLength, now: time.Now}
	switch format {
	case "", "msgpack":
	case "json":
		s.json = true
	default:
		return nil, fmt.Errorf("%w: serializer_format %q does not exist (msgpack, json)", ErrConfig, format)
	}
	if randomPrefixLength < 0 {
		return nil, fmt.Errorf("%w: random_prefix_length must not be negative", ErrConfig)
	}
	for _, k := range keys {
		s.keys = append(s.keys, deriveFernetKey(k))
	}
	if expiry > 0 {
		s.ttl = int64(expiry/time.Second) + 10
	}
	return s, nil
}

// deriveFernetKey is channels_redis' make_fernet: the Fernet key is the
// SHA-256 digest of the UTF-8 secret (signing key = first 16 bytes, AES key =
// last 16 bytes).
func deriveFernetKey(secret string) *fernet.Key {
	sum := sha256.Sum256([]byte(secret))
	k := fernet.Key(sum)
	return &k
}

// Encrypted reports whether symmetric encryption keys are configured.
func (s *Serializer) Encrypted() bool { return len(s.keys) > 0 }

// Serialize returns random prefix || body for msg. The prefix comes from a
// non-cryptographic generator, as Python's random.getrandbits does; it only
// keeps identical messages distinct in a sorted set.
func (s *Serializer) Serialize(msg Map) ([]byte, error) {
	return s.serialize(msg, 64)
}

// serialize is Serialize with room for sizeHint bytes of body reserved up
// front.
func (s *Serializer) serialize(msg Map, sizeHint int) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(s.prefixLen + sizeHint)
	s.appendPrefix(&buf)
	if err := s.appendBody(&buf, msg); err != nil {
		return nil, err
	}
	if len(s.keys) == 0 {
		return buf.Bytes(), nil
	}
	b := buf.Bytes()
	tok, err := fernet.EncryptAndSign(b[s.prefixLen:], s.keys[0])
	if err != nil {
		return nil, fmt.Errorf("channelsproto: encrypt: %w", err)
	}
	return append(b[:s.prefixLen:s.prefixLen], tok...), nil
}

func (s *Serializer) appendPrefix(buf *bytes.Buffer) {
	var word [8]byte
	for n := s.prefixLen; n > 0; n -= 8 {
		binary.LittleEndian.PutUint64(word[:], rand.Uint64()) //nolint:gosec // uniqueness only, like Python's random.getrandbits

		buf.Write(word[:min(n, 8)])
	}
}

func (s *Serializer) appendBody(buf *bytes.Buffer, msg Map) error {
	if msg == nil {
		msg = Map{}
	}
	if s.json {
		return appendPyJSON(buf, msg)
	}
	return encodeMsgpackTo(buf, msg)
}

// Deserialize reverses Serialize for bytes written by Python or Go: it drops
// the first randomPrefixLength bytes unchecked, decrypts when keys are set,
// and decodes a top-level map. Errors wrap ErrMalformed or ErrInvalidToken.
func (s *Serializer) Deserialize(b []byte) (Map, error) {
	return s.deserialize(b, false)
}

// deserialize is Deserialize; inbox decodes a msgpack "__asgi_channel__"
// list as []string for the reader's fast path, and then b must never be
// modified afterwards (see deserializeInbox).
func (s *Serializer) deserialize(b []byte, inbox bool) (Map, error) {
	if len(b) < s.prefixLen {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the %d-byte random prefix", ErrMalformed, len(b), s.prefixLen)
	}
	body := b[s.prefixLen:]
	if len(s.keys) > 0 {
		var err error
		if body, err = s.decrypt(body); err != nil {
			return nil, err
		}
	}
	if s.json {
		v, err := UnmarshalJSON(body)
		if err != nil {
			return nil, err
		}
		m, ok := v.(Map)
		if !ok {
			return nil, fmt.Errorf("%w: top-level JSON value is %T, not an object", ErrMalformed, v)
		}
		return m, nil
	}
	return unmarshalMsgpackMap(body, inbox)
}

// deserializeInbox decodes an inbox payload as the reader receives it from
// go-redis, without copying it: the "__asgi_channel__" names of the result
// are substrings of payload (or of the decrypted body, which nothing else
// references), which is sound because strings are immutable.
func (s *Serializer) deserializeInbox(payload string) (Map, error) {
	return s.deserialize(unsafe.Slice(unsafe.StringData(payload), len(payload)), true)
}

// decrypt applies cryptography's MultiFernet.decrypt(token, ttl) checks in
// its order: structure and version, then the TTL and clock-skew window
// against int(time.time()), then signature and padding for each key.
func (s *Serializer) decrypt(tok []byte) ([]byte, error) {
	raw := make([]byte, base64.URLEncoding.DecodedLen(len(tok)))
	n, err := base64.URLEncoding.Decode(raw, tok)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64url", ErrInvalidToken)
	}
	raw = raw[:n]
	if n < 9 || raw[0] != 0x80 {
		return nil, fmt.Errorf("%w: bad version or length", ErrInvalidToken)
	}
	if s.ttl > 0 {
		tsU := binary.BigEndian.Uint64(raw[1:9])
		if tsU > math.MaxInt64/2 {
			return nil, fmt.Errorf("%w: timestamp too far in the future", ErrInvalidToken)
		}
		ts := int64(tsU)
		now := s.now().Unix()
		if ts+s.ttl < now {
			return nil, fmt.Errorf("%w: expired (older than %d s)", ErrInvalidToken, s.ttl)
		}
		if now+fernetMaxClockSkew < ts {
			return nil, fmt.Errorf("%w: timestamp too far in the future", ErrInvalidToken)
		}
	}
	// version(1) + ts(8) + iv(16) + at least one AES block + hmac(32);
	// shorter tokens would make fernet-go slice out of range.
	const overhead = 1 + 8 + 16 + 32
	if n < overhead+16 || (n-overhead)%16 != 0 {
		return nil, fmt.Errorf("%w: bad length", ErrInvalidToken)
	}
	msg := fernet.VerifyAndDecrypt(tok, 0, s.keys)
	if msg == nil {
		return nil, fmt.Errorf("%w: signature or padding mismatch for every key", ErrInvalidToken)
	}
	return msg, nil
}
