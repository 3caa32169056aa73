package channelsproto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

type serializerGolden struct {
	Cases []struct {
		Name         string
		Format       string
		PrefixLength int `json:"prefix_length"`
		Value        json.RawMessage
		Hex          string
		Decoded      json.RawMessage
	}
}

func TestSerializerGolden(t *testing.T) {
	t.Parallel()
	var g serializerGolden
	loadGolden(t, "serializer.json", &g)
	for _, c := range g.Cases {
		t.Run(c.Format+"_"+c.Name, func(t *testing.T) {
			t.Parallel()
			s, err := NewSerializer(c.Format, nil, c.PrefixLength, 60*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			py := mustHex(t, c.Hex)
			msg := fromTagged(t, c.Value).(Map)
			got, err := s.Serialize(msg)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(py) || !bytes.Equal(got[c.PrefixLength:], py[c.PrefixLength:]) {
				t.Fatalf("body mismatch after %d-byte prefix\n got %s\nwant %s", c.PrefixLength, short(got), short(py))
			}
			dec, err := s.Deserialize(py)
			if err != nil {
				t.Fatal(err)
			}
			if want := fromTagged(t, c.Decoded); !equalValue(dec, want) {
				t.Fatalf("decode\n got %#v\nwant %#v", dec, want)
			}
		})
	}
}

func TestSerializerRandomPrefix(t *testing.T) {
	t.Parallel()
	s, err := NewSerializer("msgpack", nil, 12, 0)
	if err != nil {
		t.Fatal(err)
	}
	msg := Map{{Key: "type", Value: "a"}}
	a, _ := s.Serialize(msg)
	b, _ := s.Serialize(msg)
	if bytes.Equal(a[:12], b[:12]) {
		t.Fatalf("two serializations share the random prefix %x", a[:12])
	}
	if !bytes.Equal(a[12:], b[12:]) {
		t.Fatal("bodies differ")
	}
	if _, err := s.Deserialize(a[:5]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short payload: %v", err)
	}
	if _, err := NewSerializer("pickle", nil, 12, 0); !errors.Is(err, ErrConfig) {
		t.Fatalf("unknown format: %v", err)
	}
}

type fernetGolden struct {
	Keys  []string
	Fixed []struct {
		Name       string
		Token      string
		Timestamp  int64
		IVHex      string `json:"iv_hex"`
		BodyHex    string `json:"body_hex"`
		Secret     string
		DerivedKey string `json:"derived_key"`
	}
	Random []struct {
		Name      string
		Hex       string
		Timestamp int64
		Value     json.RawMessage
	}
	TTL      int64
	TTLToken string `json:"ttl_token"`
	TTLCases []struct {
		Now   int64
		Valid bool
	} `json:"ttl_cases"`
	Rejects map[string]string
}

// fernetSealAt builds a Fernet token from its parts (spec: version, ts, IV,
// AES-128-CBC PKCS#7, HMAC-SHA256) with the package's derived key, to compare
// with cryptography's _encrypt_from_parts byte for byte.
func fernetSealAt(t *testing.T, secret string, body, iv []byte, ts int64) string {
	t.Helper()
	k := deriveFernetKey(secret)
	sign, crypt := k[:16], k[16:]
	pad := 16 - len(body)%16
	p := append(append([]byte(nil), body...), bytes.Repeat([]byte{byte(pad)}, pad)...)
	blk, err := aes.NewCipher(crypt)
	if err != nil {
		t.Fatal(err)
	}
	cipher.NewCBCEncrypter(blk, iv).CryptBlocks(p, p)
	tok := []byte{0x80}
	tok = binary.BigEndian.AppendUint64(tok, uint64(ts))
	tok = append(tok, iv...)
	tok = append(tok, p...)
	m := hmac.New(sha256.New, sign)
	m.Write(tok)
	tok = m.Sum(tok)
	return base64.URLEncoding.EncodeToString(tok)
}

func TestFernetGolden(t *testing.T) {
	t.Parallel()
	var g fernetGolden
	loadGolden(t, "fernet.json", &g)
	for _, c := range g.Fixed {
		t.Run(c.Name, func(t *testing.T) {
			k := deriveFernetKey(c.Secret)
			if got := base64.URLEncoding.EncodeToString(k[:]); got != c.DerivedKey {
				t.Fatalf("derived key %s, python %s", got, c.DerivedKey)
			}
			if got := fernetSealAt(t, c.Secret, mustHex(t, c.BodyHex), mustHex(t, c.IVHex), c.Timestamp); got != c.Token {
				t.Fatalf("fixed-IV token\n got %s\nwant %s", got, c.Token)
			}
			s, err := NewSerializer("msgpack", g.Keys, 0, 60*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			s.now = func() time.Time { return time.Unix(c.Timestamp, 0) }
			m, err := s.Deserialize([]byte(c.Token))
			if err != nil {
				t.Fatal(err)
			}
			want, _ := UnmarshalMsgpack(mustHex(t, c.BodyHex))
			if !equalValue(m, want) {
				t.Fatalf("got %#v want %#v", m, want)
			}
		})
	}
	for _, c := range g.Random {
		t.Run("random_"+c.Name, func(t *testing.T) {
			s, err := NewSerializer("msgpack", g.Keys, 12, 60*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			s.now = func() time.Time { return time.Unix(c.Timestamp, 0) }
			m, err := s.Deserialize(mustHex(t, c.Hex))
			if err != nil {
				t.Fatal(err)
			}
			if want := fromTagged(t, c.Value); !equalValue(m, want) {
				t.Fatalf("got %#v want %#v", m, want)
			}
			// Go's own token decrypts with the same keys and has the
			// same length as Python's (same body, same padding).
			out, err := s.Serialize(m)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != len(mustHex(t, c.Hex)) {
				t.Fatalf("Go payload %d bytes, Python %d", len(out), len(mustHex(t, c.Hex)))
			}
			s.now = time.Now
			if _, err := s.Deserialize(out); err != nil {
				t.Fatalf("own token: %v", err)
			}
		})
	}
	s, err := NewSerializer("msgpack", g.Keys, 0, time.Duration(g.TTL-10)*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range g.TTLCases {
		s.now = func() time.Time { return time.Unix(c.Now, 999_000_000) }
		_, err := s.Deserialize([]byte(g.TTLToken))
		if (err == nil) != c.Valid {
			t.Errorf("now=%d: err=%v, python valid=%v", c.Now, err, c.Valid)
		}
		if err != nil && !errors.Is(err, ErrInvalidToken) {
			t.Errorf("now=%d: %v does not wrap ErrInvalidToken", c.Now, err)
		}
	}
	s.now = func() time.Time { return time.Unix(g.Fixed[0].Timestamp, 0) }
	for name, tok := range g.Rejects {
		if _, err := s.Deserialize([]byte(tok)); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("reject %s: got %v", name, err)
		}
	}
	other, _ := NewSerializer("msgpack", []string{"other"}, 0, 0)
	if _, err := other.Deserialize([]byte(g.TTLToken)); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("wrong key: got %v", err)
	}
}
