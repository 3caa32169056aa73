package accesslog

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestLines(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := New(&buf)
	l.now = func() time.Time { return time.Date(2026, 11, 26, 1, 2, 3, 0, time.Local) }
	l.WSConnecting("127.0.0.1:5000", "/ws/tasks/")
	l.WSRejected("127.0.0.1:5000", "/ws/tasks/")
	l.WSConnected("127.0.0.1:5000", "/ws/tasks/")
	l.WSDisconnected("127.0.0.1:5000", "/ws/tasks/")
	l.HTTP("127.0.0.1:5001", "GET", "/api/", 200, 12)
	l.HTTP("127.0.0.1:5001", "HEAD", "/api/", 304, 0)
	// Lines as daphne.access.AccessLogGenerator writes them.
	want := `127.0.0.1:5000 - - [26/Nov/2026:01:02:03] "WSCONNECTING /ws/tasks/" - -
127.0.0.1:5000 - - [26/Nov/2026:01:02:03] "WSREJECT /ws/tasks/" - -
127.0.0.1:5000 - - [26/Nov/2026:01:02:03] "WSCONNECT /ws/tasks/" - -
127.0.0.1:5000 - - [26/Nov/2026:01:02:03] "WSDISCONNECT /ws/tasks/" - -
127.0.0.1:5001 - - [26/Nov/2026:01:02:03] "GET /api/" 200 12
127.0.0.1:5001 - - [26/Nov/2026:01:02:03] "HEAD /api/" 304 -
`
	if buf.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", buf.String(), want)
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
	r := httptest.NewRequest("GET", "/missing", nil)
	r.RemoteAddr = "10.1.1.1:80"
	h.ServeHTTP(httptest.NewRecorder(), r)
	if want := "10.1.1.1:80 - - [02/Jan/2026:03:04:05] \"GET /missing\" 404 4\n"; buf.String() != want {
		t.Fatalf("got %q want %q", buf.String(), want)
	}
}
