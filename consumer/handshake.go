package consumer

import (
	"context"
	"log/slog"
	"net/http"
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
//   - 503: the session store or the channel layer is unavailable, or the
//     server is shutting down;
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
	log := s.log.With(slog.String("path", path), slog.String("client", client))

	if s.cfg.Origin != nil && !s.cfg.Origin.Allow(r.Header.Values("Origin")) {
		s.refuse(w, r, refused403, "rejected", "origin")
		log.Info("handshake refused", slog.String("reason", "origin"), slog.String("origin", r.Header.Get("Origin")))
		return
	}

	if s.addressFull(client) {
		s.refuse(w, r, refused429, "rejected", refuseAddress)
		log.Warn("handshake refused: too many sockets from this address", slog.Int("limit", s.cfg.MaxSocketsPerAddress))
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.HandshakeTimeout)
	defer cancel()
	cookie := r.Header.Get("Cookie")
	v := s.cfg.Authenticator.Authenticate(ctx, cookie)
	if !v.Authenticated {
		if v.Reason == ReasonStoreUnavailable {
			s.refuse(w, r, refused503, "unavailable", v.Reason)
			log.Error("handshake refused: session store unavailable")
			return
		}
		if rt.Auth == AuthRequired {
			s.refuse(w, r, refused403, "rejected", v.Reason)
			log.Info("handshake refused", slog.String("reason", v.Reason))
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
	case refuseAddress:
		sock.release()
		s.refuse(w, r, refused429, "rejected", refuseAddress)
		log.Warn("handshake refused: too many sockets from this address", slog.Int("limit", s.cfg.MaxSocketsPerAddress))
		return
	}
	if err := sock.joinConnectGroups(ctx); err != nil {
		sock.release()
		s.unregister(sock)
		s.refuse(w, r, refused503, "unavailable", "layer_unavailable")
		log.Error("handshake refused: channel layer unavailable", slog.Any("err", err))
		return
	}
	conn, err := s.upgrade.Upgrade(w, r, nil)
	if err != nil {
		// Upgrade has already answered the client.
		sock.release()
		s.unregister(sock)
		s.m.handshakes.WithLabelValues("error", "upgrade").Inc()
		hook(s.cfg.Hooks.Rejected, client, path)
		log.Info("upgrade failed", slog.Any("err", err))
		return
	}
	// From here on the socket speaks RFC 6455 itself (wsframe.go): gorilla's
	// Conn is dropped, and since gorilla refuses a client that sent data
	// before the handshake completed, nothing is left buffered in it.
	nc := conn.NetConn()
	s.m.handshakes.WithLabelValues("accepted", "ok").Inc()
	hook(s.cfg.Hooks.Connected, client, path)
	sock.log(slog.LevelDebug, "socket accepted", slog.String("channel", sock.channel))
	s.startIO()
	// The handler returns: its goroutine and the stack it grew while
	// authenticating are freed. Shutdown waits for the socket through
	// s.wg, which cleanup releases.
	sock.start(nc)
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
