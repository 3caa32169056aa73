package consumer

import (
	"bytes"
	"encoding/json"
)

// parseClientMessage decodes a client message with encoding/json and
// UseNumber (objects as map[string]any, numbers as json.Number), refusing
// trailing data. ok is false for input that is not one JSON value.
func parseClientMessage(data []byte) (v any, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, false
	}
	if _, err := dec.Token(); err == nil {
		return nil, false
	}
	return v, true
}

// clientMessage is a client message that is a JSON object: its fields as
// parseFlatFields found them (fields), or as encoding/json decoded them
// (obj) when it declined the message.
type clientMessage struct {
	fields []flatField
	obj    map[string]any
}

// flatField is one field of a flat JSON object: a string without escapes,
// or an integer literal (number).
type flatField struct {
	key, val string
	number   bool
}

// parseObject parses a client message that must be a JSON object, with
// parseFlatFields (appending to buf) or else encoding/json. isObject is
// false for valid JSON that is not an object; ok is false for invalid JSON.
func parseObject(data []byte, buf []flatField) (m clientMessage, isObject, ok bool) {
	if fields, flat := parseFlatFields(data, buf); flat {
		return clientMessage{fields: fields}, true, true
	}
	v, ok := parseClientMessage(data)
	if !ok {
		return clientMessage{}, false, false
	}
	obj, isObject := v.(map[string]any)
	return clientMessage{obj: obj}, isObject, true
}

// field returns the last field named key (encoding/json keeps the last of
// duplicate keys).
func (m *clientMessage) field(key string) (flatField, bool) {
	for i := len(m.fields) - 1; i >= 0; i-- {
		if m.fields[i].key == key {
			return m.fields[i], true
		}
	}
	return flatField{}, false
}

// str returns field key when it is a JSON string, "" otherwise.
func (m *clientMessage) str(key string) string {
	if m.obj != nil || m.fields == nil {
		s, _ := m.obj[key].(string)
		return s
	}
	if f, ok := m.field(key); ok && !f.number {
		return f.val
	}
	return ""
}

// has reports whether the message has field key.
func (m *clientMessage) has(key string) bool {
	if m.obj != nil || m.fields == nil {
		_, ok := m.obj[key]
		return ok
	}
	_, ok := m.field(key)
	return ok
}

// text renders field key as fieldText does.
func (m *clientMessage) text(key string) (string, bool) {
	if m.obj != nil || m.fields == nil {
		return fieldText(m.obj[key])
	}
	f, ok := m.field(key)
	switch {
	case !ok:
		return "", false
	case f.number:
		// An integer literal: no fraction or exponent (plainJSONInt).
		return f.val, true
	case len(f.val) > maxFieldLen:
		return f.val[:maxFieldLen+1], true // still too long: rejected as a group
	}
	return f.val, true
}

// parseFlatFields is the fast path of parseObject for what clients send (a
// subscribe): one JSON object whose values are strings without escapes or
// integers. It appends the fields to dst in order, every string a slice of
// one copy of data, and returns false for anything else, which the caller
// then hands to encoding/json. Read with clientMessage's methods, the fields
// are what encoding/json would decode (FuzzParseFlatObject checks it).
// data is valid UTF-8 (a text frame).
func parseFlatFields(data []byte, dst []flatField) ([]flatField, bool) {
	i := skipJSONSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, false
	}
	i = skipJSONSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return dst, skipJSONSpace(data, i+1) == len(data)
	}
	var s string // data, copied on the first field
	str := func(a, b int) string {
		if s == "" {
			s = string(data)
		}
		return s[a:b]
	}
	for {
		a, b, j, ok := plainJSONString(data, i)
		if !ok {
			return nil, false
		}
		f := flatField{key: str(a, b)}
		i = skipJSONSpace(data, j)
		if i >= len(data) || data[i] != ':' {
			return nil, false
		}
		i = skipJSONSpace(data, i+1)
		if i >= len(data) {
			return nil, false
		}
		if data[i] == '"' {
			if a, b, i, ok = plainJSONString(data, i); !ok {
				return nil, false
			}
		} else {
			a = i
			if i, ok = plainJSONInt(data, i); !ok {
				return nil, false
			}
			b, f.number = i, true
		}
		f.val = str(a, b)
		dst = append(dst, f)
		i = skipJSONSpace(data, i)
		if i >= len(data) {
			return nil, false
		}
		switch data[i] {
		case ',':
			i = skipJSONSpace(data, i+1)
		case '}':
			return dst, skipJSONSpace(data, i+1) == len(data)
		default:
			return nil, false
		}
	}
}

// skipJSONSpace returns the index of the first non-whitespace byte at or
// after i (JSON whitespace: space, tab, newline, carriage return).
func skipJSONSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// plainJSONString reads the string starting at data[i] (a quote) when it
// holds no escape and no control character; it returns where its contents
// start and end, and the index after its closing quote.
func plainJSONString(data []byte, i int) (int, int, int, bool) {
	if i >= len(data) || data[i] != '"' {
		return 0, 0, 0, false
	}
	for j := i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			return i + 1, j, j + 1, true
		case c == '\\' || c < 0x20:
			return 0, 0, 0, false
		}
	}
	return 0, 0, 0, false
}

// plainJSONInt reads an integer literal (-?(0|[1-9][0-9]*)) starting at
// data[i], refusing fractions and exponents; it returns the index after it.
func plainJSONInt(data []byte, i int) (int, bool) {
	if i < len(data) && data[i] == '-' {
		i++
	}
	digits := i
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		i++
	}
	switch {
	case i == digits:
		return 0, false
	case data[digits] == '0' && i-digits > 1:
		return 0, false
	case i < len(data) && (data[i] == '.' || data[i] == 'e' || data[i] == 'E'):
		return 0, false
	}
	return i, true
}
