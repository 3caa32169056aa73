package djangoauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/laurel-server/laurel/channelsproto"
	"github.com/laurel-server/laurel/internal/pyjson"
)

// MarshalPythonJSON serializes v exactly as Python's
// json.dumps(v, separators=(",", ":")) (ensure_ascii=True) does, which is
// what django.core.signing.JSONSerializer produces. Accepted values: nil,
// bool, Go integers and *big.Int, float32/64 (Python float repr, NaN and
// Infinity as Python writes them), string, []any, []string,
// channelsproto.Map (key order kept, like a Python dict) and map[string]any
// (keys sorted, since a Go map has no order). The encoder is shared with
// channelsproto (internal/pyjson).
func MarshalPythonJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := signingJSON.Encode(&buf, v); err != nil {
		var ute *pyjson.UnsupportedTypeError
		if errors.As(err, &ute) {
			return nil, fmt.Errorf("djangoauth: cannot serialize %T as JSON", ute.Value)
		}
		return nil, fmt.Errorf("djangoauth: %w", err)
	}
	return buf.Bytes(), nil
}

// signingJSON is signing.JSONSerializer's json.dumps configuration. It sets
// no nesting bound (MaxDepth 0), as before the encoder was shared.
var signingJSON = &pyjson.Encoder[channelsproto.Map, channelsproto.Field]{ItemSep: ",", KeySep: ":"}

// pyFloatRepr is Python's float.__repr__ (and json's float encoding when
// jsonNames is true: NaN, Infinity, -Infinity).
func pyFloatRepr(f float64, jsonNames bool) string {
	if !jsonNames {
		switch {
		case math.IsNaN(f):
			return "nan"
		case math.IsInf(f, 1):
			return "inf"
		case math.IsInf(f, -1):
			return "-inf"
		}
	}
	var tmp [32]byte
	return string(pyjson.AppendFloat(tmp[:0], f))
}

// unmarshalPythonJSON decodes bytes as django.core.signing.JSONSerializer
// does: latin-1 text, then json.loads. Objects become map[string]any,
// integers int64 (or *big.Int beyond int64), other numbers float64.
func unmarshalPythonJSON(data []byte) (any, error) {
	if !isASCII(data) {
		data = latin1ToUTF8(data)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: bad JSON", ErrBadPayload)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after JSON", ErrBadPayload)
	}
	return convertNumbers(v), nil
}

func convertNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n
			}
			if b, ok := new(big.Int).SetString(s, 10); ok {
				return b
			}
		}
		f, _ := strconv.ParseFloat(s, 64)
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = convertNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = convertNumbers(e)
		}
	}
	return v
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func latin1ToUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b)+8)
	for _, c := range b {
		out = utf8.AppendRune(out, rune(c))
	}
	return out
}
