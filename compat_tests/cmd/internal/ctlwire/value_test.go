package ctlwire

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/laurel-server/laurel/channelsproto"
)

func TestTaggedRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		json string
		want any
	}{
		{"null", `null`, nil},
		{"true", `true`, true},
		{"string", `"h\u00e9llo \ud83d\ude00"`, "héllo 😀"},
		{"escapes", `"q\"b\\c\u0000\u001f\n\u2028<>&"`, "q\"b\\c\x00\x1f\n\u2028<>&"},
		{"int", `{"int": "-9223372036854775808"}`, int64(math.MinInt64)},
		{"uint", `{"int": "18446744073709551615"}`, uint64(math.MaxUint64)},
		{"float", `{"float": "1"}`, 1.0},
		{"float tiny", `{"float": "5e-324"}`, 5e-324},
		{"bytes", `{"bytes": "00ff80"}`, []byte{0, 0xff, 0x80}},
		{"list", `{"list": [{"int": "1"}, "a", null]}`, []any{int64(1), "a", nil}},
		{"map order", `{"map": [["z", {"int": "1"}], ["a", {"map": []}]]}`,
			channelsproto.Map{{Key: "z", Value: int64(1)}, {Key: "a", Value: channelsproto.Map{}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeValue(json.RawMessage(tt.json))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("decode = %#v, want %#v", got, tt.want)
			}
			b, err := AppendValue(nil, got)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if !json.Valid(b) {
				t.Fatalf("encode produced invalid JSON %s", b)
			}
			again, err := DecodeValue(b)
			if err != nil {
				t.Fatalf("decode again %s: %v", b, err)
			}
			if !reflect.DeepEqual(again, tt.want) {
				t.Fatalf("round trip = %#v, want %#v", again, tt.want)
			}
		})
	}
}

func TestTaggedRejects(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"bare number":  `1`,
		"two tags":     `{"int": "1", "float": "1"}`,
		"unknown tag":  `{"set": []}`,
		"int overflow": `{"int": "18446744073709551616"}`,
		"bad hex":      `{"bytes": "zz"}`,
		"int key":      `{"map": [[1, null]]}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := DecodeValue(json.RawMessage(in)); !errors.Is(err, ErrTagged) {
				t.Fatalf("decode(%s) error = %v, want ErrTagged", in, err)
			}
		})
	}
}

func TestEncodeRejects(t *testing.T) {
	t.Parallel()
	for name, v := range map[string]any{
		"unknown type": map[string]any{},
		"int32":        int32(1),
		"bad utf8":     "\xff",
		"bad utf8 key": channelsproto.Map{{Key: "\xfe", Value: nil}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := AppendValue(nil, v); !errors.Is(err, ErrTagged) {
				t.Fatalf("AppendValue(%#v) error = %v, want ErrTagged", v, err)
			}
		})
	}
}

func TestTaggedNaN(t *testing.T) {
	t.Parallel()
	v, err := DecodeValue(json.RawMessage(`{"float": "nan"}`))
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := v.(float64); !ok || !math.IsNaN(f) {
		t.Fatalf("decode nan = %#v", v)
	}
	b, err := AppendValue(nil, v)
	if err != nil || string(b) != `{"float":"nan"}` {
		t.Fatalf("encode nan = %s, %v", b, err)
	}
}
