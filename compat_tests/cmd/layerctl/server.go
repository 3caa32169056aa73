package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/laurel-server/laurel/channelsproto"
)

// request is one line read from stdin. Fields not used by an op are ignored.
type request struct {
	ID      int64           `json:"id"`
	Op      string          `json:"op"`
	Layer   string          `json:"layer"`
	Config  json.RawMessage `json:"config"`
	Channel string          `json:"channel"`
	Group   string          `json:"group"`
	Message json.RawMessage `json:"message"`
	Value   json.RawMessage `json:"value"`
	Text    string          `json:"text"`
	// Timeout bounds a receive, in seconds. Zero means 5 seconds.
	Timeout float64 `json:"timeout"`
}

// response is one line written to stdout, answering the request with the same
// ID. Kind classifies an error so the tests can assert on it: "timeout" (the
// receive deadline passed), "bad_request" (the request itself is wrong), one
// of errorKinds for a channelsproto sentinel, or "error" (anything else).
type response struct {
	ID     int64          `json:"id"`
	OK     bool           `json:"ok"`
	Result map[string]any `json:"result,omitempty"`
	Error  string         `json:"error,omitempty"`
	Kind   string         `json:"kind,omitempty"`
}

var errBadRequest = errors.New("layerctl: bad request")

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

// server owns the layers created through the protocol and answers requests,
// each in its own goroutine, so a blocked receive does not hold up a send.
type server struct {
	log *slog.Logger

	outMu sync.Mutex
	out   *json.Encoder

	mu     sync.Mutex
	layers map[string]*channelsproto.Layer
	next   int
}

func newServer(out io.Writer, log *slog.Logger) *server {
	return &server{log: log, out: json.NewEncoder(out), layers: map[string]*channelsproto.Layer{}}
}

// serve reads requests from in until EOF or ctx ends, waits for the requests
// in flight, then closes every layer still open.
func (s *server) serve(ctx context.Context, in io.Reader) error {
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		s.closeAll()
	}()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 1<<16), 64<<20)
	for sc.Scan() {
		line := append([]byte(nil), sc.Bytes()...)
		if len(line) == 0 {
			continue
		}
		var req request
		if err := json.Unmarshal(line, &req); err != nil {
			s.reply(response{ID: -1, Error: err.Error(), Kind: "bad_request"})
			continue
		}
		wg.Go(func() { s.reply(s.handle(ctx, req)) })
	}
	return sc.Err()
}

func (s *server) reply(r response) {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if err := s.out.Encode(r); err != nil {
		s.log.Error("write response", "err", err)
	}
}

func (s *server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, l := range s.layers {
		if err := l.Close(); err != nil {
			s.log.Warn("close layer", "layer", name, "err", err)
		}
		delete(s.layers, name)
	}
}

func (s *server) layer(name string) (*channelsproto.Layer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.layers[name]
	if !ok {
		return nil, fmt.Errorf("%w: no layer %q", errBadRequest, name)
	}
	return l, nil
}

// handle runs one request and builds its response.
func (s *server) handle(ctx context.Context, req request) response {
	res, err := s.dispatch(ctx, req)
	if err != nil {
		kind := "error"
		for _, k := range errorKinds {
			if errors.Is(err, k.err) {
				kind = k.kind
				break
			}
		}
		switch {
		case kind != "error":
		case errors.Is(err, context.DeadlineExceeded):
			kind = "timeout"
		case errors.Is(err, errBadRequest), errors.Is(err, errTagged):
			kind = "bad_request"
		}
		return response{ID: req.ID, Error: err.Error(), Kind: kind}
	}
	if res == nil {
		res = map[string]any{}
	}
	return response{ID: req.ID, OK: true, Result: res}
}

func (s *server) dispatch(ctx context.Context, req request) (map[string]any, error) {
	switch req.Op {
	case "new":
		return s.newLayer(req)
	case "marshal_json":
		v, err := decodeValue(req.Value)
		if err != nil {
			return nil, err
		}
		b, err := channelsproto.MarshalPythonJSON(v)
		if err != nil {
			return nil, err
		}
		return map[string]any{"text": string(b)}, nil
	case "unmarshal_json":
		v, err := channelsproto.UnmarshalJSON([]byte(req.Text))
		if err != nil {
			return nil, err
		}
		e, err := appendValue(nil, v)
		if err != nil {
			return nil, err
		}
		return map[string]any{"value": json.RawMessage(e)}, nil
	}

	l, err := s.layer(req.Layer)
	if err != nil {
		return nil, err
	}
	switch req.Op {
	case "new_channel":
		return map[string]any{"channel": l.NewChannel()}, nil
	case "send":
		msg, err := decodeMessage(req.Message)
		if err != nil {
			return nil, err
		}
		return nil, l.Send(ctx, req.Channel, msg)
	case "receive":
		timeout := time.Duration(req.Timeout * float64(time.Second))
		if timeout <= 0 {
			timeout = 5 * time.Second
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		msg, err := l.Receive(rctx, req.Channel)
		if err != nil {
			return nil, err
		}
		e, err := appendValue(nil, msg)
		if err != nil {
			return nil, err
		}
		return map[string]any{"message": json.RawMessage(e)}, nil
	case "group_add":
		return nil, l.GroupAdd(ctx, req.Group, req.Channel)
	case "group_discard":
		return nil, l.GroupDiscard(ctx, req.Group, req.Channel)
	case "group_send":
		msg, err := decodeMessage(req.Message)
		if err != nil {
			return nil, err
		}
		return nil, l.GroupSend(ctx, req.Group, msg)
	case "flush":
		return nil, l.Flush(ctx)
	case "ping":
		return nil, l.Ping(ctx)
	case "close":
		s.mu.Lock()
		delete(s.layers, req.Layer)
		s.mu.Unlock()
		return nil, l.Close()
	}
	return nil, fmt.Errorf("%w: unknown op %q", errBadRequest, req.Op)
}

func (s *server) newLayer(req request) (map[string]any, error) {
	cfg, err := channelsproto.ParseConfig(req.Config)
	if err != nil {
		return nil, err
	}
	l, err := channelsproto.New(cfg, channelsproto.WithLogger(s.log))
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.next++
	name := "L" + strconv.Itoa(s.next)
	s.layers[name] = l
	s.mu.Unlock()
	return map[string]any{"layer": name, "client_prefix": l.ClientPrefix()}, nil
}
