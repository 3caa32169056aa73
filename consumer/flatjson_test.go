package consumer

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

// decodeStd is the reference: encoding/json with UseNumber and no trailing
// data, as handle decoded every message before the fast path.
func decodeStd(data []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, false
	}
	if _, err := dec.Token(); err == nil {
		return nil, false
	}
	return v, true
}

var flatJSONSeeds = []string{
	`{"action":"subscribe","task_id":"storm1"}`,
	`{"action": "subscribe", "task_id": 42}`,
	` {"a":"1","a":"2"} `, `{}`, `{ }`, "\t{\n\"a\" :\r-0 }\n",
	`{"a":-12,"b":"x"}`, `{"a":01}`, `{"a":1.5}`, `{"a":1e3}`, `{"a":-}`, `{"a":"x\"y"}`,
	`{"a":"\u00e9"}`, `{"a":"é"}`, `{"a":true}`, `{"a":null}`, `{"a":[1]}`, `{"a":{}}`,
	`{"a":1,}`, `{"a":1}{}`, `{"a":1} x`, `{"a" 1}`, `{a:1}`, `[1]`, `"x"`, `1`, ``, `{`, `{"a":"1"`,
	"{\"a\":\"\x01\"}", `{"a":"1"}}`, `{"":""}`, `{"a":-0.0}`, `{"a":123456789012345678901234567890}`,
}

// TestParseFlatObject: wherever the fast path answers, it answers exactly
// what encoding/json does; it answers for the messages clients send.
func TestParseFlatObject(t *testing.T) {
	t.Parallel()
	for _, s := range flatJSONSeeds {
		checkFlatJSON(t, []byte(s))
	}
	for _, s := range []string{`{"action":"subscribe","task_id":"storm1"}`, `{"action": "unsubscribe", "task_id": 7}`, `{}`} {
		if _, ok := parseFlatFields([]byte(s), nil); !ok {
			t.Errorf("fast path refused %s", s)
		}
	}
}

func checkFlatJSON(t *testing.T, data []byte) {
	t.Helper()
	want, wantOK := decodeStd(data)
	got, gotOK := parseClientMessage(data)
	if gotOK != wantOK || !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: parsed %#v %v, encoding/json %#v %v", data, got, gotOK, want, wantOK)
	}
	wantObj, _ := want.(map[string]any)
	msg, isObject, ok := parseObject(data, nil)
	if ok != wantOK || isObject != (wantObj != nil) {
		t.Fatalf("%q: parseObject object %v, ok %v; encoding/json %#v %v", data, isObject, ok, want, wantOK)
	}
	if !isObject {
		return
	}
	// What handle reads of each field, and of fields the message lacks.
	keys := []string{"action", "task_id", "a", "b", ""}
	for k := range wantObj {
		keys = append(keys, k)
	}
	for _, k := range keys {
		v, present := wantObj[k]
		wantStr, _ := v.(string)
		wantText, wantTextOK := fieldText(v)
		gotText, gotTextOK := msg.text(k)
		if msg.has(k) != present || msg.str(k) != wantStr || gotText != wantText || gotTextOK != wantTextOK {
			t.Fatalf("%q field %q: has %v str %q text %q %v; encoding/json %#v", data, k,
				msg.has(k), msg.str(k), gotText, gotTextOK, v)
		}
	}
	if fields, flat := parseFlatFields(data, nil); flat {
		m := map[string]any{}
		for _, f := range fields {
			if f.number {
				m[f.key] = json.Number(f.val)
			} else {
				m[f.key] = f.val
			}
		}
		if !reflect.DeepEqual(any(m), want) {
			t.Fatalf("%q: fast path %#v, encoding/json %#v", data, m, want)
		}
	}
}

// FuzzParseFlatObject compares parseClientMessage with encoding/json on
// arbitrary UTF-8 (text frames are validated before they are parsed).
func FuzzParseFlatObject(f *testing.F) {
	for _, s := range flatJSONSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !utf8.Valid(data) {
			return
		}
		checkFlatJSON(t, data)
	})
}

// BenchmarkParseClientMessage measures decoding a subscribe message as
// handle does.
func BenchmarkParseClientMessage(b *testing.B) {
	data := []byte(`{"action":"subscribe","task_id":"5b2f7a0e-6f0e-4a8e-9a57-1f9e3c1d2b4a"}`)
	b.ReportAllocs()
	for b.Loop() {
		var buf [4]flatField
		if m, isObject, ok := parseObject(data, buf[:0]); !ok || !isObject || m.str("action") != "subscribe" {
			b.Fatal("refused")
		}
	}
}

// BenchmarkDecodeStd is the encoding/json path, for comparison.
func BenchmarkDecodeStd(b *testing.B) {
	data := []byte(`{"action":"subscribe","task_id":"5b2f7a0e-6f0e-4a8e-9a57-1f9e3c1d2b4a"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := decodeStd(data); !ok {
			b.Fatal("refused")
		}
	}
}
