package channelsproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

type msgpackGolden struct {
	Cases []struct {
		Name    string
		Value   json.RawMessage
		Hex     string
		Decoded json.RawMessage
	}
	Rejects []struct {
		Name        string
		Hex         string
		PythonError string `json:"python_error"`
	}
}

func TestMsgpackGolden(t *testing.T) {
	t.Parallel()
	var g msgpackGolden
	loadGolden(t, "msgpack.json", &g)
	if len(g.Cases) < 20 {
		t.Fatalf("only %d golden cases", len(g.Cases))
	}
	for _, c := range g.Cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			want := mustHex(t, c.Hex)
			if c.Value != nil {
				got, err := MarshalMsgpack(fromTagged(t, c.Value))
				if err != nil {
					t.Fatalf("MarshalMsgpack: %v", err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("encode mismatch\n got %s\nwant %s", short(got), short(want))
				}
			}
			dec, err := UnmarshalMsgpack(want)
			if err != nil {
				t.Fatalf("UnmarshalMsgpack: %v", err)
			}
			if exp := fromTagged(t, c.Decoded); !equalValue(dec, exp) {
				t.Fatalf("decode mismatch\n got %#v\nwant %#v", dec, exp)
			}
		})
	}
	for _, c := range g.Rejects {
		t.Run("reject_"+c.Name, func(t *testing.T) {
			t.Parallel()
			_, err := UnmarshalMsgpack(mustHex(t, c.Hex))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("python raises %s, Go returned %v", c.PythonError, err)
			}
		})
	}
}

func TestMarshalMsgpackTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"nil bytes is empty bin", []byte(nil), "c400"},
		{"int8", int8(-33), "d0df"},
		{"uint16", uint16(300), "cd012c"},
		{"float32 widens", float32(1.5), "cb3ff8000000000000"},
		{"string slice", []string{"a"}, "91a161"},
		{"go map sorted", map[string]any{"b": 1, "a": 2}, "82a16102a16201"},
		{"map slice", []Map{{{Key: "a", Value: 1}}}, "9181a16101"},
		{"uint64 max", uint64(math.MaxUint64), "cfffffffffffffffff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := MarshalMsgpack(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if h := short(got); h != tt.want {
				t.Fatalf("got %s want %s", h, tt.want)
			}
		})
	}
	if _, err := MarshalMsgpack(struct{}{}); !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("struct: got %v, want ErrInvalidMessage", err)
	}
}

func TestUnmarshalMsgpackLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []byte
	}{
		{"huge array header", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}},
		{"huge map header", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}},
		{"huge str header", []byte{0xdb, 0xff, 0xff, 0xff, 0xff}},
		{"ext", []byte{0xd4, 0x01, 0x00}},
		{"deep nesting", bytes.Repeat([]byte{0x91}, 2000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := UnmarshalMsgpack(tt.in); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
}

func TestMsgpackRoundTripReferenceVector(t *testing.T) {
	t.Parallel()
	// Reference sheet §1.6 test vector.
	msg := Map{{Key: "type", Value: "task.update"}, {Key: "pct", Value: 50}}
	got, err := MarshalMsgpack(msg)
	if err != nil {
		t.Fatal(err)
	}
	if h := short(got); h != "82a474797065ab7461736b2e757064617465a370637432" {
		t.Fatalf("got %s", h)
	}
}

// TestStringListHeaders: the []string fast path writes the same str
// headers as the generic encoder at every size boundary.
func TestStringListHeaders(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 31, 32, 255, 256, 65535, 65536, 70000} {
		s := strings.Repeat("é", n/2) + strings.Repeat("a", n%2)
		fast, err := MarshalMsgpack([]string{s, "x"})
		if err != nil {
			t.Fatal(err)
		}
		generic, err := MarshalMsgpack([]any{s, "x"})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fast, generic) {
			t.Errorf("%d bytes: []string % x… differs from []any % x…", n, fast[:min(8, len(fast))], generic[:min(8, len(generic))])
		}
	}
}
