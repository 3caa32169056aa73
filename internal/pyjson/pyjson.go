// Package pyjson encodes Go values byte for byte as CPython 3.x's json
// encoder (Lib/json/encoder.py, the pure-Python and _json C paths agree)
// does with ensure_ascii=True, allow_nan=True, check_circular irrelevant, no
// sort_keys and no indent, leaving the item and key separators to the caller:
// json.dumps' defaults are ", " and ": " (channels_redis' "json" serializer,
// Channels' JsonWebsocketConsumer.encode_json) and Django's
// signing.JSONSerializer passes separators=(",", ":").
//
// It is the one implementation behind channelsproto.MarshalPythonJSON and
// djangoauth.MarshalPythonJSON; those packages keep their own error
// sentinels and wrap the errors returned here.
package pyjson

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrTooDeep is returned when a value is nested deeper than
// Encoder.MaxDepth.
var ErrTooDeep = errors.New("pyjson: nesting too deep")

// UnsupportedTypeError is returned for a value of a type the encoder does
// not know, like Python's "Object of type bytes is not JSON
// serializable" TypeError.
type UnsupportedTypeError struct {
	// Value is the offending value.
	Value any
}

// Error implements error.
func (e *UnsupportedTypeError) Error() string {
	return fmt.Sprintf("pyjson: object of type %T is not JSON serializable", e.Value)
}

// Field is the shape of one key/value pair of an ordered object type such
// as channelsproto.Field: an Encoder's object type M is a slice of a type
// whose underlying type is Field.
type Field = struct {
	Key   string
	Value any
}

// Encoder holds the json.dumps parameters that differ between callers, and
// the caller's ordered-object type M (like channelsproto.Map, a []Field in
// insertion order, as a Python dict is). M is a type parameter rather than
// an import so that channelsproto can use this package, and rather than a
// hook so that encoding does not make the caller's buffer escape. The zero
// value is not useful: set ItemSep and KeySep. An Encoder must not be
// modified once in use; it is then safe for concurrent use.
type Encoder[M ~[]F, F ~Field] struct {
	// ItemSep and KeySep are json.dumps' separators=(item, key).
	ItemSep, KeySep string
	// MaxDepth bounds nesting: a value at depth greater than MaxDepth (the
	// top-level value is at depth 0) fails with ErrTooDeep. Zero means no
	// limit.
	MaxDepth int
}

// Encode writes v to buf as json.dumps(v, separators=(e.ItemSep, e.KeySep))
// would:
//
//   - strings: only '"', '\\', "\n", "\r", "\t", "\b", "\f" get short escapes;
//     every other character outside printable ASCII (0x20–0x7e) becomes
//     \uXXXX with lowercase hex, and characters above U+FFFF a surrogate pair.
//     '<', '>', '&' are not escaped. Invalid UTF-8 is encoded as U+FFFD;
//   - floats: Python's float repr (see AppendFloat), NaN, Infinity, -Infinity;
//   - integers of every Go width and *big.Int as decimal, bool as
//     true/false, nil as null;
//   - M in its order; map[string]any with keys sorted (a Go map has no
//     order); []any, []string and []M as arrays;
//   - any other type (a nil *big.Int too) fails with *UnsupportedTypeError.
//
// On error buf holds a partial encoding.
func (e *Encoder[M, F]) Encode(buf *bytes.Buffer, v any) error {
	return e.encode(buf, v, 0)
}

func (e *Encoder[M, F]) encode(buf *bytes.Buffer, v any, depth int) error {
	if e.MaxDepth > 0 && depth > e.MaxDepth {
		return fmt.Errorf("%w: deeper than %d", ErrTooDeep, e.MaxDepth)
	}
	var scratch [32]byte
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		if x {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case string:
		WriteString(buf, x)
	case int:
		buf.Write(strconv.AppendInt(scratch[:0], int64(x), 10))
	case int8:
		buf.Write(strconv.AppendInt(scratch[:0], int64(x), 10))
	case int16:
		buf.Write(strconv.AppendInt(scratch[:0], int64(x), 10))
	case int32:
		buf.Write(strconv.AppendInt(scratch[:0], int64(x), 10))
	case int64:
		buf.Write(strconv.AppendInt(scratch[:0], x, 10))
	case uint:
		buf.Write(strconv.AppendUint(scratch[:0], uint64(x), 10))
	case uint8:
		buf.Write(strconv.AppendUint(scratch[:0], uint64(x), 10))
	case uint16:
		buf.Write(strconv.AppendUint(scratch[:0], uint64(x), 10))
	case uint32:
		buf.Write(strconv.AppendUint(scratch[:0], uint64(x), 10))
	case uint64:
		buf.Write(strconv.AppendUint(scratch[:0], x, 10))
	case *big.Int:
		if x == nil {
			return &UnsupportedTypeError{Value: v}
		}
		buf.Write(x.Append(scratch[:0], 10))
	case float32:
		buf.Write(AppendFloat(scratch[:0], float64(x)))
	case float64:
		buf.Write(AppendFloat(scratch[:0], x))
	case M:
		buf.WriteByte('{')
		for i := range x {
			f := Field(x[i])
			e.writeKey(buf, i, f.Key)
			if err := e.encode(buf, f.Value, depth+1); err != nil {
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
			e.writeKey(buf, i, k)
			if err := e.encode(buf, x[k], depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, el := range x {
			if i > 0 {
				buf.WriteString(e.ItemSep)
			}
			if err := e.encode(buf, el, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case []string:
		buf.WriteByte('[')
		for i, el := range x {
			if i > 0 {
				buf.WriteString(e.ItemSep)
			}
			WriteString(buf, el)
		}
		buf.WriteByte(']')
	case []M:
		buf.WriteByte('[')
		for i, el := range x {
			if i > 0 {
				buf.WriteString(e.ItemSep)
			}
			if err := e.encode(buf, el, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	default:
		return &UnsupportedTypeError{Value: v}
	}
	return nil
}

// writeKey writes the item separator (unless i is 0), key and the key
// separator.
func (e *Encoder[M, F]) writeKey(buf *bytes.Buffer, i int, key string) {
	if i > 0 {
		buf.WriteString(e.ItemSep)
	}
	WriteString(buf, key)
	buf.WriteString(e.KeySep)
}

const hexDigits = "0123456789abcdef"

// WriteString writes s as json.encoder.py_encode_basestring_ascii does (see
// Encoder.Encode for the escaping rules).
func WriteString(buf *bytes.Buffer, s string) {
	buf.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			i++
			continue
		}
		buf.WriteString(s[start:i])
		if c < utf8.RuneSelf {
			switch c {
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
				writeU(buf, rune(c))
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r > 0xFFFF {
			r1, r2 := utf16.EncodeRune(r)
			writeU(buf, r1)
			writeU(buf, r2)
		} else {
			writeU(buf, r)
		}
		i += size
		start = i
	}
	buf.WriteString(s[start:])
	buf.WriteByte('"')
}

func writeU(buf *bytes.Buffer, r rune) {
	buf.Write([]byte{'\\', 'u', hexDigits[r>>12&0xF], hexDigits[r>>8&0xF], hexDigits[r>>4&0xF], hexDigits[r&0xF]})
}

// AppendFloat appends Python's float.__repr__ of f as json.dumps writes it
// (float.__repr__ with NaN / Infinity / -Infinity for the non-finite
// values): shortest round-trip digits, "1.0" keeps its ".0", exponent form
// "1e+16" / "1.5e-05" outside 1e-4 ≤ |x| < 1e16.
func AppendFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	}
	var tmp [32]byte
	e := strconv.AppendFloat(tmp[:0], f, 'e', -1, 64) // [-]d[.ddd]e±XX
	neg := e[0] == '-'
	if neg {
		e = e[1:]
		dst = append(dst, '-')
	}
	ePos := bytes.IndexByte(e, 'e')
	mant, expStr := e[:ePos], e[ePos+1:]
	exp, _ := strconv.Atoi(string(expStr))
	digits := make([]byte, 0, len(mant))
	for _, c := range mant {
		if c != '.' {
			digits = append(digits, c)
		}
	}
	// Python's repr uses float_repr_style 'r': fixed notation when
	// -4 <= exp < 16, otherwise exponent notation.
	if exp < -4 || exp >= 16 {
		dst = append(dst, digits[0])
		if len(digits) > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'e')
		if exp < 0 {
			dst = append(dst, '-')
			exp = -exp
		} else {
			dst = append(dst, '+')
		}
		if exp < 10 {
			dst = append(dst, '0')
		}
		return strconv.AppendInt(dst, int64(exp), 10)
	}
	if exp < 0 {
		dst = append(dst, '0', '.')
		for i := 0; i < -exp-1; i++ {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	}
	// exp >= 0: integer part is digits[:exp+1] (zero padded).
	if len(digits) <= exp+1 {
		dst = append(dst, digits...)
		for i := len(digits); i < exp+1; i++ {
			dst = append(dst, '0')
		}
		return append(dst, '.', '0')
	}
	dst = append(dst, digits[:exp+1]...)
	dst = append(dst, '.')
	return append(dst, digits[exp+1:]...)
}
