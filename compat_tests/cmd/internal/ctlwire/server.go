// Package ctlwire is the wire shared by the compat-suite helper programs
// layerctl and pubsubctl: a JSON-lines request loop on stdin/stdout (Server)
// and the tagged JSON encoding of channelsproto values (DecodeValue,
// AppendValue) that lets the Python suites compare values losslessly.
//
// Each request is one JSON object on a line with an "id"; each response is
// {"id", "ok", "result"} or {"id", "ok": false, "error", "kind"} on one line,
// written when the request finishes (requests run concurrently, so responses
// may come out of order). A line that is not JSON gets a response with id -1.
package ctlwire

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/laurel-server/laurel/channelsproto"
)

// ErrBadRequest classifies an error as kind "bad_request": the request itself
// is wrong. Programs wrap it in their own sentinel.
var ErrBadRequest = errors.New("bad request")

// Request is what a program's request type must provide: its "id".
type Request interface {
	RequestID() int64
}

// Handler runs one request and returns its result (nil for an empty
// result object) or an error, which Server classifies into a kind.
type Handler[R Request] func(ctx context.Context, req R) (map[string]any, error)

// response is one line written to out, answering the request with the same
// ID. Kind classifies an error so the tests can assert on it: "timeout" (a
// deadline passed), "bad_request" (the request itself is wrong), one of
// errorKinds for a channelsproto sentinel, or "error" (anything else).
type response struct {
	ID     int64          `json:"id"`
	OK     bool           `json:"ok"`
	Result map[string]any `json:"result,omitempty"`
	Error  string         `json:"error,omitempty"`
	Kind   string         `json:"kind,omitempty"`
}

// errorKinds names channelsproto's sentinel errors on the wire.
var errorKinds = []struct {
	err  error
	kind string
}{
	{channelsproto.ErrChannelFull, "channel_full"},
	{channelsproto.ErrInvalidName, "invalid_name"},
	{channelsproto.ErrInvalidMessage, "invalid_message"},
	{channelsproto.ErrInvalidToken, "invalid_token"},
	{channelsproto.ErrMalformed, "malformed"},
	{channelsproto.ErrConfig, "config"},
	{channelsproto.ErrClosed, "closed"},
}

// Server reads requests of type R and answers each in its own goroutine, so
// a blocked receive does not hold up a send.
type Server[R Request] struct {
	log    *slog.Logger
	handle Handler[R]

	outMu sync.Mutex
	out   *json.Encoder
}

// NewServer returns a Server writing responses to out and logging to log.
func NewServer[R Request](out io.Writer, log *slog.Logger, handle Handler[R]) *Server[R] {
	return &Server[R]{log: log, handle: handle, out: json.NewEncoder(out)}
}

// Serve reads requests from in until EOF (lines up to 64 MiB), runs each with
// ctx, and returns once every request in flight has been answered.
func (s *Server[R]) Serve(ctx context.Context, in io.Reader) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 1<<16), 64<<20)
	for sc.Scan() {
		line := append([]byte(nil), sc.Bytes()...)
		if len(line) == 0 {
			continue
		}
		var req R
		if err := json.Unmarshal(line, &req); err != nil {
			s.reply(response{ID: -1, Error: err.Error(), Kind: "bad_request"})
			continue
		}
		wg.Go(func() { s.reply(s.run(ctx, req)) })
	}
	return sc.Err()
}

func (s *Server[R]) reply(r response) {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if err := s.out.Encode(r); err != nil {
		s.log.Error("write response", "err", err)
	}
}

// run runs one request and builds its response.
func (s *Server[R]) run(ctx context.Context, req R) response {
	res, err := s.handle(ctx, req)
	if err != nil {
		return response{ID: req.RequestID(), Error: err.Error(), Kind: kindOf(err)}
	}
	if res == nil {
		res = map[string]any{}
	}
	return response{ID: req.RequestID(), OK: true, Result: res}
}

// kindOf classifies err for the response's "kind".
func kindOf(err error) string {
	for _, k := range errorKinds {
		if errors.Is(err, k.err) {
			return k.kind
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, ErrBadRequest), errors.Is(err, ErrTagged):
		return "bad_request"
	}
	return "error"
}

// Timeout converts a request's "timeout" in seconds to a duration; zero or
// negative means 5 seconds.
func Timeout(seconds float64) time.Duration {
	if d := time.Duration(seconds * float64(time.Second)); d > 0 {
		return d
	}
	return 5 * time.Second
}
