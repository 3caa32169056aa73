package forwarded

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandlerAndSet(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                     string
		trust                    bool
		headers                  map[string]string
		remote, xff, proto, host string
	}{
		{"untrusted ignores headers", false, map[string]string{"X-Forwarded-For": "9.9.9.9", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil"},
			"10.0.0.1:5555", "10.0.0.1", "http", "app.example"},
		{"trusted first entry and port", true, map[string]string{"X-Forwarded-For": "1.2.3.4, 5.6.7.8", "X-Forwarded-Port": "443", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "front.example"},
			"1.2.3.4:443", "1.2.3.4, 5.6.7.8, 10.0.0.1", "https", "front.example"},
		{"trusted bad port is 0", true, map[string]string{"X-Forwarded-For": "1.2.3.4", "X-Forwarded-Port": "x"},
			"1.2.3.4:0", "1.2.3.4, 10.0.0.1", "http", "app.example"},
		{"trusted without headers", true, nil, "10.0.0.1:5555", "10.0.0.1", "http", "app.example"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "http://app.example/x", nil)
			r.RemoteAddr = "10.0.0.1:5555"
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			var got *http.Request
			Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r }), tc.trust).ServeHTTP(httptest.NewRecorder(), r)
			if got.RemoteAddr != tc.remote {
				t.Errorf("RemoteAddr %q, want %q", got.RemoteAddr, tc.remote)
			}
			if p := Peer(got); p != "10.0.0.1:5555" {
				t.Errorf("Peer %q", p)
			}
			out := http.Header{}
			Set(out, got, tc.trust)
			if out.Get("X-Forwarded-For") != tc.xff || out.Get("X-Forwarded-Proto") != tc.proto || out.Get("X-Forwarded-Host") != tc.host {
				t.Errorf("headers %v, want xff=%q proto=%q host=%q", out, tc.xff, tc.proto, tc.host)
			}
		})
	}
}

// FuzzClientFromHeaders checks that any X-Forwarded-For/-Port pair yields a
// host:port address without panicking.
func FuzzClientFromHeaders(f *testing.F) {
	f.Add("1.2.3.4, 5.6.7.8", "443")
	f.Add("::1", "x")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, xff, port string) {
		h := http.Header{}
		h.Set("X-Forwarded-For", xff)
		h.Set("X-Forwarded-Port", port)
		addr, ok := clientFromHeaders(h)
		if ok && !strings.Contains(addr, ":") {
			t.Fatalf("address %q has no port", addr)
		}
	})
}
