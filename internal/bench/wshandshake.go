package bench

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
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
	// addr is the URL's host:port; remote, its resolved address.
	addr   string
	remote *endpoint
	// name names the connections in their errors ("tcp 127.0.0.1:8000").
	name string
	// head is the request up to and including "Cookie: "; the cookie, the
	// key and the end of the request follow.
	head []byte
}

// newWSDialer prepares the handshakes to rawURL (ws:// only: the benchmark
// stack listens on loopback without TLS) with Origin origin. The host is
// resolved here, once.
func newWSDialer(rawURL, origin string) (*wsDialer, error) {
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
	ra, err := net.ResolveTCPAddr("tcp", host)
	if err != nil {
		return nil, fmt.Errorf("bench: url %q: %w", rawURL, err)
	}
	path := u.RequestURI()
	head := fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nOrigin: %s\r\nCookie: ", path, u.Host, origin)
	return &wsDialer{addr: host, remote: newEndpoint(ra), name: "tcp " + ra.String(), head: head}, nil
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
// for none). A response with another status is a *handshakeError. Then, if
// sub is not nil, it writes sub as the socket's first text message. All of
// it runs in slot s of a handshakeGuard, which bounds it by the guard's
// timeout and cuts it when the guard's ctx is cancelled (an error then; a cancelled ctx also
// fails a dial before it starts); the returned connection has no deadline.
// start is when the caller began this connect (the timeout runs from it).
func (d *wsDialer) dial(s *handshakeSlot, local *endpoint, cookie string, sub []byte, start time.Time) (_ *wsConn, err error) {
	nc, err := dialTCP(local, d.remote, d.name)
	if err != nil {
		return nil, err
	}
	c := newWSConn(nc)
	if err := s.begin(nc, start); err != nil {
		_ = nc.Close()
		return nil, err
	}
	defer func() {
		if cut := s.end(); cut != nil && (err == nil || errors.Is(err, os.ErrDeadlineExceeded)) {
			err = cut
		}
		if err != nil {
			_ = nc.Close()
		}
	}()
	key := newKey()
	req := c.buf[:0] // the read buffer is free until the response comes (a longer request gets its own array)
	req = append(req, d.head...)
	req = append(req, cookie...)
	req = append(req, "\r\nSec-WebSocket-Key: "...)
	req = append(req, key[:]...)
	req = append(req, "\r\n\r\n"...)
	if err := writeRequest(nc, req); err != nil {
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
	if sub != nil {
		if err := c.writeText(sub); err != nil {
			return nil, err
		}
	}
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

// handshakeGuard bounds the handshakes in flight without a deadline or a
// context registration per handshake: each handshake runs in a slot (one per
// dialing goroutine), and one watcher goroutine cuts a slot's handshake, by
// setting a past deadline on its connection, once it has run for longer
// than the timeout (checked every tick: a handshake is cut between timeout
// and timeout + tick after it started), or at once when ctx is cancelled.
// A handshake costs two uncontended mutex operations, where a deadline set
// and cleared cost two runtime timer updates, and context.AfterFunc a
// registration in ctx.
type handshakeGuard struct {
	slots   []handshakeSlot
	timeout time.Duration
	stop    chan struct{}
	done    chan struct{}
}

// handshakeSlot is one slot of a handshakeGuard, used by one goroutine at a
// time (begin, then end).
type handshakeSlot struct {
	ctx context.Context
	mu  sync.Mutex
	// c is the connection of the handshake in progress, nil when none.
	c     conn
	start time.Time
	// cut is why the watcher cut the handshake in progress (nil if not).
	cut error
	// cancelled is set once ctx is cancelled: no handshake begins after.
	cancelled bool
}

// pastDeadline is the deadline that makes a connection's I/O fail at once.
var pastDeadline = time.Unix(1, 0)

// errHandshakeTimeout reports a handshake cut by its timeout after its I/O
// was done.
var errHandshakeTimeout = fmt.Errorf("bench: handshake timeout: %w", os.ErrDeadlineExceeded)

// newHandshakeGuard returns a guard of n slots whose handshakes are bounded
// by timeout and cut when ctx is cancelled, and starts its watcher. Close
// stops the watcher.
func newHandshakeGuard(ctx context.Context, n int, timeout time.Duration) *handshakeGuard {
	g := &handshakeGuard{slots: make([]handshakeSlot, n), timeout: timeout,
		stop: make(chan struct{}), done: make(chan struct{})}
	for i := range g.slots {
		g.slots[i].ctx = ctx
	}
	tick := min(max(timeout/10, time.Millisecond), 100*time.Millisecond)
	go g.watch(ctx, tick)
	return g
}

// slot returns slot i.
func (g *handshakeGuard) slot(i int) *handshakeSlot { return &g.slots[i] }

// Close stops the watcher and waits for it. It must not be called twice.
func (g *handshakeGuard) Close() {
	close(g.stop)
	<-g.done
}

func (g *handshakeGuard) watch(ctx context.Context, tick time.Duration) {
	defer close(g.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-ctx.Done():
			for i := range g.slots {
				s := &g.slots[i]
				s.mu.Lock()
				s.cancelled = true
				if s.c != nil && s.cut == nil {
					s.cut = ctx.Err()
					_ = s.c.SetDeadline(pastDeadline)
				}
				s.mu.Unlock()
			}
			return
		case now := <-t.C:
			for i := range g.slots {
				s := &g.slots[i]
				s.mu.Lock()
				if s.c != nil && s.cut == nil && now.Sub(s.start) > g.timeout {
					s.cut = errHandshakeTimeout
					_ = s.c.SetDeadline(pastDeadline)
				}
				s.mu.Unlock()
			}
		}
	}
}

// begin puts the handshake on c, which started at start, in s. It fails if
// the guard's ctx is cancelled.
func (s *handshakeSlot) begin(c conn, start time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancelled {
		return s.ctx.Err()
	}
	s.c, s.start, s.cut = c, start, nil
	return nil
}

// end takes the handshake out of s and returns why the watcher cut it (nil
// if it did not: then its connection has no deadline; if it did, the
// connection's deadline is past and it must be discarded).
func (s *handshakeSlot) end() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.c = nil
	return s.cut
}
