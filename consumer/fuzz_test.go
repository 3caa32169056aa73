package consumer

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/laurel-server/laurel/channelsproto"
)

// FuzzClientMessage feeds arbitrary client frames to the seed route's
// action handler: it must never panic, answer at most one frame, make that
// frame a well-formed error frame, and only ever join valid group names.
func FuzzClientMessage(f *testing.F) {
	for _, s := range []string{
		`{"action": "subscribe", "task_id": "abc-123"}`,
		`{"action": "unsubscribe", "task_id": 42}`,
		`{"action": "subscribe"}`,
		`{"action": "subscribe", "task_id": "has spaces"}`,
		`{"action": "dance"}`,
		`[1, 2, 3]`, `"x"`, `null`, `{`, `{"action": 1}`, `{"action":"subscribe","task_id":1e3}`,
		"{\"action\":\"subscribe\",\"task_id\":\"a\\n\"}",
	} {
		f.Add([]byte(s), false)
	}
	f.Add([]byte{0, 1, 2}, true)
	layer := newFakeLayer()
	srv, err := New(Config{Layer: layer, Authenticator: &fakeAuth{}, QueueSize: 4})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, binary bool) {
		rt := srv.routes[0]
		sk := newSocket(srv, rt, nil, Verdict{Authenticated: true, UserID: "1"}, "", "c", "/ws/tasks/")
		typ := opText
		if binary {
			typ = opBinary
		}
		sk.handle(typ, data)
		if n := len(sk.q); n > 1 {
			t.Fatalf("%d frames for one message", n)
		}
		if len(sk.q) == 1 {
			var m map[string]any
			if err := json.Unmarshal(framePayload(t, sk.q[0].frame), &m); err != nil || m["type"] != "error" {
				t.Fatalf("answer %q is not an error frame (%v)", sk.q[0].frame, err)
			}
		}
		for g := range sk.groups {
			if err := channelsproto.ValidateGroupName(g); err != nil {
				t.Fatalf("joined invalid group %q", g)
			}
		}
		sk.discardAll()
	})
}

// TestErrorFrameShape checks the bytes of an error frame: the keys in order
// and Python json.dumps separators.
func TestErrorFrameShape(t *testing.T) {
	t.Parallel()
	data, err := channelsproto.MarshalPythonJSON(channelsproto.Map{
		{Key: "type", Value: "error"}, {Key: "error", Value: ErrCodeInvalidJSON}, {Key: "message", Value: "message is not valid JSON"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type": "error", "error": "invalid_json", "message": "message is not valid JSON"}`; string(data) != want {
		t.Fatalf("%s", data)
	}
	var m map[string]any
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&m); err != nil {
		t.Fatal(err)
	}
}

// framePayload returns the payload of an unmasked server text frame.
func framePayload(t *testing.T, f []byte) []byte {
	t.Helper()
	if len(f) < 2 || f[0] != 0x80|opText || f[1]&0x80 != 0 {
		t.Fatalf("not an unmasked final text frame: % x", f[:min(len(f), 2)])
	}
	switch n := f[1]; n {
	case 126:
		return f[4:]
	case 127:
		return f[10:]
	default:
		if int(n) != len(f)-2 {
			t.Fatalf("length %d, frame of %d bytes", n, len(f))
		}
		return f[2:]
	}
}
