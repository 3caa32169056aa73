package pyjson_test

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"testing"

	"github.com/laurel-server/laurel/channelsproto"
	"github.com/laurel-server/laurel/internal/pyjson"
)

var (
	dumpsDefault = &pyjson.Encoder[channelsproto.Map, channelsproto.Field]{ItemSep: ", ", KeySep: ": ", MaxDepth: 4}
	dumpsCompact = &pyjson.Encoder[channelsproto.Map, channelsproto.Field]{ItemSep: ",", KeySep: ":"}
)

func encode(t testing.TB, e *pyjson.Encoder[channelsproto.Map, channelsproto.Field], v any) (string, error) {
	t.Helper()
	var buf bytes.Buffer
	err := e.Encode(&buf, v)
	return buf.String(), err
}

// TestEncode holds what CPython 3.11 prints for json.dumps(v) (def) and
// json.dumps(v, separators=(",", ":")) (compact).
func TestEncode(t *testing.T) {
	big1, _ := new(big.Int).SetString("-123456789012345678901234567890", 10)
	tests := []struct {
		name         string
		in           any
		def, compact string
	}{
		{"null", nil, "null", "null"},
		{"bools", []any{true, false}, "[true, false]", "[true,false]"},
		{"ints", []any{int8(-8), int16(16), int32(-32), int64(math.MinInt64), uint8(255), uint16(7), uint32(9), uint64(math.MaxUint64), 0, uint(3)},
			"[-8, 16, -32, -9223372036854775808, 255, 7, 9, 18446744073709551615, 0, 3]",
			"[-8,16,-32,-9223372036854775808,255,7,9,18446744073709551615,0,3]"},
		{"bigint", big1, "-123456789012345678901234567890", "-123456789012345678901234567890"},
		{"floats", []any{1.0, math.Copysign(0, -1), 0.1, 1e16, 1.5e-05, 0.0001, 123456789.125, float32(0.5), math.NaN(), math.Inf(1), math.Inf(-1)},
			"[1.0, -0.0, 0.1, 1e+16, 1.5e-05, 0.0001, 123456789.125, 0.5, NaN, Infinity, -Infinity]",
			"[1.0,-0.0,0.1,1e+16,1.5e-05,0.0001,123456789.125,0.5,NaN,Infinity,-Infinity]"},
		{"string escapes", "a\"b\\c\n\r\t\b\f\x00\x1f\x7f</>&é€😀\xff",
			`"a\"b\\c\n\r\t\b\f\u0000\u001f\u007f</>&\u00e9\u20ac\ud83d\ude00\ufffd"`,
			`"a\"b\\c\n\r\t\b\f\u0000\u001f\u007f</>&\u00e9\u20ac\ud83d\ude00\ufffd"`},
		{"ordered map", channelsproto.Map{{Key: "z", Value: 1}, {Key: "a", Value: []string{"x", "y"}}},
			`{"z": 1, "a": ["x", "y"]}`, `{"z":1,"a":["x","y"]}`},
		{"go map sorted", map[string]any{"b": 2, "a": map[string]any{}, "c": []any{}},
			`{"a": {}, "b": 2, "c": []}`, `{"a":{},"b":2,"c":[]}`},
		{"list of maps", []channelsproto.Map{{{Key: "k", Value: "v"}}, {}},
			`[{"k": "v"}, {}]`, `[{"k":"v"},{}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				e    *pyjson.Encoder[channelsproto.Map, channelsproto.Field]
				want string
			}{{dumpsDefault, tt.def}, {dumpsCompact, tt.compact}} {
				got, err := encode(t, c.e, tt.in)
				if err != nil {
					t.Fatalf("Encode(sep %q): %v", c.e.ItemSep, err)
				}
				if got != c.want {
					t.Errorf("Encode(sep %q) = %s, want %s", c.e.ItemSep, got, c.want)
				}
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	var nested any = "x"
	for range 5 {
		nested = []any{nested}
	}
	tests := []struct {
		name     string
		in       any
		deep     bool
		typeName string
	}{
		{"bytes", []byte("x"), false, "[]uint8"},
		{"nested bytes", channelsproto.Map{{Key: "a", Value: []any{[]byte("x")}}}, false, "[]uint8"},
		{"struct", struct{}{}, false, "struct {}"},
		{"nil big.Int", (*big.Int)(nil), false, "*big.Int"},
		{"too deep", nested, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := encode(t, dumpsDefault, tt.in)
			var ute *pyjson.UnsupportedTypeError
			switch {
			case tt.deep:
				if !errors.Is(err, pyjson.ErrTooDeep) {
					t.Fatalf("err = %v, want ErrTooDeep", err)
				}
			case !errors.As(err, &ute):
				t.Fatalf("err = %v, want *UnsupportedTypeError", err)
			default:
				if got := ute.Error(); got != "pyjson: object of type "+tt.typeName+" is not JSON serializable" {
					t.Errorf("message %q", got)
				}
			}
		})
	}
	// MaxDepth 0 is unbounded: depth 5 encodes.
	if _, err := encode(t, dumpsCompact, nested); err != nil {
		t.Errorf("unbounded encoder: %v", err)
	}
	// Depth exactly MaxDepth is allowed.
	if got, err := encode(t, dumpsDefault, []any{[]any{[]any{[]any{"x"}}}}); err != nil || got != `[[[["x"]]]]` {
		t.Errorf("depth 4 = %s, %v", got, err)
	}
}

// FuzzEncode decodes arbitrary JSON with channelsproto.UnmarshalJSON
// (json.loads), encodes it, and checks that decoding and re-encoding that
// output is a fixed point with both separators, and that the default
// separators give channelsproto.MarshalPythonJSON's bytes.
func FuzzEncode(f *testing.F) {
	for _, s := range []string{`{"type": "chat.message", "text": "h\u00e9llo \ud83d\ude00", "n": [1, 2.5, -0.0, 1e300, NaN]}`,
		`[null, true, false, {}, [], "", 18446744073709551615, -9223372036854775808]`, `"\u0000\"\\/"`, `0.1`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := channelsproto.UnmarshalJSON(data)
		if err != nil {
			return
		}
		enc := &pyjson.Encoder[channelsproto.Map, channelsproto.Field]{ItemSep: ", ", KeySep: ": ", MaxDepth: 512}
		for _, e := range []*pyjson.Encoder[channelsproto.Map, channelsproto.Field]{enc, dumpsCompact} {
			first, err := encode(t, e, v)
			if err != nil {
				if errors.Is(err, pyjson.ErrTooDeep) {
					return
				}
				t.Fatalf("Encode(%q): %v", data, err)
			}
			v2, err := channelsproto.UnmarshalJSON([]byte(first))
			if err != nil {
				t.Fatalf("own output %q does not decode: %v", first, err)
			}
			second, err := encode(t, e, v2)
			if err != nil || second != first {
				t.Fatalf("re-encoding differs:\n%s\n%s (%v)", first, second, err)
			}
			if e == enc {
				want, err := channelsproto.MarshalPythonJSON(v)
				if err != nil || string(want) != first {
					t.Fatalf("MarshalPythonJSON = %s, %v; Encode = %s", want, err, first)
				}
			}
		}
	})
}

func TestAppendFloat(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0.0"}, {100, "100.0"}, {1e15, "1000000000000000.0"}, {1e16, "1e+16"}, {1.23e-5, "1.23e-05"},
		{1e-4, "0.0001"}, {5e-324, "5e-324"}, {math.MaxFloat64, "1.7976931348623157e+308"}, {-2.5, "-2.5"},
	}
	for _, tt := range tests {
		if got := string(pyjson.AppendFloat([]byte("x"), tt.in)); got != "x"+tt.want {
			t.Errorf("AppendFloat(%v) = %s, want x%s", tt.in, got, tt.want)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	var v any = channelsproto.Map{{Key: "type", Value: "task.update"}, {Key: "id", Value: int64(42)},
		{Key: "progress", Value: 0.75}, {Key: "labels", Value: []any{"a", "é", true, nil}}}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := dumpsDefault.Encode(&buf, v); err != nil {
			b.Fatal(err)
		}
	}
}
