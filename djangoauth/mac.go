package djangoauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"sync"
)

// saltedMAC is django.utils.crypto.salted_hmac(keySalt, value, secret,
// algorithm="sha256") for one (keySalt, secret) pair: the HMAC key,
// sha256(keySalt + secret), is derived once, and the HMAC states are
// recycled (hmac.New allocates two digests and hashes both pads; Reset only
// restores the saved pad states). Safe for concurrent use.
type saltedMAC struct {
	pool sync.Pool // of *macState
}

type macState struct {
	h   hash.Hash
	buf []byte            // value copied here: Write takes a []byte
	out [sha256.Size]byte // Sum's destination, so that it does not escape
}

func newSaltedMAC(keySalt, secret string) *saltedMAC {
	k := sha256.Sum256([]byte(keySalt + secret))
	m := &saltedMAC{}
	m.pool.New = func() any { return &macState{h: hmac.New(sha256.New, k[:])} }
	return m
}

// sum returns the HMAC of value.
func (m *saltedMAC) sum(value string) (mac [sha256.Size]byte) {
	st := m.pool.Get().(*macState)
	st.buf = append(st.buf[:0], value...)
	st.h.Write(st.buf)
	copy(mac[:], st.h.Sum(st.out[:0]))
	st.h.Reset()
	if cap(st.buf) <= 4<<10 { // do not keep a huge value's buffer
		m.pool.Put(st)
	}
	return mac
}

// matchesB64 reports, in time independent of where they differ, whether
// want is the unpadded URL-safe base64 of value's HMAC (Signer.signature).
func (m *saltedMAC) matchesB64(want, value string) bool {
	var enc [43]byte // base64 of 32 bytes, unpadded
	mac := m.sum(value)
	base64.RawURLEncoding.Encode(enc[:], mac[:])
	return constantTimeEqualBytes(want, enc[:])
}

// matchesHex reports, in time independent of where they differ, whether
// want is the lower-case hex of value's HMAC (get_session_auth_hash).
func (m *saltedMAC) matchesHex(want, value string) bool {
	var enc [2 * sha256.Size]byte
	mac := m.sum(value)
	hex.Encode(enc[:], mac[:])
	return constantTimeEqualBytes(want, enc[:])
}

// constantTimeEqualBytes is subtle.ConstantTimeCompare for a string and a
// byte slice, without converting (and so allocating) the string: the
// lengths are public, the contents are compared in constant time.
func constantTimeEqualBytes(a string, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	var v byte
	for i := 0; i < len(b); i++ {
		v |= a[i] ^ b[i]
	}
	return v == 0
}
