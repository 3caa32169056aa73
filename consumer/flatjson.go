package consumer

import (
	"bytes"
	"encoding/json"
)

// parseClientMessage decodes a client message the way encoding/json does
// with UseNumber (objects as map[string]any, numbers as json.Number), and
// refuses trailing data. ok is false for input that is not one JSON value.
func parseClientMessage(data []byte) (v any, ok bool) {
	if m, ok := parseFlatObject(data); ok {
		return m, true
	}
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

// parseFlatObject is the fast path of parseClientMessage for what clients
// send (a subscribe): one JSON object whose values are strings without
// escapes or integers. It returns exactly what encoding/json would
// (duplicate keys: the last wins), and false for anything else, which the
// caller then hands to encoding/json. data is valid UTF-8 (a text frame).
func parseFlatObject(data []byte) (map[string]any, bool) {
	i := skipJSONSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, false
	}
	i = skipJSONSpace(data, i+1)
	m := make(map[string]any, 4)
	if i < len(data) && data[i] == '}' {
		return m, skipJSONSpace(data, i+1) == len(data)
	}
	for {
		key, j, ok := plainJSONString(data, i)
		if !ok {
			return nil, false
		}
		i = skipJSONSpace(data, j)
		if i >= len(data) || data[i] != ':' {
			return nil, false
		}
		i = skipJSONSpace(data, i+1)
		if i >= len(data) {
			return nil, false
		}
		if data[i] == '"' {
			var s string
			if s, i, ok = plainJSONString(data, i); !ok {
				return nil, false
			}
			m[key] = s
		} else {
			var n json.Number
			if n, i, ok = plainJSONInt(data, i); !ok {
				return nil, false
			}
			m[key] = n
		}
		i = skipJSONSpace(data, i)
		if i >= len(data) {
			return nil, false
		}
		switch data[i] {
		case ',':
			i = skipJSONSpace(data, i+1)
		case '}':
			return m, skipJSONSpace(data, i+1) == len(data)
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
// holds no escape and no control character; it returns the string and the
// index after its closing quote.
func plainJSONString(data []byte, i int) (string, int, bool) {
	if i >= len(data) || data[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			return string(data[i+1 : j]), j + 1, true
		case c == '\\' || c < 0x20:
			return "", 0, false
		}
	}
	return "", 0, false
}

// plainJSONInt reads an integer literal (-?(0|[1-9][0-9]*)) starting at
// data[i], refusing fractions and exponents.
func plainJSONInt(data []byte, i int) (json.Number, int, bool) {
	start := i
	if i < len(data) && data[i] == '-' {
		i++
	}
	digits := i
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		i++
	}
	switch {
	case i == digits:
		return "", 0, false
	case data[digits] == '0' && i-digits > 1:
		return "", 0, false
	case i < len(data) && (data[i] == '.' || data[i] == 'e' || data[i] == 'E'):
		return "", 0, false
	}
	return json.Number(data[start:i]), i, true
}
