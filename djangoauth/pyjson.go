package djangoauth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/laurel-server/laurel/channelsproto"
)

// MarshalPythonJSON serializes v exactly as Python's
// json.dumps(v, separators=(",", ":")) (ensure_ascii=True) does, which is
// what django.core.signing.JSONSerializer produces. Accepted values: nil,
// bool, Go integers, float32/64 (Python float repr, NaN and Infinity as
// Python writes them), string, []any, []string, channelsproto.Map (key order
// kept, like a Python dict) and map[string]any (keys sorted, since a Go map
// has no order).
func MarshalPythonJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := writePyJSON(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writePyJSON(buf *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		if x {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case int:
		buf.WriteString(strconv.FormatInt(int64(x), 10))
	case int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		fmt.Fprintf(buf, "%d", x)
	case *big.Int:
		buf.WriteString(x.String())
	case float32:
		buf.WriteString(pyFloatRepr(float64(x), true))
	case float64:
		buf.WriteString(pyFloatRepr(x, true))
	case string:
		writePyJSONString(buf, x)
	case []string:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			writePyJSONString(buf, e)
		}
		buf.WriteByte(']')
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writePyJSON(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case channelsproto.Map:
		buf.WriteByte('{')
		for i, f := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			writePyJSONString(buf, f.Key)
			buf.WriteByte(':')
			if err := writePyJSON(buf, f.Value); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writePyJSONString(buf, k)
			buf.WriteByte(':')
			if err := writePyJSON(buf, x[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return fmt.Errorf("djangoauth: cannot serialize %T as JSON", v)
	}
	return nil
}

const hexDigits = "0123456789abcdef"

// writePyJSONString is json.encoder.py_encode_basestring_ascii.
func writePyJSONString(buf *bytes.Buffer, s string) {
	buf.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			buf.WriteString(`\"`)
		case '\\':
			buf.WriteString(`\\`)
		case '\n':
			buf.WriteString(`\n`)
		case '\r':
			buf.WriteString(`\r`)
		case '\t':
			buf.WriteString(`\t`)
		case '\b':
			buf.WriteString(`\b`)
		case '\f':
			buf.WriteString(`\f`)
		default:
			if r >= 0x20 && r < 0x7f {
				buf.WriteRune(r)
				continue
			}
			if r > 0xffff {
				r -= 0x10000
				writeU(buf, 0xd800|((r>>10)&0x3ff))
				writeU(buf, 0xdc00|(r&0x3ff))
				continue
			}
			writeU(buf, r)
		}
	}
	buf.WriteByte('"')
}

func writeU(buf *bytes.Buffer, r rune) {
	buf.WriteString(`\u`)
	buf.WriteByte(hexDigits[(r>>12)&0xf])
	buf.WriteByte(hexDigits[(r>>8)&0xf])
	buf.WriteByte(hexDigits[(r>>4)&0xf])
	buf.WriteByte(hexDigits[r&0xf])
}

// pyFloatRepr is Python's float.__repr__ (and json's float encoding when
// jsonNames is true: NaN, Infinity, -Infinity).
func pyFloatRepr(f float64, jsonNames bool) string {
	switch {
	case math.IsNaN(f):
		if jsonNames {
			return "NaN"
		}
		return "nan"
	case math.IsInf(f, 1):
		if jsonNames {
			return "Infinity"
		}
		return "inf"
	case math.IsInf(f, -1):
		if jsonNames {
			return "-Infinity"
		}
		return "-inf"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // e.g. -1.2345e+06
	neg := strings.HasPrefix(e, "-")
	if neg {
		e = e[1:]
	}
	mant, expText, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expText)
	digits := strings.Replace(mant, ".", "", 1)
	var out string
	if exp >= -4 && exp < 16 {
		// fixed notation
		if exp < 0 {
			out = "0." + strings.Repeat("0", -exp-1) + digits
		} else if len(digits) <= exp+1 {
			out = digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
		} else {
			out = digits[:exp+1] + "." + digits[exp+1:]
		}
	} else {
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		sign := "+"
		if exp < 0 {
			sign = "-"
			exp = -exp
		}
		out = fmt.Sprintf("%se%s%02d", m, sign, exp)
	}
	if neg {
		out = "-" + out
	}
	return out
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
