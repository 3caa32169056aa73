package consumer

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/laurel-server/laurel/channelsproto"
)

// goldenFrames is consumer/testdata/frames.json, written by
// compat_tests/gen_consumer_fixtures.py with Channels 4.3.2 and
// channels_redis 4.3.0.
type goldenFrames struct {
	Cases []struct {
		Name        string `json:"name"`
		Msgpack     string `json:"msgpack"`
		Frame       string `json:"frame"`
		PythonError string `json:"python_error"`
	} `json:"cases"`
	ErrorFrame string `json:"error_frame"`
}

func loadGolden(t *testing.T) goldenFrames {
	t.Helper()
	b, err := os.ReadFile("testdata/frames.json")
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFrames
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) == 0 {
		t.Fatal("no cases in testdata/frames.json")
	}
	return g
}

// TestGoldenFrames delivers each event, decoded from channels_redis' msgpack
// bytes, to a real socket and compares the frame with what the Channels
// consumer sends, byte for byte. Events Channels fails on are dropped and
// counted, and the socket stays open.
func TestGoldenFrames(t *testing.T) {
	t.Parallel()
	g := loadGolden(t)
	e := newEnv(t, func(c *Config) {
		c.Routes = []Route{{Path: "/ws/all/", Groups: []string{"user_{user_id}"}}}
	})
	c := e.mustDial("/ws/all/", aliceCookie)
	for _, tc := range g.Cases {
		raw, err := base64.StdEncoding.DecodeString(tc.Msgpack)
		if err != nil {
			t.Fatalf("%s: %v", tc.Name, err)
		}
		v, err := channelsproto.UnmarshalMsgpack(raw)
		if err != nil {
			t.Fatalf("%s: decoding channels_redis bytes: %v", tc.Name, err)
		}
		msg, ok := v.(channelsproto.Map)
		if !ok {
			t.Fatalf("%s: decoded %T", tc.Name, v)
		}
		reason := ""
		switch {
		case strings.HasPrefix(tc.PythonError, "ValueError: Malformed type"):
			reason = DropMalformedType
		case strings.HasPrefix(tc.PythonError, "TypeError"):
			reason = DropEncode
		case tc.PythonError != "":
			t.Fatalf("%s: unexpected Python error %q", tc.Name, tc.PythonError)
		}
		before := counterValue(t, e.reg, "laurel_drops_total", map[string]string{"reason": reason})
		e.layer.groupSend("user_7", msg)
		if reason != "" {
			if after := counterValue(t, e.reg, "laurel_drops_total", map[string]string{"reason": reason}); after != before+1 {
				t.Errorf("%s: drops{%s} %v → %v, want one more", tc.Name, reason, before, after)
			}
			continue
		}
		if got := readText(t, c); got != tc.Frame {
			t.Errorf("%s:\n got %s\nwant %s", tc.Name, got, tc.Frame)
		}
	}

	// An error frame has Channels' send_json bytes too.
	if err := c.WriteMessage(1, []byte("not json")); err != nil {
		t.Fatal(err)
	}
	if got := readText(t, c); got != g.ErrorFrame {
		t.Errorf("error frame\n got %s\nwant %s", got, g.ErrorFrame)
	}
}
