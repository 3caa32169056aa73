package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"

	"github.com/laurel-server/laurel/channelsproto"
	"github.com/laurel-server/laurel/compat_tests/cmd/internal/ctlwire"
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

// errBadRequest is ctlwire.ErrBadRequest with this program's name.
var errBadRequest = fmt.Errorf("layerctl: %w", ctlwire.ErrBadRequest)

// RequestID implements ctlwire.Request.
func (r request) RequestID() int64 { return r.ID }

// server owns the layers created through the protocol and answers requests,
// each in its own goroutine, so a blocked receive does not hold up a send.
type server struct {
	log *slog.Logger

	out io.Writer

	mu     sync.Mutex
	layers map[string]*channelsproto.Layer
	next   int
}

func newServer(out io.Writer, log *slog.Logger) *server {
	return &server{log: log, out: out, layers: map[string]*channelsproto.Layer{}}
}

// serve answers the requests read from in until EOF (see ctlwire.Server),
// then closes every layer still open.
func (s *server) serve(ctx context.Context, in io.Reader) error {
	defer s.closeAll()
	return ctlwire.NewServer(s.out, s.log, s.dispatch).Serve(ctx, in)
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

func (s *server) dispatch(ctx context.Context, req request) (map[string]any, error) {
	switch req.Op {
	case "new":
		return s.newLayer(req)
	case "marshal_json":
		v, err := ctlwire.DecodeValue(req.Value)
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
		e, err := ctlwire.AppendValue(nil, v)
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
		msg, err := ctlwire.DecodeMessage(req.Message)
		if err != nil {
			return nil, err
		}
		return nil, l.Send(ctx, req.Channel, msg)
	case "receive":
		rctx, cancel := context.WithTimeout(ctx, ctlwire.Timeout(req.Timeout))
		defer cancel()
		msg, err := l.Receive(rctx, req.Channel)
		if err != nil {
			return nil, err
		}
		e, err := ctlwire.AppendValue(nil, msg)
		if err != nil {
			return nil, err
		}
		return map[string]any{"message": json.RawMessage(e)}, nil
	case "group_add":
		return nil, l.GroupAdd(ctx, req.Group, req.Channel)
	case "group_discard":
		return nil, l.GroupDiscard(ctx, req.Group, req.Channel)
	case "group_send":
		msg, err := ctlwire.DecodeMessage(req.Message)
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
