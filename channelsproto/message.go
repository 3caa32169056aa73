package channelsproto

// Map is a message or nested object with the key order a Python dict keeps.
//
// channels_redis serializes Python dicts in insertion order and appends
// "__asgi_channel__" last, so a byte-identical encoder needs ordered keys.
// Values are one of: nil, bool, int64, uint64 (only above math.MaxInt64),
// float64, string, []byte, []any, Map. Decoding produces exactly these types;
// encoding also accepts the other Go integer and float kinds.
//
// A Map is a plain slice: the zero value is an empty map, and a Map handed to a
// receiver is shared by every local recipient, so receivers must not modify it
// (use Clone first).
type Map []Field

// Field is one key/value pair of a Map.
type Field struct {
	Key   string
	Value any
}

// Get returns the value stored under key and whether it was present.
func (m Map) Get(key string) (any, bool) {
	for i := range m {
		if m[i].Key == key {
			return m[i].Value, true
		}
	}
	return nil, false
}

// String returns the value under key if it is a string, else "".
func (m Map) String(key string) string {
	v, _ := m.Get(key)
	s, _ := v.(string)
	return s
}

// Set replaces the value under key, or appends key at the end as a Python
// dict assignment does.
func (m *Map) Set(key string, value any) {
	for i := range *m {
		if (*m)[i].Key == key {
			(*m)[i].Value = value
			return
		}
	}
	*m = append(*m, Field{Key: key, Value: value})
}

// Delete removes key, keeping the order of the other keys.
func (m *Map) Delete(key string) {
	for i := range *m {
		if (*m)[i].Key == key {
			*m = append((*m)[:i:i], (*m)[i+1:]...)
			return
		}
	}
}

// Clone returns a shallow copy of m whose fields can be changed without
// affecting m. Nested maps and slices are shared.
func (m Map) Clone() Map {
	if m == nil {
		return nil
	}
	return append(Map(nil), m...)
}
