package djangoauth

import (
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzLoads feeds arbitrary signed values to Loads (seeded with Django's
// own output): it must never panic, and every error must be one of the
// documented sentinels.
func FuzzLoads(f *testing.F) {
	var fx struct {
		Dumps []struct {
			Out string `json:"out"`
		} `json:"dumps"`
		Loads []struct {
			In string `json:"in"`
		} `json:"loads"`
	}
	loadFixture(f, "signing.json", &fx)
	for _, d := range fx.Dumps {
		f.Add(d.Out, "")
	}
	for _, l := range fx.Loads {
		f.Add(l.In, "")
	}
	f.Add(".eJzLSM3JyQcABiwCFQ:1r31eq:x", "django.contrib.sessions.SessionStore")
	f.Fuzz(func(t *testing.T, s, salt string) {
		_, err := Loads(s, testSecret, []string{testOldKey}, salt, 0)
		if err != nil && !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrBadPayload) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		// Signing any value round-trips.
		signer := NewTimestampSigner(testSecret, nil, salt)
		v, err := signer.Unsign(signer.Sign(s), 0)
		if err != nil || v != s {
			t.Fatalf("round trip of %q: %q, %v", s, v, err)
		}
		// A value signed with the correct key but mangled payload still
		// decodes without panicking.
		data, err := unsignObject(signer, signer.Sign(s), 0)
		if err == nil {
			_, _ = unmarshalPythonJSON(data)
			_, _ = DecodePickle(data)
		}
	})
}

// FuzzPickle feeds arbitrary bytes to the session-dict decoders (seeded with
// every pickle of the golden file): no panic, errors wrap ErrBadPickle,
// values have only the documented types.
func FuzzPickle(f *testing.F) {
	var fx []pickleCase
	loadFixture(f, "pickles.json", &fx)
	for _, c := range fx {
		b, err := hex.DecodeString(c.Hex)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodePickle(b)
		if err != nil {
			if !errors.Is(err, ErrBadPickle) {
				t.Fatalf("error %v does not wrap ErrBadPickle", err)
			}
			return
		}
		checkTypes(t, v, 0)
		for _, c := range []*cacheClient{{serializer: "pickle"}, {djRedis: true, serializer: "pickle", compressor: "zlib"}, {djRedis: true, serializer: "pickle", compressor: "gzip"}} {
			_, _ = c.decode(b)
		}
	})
}

func checkTypes(t *testing.T, v any, depth int) {
	if depth > maxDepth+1 {
		t.Fatalf("nesting beyond the limit")
	}
	switch x := v.(type) {
	case nil, bool, string, float64, int64, []byte, PyObject:
	case map[string]any:
		for _, e := range x {
			checkTypes(t, e, depth+1)
		}
	case []any:
		for _, e := range x {
			checkTypes(t, e, depth+1)
		}
	default:
		if _, ok := v.(interface{ String() string }); !ok { // *big.Int
			t.Fatalf("unexpected type %T", v)
		}
	}
}

// FuzzParseCookie: ParseCookie never panics, and cookieValue (the
// allocation-free path Authenticate uses) agrees with it for every name.
func FuzzParseCookie(f *testing.F) {
	var fx []struct {
		Header string `json:"header"`
	}
	loadFixture(f, "cookies.json", &fx)
	for _, c := range fx {
		f.Add(toLatin1(f, c.Header))
	}
	f.Fuzz(func(t *testing.T, h string) {
		m := ParseCookie(h)
		for k, v := range m {
			if len(v) > len(h) {
				t.Fatalf("value longer than the header")
			}
			got, ok := cookieValue(h, k)
			if !ok || got != v {
				t.Fatalf("cookieValue(%q, %q) = %q %v, ParseCookie says %q", h, k, got, ok, v)
			}
		}
		if _, ok := m["sessionid"]; !ok {
			if _, ok := cookieValue(h, "sessionid"); ok {
				t.Fatalf("cookieValue found a cookie ParseCookie did not")
			}
		}
	})
}

// FuzzOriginAllow: arbitrary Origin headers and patterns never panic, and
// "*" allows everything.
func FuzzOriginAllow(f *testing.F) {
	var fx []struct {
		AllowedHosts []string `json:"allowed_hosts"`
		Origin       []string `json:"origin"`
	}
	loadFixture(f, "origins.json", &fx)
	// One seed per distinct pattern list and per distinct origin list keeps
	// the baseline small.
	seen := map[string]bool{}
	for _, c := range fx {
		ps, os := strings.Join(c.AllowedHosts, "\x00"), toLatin1(f, strings.Join(c.Origin, "\x00"))
		if !seen["p"+ps] {
			seen["p"+ps] = true
			f.Add(ps, "https://example.com")
		}
		if !seen["o"+os] {
			seen["o"+os] = true
			f.Add("example.com\x00.example.org", os)
		}
	}
	f.Fuzz(func(t *testing.T, patterns, origins string) {
		ps := strings.Split(patterns, "\x00")
		os := strings.Split(origins, "\x00")
		_ = NewOriginValidator(ps, false).Allow(os)
		_ = NewOriginValidator(ps, true).Allow(os)
		if !NewOriginValidator(append(ps, "*"), false).Allow(os) {
			// "*" only loses when an earlier pattern raised in Channels
			for _, o := range os {
				if _, err := urlParse(latin1String(o)); err != nil {
					return
				}
			}
			if !NewOriginValidator([]string{"*"}, false).Allow(os) {
				t.Fatalf("'*' denied %q", os)
			}
		}
	})
}

// FuzzFlatObject: whatever decodeFlatObject accepts, encoding/json (the
// decoder it shortcuts) decodes to the same value.
func FuzzFlatObject(f *testing.F) {
	for _, s := range []string{
		`{"_auth_user_id":"1","_auth_user_backend":"django.contrib.auth.backends.ModelBackend","_auth_user_hash":"0f3a"}`,
		`{}`, ` { } `, `{"a":1,"a":2}`, `{"a":-0,"b":0,"c":-12,"d":9223372036854775807,"e":-9223372036854775808}`,
		`{"a":9223372036854775808}`, `{"a":01}`, `{"a":1.5}`, `{"a":1e3}`, `{"a":true,"b":false,"c":null}`,
		`{"a":"x\"y"}`, `{"a":"\u00e9"}`, "{\"a\":\"\xe9\"}", `{"a":[1]}`, `{"a":{"b":1}}`, `{"a":1}}`, `{"a":1} x`,
		`{"a":tru}`, `{"a":truex}`, `{"a":1,}`, `{,}`, `{"a" 1}`, "{\"a\":1}\n", "\t{\"\":\"\"}\r",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, ok := decodeFlatObject(data)
		if !ok {
			return
		}
		full, err := decodeJSON(data)
		if err != nil {
			t.Fatalf("%q: flat path decoded %v, encoding/json failed: %v", data, m, err)
		}
		if !reflect.DeepEqual(any(m), full) {
			t.Fatalf("%q: flat path %#v, encoding/json %#v", data, m, full)
		}
	})
}
