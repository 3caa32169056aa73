// Package accesslog writes Daphne 4.2.3's access log (daphne.access.
// AccessLogGenerator): one NCSA-style line per HTTP response and per
// WebSocket connecting, rejected, connected and disconnected event,
//
//	host - - [dd/Mon/YYYY:HH:MM:SS] "REQUEST" status size
//
// where host is the client "ip:port", the date is local time, and status and
// size are "-" for WebSocket events.
package accesslog

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Log writes access log lines. It is safe for concurrent use; each line is
// written with one Write call.
type Log struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

// New returns a Log writing to w.
func New(w io.Writer) *Log { return &Log{w: w, now: time.Now} }

func (l *Log) entry(host, request, status, size string) {
	if host == "" {
		host = "None" // Python formats a missing client as None
	}
	// Daphne formats the client as "%s:%s" % (host, port): no brackets
	// around an IPv6 host.
	if strings.HasPrefix(host, "[") {
		if i := strings.Index(host, "]:"); i > 0 {
			host = host[1:i] + host[i+1:]
		}
	}
	b := make([]byte, 0, 96+len(request))
	b = append(b, host...)
	b = append(b, " - - ["...)
	b = l.now().AppendFormat(b, "02/Jan/2006:15:04:05")
	b = append(b, `] "`...)
	b = append(b, request...)
	b = append(b, `" `...)
	b = append(b, status...)
	b = append(b, ' ')
	b = append(b, size...)
	b = append(b, '\n')
	l.mu.Lock()
	_, _ = l.w.Write(b)
	l.mu.Unlock()
}

// WSConnecting logs "WSCONNECTING path".
func (l *Log) WSConnecting(client, path string) { l.entry(client, "WSCONNECTING "+path, "-", "-") }

// WSRejected logs "WSREJECT path".
func (l *Log) WSRejected(client, path string) { l.entry(client, "WSREJECT "+path, "-", "-") }

// WSConnected logs "WSCONNECT path".
func (l *Log) WSConnected(client, path string) { l.entry(client, "WSCONNECT "+path, "-", "-") }

// WSDisconnected logs "WSDISCONNECT path".
func (l *Log) WSDisconnected(client, path string) { l.entry(client, "WSDISCONNECT "+path, "-", "-") }

// HTTP logs a completed HTTP request, "METHOD path" status size.
func (l *Log) HTTP(client, method, path string, status int, size int64) {
	sz := "-"
	if size > 0 {
		sz = strconv.FormatInt(size, 10)
	}
	st := "-"
	if status > 0 {
		st = strconv.Itoa(status)
	}
	l.entry(client, method+" "+path, st, sz)
}

// Handler logs every request next serves that is not a WebSocket upgrade
// (those are logged through the WS* methods).
func (l *Log) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			next.ServeHTTP(w, r)
			return
		}
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		// Daphne logs the raw request URI, query string included.
		l.HTTP(r.RemoteAddr, r.Method, r.RequestURI, rec.status, rec.size)
	})
}

// recorder captures the status and body size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	size   int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.size += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and Hijack.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush supports streaming responses through the reverse proxy.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
