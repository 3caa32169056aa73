package accesslog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

// TestGoldenLines compares with the lines daphne.access.AccessLogGenerator
// writes (testdata/daphne.json, from compat_tests/gen_accesslog_fixtures.py).
func TestGoldenLines(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/daphne.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Cases []struct {
			Protocol, Action string
			Details          struct {
				ClientAddr   []any `json:"client_addr"`
				Path, Method string
				Status       int
				Size         int64
			}
			Line string
		}
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, tc := range g.Cases {
		var buf bytes.Buffer
		l := New(&buf)
		l.now = func() time.Time { return time.Date(2026, 11, 26, 1, 2, 3, 0, time.Local) }
		// The client as Go's http.Request.RemoteAddr has it.
		client := ""
		if a := tc.Details.ClientAddr; len(a) == 2 {
			client = net.JoinHostPort(fmt.Sprint(a[0]), fmt.Sprint(a[1]))
		}
		d := tc.Details
		switch tc.Protocol + " " + tc.Action {
		case "websocket connecting":
			l.WSConnecting(client, d.Path)
		case "websocket rejected":
			l.WSRejected(client, d.Path)
		case "websocket connected":
			l.WSConnected(client, d.Path)
		case "websocket disconnected":
			l.WSDisconnected(client, d.Path)
		case "http complete":
			l.HTTP(client, d.Method, d.Path, d.Status, d.Size)
		default:
			t.Fatalf("unknown event %s %s", tc.Protocol, tc.Action)
		}
		if buf.String() != tc.Line {
			t.Errorf("%s %s: got %q, want %q", tc.Protocol, tc.Action, buf.String(), tc.Line)
		}
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := New(&buf)
	l.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local) }
	h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(404)
		_, _ = w.Write([]byte("nope"))
	}))
	r := httptest.NewRequest("GET", "/missing?q=a%20b", nil)
	r.RemoteAddr = "[::1]:80"
	h.ServeHTTP(httptest.NewRecorder(), r)
	if want := "::1:80 - - [02/Jan/2026:03:04:05] \"GET /missing?q=a%20b\" 404 4\n"; buf.String() != want {
		t.Fatalf("got %q want %q", buf.String(), want)
	}
}
