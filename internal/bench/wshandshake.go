package bench

import (
	"bytes"
	"context" //nolint:gosec // RFC 6455 §4.2.2 defines Sec-WebSocket-Accept with SHA-1
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/laurel-server/laurel/internal/wsproto"
)

// The client side of the RFC 6455 opening handshake, lean enough for a load
// generator: one request built from a pre-built prefix, no http.Request, no
// header maps, no crypto/rand, and the response parsed in the socket's own
// read buffer (which the framer, wsconn.go, then keeps using).

// readBufSize is a socket's initial read buffer (the handshake response and
// then frames); wsConn grows it for busy sockets, up to maxReadBufSize.
const readBufSize = 1024

// maxHandshakeResponse bounds the handshake response's status line and
// headers.
const maxHandshakeResponse = 8192

// errBadHandshake reports a response that is not a valid 101 for our
// request. It keeps gorilla/websocket's wording, which earlier reports used.
var errBadHandshake = errors.New("websocket: bad handshake")

// handshakeError is a handshake the server answered with a status other
// than 101.
type handshakeError struct {
	// Status is the response's HTTP status code.
	Status int
	// RetryAfter is the response's Retry-After header ("" when absent).
	RetryAfter string
}

func (e *handshakeError) Error() string {
	return fmt.Sprintf("%v (HTTP %d)", errBadHandshake, e.Status)
}

func (e *handshakeError) Unwrap() error { return errBadHandshake }

// wsDialer opens the client sockets of one process. Its fields are set once
// by newWSDialer and only read afterwards: it is safe for concurrent use.
type wsDialer struct {
	addr string
	// head is the request up to and including "Cookie: "; the cookie, the
	// key and the end of the request follow.
	head    []byte
	timeout time.Duration
	dialer  net.Dialer
}

// newWSDialer prepares the handshakes to rawURL (ws:// only: the benchmark
// stack listens on loopback without TLS) with Origin origin, each bounded
// by timeout.
func newWSDialer(rawURL, origin string, timeout time.Duration) (*wsDialer, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("bench: url: %w", err)
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("bench: url %q: only ws:// is supported", rawURL)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	path := u.RequestURI()
	head := fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nOrigin: %s\r\nCookie: ", path, u.Host, origin)
	return &wsDialer{addr: host, head: head, timeout: timeout,
		// Keep-alive probes are pointless on loopback and cost three
		// setsockopt calls per socket.
		dialer: net.Dialer{Timeout: timeout, KeepAlive: -1}}, nil
}

// newKey returns a fresh Sec-WebSocket-Key. It comes from math/rand/v2's
// per-thread generator, not crypto/rand: the key only proves that the server
// speaks WebSocket (RFC 6455 §10.3 asks for unpredictability to defeat cache
// poisoning through intermediaries, which a load generator on loopback does
// not face), and a syscall-free source is cheaper.
func newKey() (key [24]byte) {
	var raw [16]byte
	binary.LittleEndian.PutUint64(raw[:], rand.Uint64())  //nolint:gosec // not security-relevant, see above
	binary.LittleEndian.PutUint64(raw[8:], rand.Uint64()) //nolint:gosec // idem
	base64.StdEncoding.Encode(key[:], raw[:])
	return key
}

// dial connects from local (nil: the kernel's choice), sends the upgrade
// request with cookie and checks the response strictly: status 101,
// "Upgrade: websocket", an "upgrade" token in Connection, the
// Sec-WebSocket-Accept of our key, and no extension or subprotocol (we ask
// for none). A response with another status is a *handshakeError. The whole
// handshake is bounded by the dialer's timeout, and that deadline is still
// set on the returned connection (the caller's first write falls under it
// too; the caller clears it); cancelling ctx aborts the handshake.
func (d *wsDialer) dial(ctx context.Context, local net.Addr, cookie string) (_ *wsConn, err error) {
	nd := d.dialer
	if local != nil {
		nd.LocalAddr, nd.Control = local, noPortControl
	}
	nc, err := nd.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = nc.Close()
		}
	}()
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := nc.SetDeadline(time.Now().Add(d.timeout)); err != nil {
		return nil, err
	}
	c := &wsConn{nc: nc, buf: make([]byte, readBufSize)}
	key := newKey()
	req := c.buf[:0] // the read buffer is free until the response comes (a longer request gets its own array)
	req = append(req, d.head...)
	req = append(req, cookie...)
	req = append(req, "\r\nSec-WebSocket-Key: "...)
	req = append(req, key[:]...)
	req = append(req, "\r\n\r\n"...)
	if _, err := nc.Write(req); err != nil {
		return nil, err
	}
	end, err := c.readResponseHead()
	if err != nil {
		return nil, err
	}
	acc := wsproto.Accept(key[:])
	if err := checkResponse(c.buf[:end], acc[:]); err != nil {
		return nil, err
	}
	c.r = end // what follows the head is the first frames
	return c, nil
}

// readResponseHead reads until the end of the response's headers and
// returns the offset just after the blank line.
func (c *wsConn) readResponseHead() (int, error) {
	for {
		if i := bytes.Index(c.buf[:c.w], []byte("\r\n\r\n")); i >= 0 {
			return i + 4, nil
		}
		if c.w == len(c.buf) {
			if len(c.buf) >= maxHandshakeResponse {
				return 0, fmt.Errorf("%w: response head longer than %d bytes", errBadHandshake, maxHandshakeResponse)
			}
			c.buf = append(c.buf, make([]byte, len(c.buf))...)
		}
		n, err := c.nc.Read(c.buf[c.w:])
		c.w += n
		if err != nil {
			if n > 0 && bytes.Contains(c.buf[:c.w], []byte("\r\n\r\n")) {
				continue
			}
			return 0, err
		}
	}
}

// checkResponse validates a response head (status line and headers, CRLF
// separated, ending with an empty line) against the accept value acc.
func checkResponse(head, acc []byte) error {
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	// "HTTP/1.1 101 Switching Protocols"
	proto, status, _ := bytes.Cut(line, []byte(" "))
	if !bytes.HasPrefix(proto, []byte("HTTP/1.")) || len(status) < 3 {
		return fmt.Errorf("%w: malformed status line %q", errBadHandshake, line)
	}
	code, err := strconv.Atoi(string(status[:3]))
	if err != nil {
		return fmt.Errorf("%w: malformed status line %q", errBadHandshake, line)
	}
	var upgrade, connection, accept, retryAfter, ext, proto2 []byte
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return fmt.Errorf("%w: malformed header line %q", errBadHandshake, line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Upgrade")):
			upgrade = value
		case bytes.EqualFold(name, []byte("Connection")):
			connection = value
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Accept")):
			accept = value
		case bytes.EqualFold(name, []byte("Retry-After")):
			retryAfter = value
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Extensions")):
			ext = value
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Protocol")):
			proto2 = value
		}
	}
	switch {
	case code != 101:
		return &handshakeError{Status: code, RetryAfter: string(retryAfter)}
	case !bytes.EqualFold(upgrade, []byte("websocket")):
		return fmt.Errorf("%w: Upgrade %q", errBadHandshake, upgrade)
	case !hasToken(connection, "upgrade"):
		return fmt.Errorf("%w: Connection %q", errBadHandshake, connection)
	case !bytes.Equal(accept, acc):
		return fmt.Errorf("%w: Sec-WebSocket-Accept %q, want %q", errBadHandshake, accept, acc)
	case len(ext) > 0:
		return fmt.Errorf("%w: extension %q not requested", errBadHandshake, ext)
	case len(proto2) > 0:
		return fmt.Errorf("%w: subprotocol %q not requested", errBadHandshake, proto2)
	}
	return nil
}

// hasToken reports whether the comma-separated header value v holds token
// (case-insensitive).
func hasToken(v []byte, token string) bool {
	for len(v) > 0 {
		var t []byte
		t, v, _ = bytes.Cut(v, []byte(","))
		if bytes.EqualFold(bytes.TrimSpace(t), []byte(token)) {
			return true
		}
	}
	return false
}
