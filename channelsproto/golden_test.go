package channelsproto

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

// Golden fixtures are written by compat_tests/gen_channelsproto_fixtures.py
// with the real channels_redis / msgpack / cryptography packages.

func loadGolden(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read golden %s: %v (regenerate with .venv/bin/python compat_tests/gen_channelsproto_fixtures.py)", name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("parse golden %s: %v", name, err)
	}
}

// fromTagged converts the generator's typed JSON (tag()) to the Go value
// this package decodes to.
func fromTagged(t testing.TB, raw json.RawMessage) any {
	t.Helper()
	var probe any
	if err := json.Unmarshal(raw, &probe); err != nil {
		t.Fatalf("tagged: %v", err)
	}
	switch p := probe.(type) {
	case nil:
		return nil
	case bool:
		return p
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatalf("tagged object: %v", err)
	}
	for k, v := range obj {
		switch k {
		case "int":
			var s string
			_ = json.Unmarshal(v, &s)
			n, ok := new(big.Int).SetString(s, 10)
			if !ok {
				t.Fatalf("bad int %s", s)
			}
			if n.IsInt64() {
				return n.Int64()
			}
			return n.Uint64()
		case "float":
			var s string
			_ = json.Unmarshal(v, &s)
			switch s {
			case "nan":
				return math.NaN()
			case "inf":
				return math.Inf(1)
			case "-inf":
				return math.Inf(-1)
			}
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatalf("bad float %s: %v", s, err)
			}
			return f
		case "str":
			var s string
			_ = json.Unmarshal(v, &s)
			return s
		case "bytes":
			var s string
			_ = json.Unmarshal(v, &s)
			b, err := hex.DecodeString(s)
			if err != nil {
				t.Fatal(err)
			}
			return b
		case "list":
			var items []json.RawMessage
			_ = json.Unmarshal(v, &items)
			out := make([]any, len(items))
			for i, it := range items {
				out[i] = fromTagged(t, it)
			}
			return out
		case "map":
			var pairs [][2]json.RawMessage
			_ = json.Unmarshal(v, &pairs)
			out := make(Map, 0, len(pairs))
			for _, p := range pairs {
				var key string
				_ = json.Unmarshal(p[0], &key)
				out = append(out, Field{Key: key, Value: fromTagged(t, p[1])})
			}
			return out
		}
	}
	t.Fatalf("unknown tagged value %s", raw)
	return nil
}

// equalValue compares decoded values; NaN equals NaN and -0.0 differs from
// 0.0, as byte-level identity requires.
func equalValue(a, b any) bool {
	if fa, ok := a.(float64); ok {
		fb, ok := b.(float64)
		return ok && (math.Float64bits(fa) == math.Float64bits(fb) || math.IsNaN(fa) && math.IsNaN(fb))
	}
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case Map:
		y, ok := b.(Map)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i].Key != y[i].Key || !equalValue(x[i].Value, y[i].Value) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func short(b []byte) string {
	s := hex.EncodeToString(b)
	if len(s) > 200 {
		return s[:200] + fmt.Sprintf("...(%d bytes)", len(b))
	}
	return s
}
