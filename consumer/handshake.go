package consumer

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// Raw HTTP responses used to refuse handshakes. refused403 is byte for byte
// what Daphne 4.2.3 (through autobahn's failHandshake) writes when a Channels
// consumer or AllowedHostsOriginValidator closes before accepting.
const (
	refused403 = "HTTP/1.1 403 Access denied\r\n\r\n"
	refused503 = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\r\n"
	refused429 = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 5\r\n\r\n"
)

// ServeHTTP handles a WebSocket handshake on one of the Server's routes. A
// request that Match does not claim gets 404. Refusals:
//   - 403 (Daphne's exact bytes): Origin not allowed by ALLOWED_HOSTS, or no
//     authenticated session on a route with AuthRequired;
//   - 503 (Retry-After: 5): the session store or the channel layer is
//     unavailable, the server is shutting down, or it already holds
//     Config.MaxSockets sockets;
//   - 429: the client's address already holds Config.MaxSocketsPerAddress
//     sockets.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, kwargs := s.find(r.URL.Path)
	if rt == nil || !websocket.IsWebSocketUpgrade(r) {
		http.NotFound(w, r)
		return
	}
	client := r.RemoteAddr
	path := r.URL.Path
	hook(s.cfg.Hooks.Connecting, client, path)

	if s.cfg.Origin != nil && !s.cfg.Origin.Allow(r.Header.Values("Origin")) {
		s.refuse(w, r, refused403, "rejected", "origin")
		s.hsLog(slog.LevelInfo, "handshake refused", client, path, slog.String("reason", "origin"), slog.String("origin", r.Header.Get("Origin")))
		return
	}

	if s.socketsFull() {
		s.refuse(w, r, refused503, "unavailable", refuseSockets)
		s.logCapRefusal(client, path)
		return
	}
	if s.addressFull(client) {
		s.refuse(w, r, refused429, "rejected", refuseAddress)
		s.hsLog(slog.LevelWarn, "handshake refused: too many sockets from this address", client, path, slog.Int("limit", s.cfg.MaxSocketsPerAddress))
		return
	}

	// Bounded by HandshakeTimeout (a deadline shared with the handshakes
	// of the same instant, see sharedDeadline), not by the client staying
	// connected: a client gone meanwhile is found when the 101 is written
	// or the socket first read.
	ctx := s.bound.ctx()
	cookie := r.Header.Get("Cookie")
	var v Verdict
	if _, warm := w.(WarmGoroutine); warm {
		v = s.cfg.Authenticator.Authenticate(ctx, cookie)
	} else {
		v = s.auths.authenticate(ctx, cookie)
	}
	if !v.Authenticated {
		if v.Reason == ReasonStoreUnavailable {
			s.refuse(w, r, refused503, "unavailable", v.Reason)
			s.hsLog(slog.LevelError, "handshake refused: session store unavailable", client, path)
			return
		}
		if rt.Auth == AuthRequired {
			s.refuse(w, r, refused403, "rejected", v.Reason)
			s.hsLog(slog.LevelInfo, "handshake refused", client, path, slog.String("reason", v.Reason))
			return
		}
		v = Verdict{Reason: v.Reason}
	}

	if s.cfg.RevalidateInterval <= 0 {
		cookie = "" // kept only for revalidation
	}
	sock := newSocket(s, rt, kwargs, v, cookie, client, path)
	switch s.register(sock) {
	case refuseClosing:
		sock.release()
		s.refuse(w, r, refused503, "unavailable", refuseClosing)
		return
	case refuseSockets:
		sock.release()
		s.refuse(w, r, refused503, "unavailable", refuseSockets)
		s.logCapRefusal(client, path)
		return
	case refuseAddress:
		sock.release()
		s.refuse(w, r, refused429, "rejected", refuseAddress)
		s.hsLog(slog.LevelWarn, "handshake refused: too many sockets from this address", client, path, slog.Int("limit", s.cfg.MaxSocketsPerAddress))
		return
	}
	if err := sock.joinConnectGroups(ctx); err != nil {
		sock.release()
		s.unregister(sock)
		s.refuse(w, r, refused503, "unavailable", "layer_unavailable")
		s.hsLog(slog.LevelError, "handshake refused: channel layer unavailable", client, path, slog.Any("err", err))
		return
	}
	// The upgrade itself (upgrade.go): gorilla/websocket's checks, then the
	// 101 written on the hijacked connection.
	key, uerr := checkUpgrade(r)
	var (
		nc  net.Conn
		raw syscall.RawConn
		err error
	)
	if uerr != nil {
		refuseUpgrade(w, uerr)
		err = uerr
	} else {
		nc, raw, err = s.hijackUpgrade(w, key)
	}
	if err != nil {
		// The client has been answered (or the connection closed).
		sock.release()
		s.unregister(sock)
		s.m.handshakes.WithLabelValues("error", "upgrade").Inc()
		hook(s.cfg.Hooks.Rejected, client, path)
		s.hsLog(slog.LevelInfo, "upgrade failed", client, path, slog.Any("err", err))
		return
	}
	// From here on the socket speaks RFC 6455 itself (wsframe.go); since
	// a client that sent data before the 101 is refused, nothing is left
	// buffered in net/http's reader.
	s.m.accepted.Inc()
	hook(s.cfg.Hooks.Connected, client, path)
	sock.log(slog.LevelDebug, "socket accepted", slog.String("channel", sock.channel))
	s.startIO()
	// The handler returns: its goroutine and the stack it grew while
	// authenticating are freed. Shutdown waits for the socket through
	// s.wg, which cleanup releases.
	sock.start(nc, raw)
}

// WarmGoroutine is implemented by a ResponseWriter whose ServeHTTP calls
// run on goroutines reused from one connection to the next, as laurel
// serve's fast path does. The Server then calls its Authenticator on that
// goroutine, whose stack grew on an earlier handshake, rather than on one of
// its auth workers (authPool), saving the two goroutine switches of the
// hand-off. On net/http's fresh per-connection goroutines the auth workers
// are what keeps the stack growth of authenticating off every handshake.
type WarmGoroutine interface {
	// WarmGoroutine only marks the ResponseWriter; it does nothing.
	WarmGoroutine()
}

// hsLog logs a handshake event with its path and client, building nothing
// when the level is disabled.
func (s *Server) hsLog(level slog.Level, msg, client, path string, attrs ...slog.Attr) {
	ctx := context.Background()
	if !s.log.Enabled(ctx, level) {
		return
	}
	all := make([]slog.Attr, 0, 2+len(attrs))
	all = append(all, slog.String("path", path), slog.String("client", client))
	s.log.LogAttrs(ctx, level, msg, append(all, attrs...)...)
}

func hook(f func(client, path string), client, path string) {
	if f != nil {
		f(client, path)
	}
}

// refuse answers a handshake with raw bytes and closes the connection, as
// Daphne does; it falls back to a normal response when the connection
// cannot be hijacked.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, raw, result, reason string) {
	s.m.handshakes.WithLabelValues(result, reason).Inc()
	hook(s.cfg.Hooks.Rejected, r.RemoteAddr, r.URL.Path)
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		status := http.StatusForbidden
		switch raw {
		case refused503:
			status = http.StatusServiceUnavailable
		case refused429:
			status = http.StatusTooManyRequests
		}
		w.WriteHeader(status)
		return
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	if _, err := brw.WriteString(raw); err == nil {
		_ = brw.Flush()
	}
}
