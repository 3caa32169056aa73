package ctlwire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/laurel-server/laurel/channelsproto"
)

// ErrTagged reports a tagged JSON value that does not follow the encoding
// described on DecodeValue.
var ErrTagged = errors.New("ctlwire: bad tagged value")

// DecodeValue turns the tagged JSON form the Python tests write into the Go
// value channelsproto.Map carries. The encoding is lossless for every type a
// channels_redis message may hold:
//
//	null, true, false     -> nil, bool
//	"text"                -> string
//	{"int": "-12"}        -> int64, or uint64 above math.MaxInt64
//	{"float": "1.5"}      -> float64 (Python repr / Go 'g' text, "nan", "inf")
//	{"bytes": "00ff"}     -> []byte (hex)
//	{"list": [v, ...]}    -> []any
//	{"map": [["k", v]]}   -> channelsproto.Map, key order kept
//
// Bare JSON numbers are rejected so that an int can never be confused with a
// float on either side.
func DecodeValue(raw json.RawMessage) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var tree any
	if err := d.Decode(&tree); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTagged, err)
	}
	if d.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrTagged)
	}
	return fromTree(tree)
}

// fromTree converts one value of the generic JSON tree (parsed once, so large
// messages cost a single pass) from its tagged form.
func fromTree(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, string:
		return x, nil
	case json.Number:
		return nil, fmt.Errorf("%w: untagged number %s", ErrTagged, x)
	case []any:
		return nil, fmt.Errorf("%w: untagged array", ErrTagged)
	case map[string]any:
		if len(x) != 1 {
			return nil, fmt.Errorf("%w: want exactly one tag, got %d", ErrTagged, len(x))
		}
		for tag, body := range x {
			return fromTagged(tag, body)
		}
	}
	return nil, fmt.Errorf("%w: unexpected %T", ErrTagged, v)
}

func fromTagged(tag string, body any) (any, error) {
	switch tag {
	case "int", "float", "bytes":
		s, ok := body.(string)
		if !ok {
			return nil, fmt.Errorf("%w: %s body must be a string", ErrTagged, tag)
		}
		return parseScalar(tag, s)
	case "list":
		items, ok := body.([]any)
		if !ok {
			return nil, fmt.Errorf("%w: list body must be an array", ErrTagged)
		}
		out := make([]any, 0, len(items))
		for _, it := range items {
			v, err := fromTree(it)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case "map":
		pairs, ok := body.([]any)
		if !ok {
			return nil, fmt.Errorf("%w: map body must be an array of pairs", ErrTagged)
		}
		out := make(channelsproto.Map, 0, len(pairs))
		for _, p := range pairs {
			pair, ok := p.([]any)
			if !ok || len(pair) != 2 {
				return nil, fmt.Errorf("%w: map entry must be a [key, value] pair", ErrTagged)
			}
			k, ok := pair[0].(string)
			if !ok {
				return nil, fmt.Errorf("%w: map key must be a string, got %v", ErrTagged, pair[0])
			}
			v, err := fromTree(pair[1])
			if err != nil {
				return nil, err
			}
			out = append(out, channelsproto.Field{Key: k, Value: v})
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: unknown tag %q", ErrTagged, tag)
}

// parseScalar decodes the text of an "int", "float" or "bytes" tag.
func parseScalar(tag, s string) (any, error) {
	switch tag {
	case "int":
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		u, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: int %q out of range", ErrTagged, s)
		}
		return u, nil
	case "float":
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: float %q", ErrTagged, s)
		}
		return f, nil
	default:
		b, err := hex.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%w: bytes: %w", ErrTagged, err)
		}
		return b, nil
	}
}

// DecodeMessage decodes a tagged value that must be a map.
func DecodeMessage(raw json.RawMessage) (channelsproto.Map, error) {
	v, err := DecodeValue(raw)
	if err != nil {
		return nil, err
	}
	m, ok := v.(channelsproto.Map)
	if !ok {
		return nil, fmt.Errorf("%w: message must be a map, got %T", ErrTagged, v)
	}
	return m, nil
}

// AppendValue is the inverse of DecodeValue: it appends the tagged JSON
// form of a value produced by channelsproto to dst. It writes the JSON
// directly (no reflection), so large messages stay cheap under -race. A Go
// type outside the documented set, or a string that is not valid UTF-8 (no
// Python str can hold it), is an error, so the Python side never sees a
// silently coerced value.
func AppendValue(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		return strconv.AppendBool(dst, x), nil
	case string:
		return appendString(dst, x)
	case int64:
		dst = append(dst, `{"int":"`...)
		return append(strconv.AppendInt(dst, x, 10), `"}`...), nil
	case uint64:
		dst = append(dst, `{"int":"`...)
		return append(strconv.AppendUint(dst, x, 10), `"}`...), nil
	case float64:
		dst = append(dst, `{"float":"`...)
		return append(append(dst, formatFloat(x)...), `"}`...), nil
	case []byte:
		dst = append(dst, `{"bytes":"`...)
		return append(hex.AppendEncode(dst, x), `"}`...), nil
	case []any:
		dst = append(dst, `{"list":[`...)
		for i, it := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = AppendValue(dst, it); err != nil {
				return nil, err
			}
		}
		return append(dst, "]}"...), nil
	case channelsproto.Map:
		dst = append(dst, `{"map":[`...)
		for i, f := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '[')
			var err error
			if dst, err = appendString(dst, f.Key); err != nil {
				return nil, err
			}
			dst = append(dst, ',')
			if dst, err = AppendValue(dst, f.Value); err != nil {
				return nil, err
			}
			dst = append(dst, ']')
		}
		return append(dst, "]}"...), nil
	}
	return nil, fmt.Errorf("%w: channelsproto produced unexpected Go type %T", ErrTagged, v)
}

// appendString appends s as a JSON string, escaping only what JSON requires.
func appendString(dst []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("%w: channelsproto produced a string that is not valid UTF-8: %q", ErrTagged, s)
	}
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"'), nil
}

// formatFloat writes f so that Python's float() reads back the same bits.
func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
