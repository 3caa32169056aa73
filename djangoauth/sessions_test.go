package djangoauth

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// TestGoldenSessionEnvelopes checks SessionStore.encode output from real
// Django: laurel decodes it (with the store class's salt, and with the old
// key only through SECRET_KEY_FALLBACKS), and signed_cookies values with
// their own salt and max_age.
func TestGoldenSessionEnvelopes(t *testing.T) {
	t.Parallel()
	var fx struct {
		Envelopes []struct {
			Class         string         `json:"class"`
			KeySalt       string         `json:"key_salt"`
			Dict          map[string]any `json:"dict"`
			Encoded       string         `json:"encoded"`
			EncodedOldKey string         `json:"encoded_old_key"`
			TS            int64          `json:"ts"`
		} `json:"envelopes"`
		SignedCookies []struct {
			Dict   map[string]any `json:"dict"`
			Cookie string         `json:"cookie"`
			TS     int64          `json:"ts"`
		} `json:"signed_cookies"`
		AuthHashes []struct {
			Password, Secret, Hash string
		} `json:"auth_hashes"`
	}
	loadFixture(t, "sessions.json", &fx)
	if len(fx.Envelopes) == 0 || len(fx.SignedCookies) == 0 || len(fx.AuthHashes) == 0 {
		t.Fatal("empty fixture")
	}
	cfg := Config{SecretKey: testSecret}.withDefaults()
	for i, e := range fx.Envelopes {
		t.Run(fmt.Sprintf("envelope%d_%s", i, e.Class), func(t *testing.T) {
			salt := "django.contrib.sessions." + e.Class
			if salt != e.KeySalt {
				t.Fatalf("salt %q, Django used %q", salt, e.KeySalt)
			}
			other := "django.contrib.sessions.SessionStore"
			if e.Class == "SessionStore" {
				other = "django.contrib.sessions.MyStore"
			}
			codec, err := newEnvelopeCodec(cfg, salt)
			if err != nil {
				t.Fatal(err)
			}
			wrongSalt, _ := newEnvelopeCodec(cfg, other)
			withFallback := cfg
			withFallback.SecretKeyFallbacks = []string{testOldKey}
			fb, _ := newEnvelopeCodec(withFallback, salt)
			if e.Encoded != "" {
				got, err := codec.decode(e.Encoded, 0)
				if err != nil || !reflect.DeepEqual(normalizeNumbers(got), e.Dict) {
					t.Fatalf("decode = %v, %v; want %v", got, err, e.Dict)
				}
				if _, err := wrongSalt.decode(e.Encoded, 0); !errors.Is(err, ErrBadSignature) {
					t.Fatalf("other salt: %v", err)
				}
			}
			if e.EncodedOldKey != "" {
				if _, err := codec.decode(e.EncodedOldKey, 0); !errors.Is(err, ErrBadSignature) {
					t.Fatalf("old key without fallback: %v", err)
				}
				got, err := fb.decode(e.EncodedOldKey, 0)
				if err != nil || !reflect.DeepEqual(normalizeNumbers(got), e.Dict) {
					t.Fatalf("fallback decode = %v, %v", got, err)
				}
			}
		})
	}
	for i, c := range fx.SignedCookies {
		st, err := newSignedCookieStore(cfg)
		if err != nil {
			t.Fatal(err)
		}
		st.codec.signer.now = fixedClock(c.TS + 1209600)
		got, err := st.load(t.Context(), nil, c.Cookie)
		if err != nil || !reflect.DeepEqual(normalizeNumbers(got), c.Dict) {
			t.Errorf("signed cookie %d: %v, %v", i, got, err)
		}
		st.codec.signer.now = func() time.Time { return time.Unix(c.TS+1209600, 1) }
		if _, err := st.load(t.Context(), nil, c.Cookie); !errors.Is(err, errExpired) {
			t.Errorf("signed cookie %d after max_age: %v", i, err)
		}
	}
	for _, h := range fx.AuthHashes {
		if got := SessionAuthHash(h.Password, h.Secret); got != h.Hash {
			t.Errorf("SessionAuthHash(%q) = %s, want %s", h.Password, got, h.Hash)
		}
	}
}
