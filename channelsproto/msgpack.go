package channelsproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// maxDepth bounds nesting when encoding and decoding. Python's msgpack
// (1.x, C extension) refuses to pack deeper than 512 levels and its unpacker
// has a fixed stack of 1024; a Go decoder must not recurse without limit on
// untrusted input.
const maxDepth = 512

// MarshalMsgpack encodes v exactly as msgpack-python 1.x packb(v) (defaults,
// i.e. use_bin_type=True) encodes the equivalent Python value, which is what
// channels_redis 4.0–4.3 stores:
//
//   - string → str (fixstr, str8, str16, str32), never bin;
//   - []byte → bin (bin8/16/32), a nil []byte included (Python b"");
//   - integers → the smallest encoding: positive fixint, uint8–uint64 for
//     non-negative values, negative fixint, int8–int64 for negative ones;
//   - float32 and float64 → float64 (0xcb), as Python floats are doubles;
//   - bool, nil → true/false, nil;
//   - Map → map in field order; map[string]any → map with keys sorted
//     (Go maps have no order); []any, []string, []Map → array.
//
// Other types fail with an error wrapping ErrInvalidMessage.
func MarshalMsgpack(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := encodeMsgpackTo(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var encoderPool = sync.Pool{New: func() any { return msgpack.NewEncoder(nil) }}

// encodeMsgpackTo appends the msgpack form of v to buf.
func encodeMsgpackTo(buf *bytes.Buffer, v any) error {
	enc := encoderPool.Get().(*msgpack.Encoder)
	enc.Reset(buf)
	err := encodeValue(enc, v, 0)
	enc.Reset(nil)
	encoderPool.Put(enc)
	return err
}

func encodeValue(e *msgpack.Encoder, v any, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: nesting deeper than %d", ErrInvalidMessage, maxDepth)
	}
	switch x := v.(type) {
	case nil:
		return e.EncodeNil()
	case bool:
		return e.EncodeBool(x)
	case string:
		return e.EncodeString(x)
	case []byte:
		if err := e.EncodeBytesLen(len(x)); err != nil {
			return err
		}
		_, err := e.Writer().Write(x)
		return err
	case int:
		return e.EncodeInt(int64(x))
	case int8:
		return e.EncodeInt(int64(x))
	case int16:
		return e.EncodeInt(int64(x))
	case int32:
		return e.EncodeInt(int64(x))
	case int64:
		return e.EncodeInt(x)
	case uint:
		return e.EncodeUint(uint64(x))
	case uint8:
		return e.EncodeUint(uint64(x))
	case uint16:
		return e.EncodeUint(uint64(x))
	case uint32:
		return e.EncodeUint(uint64(x))
	case uint64:
		return e.EncodeUint(x)
	case float32:
		return e.EncodeFloat64(float64(x))
	case float64:
		return e.EncodeFloat64(x)
	case Map:
		if err := e.EncodeMapLen(len(x)); err != nil {
			return err
		}
		for i := range x {
			if err := e.EncodeString(x[i].Key); err != nil {
				return err
			}
			if err := encodeValue(e, x[i].Value, depth+1); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if err := e.EncodeMapLen(len(x)); err != nil {
			return err
		}
		for _, k := range keys {
			if err := e.EncodeString(k); err != nil {
				return err
			}
			if err := encodeValue(e, x[k], depth+1); err != nil {
				return err
			}
		}
		return nil
	case []any:
		if err := e.EncodeArrayLen(len(x)); err != nil {
			return err
		}
		for _, el := range x {
			if err := encodeValue(e, el, depth+1); err != nil {
				return err
			}
		}
		return nil
	case []string:
		if err := e.EncodeArrayLen(len(x)); err != nil {
			return err
		}
		if buf, ok := e.Writer().(*bytes.Buffer); ok {
			// The group_send target list: headers written directly.
			for _, el := range x {
				appendStrHeader(buf, len(el))
				buf.WriteString(el)
			}
			return nil
		}
		for _, el := range x {
			if err := e.EncodeString(el); err != nil {
				return err
			}
		}
		return nil
	case []Map:
		if err := e.EncodeArrayLen(len(x)); err != nil {
			return err
		}
		for _, el := range x {
			if err := encodeValue(e, el, depth+1); err != nil {
				return err
			}
		}
		return nil
	default:
		return fmt.Errorf("%w: cannot serialize value of type %T", ErrInvalidMessage, v)
	}
}

// appendStrHeader writes the smallest msgpack str header for n bytes, as
// msgpack.Encoder.EncodeString does (fixstr, str8, str16, str32).
func appendStrHeader(buf *bytes.Buffer, n int) {
	// Each case's bound makes its conversion exact, except str32 beyond
	// 4 GiB, which msgpack cannot represent (Encoder.EncodeString
	// truncates the same way).
	switch {
	case n < 32:
		buf.WriteByte(msgpcode.FixedStrLow | byte(n)) //nolint:gosec // n < 32
	case n <= math.MaxUint8:
		buf.Write([]byte{msgpcode.Str8, byte(n)}) //nolint:gosec // n <= 255
	case n <= math.MaxUint16:
		buf.Write(binary.BigEndian.AppendUint16([]byte{msgpcode.Str16}, uint16(n))) //nolint:gosec // n <= 65535
	default:
		buf.Write(binary.BigEndian.AppendUint32([]byte{msgpcode.Str32}, uint32(n))) //nolint:gosec // see above
	}
}

// UnmarshalMsgpack decodes one msgpack object the way msgpack-python 1.x
// unpackb(b) does with its defaults (raw=False, strict_map_key=True), into
// the Go types documented on Map: nil, bool, int64 (or uint64 above
// math.MaxInt64), float64 (float32 widened), string, []byte, []any, Map.
//
// Like Python it rejects str that is not valid UTF-8, map keys that are not
// str or bin (bin keys become strings and must then be valid UTF-8, a
// deliberate restriction), trailing bytes ("ExtraData") and
// truncated input; it also rejects ext types, which have no Go
// representation here (Python returns ExtType objects), and nesting deeper
// than 512. A repeated map key keeps its first position and last value, as a
// Python dict does. Errors wrap ErrMalformed.
func UnmarshalMsgpack(b []byte) (any, error) {
	return unmarshalMsgpack(b, false)
}

func unmarshalMsgpack(b []byte, inbox bool) (any, error) {
	r := bytes.NewReader(b)
	d := decoderPool.Get().(*msgpack.Decoder)
	defer decoderPool.Put(d)
	d.Reset(r)
	v, err := decodeValue(d, r, b, 0, inbox)
	d.Reset(nil)
	if err != nil {
		if errors.Is(err, ErrMalformed) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d bytes of extra data", ErrMalformed, r.Len())
	}
	return v, nil
}

// unmarshalMsgpackMap decodes a payload whose top level must be a map.
func unmarshalMsgpackMap(b []byte, inbox bool) (Map, error) {
	v, err := unmarshalMsgpack(b, inbox)
	if err != nil {
		return nil, err
	}
	m, ok := v.(Map)
	if !ok {
		return nil, fmt.Errorf("%w: top-level value is %T, not a map", ErrMalformed, v)
	}
	return m, nil
}

var decoderPool = sync.Pool{New: func() any { return msgpack.NewDecoder(bytes.NewReader(nil)) }}

// takeBytes reads a str/bin header and returns the payload as a sub-slice of
// src (the decoder reads src through r without buffering), advancing r.
func takeBytes(d *msgpack.Decoder, r *bytes.Reader, src []byte) ([]byte, error) {
	n, err := d.DecodeBytesLen()
	if err != nil {
		return nil, truncated(err)
	}
	if n < 0 || n > r.Len() {
		return nil, fmt.Errorf("%w: truncated str/bin", ErrMalformed)
	}
	pos := len(src) - r.Len()
	if _, err := r.Seek(int64(n), io.SeekCurrent); err != nil {
		return nil, truncated(err)
	}
	return src[pos : pos+n], nil
}

// decodeValue decodes one value. inbox marks the top level of an inbox
// payload, whose src must never be modified afterwards: its
// "__asgi_channel__" list of str is decoded straight into a []string of
// substrings of src (see decodeTargets).
func decodeValue(d *msgpack.Decoder, r *bytes.Reader, src []byte, depth int, inbox bool) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: nesting deeper than %d", ErrMalformed, maxDepth)
	}
	c, err := d.PeekCode()
	if err != nil {
		return nil, truncated(err)
	}
	switch {
	case c == msgpcode.Nil:
		return nil, d.DecodeNil()
	case c == msgpcode.False || c == msgpcode.True:
		return d.DecodeBool()
	case msgpcode.IsFixedNum(c), c == msgpcode.Int8, c == msgpcode.Int16, c == msgpcode.Int32, c == msgpcode.Int64,
		c == msgpcode.Uint8, c == msgpcode.Uint16, c == msgpcode.Uint32:
		n, err := d.DecodeInt64()
		return n, truncated(err)
	case c == msgpcode.Uint64:
		n, err := d.DecodeUint64()
		if err != nil {
			return nil, truncated(err)
		}
		if n <= math.MaxInt64 {
			return int64(n), nil
		}
		return n, nil
	case c == msgpcode.Float || c == msgpcode.Double:
		f, err := d.DecodeFloat64()
		return f, truncated(err)
	case msgpcode.IsString(c):
		raw, err := takeBytes(d, r, src)
		if err != nil {
			return nil, err
		}
		if !utf8.Valid(raw) {
			return nil, fmt.Errorf("%w: str is not valid UTF-8", ErrMalformed)
		}
		return string(raw), nil
	case msgpcode.IsBin(c):
		raw, err := takeBytes(d, r, src)
		if err != nil {
			return nil, err
		}
		return append(make([]byte, 0, len(raw)), raw...), nil
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := d.DecodeArrayLen()
		if err != nil {
			return nil, truncated(err)
		}
		if n > r.Len() {
			return nil, fmt.Errorf("%w: array length %d exceeds input", ErrMalformed, n)
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = decodeValue(d, r, src, depth+1, false); err != nil {
				return nil, err
			}
		}
		return out, nil
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := d.DecodeMapLen()
		if err != nil {
			return nil, truncated(err)
		}
		if n > r.Len()/2 {
			return nil, fmt.Errorf("%w: map length %d exceeds input", ErrMalformed, n)
		}
		m := make(Map, 0, n)
		var index map[string]int
		for range n {
			kc, err := d.PeekCode()
			if err != nil {
				return nil, truncated(err)
			}
			if !msgpcode.IsString(kc) && !msgpcode.IsBin(kc) {
				return nil, fmt.Errorf("%w: map key of type 0x%02x is not allowed (strict_map_key)", ErrMalformed, kc)
			}
			kv, err := decodeValue(d, r, src, depth+1, false)
			if err != nil {
				return nil, err
			}
			var key string
			switch k := kv.(type) {
			case string:
				key = k
			case []byte:
				// Python keeps a bytes key; Map keys are text, so only
				// UTF-8 bin keys are accepted (Channels messages have str
				// keys anyway).
				if !utf8.Valid(k) {
					return nil, fmt.Errorf("%w: bin map key is not valid UTF-8", ErrMalformed)
				}
				key = string(k)
			}
			var val any
			if inbox && key == asgiChannelKey {
				val, err = decodeTargets(d, r, src)
			} else {
				val, err = decodeValue(d, r, src, depth+1, false)
			}
			if err != nil {
				return nil, err
			}
			m, index = setField(m, index, key, val)
		}
		return m, nil
	default:
		return nil, fmt.Errorf("%w: unsupported msgpack type 0x%02x", ErrMalformed, c)
	}
}

// decodeTargets decodes the value of "__asgi_channel__" in an inbox payload:
// an array of str becomes []string, anything else the generic value.
//
// The names are substrings of src, not copies: one allocation for the
// slice, none per name (a 1k-member group message carries 1k names). This
// is only valid because an inbox src is never modified after decoding (see
// Serializer.deserializeInbox); the names keep src alive while referenced.
// The str headers are parsed here rather than through the msgpack decoder,
// which costs about as much per name as the copy did.
func decodeTargets(d *msgpack.Decoder, r *bytes.Reader, src []byte) (any, error) {
	c, err := d.PeekCode()
	if err != nil {
		return nil, truncated(err)
	}
	if !msgpcode.IsFixedArray(c) && c != msgpcode.Array16 && c != msgpcode.Array32 {
		return decodeValue(d, r, src, 1, false)
	}
	n, err := d.DecodeArrayLen()
	if err != nil {
		return nil, truncated(err)
	}
	if n > r.Len() {
		return nil, fmt.Errorf("%w: array length %d exceeds input", ErrMalformed, n)
	}
	out := make([]string, n)
	pos := len(src) - r.Len()
	for i := range out {
		raw, next, err := strAt(src, pos)
		if err != nil {
			return nil, err
		}
		if !utf8.Valid(raw) {
			return nil, fmt.Errorf("%w: str is not valid UTF-8", ErrMalformed)
		}
		if len(raw) > 0 {
			out[i] = unsafe.String(&raw[0], len(raw))
		}
		pos = next
	}
	if _, err := r.Seek(int64(pos), io.SeekStart); err != nil {
		return nil, truncated(err)
	}
	return out, nil
}

// strAt parses the msgpack str at src[pos:] (fixstr, str8, str16, str32)
// and returns its bytes and the position after it.
func strAt(src []byte, pos int) (raw []byte, next int, err error) {
	if pos >= len(src) {
		return nil, 0, fmt.Errorf("%w: truncated input", ErrMalformed)
	}
	c := src[pos]
	var n, h int
	switch {
	case msgpcode.IsFixedString(c):
		n, h = int(c&msgpcode.FixedStrMask), 1
	case c == msgpcode.Str8 && pos+2 <= len(src):
		n, h = int(src[pos+1]), 2
	case c == msgpcode.Str16 && pos+3 <= len(src):
		n, h = int(binary.BigEndian.Uint16(src[pos+1:])), 3
	case c == msgpcode.Str32 && pos+5 <= len(src):
		n, h = int(binary.BigEndian.Uint32(src[pos+1:])), 5
	case msgpcode.IsString(c):
		return nil, 0, fmt.Errorf("%w: truncated input", ErrMalformed)
	default:
		return nil, 0, fmt.Errorf("%w: %s holds a non-str element (0x%02x)", ErrMalformed, asgiChannelKey, c)
	}
	start := pos + h
	if n > len(src)-start {
		return nil, 0, fmt.Errorf("%w: truncated str/bin", ErrMalformed)
	}
	return src[start : start+n], start + n, nil
}

// setField assigns key like a Python dict: first position, last value. index
// is built lazily for large maps to keep decoding linear.
func setField(m Map, index map[string]int, key string, val any) (Map, map[string]int) {
	if index == nil && len(m) < 16 {
		for i := range m {
			if m[i].Key == key {
				m[i].Value = val
				return m, nil
			}
		}
		return append(m, Field{Key: key, Value: val}), nil
	}
	if index == nil {
		index = make(map[string]int, len(m)*2)
		for i := range m {
			index[m[i].Key] = i
		}
	}
	if i, ok := index[key]; ok {
		m[i].Value = val
		return m, index
	}
	index[key] = len(m)
	return append(m, Field{Key: key, Value: val}), index
}

func truncated(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated input", ErrMalformed)
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}
