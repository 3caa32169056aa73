package channelsproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// Fuzz targets for every decoder of bytes that come from Redis. They are
// seeded from the golden files written by real Python.

func seedFromGolden(f *testing.F, prefix int) {
	f.Helper()
	var mg msgpackGolden
	loadGolden(f, "msgpack.json", &mg)
	for _, c := range mg.Cases {
		if len(c.Hex) < 4096 {
			f.Add(append(bytes.Repeat([]byte{7}, prefix), mustHex(f, c.Hex)...))
		}
	}
	for _, c := range mg.Rejects {
		f.Add(append(bytes.Repeat([]byte{7}, prefix), mustHex(f, c.Hex)...))
	}
}

// checkDecoded asserts the invariants of a successful decode: only the
// documented types, and re-encoding then decoding is stable.
func checkDecoded(t *testing.T, m Map) {
	t.Helper()
	enc, err := MarshalMsgpack(m)
	if err != nil {
		t.Fatalf("decoded value does not re-encode: %v", err)
	}
	back, err := UnmarshalMsgpack(enc)
	if err != nil {
		t.Fatalf("re-encoded bytes do not decode: %v", err)
	}
	enc2, err := MarshalMsgpack(back)
	if err != nil || !bytes.Equal(enc, enc2) {
		t.Fatalf("encoding not stable: %x vs %x (%v)", enc, enc2, err)
	}
}

func FuzzDeserialize(f *testing.F) {
	seedFromGolden(f, 12)
	s, err := NewSerializer("msgpack", nil, 12, time.Minute)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// The reader's fast path must agree with the public decoder
		// whenever the target list is made of str.
		im, ierr := s.deserializeInbox(string(b))
		if ierr == nil {
			if _, _, err := splitTarget(im); err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("splitTarget: %v", err)
			}
		} else if !errors.Is(ierr, ErrMalformed) {
			t.Fatalf("inbox error %v does not wrap ErrMalformed", ierr)
		}
		m, err := s.Deserialize(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if ierr == nil {
				t.Fatalf("inbox path accepted what Deserialize rejects: %v", err)
			}
			return
		}
		checkDecoded(t, m)
	})
}

func FuzzDeserializeEncrypted(f *testing.F) {
	var g fernetGolden
	loadGolden(f, "fernet.json", &g)
	for _, c := range g.Random {
		f.Add(mustHex(f, c.Hex))
	}
	for _, c := range g.Fixed {
		f.Add(append([]byte("123456789012"), c.Token...))
	}
	for _, tok := range g.Rejects {
		f.Add(append([]byte("123456789012"), tok...))
	}
	s, err := NewSerializer("msgpack", g.Keys, 12, 0) // no TTL: reach the decryption path
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := s.Deserialize(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		checkDecoded(t, m)
	})
}

func FuzzUnmarshalJSON(f *testing.F) {
	var g pyjsonGolden
	loadGolden(f, "pyjson.json", &g)
	for _, c := range g.Dumps {
		f.Add([]byte(c.JSON))
	}
	for _, c := range g.Loads {
		f.Add([]byte(c.JSON))
	}
	for _, c := range g.Rejects {
		f.Add([]byte(c.JSON))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := UnmarshalJSON(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		out, err := MarshalPythonJSON(v)
		if err != nil {
			t.Fatalf("decoded value does not re-encode: %v", err)
		}
		back, err := UnmarshalJSON(out)
		if err != nil {
			t.Fatalf("own output %q does not parse: %v", out, err)
		}
		out2, _ := MarshalPythonJSON(back)
		if !bytes.Equal(out, out2) {
			t.Fatalf("not stable: %s vs %s", out, out2)
		}
		// Valid JSON without NaN/Infinity must also be accepted by
		// encoding/json (sanity check of the grammar).
		if !bytes.Contains(out, []byte("NaN")) && !bytes.Contains(out, []byte("Infinity")) && !json.Valid(out) {
			t.Fatalf("output is not JSON: %s", out)
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"hosts": ["redis://localhost:6379/0", ["h", 1]], "channel_capacity": {"a*": 1, "re:^b": 2}}`))
	f.Add([]byte(`{"hosts": [{"sentinels": [["s", 26379]], "master_name": "m"}], "expiry": 10}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := ParseConfig(b)
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v does not wrap ErrConfig", err)
			}
			return
		}
		if _, err := compileRules(cfg.ChannelCapacity); err != nil {
			t.Fatalf("accepted config with bad rules: %v", err)
		}
	})
}
