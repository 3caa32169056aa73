package channelsproto

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
)

type pyjsonGolden struct {
	Dumps []struct {
		Name  string
		Value json.RawMessage
		JSON  string
	}
	Loads []struct {
		Name  string
		JSON  string
		Value json.RawMessage
	}
	Rejects []struct {
		Name string
		JSON string
	}
}

func TestPythonJSONGolden(t *testing.T) {
	t.Parallel()
	var g pyjsonGolden
	loadGolden(t, "pyjson.json", &g)
	for _, c := range g.Dumps {
		t.Run("dumps_"+c.Name, func(t *testing.T) {
			t.Parallel()
			v := fromTagged(t, c.Value)
			got, err := MarshalPythonJSON(v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.JSON {
				t.Fatalf("\n got %s\nwant %s", got, c.JSON)
			}
			back, err := UnmarshalJSON(got)
			if err != nil {
				t.Fatalf("UnmarshalJSON(own output): %v", err)
			}
			if !equalValue(back, v) {
				t.Fatalf("round trip\n got %#v\nwant %#v", back, v)
			}
		})
	}
	for _, c := range g.Loads {
		t.Run("loads_"+c.Name, func(t *testing.T) {
			t.Parallel()
			got, err := UnmarshalJSON([]byte(c.JSON))
			if err != nil {
				t.Fatal(err)
			}
			if want := fromTagged(t, c.Value); !equalValue(got, want) {
				t.Fatalf("\n got %#v\nwant %#v", got, want)
			}
		})
	}
	for _, c := range g.Rejects {
		t.Run("reject_"+c.Name, func(t *testing.T) {
			t.Parallel()
			if _, err := UnmarshalJSON([]byte(c.JSON)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("python rejects %q, Go returned %v", c.JSON, err)
			}
		})
	}
}

func TestAppendPyFloat(t *testing.T) {
	t.Parallel()
	// Expected strings are CPython 3.11 repr() results.
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0.0"}, {math.Copysign(0, -1), "-0.0"}, {1, "1.0"}, {10, "10.0"}, {0.5, "0.5"},
		{1e15, "1000000000000000.0"}, {9999999999999998, "9999999999999998.0"}, {1e16, "1e+16"},
		{1.2345e16, "1.2345e+16"}, {1e-4, "0.0001"}, {0.00012, "0.00012"}, {1e-5, "1e-05"},
		{1.5e-7, "1.5e-07"}, {1e100, "1e+100"}, {-2.5e-300, "-2.5e-300"}, {123.456, "123.456"},
		{0.30000000000000004, "0.30000000000000004"}, {math.MaxFloat64, "1.7976931348623157e+308"},
		{5e-324, "5e-324"}, {math.Inf(-1), "-Infinity"},
	}
	for _, tt := range tests {
		if got := string(appendPyFloat(nil, tt.in)); got != tt.want {
			t.Errorf("appendPyFloat(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestMarshalPythonJSONTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"no html escaping", "<a&b>", `"<a&b>"`},
		{"del escaped", "\x7f", `"\u007f"`},
		{"surrogate pair", "\U0001F600", `"\ud83d\ude00"`},
		{"invalid utf8", "a\xffb", `"a\ufffdb"`},
		{"go map sorted", map[string]any{"b": 1, "a": []string{"x"}}, `{"a": ["x"], "b": 1}`},
		{"ints", []any{int8(-1), uint8(2), int32(3), uint64(math.MaxUint64)}, `[-1, 2, 3, 18446744073709551615]`},
		{"empty", Map{}, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := MarshalPythonJSON(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got %s want %s", got, tt.want)
			}
		})
	}
	if _, err := MarshalPythonJSON(Map{{Key: "b", Value: []byte("x")}}); !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("bytes: got %v, want ErrInvalidMessage", err)
	}
}
