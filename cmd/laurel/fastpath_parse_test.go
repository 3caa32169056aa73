package main

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// checkParseHead parses head with parseHead and, when it accepts, checks
// that http.ReadRequest reads the same bytes, all of them, into an equal
// request that the old fast path (http.ReadRequest then plainRequest)
// would have taken. It returns what parseHead returned.
func checkParseHead(t *testing.T, head []byte) *http.Request {
	t.Helper()
	got := parseHead(head)
	if got == nil {
		return nil
	}
	br := bufio.NewReader(bytes.NewReader(head))
	want, err := http.ReadRequest(br)
	if err != nil {
		t.Fatalf("parseHead took %q, http.ReadRequest failed: %v", head, err)
	}
	if left := br.Buffered(); left != 0 {
		t.Fatalf("parseHead took %q, http.ReadRequest left %d bytes after the head", head, left)
	}
	if !plainRequest(want) {
		t.Fatalf("parseHead took %q, which is not plain: %+v", head, want)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parseHead(%q)\n got %+v\nURL %+v\nwant %+v\nURL %+v", head, got, got.URL, want, want.URL)
	}
	return got
}

// plainRequest reports whether req, as http.ReadRequest parsed it, needs
// none of what net/http's server does beyond http.ReadRequest: a GET,
// HTTP/1.1, an origin-form target, one plain Host header, no body, no
// Expect, every header name a token and every value free of control
// characters. It is what the fast path took before parseHead.
func plainRequest(req *http.Request) bool {
	if req.Method != http.MethodGet || req.ProtoMajor != 1 || req.ProtoMinor != 1 || len(req.RequestURI) == 0 || req.RequestURI[0] != '/' {
		return false
	}
	if req.ContentLength != 0 || len(req.TransferEncoding) > 0 || req.Close {
		return false
	}
	// http.ReadRequest refused a second Host header and moved the one
	// Host header into req.Host.
	if _, ok := req.Header["Host"]; ok || !plainHost(req.Host) {
		return false
	}
	for k, vs := range req.Header {
		if k == "Expect" || k == "Content-Length" || k == "Transfer-Encoding" || k == "" {
			return false
		}
		for i := 0; i < len(k); i++ {
			if !tokenByte(k[i]) {
				return false
			}
		}
		for _, v := range vs {
			for i := 0; i < len(v); i++ {
				if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
					return false
				}
			}
		}
	}
	return true
}

const plainHead = "GET /ws/tasks/ HTTP/1.1\r\nHost: app.example:8000\r\nUser-Agent: Go-http-client/1.1\r\n" +
	"Connection: Upgrade\r\nCookie: sessionid=abc\r\nOrigin: http://app.example\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n\r\n"

// parseHeadCases are heads parseHead takes (want non-nil) or leaves to
// net/http (want nil); check, when set, inspects a request taken.
var parseHeadCases = []struct {
	name  string
	head  string
	take  bool
	check func(*http.Request) string
}{
	{"handshake", plainHead, true, func(r *http.Request) string {
		if r.URL.Path != "/ws/tasks/" || r.Host != "app.example:8000" || r.Header.Get("Cookie") != "sessionid=abc" ||
			r.Header.Get("Sec-Websocket-Key") != "dGhlIHNhbXBsZSBub25jZQ==" || r.Header["Host"] != nil {
			return "fields"
		}
		return ""
	}},
	{"lower-case names", strings.ToLower(plainHead[:len("GET /ws/tasks/ HTTP/1.1\r\n")]) + "host: a\r\ncOOKIE: x=1\r\nsec-websocket-key: k\r\n\r\n", false, nil},
	{"names in any case", "GET /ws/ HTTP/1.1\r\nhost: a\r\ncOOKIE: x=1\r\nsec-websocket-key: k\r\nX-FOO-bar: y\r\n\r\n", true, func(r *http.Request) string {
		if r.Header["Cookie"][0] != "x=1" || r.Header["Sec-Websocket-Key"][0] != "k" || r.Header["X-Foo-Bar"][0] != "y" || r.Host != "a" {
			return "canonical names"
		}
		return ""
	}},
	{"two Cookie headers", "GET /ws/ HTTP/1.1\r\nHost: a\r\nCookie: a=1\r\nX: 1\r\ncookie: b=2\r\n\r\n", true, func(r *http.Request) string {
		if strings.Join(r.Header["Cookie"], "|") != "a=1|b=2" {
			return "cookies " + strings.Join(r.Header["Cookie"], "|")
		}
		return ""
	}},
	{"two Origin headers", "GET /ws/ HTTP/1.1\r\nHost: a\r\nOrigin: http://a\r\nOrigin: http://evil\r\n\r\n", true, func(r *http.Request) string {
		if len(r.Header["Origin"]) != 2 {
			return "origins"
		}
		return ""
	}},
	{"duplicate unknown header, three times", "GET /ws/ HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-A: 2\r\nX-A: 3\r\n\r\n", true, nil},
	{"query string", "GET /ws/?token=a%20b&x=1 HTTP/1.1\r\nHost: a\r\n\r\n", true, func(r *http.Request) string {
		if r.URL.Path != "/ws/" || r.URL.RawQuery != "token=a%20b&x=1" {
			return "query"
		}
		return ""
	}},
	{"empty query", "GET /ws/? HTTP/1.1\r\nHost: a\r\n\r\n", true, nil},
	{"two question marks", "GET /ws/?a?b HTTP/1.1\r\nHost: a\r\n\r\n", true, nil},
	{"percent-encoded path", "GET /ws/caf%C3%A9/ HTTP/1.1\r\nHost: a\r\n\r\n", true, func(r *http.Request) string {
		if r.URL.Path != "/ws/café/" || r.URL.RawPath != "" {
			return "path " + r.URL.Path
		}
		return ""
	}},
	{"encoded slash", "GET /ws/a%2Fb/ HTTP/1.1\r\nHost: a\r\n\r\n", true, func(r *http.Request) string {
		if r.URL.Path != "/ws/a/b/" || r.URL.RawPath != "/ws/a%2Fb/" {
			return "raw path " + r.URL.RawPath
		}
		return ""
	}},
	{"path byte net/url escapes", "GET /ws/a!b(c)/ HTTP/1.1\r\nHost: a\r\n\r\n", true, nil},
	{"fragment", "GET /ws/#x HTTP/1.1\r\nHost: a\r\n\r\n", true, nil},
	{"bad escape", "GET /ws/%zz/ HTTP/1.1\r\nHost: a\r\n\r\n", false, nil},
	{"double slash", "GET //evil/ws/ HTTP/1.1\r\nHost: a\r\n\r\n", true, func(r *http.Request) string {
		if r.URL.Host != "" || r.URL.Path != "//evil/ws/" {
			return "authority"
		}
		return ""
	}},
	{"empty value", "GET /ws/ HTTP/1.1\r\nHost: a\r\nX-Empty:\r\n\r\n", true, nil},
	{"spaces and tabs around a value", "GET /ws/ HTTP/1.1\r\nHost:\t a \t\r\nX: \tb c\t \r\n\r\n", true, nil},
	{"obs-text value", "GET /ws/ HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n", true, nil},
	{"no header but Host", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", true, nil},
	{"Connection keep-alive, Upgrade", "GET /ws/ HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n\r\n", true, nil},

	{"LF only", strings.ReplaceAll(plainHead, "\r\n", "\n"), false, nil},
	{"LF in one line", strings.Replace(plainHead, "Cookie: sessionid=abc\r\n", "Cookie: sessionid=abc\n", 1), false, nil},
	{"CR in a value", strings.Replace(plainHead, "sessionid=abc", "session\rid=abc", 1), false, nil},
	{"LF line then blank", "GET /ws/ HTTP/1.1\nHost: a\n\nX\r\n\r\n", false, nil},
	{"continuation line", strings.Replace(plainHead, "Cookie: sessionid=abc\r\n", "Cookie: sessionid=abc\r\n more\r\n", 1), false, nil},
	{"space before colon", strings.Replace(plainHead, "Cookie:", "Cookie :", 1), false, nil},
	{"space in a name", strings.Replace(plainHead, "Cookie:", "Coo kie:", 1), false, nil},
	{"empty name", strings.Replace(plainHead, "Cookie:", ":", 1), false, nil},
	{"no colon", strings.Replace(plainHead, "Cookie:", "Cookie", 1), false, nil},
	{"control byte in a value", strings.Replace(plainHead, "sessionid=abc", "sessionid=\x01", 1), false, nil},
	{"DEL in a value", strings.Replace(plainHead, "sessionid=abc", "sessionid=\x7f", 1), false, nil},
	{"two Host headers", strings.Replace(plainHead, "Cookie", "Host: b\r\nCookie", 1), false, nil},
	{"no Host", strings.Replace(plainHead, "Host: app.example:8000\r\n", "", 1), false, nil},
	{"empty Host", strings.Replace(plainHead, "Host: app.example:8000", "Host: ", 1), false, nil},
	{"odd Host", strings.Replace(plainHead, "app.example:8000", "a@b", 1), false, nil},
	{"Content-Length", strings.Replace(plainHead, "Cookie", "Content-Length: 0\r\nCookie", 1), false, nil},
	{"Transfer-Encoding", strings.Replace(plainHead, "Cookie", "Transfer-Encoding: chunked\r\nCookie", 1), false, nil},
	{"Expect", strings.Replace(plainHead, "Cookie", "Expect: 100-continue\r\nCookie", 1), false, nil},
	{"Chrome handshake", "GET /ws/tasks/?v=2 HTTP/1.1\r\nHost: app.example:8000\r\nConnection: Upgrade\r\nPragma: no-cache\r\n" +
		"Cache-Control: no-cache\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36\r\n" +
		"Upgrade: websocket\r\nOrigin: https://app.example:8000\r\nSec-WebSocket-Version: 13\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n" +
		"Accept-Language: en-GB,en;q=0.9,fr;q=0.8\r\nCookie: csrftoken=AbC123; sessionid=k3x9v2m1q8w7e6r5t4y3u2i1o0p9a8s7\r\n" +
		"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n", true, nil},
	{"Firefox handshake", "GET /ws/tasks/ HTTP/1.1\r\nHost: app.example\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0\r\n" +
		"Accept: */*\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br, zstd\r\nSec-WebSocket-Version: 13\r\n" +
		"Origin: https://app.example\r\nSec-WebSocket-Extensions: permessage-deflate\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Connection: keep-alive, Upgrade\r\nCookie: sessionid=abc; theme=dark\r\nSec-Fetch-Dest: empty\r\nSec-Fetch-Mode: websocket\r\n" +
		"Sec-Fetch-Site: same-origin\r\nPragma: no-cache\r\nCache-Control: no-cache\r\nUpgrade: websocket\r\n\r\n", true, nil},
	{"browser Pragma and Cache-Control", strings.Replace(plainHead, "Cookie", "Pragma: no-cache\r\nCache-Control: no-cache\r\nCookie", 1), true, nil},
	{"Pragma no-cache alone", strings.Replace(plainHead, "Cookie", "Pragma: no-cache\r\nCookie", 1), true, func(r *http.Request) string {
		if strings.Join(r.Header["Cache-Control"], "|") != "no-cache" {
			return "Cache-Control " + strings.Join(r.Header["Cache-Control"], "|")
		}
		return ""
	}},
	{"Pragma no-cache, Cache-Control max-age", strings.Replace(plainHead, "Cookie", "Cache-Control: max-age=0\r\nPragma: no-cache\r\nCookie", 1), true, func(r *http.Request) string {
		if strings.Join(r.Header["Cache-Control"], "|") != "max-age=0" {
			return "Cache-Control " + strings.Join(r.Header["Cache-Control"], "|")
		}
		return ""
	}},
	{"second Pragma no-cache", strings.Replace(plainHead, "Cookie", "Pragma: x\r\npragma: no-cache\r\nCookie", 1), true, func(r *http.Request) string {
		if r.Header["Cache-Control"] != nil {
			return "Cache-Control added"
		}
		return ""
	}},
	{"Pragma NO-CACHE", strings.Replace(plainHead, "Cookie", "Pragma: NO-CACHE\r\nCookie", 1), true, nil},
	{"Connection close", strings.Replace(plainHead, "Connection: Upgrade", "Connection: Upgrade, Close", 1), false, nil},
	{"POST", strings.Replace(plainHead, "GET", "POST", 1), false, nil},
	{"lower-case method", strings.Replace(plainHead, "GET", "get", 1), false, nil},
	{"HTTP/1.0", strings.Replace(plainHead, "HTTP/1.1", "HTTP/1.0", 1), false, nil},
	{"lower-case version", strings.Replace(plainHead, "HTTP/1.1", "http/1.1", 1), false, nil},
	{"absolute target", strings.Replace(plainHead, "GET /ws", "GET http://app.example/ws", 1), false, nil},
	{"asterisk target", strings.Replace(plainHead, "GET /ws/tasks/", "GET *", 1), false, nil},
	{"two spaces", strings.Replace(plainHead, "GET /ws/tasks/", "GET  /ws/tasks/", 1), false, nil},
	{"space in the target", strings.Replace(plainHead, "/ws/tasks/", "/ws/ tasks/", 1), false, nil},
	{"bytes after the head", plainHead + "\x81\x80", false, nil},
	{"no blank line", strings.TrimSuffix(plainHead, "\r\n"), false, nil},
	{"head of headBufSize bytes", strings.Replace(plainHead, "sessionid=abc", "sessionid="+strings.Repeat("x", headBufSize-len(plainHead)+3), 1), true, nil},
	{"head over headBufSize bytes", strings.Replace(plainHead, "sessionid=abc", "sessionid="+strings.Repeat("x", headBufSize-len(plainHead)+4), 1), false, nil},
}

func TestParseHead(t *testing.T) {
	t.Parallel()
	for _, tc := range parseHeadCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := checkParseHead(t, []byte(tc.head))
			if tc.take != (r != nil) {
				t.Fatalf("parseHead took it: %v, want %v", r != nil, tc.take)
			}
			if r != nil && tc.check != nil {
				if msg := tc.check(r); msg != "" {
					t.Fatalf("%s: %+v", msg, r)
				}
			}
		})
	}
	if n := len(strings.Replace(plainHead, "sessionid=abc", "sessionid="+strings.Repeat("x", headBufSize-len(plainHead)+3), 1)); n != headBufSize {
		t.Fatalf("the headBufSize case is %d bytes", n)
	}
}

// TestParseHeadAllocs: the plain handshake costs a few allocations (the
// head's copy, the header map and its values, the request).
func TestParseHeadAllocs(t *testing.T) {
	head := []byte(plainHead)
	if n := testing.AllocsPerRun(100, func() { _ = parseHead(head) }); n > 5 {
		t.Fatalf("%v allocations per head", n)
	}
}

// TestParseHeadMutations is a deterministic complement to FuzzParseHead:
// random edits of the cases, with the bytes that matter to a head (CR, LF,
// space, tab, colon, percent, question mark, hash, DEL, obs-text, letters
// of both cases), each checked against http.ReadRequest. Both outcomes
// must occur often, or the edits explore nothing.
func TestParseHeadMutations(t *testing.T) {
	t.Parallel()
	const special = "\r\n \t:%?#\x7f\x80aAzZ-/.,;=@!~\x00"
	rng := rand.New(rand.NewPCG(1, 2))
	took, left := 0, 0
	for _, tc := range parseHeadCases {
		for range 400 {
			b := []byte(tc.head)
			for range 1 + rng.IntN(3) {
				i := rng.IntN(len(b) + 1)
				c := special[rng.IntN(len(special))]
				switch rng.IntN(3) {
				case 0:
					b = slices.Insert(b, i, c)
				case 1:
					if i < len(b) {
						b[i] = c
					}
				default:
					if i < len(b) {
						b = slices.Delete(b, i, i+1)
					}
				}
			}
			if checkParseHead(t, b) != nil {
				took++
			} else {
				left++
			}
		}
	}
	if took < 1000 || left < 1000 {
		t.Fatalf("parseHead took %d edited heads and left %d", took, left)
	}
	t.Logf("parseHead took %d edited heads and left %d", took, left)
}

// FuzzParseHead: for any input, parseHead either leaves it to net/http or
// returns exactly the request http.ReadRequest reads from it, and the old
// fast path would have taken that request.
func FuzzParseHead(f *testing.F) {
	for _, tc := range parseHeadCases {
		f.Add([]byte(tc.head))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		checkParseHead(t, head)
	})
}

func BenchmarkParseHead(b *testing.B) {
	head := []byte(plainHead)
	b.ReportAllocs()
	for b.Loop() {
		if parseHead(head) == nil {
			b.Fatal("declined")
		}
	}
}
