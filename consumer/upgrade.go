package consumer

import (
	//nolint:gosec // RFC 6455 §4.2.2 specifies SHA-1 for the accept key
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/laurel-server/laurel/internal/netpoll"
	"github.com/laurel-server/laurel/internal/wsproto"
)

// The server's opening handshake (RFC 6455 §4.2), answered without
// gorilla/websocket: the checks and the 101 response are exactly those of
// gorilla/websocket v1.5.3's Upgrader.Upgrade with the Server's settings (no
// subprotocols, no compression, no extra response headers, origin checked
// before), but nothing is allocated beyond what net/http's Hijack does.

// switching is the 101 response up to the accept key.
const switching = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "

// errDataBeforeHandshake is gorilla's refusal of a client that sent bytes
// before receiving the 101.
var errDataBeforeHandshake = errors.New("consumer: websocket: client sent data before handshake is complete")

// upgradeError is a handshake gorilla would refuse with an HTTP status.
type upgradeError struct {
	status int
	reason string
}

func (e *upgradeError) Error() string { return e.reason }

// checkUpgrade validates a handshake request that IsWebSocketUpgrade already
// accepted (Connection: upgrade, Upgrade: websocket), in gorilla's order:
// GET (405), Sec-WebSocket-Version 13 (400), a Sec-WebSocket-Key that is the
// base64 of 16 bytes (400). It returns the key.
func checkUpgrade(r *http.Request) (string, *upgradeError) {
	const badHandshake = "websocket: the client is not using the websocket protocol: "
	if r.Method != http.MethodGet {
		return "", &upgradeError{http.StatusMethodNotAllowed, badHandshake + "request method is not GET"}
	}
	if !headerHasToken(r.Header["Sec-Websocket-Version"], "13") {
		return "", &upgradeError{http.StatusBadRequest, "websocket: unsupported version: 13 not found in 'Sec-Websocket-Version' header"}
	}
	key := r.Header.Get("Sec-Websocket-Key")
	if !validChallengeKey(key) {
		return "", &upgradeError{http.StatusBadRequest, "websocket: not a websocket handshake: 'Sec-WebSocket-Key' header must be Base64 encoded value of 16-byte in length"}
	}
	return key, nil
}

// refuseUpgrade answers a failed check as gorilla's Upgrader does without an
// Error func.
func refuseUpgrade(w http.ResponseWriter, e *upgradeError) {
	w.Header().Set("Sec-Websocket-Version", "13")
	http.Error(w, http.StatusText(e.status), e.status)
}

// validChallengeKey reports whether s is the standard base64 encoding of 16
// bytes (what gorilla's isValidChallengeKey accepts: decoding succeeds to
// exactly 16 bytes).
func validChallengeKey(s string) bool {
	if len(s) != 24 {
		// The padded encoding of 16 bytes is 24 characters; the decoder
		// skips \r and \n, which a header value cannot hold.
		return false
	}
	var dst [18]byte
	n, err := base64.StdEncoding.Decode(dst[:], []byte(s))
	return err == nil && n == 16
}

// acceptResponse appends the whole 101 response for the client key to b.
func acceptResponse(b []byte, key string) []byte {
	b = append(b, switching...)
	acc := wsproto.Accept(key)
	b = append(b, acc[:]...)
	return append(b, "\r\n\r\n"...)
}

// ConnHijacker is implemented by a ResponseWriter that can hand its
// connection over with nothing read past the request head and nothing
// buffered, so without the bufio.ReadWriter of http.Hijacker. HijackConn
// returns the connection, which the caller then owns, or an error
// (http.ErrHijacked on a second call). The Server upgrades handshakes
// through it when the ResponseWriter has it (laurel serve's fast path does),
// and through http.Hijacker otherwise.
type ConnHijacker interface {
	HijackConn() (net.Conn, error)
}

// hijackUpgrade takes over the connection of a checked handshake and writes
// the 101 response. Like gorilla, it refuses (closing the connection, writing
// nothing) a client that sent bytes before the handshake completed, so
// nothing is left buffered outside the kernel. Write errors close the
// connection.
//
// It also returns the connection's syscall.RawConn (nil when it exposes no
// descriptor), for the socket's poller registration and writes.
func (s *Server) hijackUpgrade(w http.ResponseWriter, key string) (net.Conn, syscall.RawConn, error) {
	if h, ok := w.(ConnHijacker); ok {
		nc, err := h.HijackConn()
		if err != nil {
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
			return nil, nil, err
		}
		return s.finishUpgrade(nc, 0, key)
	}
	h, ok := w.(http.Hijacker)
	if !ok {
		// Behind middleware that wraps the ResponseWriter.
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return nil, nil, err
		}
		return s.finishUpgrade(nc, brw.Reader.Buffered(), key)
	}
	nc, brw, err := h.Hijack()
	if err != nil {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return nil, nil, err
	}
	return s.finishUpgrade(nc, brw.Reader.Buffered(), key)
}

func (s *Server) finishUpgrade(nc net.Conn, buffered int, key string) (net.Conn, syscall.RawConn, error) {
	if buffered > 0 {
		_ = nc.Close()
		return nil, nil, errDataBeforeHandshake
	}
	var raw syscall.RawConn
	if sc, ok := nc.(netpoll.Conn); ok {
		raw, _ = sc.SyscallConn() // nil on error: no descriptor
	}
	var buf [len(switching) + 28 + 4]byte
	resp := acceptResponse(buf[:0], key)
	// A new connection's send buffer takes the 129 bytes at once; the
	// deadline only guards against the impossible.
	if err := writeFresh(nc, raw, resp, s.cfg.HandshakeTimeout); err != nil {
		_ = nc.Close()
		return nil, nil, err
	}
	return nc, raw, nil
}

// writeFresh writes p to a connection that has nothing else being written:
// one non-blocking attempt through raw first, then blocking writes bounded
// by timeout for whatever is left.
func writeFresh(nc net.Conn, raw syscall.RawConn, p []byte, timeout time.Duration) error {
	n, err := tryWrite(raw, p)
	if err != nil {
		return err
	}
	if n == len(p) {
		return nil
	}
	if err := nc.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := nc.Write(p[n:]); err != nil {
		return err
	}
	return nc.SetWriteDeadline(time.Time{})
}

// headerHasToken reports whether one of the comma-separated token lists in
// values holds token, compared case-insensitively (gorilla's
// tokenListContainsValue, for ASCII tokens).
func headerHasToken(values []string, token string) bool {
	for _, s := range values {
		for {
			t, rest := nextHeaderToken(skipHeaderSpace(s))
			if t == "" {
				break
			}
			rest = skipHeaderSpace(rest)
			if rest != "" && rest[0] != ',' {
				break
			}
			if equalFoldASCII(t, token) {
				return true
			}
			if rest == "" {
				break
			}
			s = rest[1:]
		}
	}
	return false
}

func skipHeaderSpace(s string) string {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return s[i:]
}

// nextHeaderToken returns the leading RFC 2616 token of s and the rest.
func nextHeaderToken(s string) (string, string) {
	i := 0
	for i < len(s) && isTokenOctet(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

// isTokenOctet reports whether c may appear in an RFC 2616 token.
func isTokenOctet(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '/', '[', ']', '?', '=', '{', '}':
		return false
	}
	return true
}

// equalFoldASCII compares tokens (ASCII only) ignoring case.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
