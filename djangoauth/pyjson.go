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
	if m, ok := decodeFlatObject(data); ok {
		return m, nil
	}
	return decodeJSON(data)
}

// decodeJSON is unmarshalPythonJSON with encoding/json.
func decodeJSON(data []byte) (any, error) {
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

// decodeFlatObject decodes, without encoding/json's reflection, the shape
// nearly every session dict has: one object whose values are strings,
// integers within int64, true, false or null, in printable ASCII without
// escapes, with nothing but whitespace after it. ok is false for anything
// else (nested values, floats, escapes, other bytes, invalid JSON), which
// decodeJSON then handles. Whatever it accepts, it decodes exactly as
// decodeJSON does: duplicate keys keep the last value, as a Python dict does
// (FuzzFlatObject checks the two against each other).
func decodeFlatObject(data []byte) (m map[string]any, ok bool) {
	p := 0
	// text is data as one string, made once: keys, string values and
	// numbers are slices of it, one allocation where there would be one per
	// key and per value.
	var text string
	ws := func() {
		for p < len(data) && (data[p] == ' ' || data[p] == '\t' || data[p] == '\n' || data[p] == '\r') {
			p++
		}
	}
	// str reads a string whose opening quote is at p.
	str := func() (string, bool) {
		p++
		start := p
		for ; p < len(data); p++ {
			switch c := data[p]; {
			case c == '"':
				p++
				return text[start : p-1], true
			case c < 0x20 || c > 0x7e || c == '\\':
				return "", false
			}
		}
		return "", false
	}
	// literal reads word, if it is at p.
	literal := func(word string) bool {
		if len(data)-p < len(word) || string(data[p:p+len(word)]) != word {
			return false
		}
		p += len(word)
		return true
	}
	ws()
	if p == len(data) || data[p] != '{' {
		return nil, false
	}
	p++
	text = string(data)
	m = make(map[string]any, 4)
	ws()
	if p < len(data) && data[p] == '}' {
		p++
	} else {
		for {
			ws()
			if p == len(data) || data[p] != '"' {
				return nil, false
			}
			k, ok := str()
			if !ok {
				return nil, false
			}
			ws()
			if p == len(data) || data[p] != ':' {
				return nil, false
			}
			p++
			ws()
			if p == len(data) {
				return nil, false
			}
			switch c := data[p]; {
			case c == '"':
				v, ok := str()
				if !ok {
					return nil, false
				}
				m[k] = v
			case c == '-' || c >= '0' && c <= '9':
				start := p
				if c == '-' {
					p++
				}
				digits := p
				for p < len(data) && data[p] >= '0' && data[p] <= '9' {
					p++
				}
				if p == digits || data[digits] == '0' && p-digits > 1 {
					return nil, false // no digit, or a leading zero
				}
				if p < len(data) && (data[p] == '.' || data[p] == 'e' || data[p] == 'E') {
					return nil, false // a float
				}
				n, err := strconv.ParseInt(text[start:p], 10, 64)
				if err != nil {
					return nil, false // beyond int64: *big.Int
				}
				m[k] = n
			case literal("true"):
				m[k] = true
			case literal("false"):
				m[k] = false
			case literal("null"):
				m[k] = nil
			default:
				return nil, false
			}
			ws()
			if p == len(data) {
				return nil, false
			}
			if data[p] == '}' {
				p++
				break
			}
			if data[p] != ',' {
				return nil, false
			}
			p++
		}
	}
	ws()
	if p != len(data) {
		return nil, false
	}
	return m, true
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
