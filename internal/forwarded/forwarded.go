// Package forwarded works out who a request came from and what to tell an
// upstream about it: the client address Daphne 4.2.3 reports with
// --proxy-headers (daphne.utils.parse_x_forwarded_for: the first
// X-Forwarded-For entry, the X-Forwarded-Port port, the X-Forwarded-Proto
// scheme) and the X-Forwarded-For/-Proto/-Host headers laurel sends upstream.
package forwarded

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
)

type peerKey struct{}

// Handler records the TCP peer of each request (see Peer) and, when trust is
// true, replaces r.RemoteAddr with the client address from X-Forwarded-For
// and X-Forwarded-Port as Daphne's --proxy-headers does ("ip:port", port 0
// when X-Forwarded-Port is absent or not a number).
//
// The peer is recorded only when RemoteAddr is rewritten; otherwise the
// request is passed on as it is (no copy), and RemoteAddr is the peer.
func Handler(next http.Handler, trust bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if trust {
			if addr, ok := clientFromHeaders(r.Header); ok {
				r = r.WithContext(context.WithValue(r.Context(), peerKey{}, r.RemoteAddr))
				r.RemoteAddr = addr
			}
		}
		next.ServeHTTP(w, r)
	})
}

func clientFromHeaders(h http.Header) (string, bool) {
	xff := h.Get("X-Forwarded-For")
	if xff == "" {
		return "", false
	}
	host := strings.TrimSpace(strings.Split(xff, ",")[0])
	port := 0
	if p := h.Get("X-Forwarded-Port"); p != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(p)); err == nil {
			port = n
		}
	}
	return host + ":" + strconv.Itoa(port), true
}

// Peer returns the TCP peer address recorded by Handler, or r.RemoteAddr.
func Peer(r *http.Request) string {
	if p, ok := r.Context().Value(peerKey{}).(string); ok {
		return p
	}
	return r.RemoteAddr
}

// Set writes the X-Forwarded-For, X-Forwarded-Proto and X-Forwarded-Host
// headers of the request laurel sends upstream for r into out. With trust,
// incoming values are kept (the peer is appended to X-Forwarded-For);
// without it they are replaced, so a client cannot spoof them.
func Set(out http.Header, r *http.Request, trust bool) {
	peerIP := Peer(r)
	if h, _, err := net.SplitHostPort(peerIP); err == nil {
		peerIP = h
	}
	xff := peerIP
	if prior := strings.Join(r.Header.Values("X-Forwarded-For"), ", "); trust && prior != "" {
		xff = prior + ", " + peerIP
	}
	out.Set("X-Forwarded-For", xff)
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); trust && p != "" {
		proto = p
	}
	out.Set("X-Forwarded-Proto", proto)
	host := r.Host
	if h := r.Header.Get("X-Forwarded-Host"); trust && h != "" {
		host = h
	}
	out.Set("X-Forwarded-Host", host)
}
