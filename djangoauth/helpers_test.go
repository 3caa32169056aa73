package djangoauth

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/laurel-server/laurel/channelsproto"
)

func sha256Sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// rawOrdered decodes JSON keeping object key order (as channelsproto.Map)
// and integers exact, so a value can be re-serialized as Python did.
type rawOrdered struct{ v any }

func (r *rawOrdered) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := decodeOrdered(dec)
	r.v = v
	return err
}

func decodeOrdered(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch x := tok.(type) {
	case json.Delim:
		switch x {
		case '{':
			var m channelsproto.Map
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := decodeOrdered(dec)
				if err != nil {
					return nil, err
				}
				m = append(m, channelsproto.Field{Key: kt.(string), Value: v})
			}
			_, err := dec.Token()
			if m == nil {
				m = channelsproto.Map{}
			}
			return m, err
		case '[':
			l := []any{}
			for dec.More() {
				v, err := decodeOrdered(dec)
				if err != nil {
					return nil, err
				}
				l = append(l, v)
			}
			_, err := dec.Token()
			return l, err
		}
	case json.Number:
		if n, ok := new(big.Int).SetString(string(x), 10); ok {
			if n.IsInt64() {
				return n.Int64(), nil
			}
			return n, nil
		}
		var f float64
		_, err := fmt.Sscan(string(x), &f)
		return f, err
	}
	return tok, nil
}
