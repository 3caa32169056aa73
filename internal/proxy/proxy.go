// Package proxy forwards what laurel does not serve itself to the upstream
// ASGI server (Daphne, uvicorn) so a deployment keeps every HTTP view and
// every WebSocket consumer not yet ported: plain HTTP through a streaming
// httputil.ReverseProxy, WebSocket handshakes through a raw bidirectional
// tunnel opened after forwarding the upgrade request.
//
// The Host header is passed through unchanged (Django checks it against
// ALLOWED_HOSTS), and X-Forwarded-For/-Proto/-Host are set by package
// forwarded. An unreachable upstream answers 502 and logs why.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/laurel-server/laurel/internal/forwarded"
)

// ErrBadUpstream is wrapped by New's errors about the upstream address.
var ErrBadUpstream = errors.New("proxy: invalid upstream")

// dialTimeout bounds connecting to the upstream.
const dialTimeout = 5 * time.Second

// Upstream is a reverse proxy to one ASGI server. It is safe for concurrent
// use.
type Upstream struct {
	addr  string
	base  *url.URL
	dial  func(ctx context.Context) (net.Conn, error)
	trust bool
	log   *slog.Logger
	rp    *httputil.ReverseProxy
	tr    *http.Transport

	mu      sync.Mutex
	tunnels map[net.Conn]struct{}
	closed  bool
	wg      sync.WaitGroup
}

// New returns an Upstream for raw, either http://host:port or unix:/path
// (also unix:///path). trust keeps incoming X-Forwarded-* values (laurel's
// --proxy-headers).
func New(raw string, trust bool, log *slog.Logger) (*Upstream, error) {
	if log == nil {
		log = slog.Default()
	}
	u := &Upstream{addr: raw, trust: trust, log: log, tunnels: map[net.Conn]struct{}{}}
	var d net.Dialer
	switch {
	case strings.HasPrefix(raw, "unix:"):
		p := strings.TrimPrefix(strings.TrimPrefix(raw, "unix:"), "//")
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("%w: %q: want unix:/absolute/path", ErrBadUpstream, raw)
		}
		u.base = &url.URL{Scheme: "http", Host: "localhost"}
		u.dial = func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "unix", p) }
	case strings.HasPrefix(raw, "http://"):
		pu, err := url.Parse(raw)
		if err != nil || pu.Host == "" || (pu.Path != "" && pu.Path != "/") || pu.RawQuery != "" || pu.User != nil {
			return nil, fmt.Errorf("%w: %q: want http://host:port", ErrBadUpstream, raw)
		}
		host := pu.Host
		if pu.Port() == "" {
			host = net.JoinHostPort(pu.Hostname(), "80")
		}
		u.base = &url.URL{Scheme: "http", Host: pu.Host}
		u.dial = func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", host) }
	default:
		return nil, fmt.Errorf("%w: %q: want http://host:port or unix:/path", ErrBadUpstream, raw)
	}
	u.tr = &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, dialTimeout)
			defer cancel()
			return u.dial(ctx)
		},
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
	u.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = u.base.Scheme
			pr.Out.URL.Host = u.base.Host
			pr.Out.Host = pr.In.Host
			forwarded.Set(pr.Out.Header, pr.In, u.trust)
		},
		Transport:     u.tr,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, context.Canceled) {
				return // the client went away
			}
			u.log.Error("upstream unavailable", slog.String("upstream", u.addr),
				slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
			w.WriteHeader(http.StatusBadGateway)
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return u, nil
}

// String returns the upstream address as configured.
func (u *Upstream) String() string { return u.addr }

// ServeHTTP proxies a plain HTTP request, streaming both bodies.
func (u *Upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.rp.ServeHTTP(w, r)
}

// Ping checks that the upstream accepts connections.
func (u *Upstream) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, err := u.dial(ctx)
	if err != nil {
		return fmt.Errorf("proxy: upstream %s: %w", u.addr, err)
	}
	return c.Close()
}

// Tunnel forwards a WebSocket handshake to the upstream and then copies bytes
// both ways until either side closes, so the upstream's answer (101, 403,
// anything) and every frame pass through unchanged. An unreachable upstream
// answers 502. Tunnel returns when the tunnel ends.
func (u *Upstream) Tunnel(w http.ResponseWriter, r *http.Request) {
	if !u.track(nil) {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	defer u.wg.Done()
	ctx, cancel := context.WithTimeout(r.Context(), dialTimeout)
	up, err := u.dial(ctx)
	cancel()
	if err != nil {
		u.log.Error("upstream unavailable", slog.String("upstream", u.addr), slog.String("path", r.URL.Path), slog.Any("err", err))
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	defer func() { _ = up.Close() }()

	out := r.Clone(context.Background())
	out.Header = r.Header.Clone()
	forwarded.Set(out.Header, r, u.trust)
	out.URL = &url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	out.RequestURI = ""
	_ = up.SetWriteDeadline(time.Now().Add(dialTimeout))
	if err := out.Write(up); err != nil {
		u.log.Error("upstream write failed", slog.String("upstream", u.addr), slog.Any("err", err))
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	_ = up.SetWriteDeadline(time.Time{})

	client, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		u.log.Error("cannot hijack connection for tunnel", slog.Any("err", err))
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	defer func() { _ = client.Close() }()
	u.track(client)
	u.track(up)
	defer u.untrack(client)
	defer u.untrack(up)

	// Bytes the server already buffered from the client go first.
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Peek(n)
		if _, err := up.Write(b); err != nil {
			return
		}
	}
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(up, client)
		closeWrite(up)
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(client, up)
		closeWrite(client)
		done <- struct{}{}
	}()
	<-done
	// One direction ended; give the other a moment, then tear down.
	t := time.NewTimer(5 * time.Second)
	select {
	case <-done:
		t.Stop()
		return
	case <-t.C:
	}
	_ = client.Close()
	_ = up.Close()
	<-done
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}

// track registers a tunnel (c == nil: a tunnel starting) unless closed.
func (u *Upstream) track(c net.Conn) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if c == nil {
		if u.closed {
			return false
		}
		u.wg.Add(1)
		return true
	}
	if u.closed {
		_ = c.Close()
		return false
	}
	u.tunnels[c] = struct{}{}
	return true
}

func (u *Upstream) untrack(c net.Conn) {
	u.mu.Lock()
	delete(u.tunnels, c)
	u.mu.Unlock()
}

// Close refuses new tunnels, closes every open one, waits for their
// goroutines and drops idle upstream connections. Safe to call twice.
func (u *Upstream) Close() error {
	u.mu.Lock()
	u.closed = true
	for c := range u.tunnels {
		_ = c.Close()
	}
	u.mu.Unlock()
	u.wg.Wait()
	u.tr.CloseIdleConnections()
	return nil
}
