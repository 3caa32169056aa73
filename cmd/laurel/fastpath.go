package main

import (
	"bufio"
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/laurel-server/laurel/consumer"
	"github.com/laurel-server/laurel/internal/netpoll"
)

// fastAccept owns the main listener. It reads each new connection's request
// head itself and serves the WebSocket handshakes laurel's consumer claims
// (consumer.Server.Claims) with h on the worker goroutine that read it (see
// run), without net/http's per-connection machinery: its 8 KiB of buffers (never
// pooled again once a connection is hijacked), its background read and the
// hijack that stops it. Everything else — plain HTTP, handshakes for the
// upstream, anything unusual in the head — goes to the http.Server
// unchanged, with the bytes already read, through handoff.
//
// Only a plain head takes the fast path (parseHead says which): a GET,
// HTTP/1.1, origin-form target, one valid Host, no body, Expect or invalid
// header, nothing sent after the head, at most headBufSize bytes. h gets
// the request http.ReadRequest would parse from the same bytes, as net/http
// would hand it, except that the connection h hijacks keeps the head's
// read deadline (consumer sockets set a deadline before every read).
type fastAccept struct {
	ln      net.Listener
	h       http.Handler
	claims  func(*http.Request) bool
	handoff *connQueue
	log     *slog.Logger
	// headTimeout bounds reading the head, as the http.Server's
	// ReadHeaderTimeout.
	headTimeout time.Duration

	wg sync.WaitGroup // one per worker

	// work hands an accepted connection to an idle worker (unbuffered: a
	// send succeeds only when one waits); stop ends the idle ones. run
	// makes both.
	work chan net.Conn
	stop chan struct{}
	idle atomic.Int32 // workers waiting on work
	// started counts the workers ever started.
	started atomic.Int64

	mu      sync.Mutex
	reading map[net.Conn]struct{} // connections whose head is being read
	closed  bool
}

// headBufSize is the largest head the fast path reads; a longer one goes to
// net/http.
const headBufSize = 4096

// maxIdleConnWorkers bounds the workers kept waiting for a connection; a
// worker finishing one when this many already wait ends. connIdleTimeout
// ends a worker that waited that long, so that a server at rest does not
// keep the stacks a storm grew.
const (
	maxIdleConnWorkers = 256
	connIdleTimeout    = 2 * time.Second
)

// run accepts connections until the listener is closed, then waits for the
// connections it is still reading or serving and returns the accept error.
// Temporary accept errors (out of descriptors) are retried with net/http's
// backoff. On Linux it first sets TCP_DEFER_ACCEPT on a TCP listener
// (deferAccept): connections come out of accept with their head already
// arrived, and one that sends nothing is accepted about a second late,
// then timed out as any other.
//
// Each connection is served by a worker (worker): an idle one when there is
// one, a new one otherwise, so that a storm of handshakes does not pay for
// a goroutine and the growth of its stack on every connection.
func (f *fastAccept) run() error {
	f.work, f.stop = make(chan net.Conn), make(chan struct{})
	defer f.wg.Wait()
	defer close(f.stop)
	defer f.stopReading()
	if err := deferAccept(f.ln); err != nil {
		// Only a cost: the first read may then wait on the netpoller.
		f.log.Warn("TCP_DEFER_ACCEPT not set", slog.Any("err", err))
	}
	var delay time.Duration
	for {
		c, err := f.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Temporary() { //nolint:staticcheck // net/http's Serve retries the same errors
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				f.log.Error("accept failed; retrying", slog.Any("err", err), slog.Duration("in", delay))
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		select {
		case f.work <- c:
		default:
			f.wg.Add(1)
			f.started.Add(1)
			go f.worker(c)
		}
	}
}

// worker serves c, then the connections run hands it, until it has waited
// connIdleTimeout for one, too many other workers are idle, or run stops.
// Its head buffer and ResponseWriter serve each connection in turn: neither
// is used once serveConn returns (a handler must not use its ResponseWriter
// after ServeHTTP returns).
func (f *fastAccept) worker(c net.Conn) {
	defer f.wg.Done()
	var (
		buf  [headBufSize]byte
		w    hijackWriter
		idle *time.Timer
	)
	for {
		f.serveConn(c, &buf, &w)
		w = hijackWriter{}
		if f.idle.Add(1) > maxIdleConnWorkers {
			f.idle.Add(-1)
			return
		}
		if idle == nil {
			idle = time.NewTimer(connIdleTimeout)
			defer idle.Stop()
		} else {
			idle.Reset(connIdleTimeout)
		}
		select {
		case c = <-f.work:
			f.idle.Add(-1)
		case <-idle.C:
			f.idle.Add(-1)
			return
		case <-f.stop:
			f.idle.Add(-1)
			return
		}
	}
}

// stopReading ends the head reads in progress at once (the listener is
// closed: they would otherwise hold run for up to headTimeout).
func (f *fastAccept) stopReading() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for c := range f.reading {
		_ = c.SetReadDeadline(time.Now())
	}
}

// track records c as being read; it returns false once run is stopping.
func (f *fastAccept) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	if f.reading == nil {
		f.reading = map[net.Conn]struct{}{}
	}
	f.reading[c] = struct{}{}
	return true
}

func (f *fastAccept) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.reading, c)
	f.mu.Unlock()
}

// serveConn reads c's head into buf and serves it with w (zero), or hands
// c to net/http.
func (f *fastAccept) serveConn(c net.Conn, buf *[headBufSize]byte, w *hijackWriter) {
	if !f.track(c) {
		_ = c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(f.headTimeout))
	var (
		n, end = 0, -1
		err    error
	)
	for n < len(buf) {
		var m int
		m, err = c.Read(buf[n:])
		n += m
		if end = bytes.Index(buf[:n], []byte("\r\n\r\n")); end >= 0 || err != nil {
			break
		}
	}
	f.untrack(c)
	if end < 0 && (n == 0 || timedOut(err)) {
		// Nothing, or no whole head before the header timeout: net/http
		// closes such a connection without an answer too.
		_ = c.Close()
		return
	}
	if end >= 0 && end+4 == n {
		if req := parseHead(buf[:n]); req != nil && f.claims(req) {
			// The head's read deadline stays: every read of a consumer
			// socket sets its own deadline first.
			req.RemoteAddr = addrString(c.RemoteAddr())
			w.c = c
			f.h.ServeHTTP(w, req)
			w.finish()
			return
		}
	}
	f.handoff.put(&prefixConn{Conn: c, pending: bytes.Clone(buf[:n])})
}

// addrString is a.String(), with fewer allocations for a TCP address (the
// connection's client, the per-address limits' key and in every log line).
func addrString(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok || ta.Port < 0 || ta.Port > 0xffff {
		return a.String()
	}
	// net.IP.String writes an IPv4-mapped address as IPv4; a zone is
	// only an IPv6 one's.
	ip = ip.Unmap()
	if ip.Is6() {
		ip = ip.WithZone(ta.Zone)
	} else if ta.Zone != "" {
		return a.String()
	}
	return netip.AddrPortFrom(ip, uint16(ta.Port)).String()
}

// timedOut reports whether err is a timeout (on its own, so that the
// net.Error errors.As needs is allocated only when there is an error).
func timedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// headVals is how many header values a headRequest holds without another
// allocation (a browser's handshake has about 12 headers).
const headVals = 16

// headRequest holds a fast-path request, its URL and its header values in
// one allocation.
type headRequest struct {
	req  http.Request
	url  url.URL
	vals [headVals]string
}

// parseHead parses a plain request head — the whole of head, which ends
// with its blank line — or returns nil for anything else, which net/http
// then parses. Plain is: at most headBufSize bytes; the request line
// "GET <origin-form target> HTTP/1.1"; every line ended by CRLF; no
// continuation line; header names of token bytes, values of visible ASCII,
// space, tab or obs-text; exactly one Host header, of letters, digits and
// . - _ : [ ]; no Content-Length, Transfer-Encoding or Expect header; no
// "close" in a Connection header.
//
// The request returned is field for field the one http.ReadRequest returns
// for the same bytes (FuzzParseHead checks it): Header with canonical
// names and every value in order, Host (out of Header), URL from
// url.ParseRequestURI, RequestURI, Proto, ContentLength 0 and http.NoBody.
func parseHead(head []byte) *http.Request {
	if len(head) > headBufSize || !bytes.HasPrefix(head, []byte("GET /")) || !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		return nil
	}
	s := canonicalCopy(head)
	eol := strings.Index(s, "\r\n")
	target, ok := strings.CutSuffix(s[len("GET "):eol], " HTTP/1.1")
	if !ok {
		return nil
	}
	simplePath := true
	for i := 0; i < len(target); i++ {
		c := target[i]
		if c <= ' ' || c >= 0x7f {
			return nil
		}
		simplePath = simplePath && pathByte(c)
	}
	rest := s[eol+2:]
	// Lines left, the blank one included: an upper bound on the headers.
	n := strings.Count(rest, "\n") - 1
	r := new(headRequest)
	vals := r.vals[:]
	if n > headVals {
		vals = make([]string, n)
	}
	hdr := make(http.Header, n)
	var host string
	hosts := 0
	for {
		eol = strings.Index(rest, "\r\n")
		line := rest[:eol]
		rest = rest[eol+2:]
		if line == "" {
			break
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 {
			return nil
		}
		name := line[:colon]
		for i := 0; i < len(name); i++ {
			if !tokenByte(name[i]) {
				return nil
			}
		}
		v := line[colon+1:]
		for i := 0; i < len(v); i++ {
			if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
				return nil
			}
		}
		v = strings.Trim(v, " \t")
		key := name // canonicalCopy made it canonical
		switch key {
		case "Content-Length", "Transfer-Encoding", "Expect":
			return nil
		case "Connection":
			if containsFold(v, "close") {
				return nil
			}
		case "Host":
			// http.ReadRequest moves the Host header into req.Host.
			hosts++
			host = v
			continue
		}
		if vv, dup := hdr[key]; dup {
			hdr[key] = append(vv, v)
		} else {
			vals[0] = v
			hdr[key], vals = vals[:1:1], vals[1:]
		}
	}
	if rest != "" || hosts != 1 || !plainHost(host) {
		return nil
	}
	// As http.ReadRequest (fixPragmaCacheControl): browsers send both in
	// their handshakes.
	if p := hdr["Pragma"]; len(p) > 0 && p[0] == "no-cache" && hdr["Cache-Control"] == nil {
		hdr["Cache-Control"] = []string{"no-cache"}
	}
	r.req = http.Request{
		Method:     http.MethodGet,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     hdr,
		Body:       http.NoBody,
		Host:       host,
		RequestURI: target,
	}
	if simplePath {
		// What url.ParseRequestURI makes of a path that needs no
		// unescaping and that escaping would not change.
		r.url.Path = target
		r.req.URL = &r.url
	} else {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return nil
		}
		r.req.URL = u
	}
	return &r.req
}

// canonicalCopy returns head as one string (every string of the request
// is a slice of it) in which header names, up to the first colon of each
// line after the request line, are in textproto's canonical case (upper
// case first and after each '-', lower case elsewhere), as
// textproto.CanonicalMIMEHeaderKey would make a valid name, without
// allocating one string per name. parseHead declines a head whose names are
// not tokens, so what this makes of them does not matter.
func canonicalCopy(head []byte) string {
	var b strings.Builder
	b.Grow(len(head))
	eol := bytes.IndexByte(head, '\n') + 1
	b.Write(head[:eol])
	for rest := head[eol:]; len(rest) > 0; {
		upper := true
		i := 0
		for ; i < len(rest) && rest[i] != ':' && rest[i] != '\n'; i++ {
			c := rest[i]
			if upper && 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			} else if !upper && 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			_ = b.WriteByte(c)
			upper = c == '-'
		}
		eol = i + bytes.IndexByte(rest[i:], '\n') + 1
		if eol == i { // no line feed left (parseHead checked the head ends with one)
			eol = len(rest)
		}
		b.Write(rest[i:eol])
		rest = rest[eol:]
	}
	return b.String()
}

// pathByte reports whether c stands for itself in a URL path, as
// url.URL.EscapedPath writes it: unreserved bytes and the sub-delimiters
// net/url leaves unescaped in a path ('?' ends the path).
func pathByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '_', '.', '~', '$', '&', '+', ',', '/', ':', ';', '=', '@':
		return true
	}
	return false
}

// tokenByte reports whether c may appear in a header name (an RFC 9110
// token).
func tokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// containsFold reports whether s contains the lower-case ASCII word sub in
// any case.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// plainHost accepts a non-empty host[:port] of letters, digits and . - _ :
// [ ] (a subset of what net/http's server accepts).
func plainHost(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '-', c == '_', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	return true
}

// hijackWriter is the ResponseWriter of a fast-path request. The consumer
// answers claimed handshakes through Hijack only; should a handler write a
// response instead, it is sent (with Connection: close) and the connection
// closed, as net/http would for a request it cannot keep alive.
type hijackWriter struct {
	c        net.Conn
	hdr      http.Header
	status   int
	body     []byte
	hijacked bool
}

func (w *hijackWriter) Header() http.Header {
	if w.hdr == nil {
		w.hdr = http.Header{}
	}
	return w.hdr
}

func (w *hijackWriter) WriteHeader(status int) {
	if w.status == 0 && !w.hijacked {
		w.status = status
	}
}

func (w *hijackWriter) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	w.WriteHeader(http.StatusOK)
	w.body = append(w.body, p...)
	return len(p), nil
}

// Hijack hands the connection over; the returned reader holds nothing (the
// fast path took no request with bytes after its head).
func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	w.hijacked = true
	return w.c, bufio.NewReadWriter(bufio.NewReaderSize(w.c, 16), bufio.NewWriterSize(w.c, 128)), nil
}

// HijackConn hands the connection over without a bufio.ReadWriter
// (consumer.ConnHijacker): the fast path read nothing past the head.
func (w *hijackWriter) HijackConn() (net.Conn, error) {
	if w.hijacked {
		return nil, http.ErrHijacked
	}
	w.hijacked = true
	return w.c, nil
}

// WarmGoroutine tells the consumer that ServeHTTP runs on a worker reused
// from one connection to the next (consumer.WarmGoroutine): it
// authenticates there rather than handing the call to its auth workers.
func (*hijackWriter) WarmGoroutine() {}

// The consumer upgrades through HijackConn and authenticates on the worker.
var (
	_ consumer.ConnHijacker  = (*hijackWriter)(nil)
	_ consumer.WarmGoroutine = (*hijackWriter)(nil)
)

// finish sends a response the handler wrote, then closes the connection,
// unless the handler took it over.
func (w *hijackWriter) finish() {
	if w.hijacked {
		return
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	b := make([]byte, 0, 128+len(w.body))
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(w.status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(w.status)...)
	b = append(b, "\r\n"...)
	w.Header().Set("Connection", "close")
	w.hdr.Set("Content-Length", strconv.Itoa(len(w.body)))
	w.hdr.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	var hb bytes.Buffer
	_ = w.hdr.Write(&hb)
	b = append(b, hb.Bytes()...)
	b = append(b, "\r\n"...)
	b = append(b, w.body...)
	_ = w.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, _ = w.c.Write(b)
	_ = w.c.Close()
}

// prefixConn is a connection handed to net/http with the bytes the fast
// path already read from it.
type prefixConn struct {
	net.Conn
	pending []byte
}

// A prefixConn is watched by the consumer's readiness poller.
var _ netpoll.Conn = (*prefixConn)(nil)

// SyscallConn exposes the descriptor, so that a WebSocket net/http hands to
// the consumer is still watched by its readiness poller: by then pending is
// empty, since net/http's first read (a 4 KiB buffer) took it all and a
// handshake with bytes after its head is refused.
func (c *prefixConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// connQueue is the net.Listener the http.Server serves: connections the
// fast path handed over. Closing it (http.Server.Shutdown does) closes
// connections still handed to it.
type connQueue struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

// put hands c to the http.Server, or closes it once the queue is closed.
func (q *connQueue) put(c net.Conn) {
	select {
	case q.conns <- c:
	case <-q.done:
		_ = c.Close()
	}
}

// Accept returns the next handed-over connection.
func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.conns:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

// Close makes Accept fail and put close its connection. Safe to call more
// than once.
func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

// Addr is the real listener's address.
func (q *connQueue) Addr() net.Addr { return q.addr }
