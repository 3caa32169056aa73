package channelsproto

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/laurel-server/laurel/internal/pyjson"
)

// MarshalPythonJSON encodes v byte for byte as CPython 3.x json.dumps(v) does
// with its defaults (ensure_ascii=True, allow_nan=True, separators ", " and
// ": ", no sorting, no indent), which is what channels_redis' "json"
// serializer and Channels' JsonWebsocketConsumer.encode_json produce:
//
//   - strings: only '"', '\\', "\n", "\r", "\t", "\b", "\f" get short escapes;
//     every other character outside printable ASCII (0x20–0x7e) becomes
//     \uXXXX with lowercase hex, and characters above U+FFFF a surrogate pair.
//     '<', '>', '&' are not escaped. Invalid UTF-8 is encoded as U+FFFD;
//   - floats: Python's float repr (shortest round-trip digits, "1.0" keeps its
//     ".0", exponent form "1e+16" / "1.5e-05" outside 1e-4 ≤ |x| < 1e16) and
//     NaN, Infinity, -Infinity;
//   - integers of every Go width and *big.Int as decimal, bool as
//     true/false, nil as null;
//   - Map in field order; map[string]any with keys sorted; []any, []string,
//     []Map as arrays.
//
// []byte and other types fail like Python's "Object of type bytes is not JSON
// serializable", with an error wrapping ErrInvalidMessage. The encoder is
// shared with djangoauth (internal/pyjson).
func MarshalPythonJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := appendPyJSON(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// pyJSON is json.dumps' default configuration with this package's nesting
// bound and Map.
var pyJSON = &pyjson.Encoder[Map, Field]{ItemSep: ", ", KeySep: ": ", MaxDepth: maxDepth}

// appendPyJSON writes v to buf with pyJSON, its errors wrapping
// ErrInvalidMessage.
func appendPyJSON(buf *bytes.Buffer, v any) error {
	err := pyJSON.Encode(buf, v)
	if err == nil {
		return nil
	}
	var ute *pyjson.UnsupportedTypeError
	switch {
	case errors.As(err, &ute):
		return fmt.Errorf("%w: object of type %T is not JSON serializable", ErrInvalidMessage, ute.Value)
	case errors.Is(err, pyjson.ErrTooDeep):
		return fmt.Errorf("%w: nesting deeper than %d", ErrInvalidMessage, maxDepth)
	}
	return fmt.Errorf("%w: %w", ErrInvalidMessage, err)
}

// appendPyFloat appends Python's float.__repr__ of f (as json.dumps uses it,
// with NaN / Infinity / -Infinity for the non-finite values).
func appendPyFloat(dst []byte, f float64) []byte {
	return pyjson.AppendFloat(dst, f)
}

// UnmarshalJSON parses b as CPython 3.x json.loads(b) does with its
// defaults: a leading UTF-8 BOM is skipped (bytes input), NaN / Infinity /
// -Infinity are accepted, control characters inside strings are rejected
// (strict=True), objects become an ordered Map (a repeated key keeps its
// first position and last value), arrays []any, integers int64 (uint64 above
// math.MaxInt64; larger integers, which Python would keep as int, fail),
// numbers with a fraction or exponent float64. A lone surrogate escape
// (which Python keeps in the str) becomes U+FFFD because Go strings are
// UTF-8. Only UTF-8 input is supported (Python also auto-detects UTF-16/32).
// Errors wrap ErrMalformed.
func UnmarshalJSON(b []byte) (any, error) {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: JSON input is not valid UTF-8", ErrMalformed)
	}
	p := jsonParser{b: b}
	p.skipWS()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.skipWS()
	if p.i != len(p.b) {
		return nil, p.errf("extra data")
	}
	return v, nil
}

type jsonParser struct {
	b []byte
	i int
}

func (p *jsonParser) errf(format string, args ...any) error {
	return fmt.Errorf("%w: JSON: %s at char %d", ErrMalformed, fmt.Sprintf(format, args...), p.i)
}

func (p *jsonParser) skipWS() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) lit(s string) bool {
	if bytes.HasPrefix(p.b[p.i:], []byte(s)) {
		p.i += len(s)
		return true
	}
	return false
}

func (p *jsonParser) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, p.errf("nesting deeper than %d", maxDepth)
	}
	if p.i >= len(p.b) {
		return nil, p.errf("expecting value")
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		return p.str()
	case p.lit("null"):
		return nil, nil
	case p.lit("true"):
		return true, nil
	case p.lit("false"):
		return false, nil
	case p.lit("NaN"):
		return math.NaN(), nil
	case p.lit("Infinity"):
		return math.Inf(1), nil
	case p.lit("-Infinity"):
		return math.Inf(-1), nil
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	default:
		return nil, p.errf("expecting value")
	}
}

func (p *jsonParser) object(depth int) (any, error) {
	p.i++ // {
	m := Map{}
	var index map[string]int
	p.skipWS()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return m, nil
	}
	for {
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, p.errf("expecting property name enclosed in double quotes")
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		p.skipWS()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, p.errf("expecting ':' delimiter")
		}
		p.i++
		p.skipWS()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		m, index = setField(m, index, k, v)
		p.skipWS()
		if p.i >= len(p.b) {
			return nil, p.errf("expecting ',' delimiter")
		}
		switch p.b[p.i] {
		case '}':
			p.i++
			return m, nil
		case ',':
			p.i++
			p.skipWS()
		default:
			return nil, p.errf("expecting ',' delimiter")
		}
	}
}

func (p *jsonParser) array(depth int) (any, error) {
	p.i++ // [
	out := []any{}
	p.skipWS()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return out, nil
	}
	for {
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.skipWS()
		if p.i >= len(p.b) {
			return nil, p.errf("expecting ',' delimiter")
		}
		switch p.b[p.i] {
		case ']':
			p.i++
			return out, nil
		case ',':
			p.i++
			p.skipWS()
		default:
			return nil, p.errf("expecting ',' delimiter")
		}
	}
}

func (p *jsonParser) str() (string, error) {
	p.i++ // opening quote
	start := p.i
	// Fast path: no escapes.
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '"' {
			s := string(p.b[start:p.i])
			p.i++
			return s, nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.i++
	}
	out := append([]byte(nil), p.b[start:p.i]...)
	for {
		if p.i >= len(p.b) {
			return "", p.errf("unterminated string")
		}
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(out), nil
		case c < 0x20:
			return "", p.errf("invalid control character")
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		p.i++ // backslash
		if p.i >= len(p.b) {
			return "", p.errf("unterminated string")
		}
		e := p.b[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.errf("invalid \\uXXXX escape")
			}
			if utf16.IsSurrogate(r) && r < 0xDC00 && p.i+1 < len(p.b) && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
				save := p.i
				p.i += 2
				r2, ok := p.hex4()
				if ok && r2 >= 0xDC00 && r2 <= 0xDFFF {
					r = utf16.DecodeRune(r, r2)
				} else {
					p.i = save
				}
			}
			if utf16.IsSurrogate(r) {
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
		default:
			p.i--
			return "", p.errf("invalid \\escape")
		}
	}
}

func (p *jsonParser) hex4() (rune, bool) {
	if p.i+4 > len(p.b) {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}

func (p *jsonParser) number() (any, error) {
	start := p.i
	if p.b[p.i] == '-' {
		p.i++
	}
	digits := func() int {
		n := 0
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.i >= len(p.b) {
		return nil, p.errf("expecting value")
	}
	if p.b[p.i] == '0' {
		p.i++
	} else if digits() == 0 {
		p.i = start
		return nil, p.errf("expecting value")
	}
	isFloat := false
	if p.i+1 < len(p.b) && p.b[p.i] == '.' && p.b[p.i+1] >= '0' && p.b[p.i+1] <= '9' {
		p.i++
		digits()
		isFloat = true
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		save := p.i
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			p.i = save
		} else {
			isFloat = true
		}
	}
	text := string(p.b[start:p.i])
	if isFloat {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, p.errf("bad number %q", text)
		}
		return f, nil
	}
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		return n, nil
	}
	if u, err := strconv.ParseUint(text, 10, 64); err == nil {
		return u, nil
	}
	return nil, p.errf("integer %s does not fit in 64 bits", text)
}
