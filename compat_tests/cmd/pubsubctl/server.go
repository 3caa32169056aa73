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
	ID       int64           `json:"id"`
	Op       string          `json:"op"`
	Layer    string          `json:"layer"`
	Backend  string          `json:"backend"`
	Dispatch bool            `json:"dispatch"`
	Config   json.RawMessage `json:"config"`
	Channel  string          `json:"channel"`
	Group    string          `json:"group"`
	Message  json.RawMessage `json:"message"`
	Count    int             `json:"count"`
	// Timeout bounds a receive or deliveries wait, in seconds. Zero means 5
	// seconds.
	Timeout float64 `json:"timeout"`
}

// errBadRequest is ctlwire.ErrBadRequest with this program's name.
var errBadRequest = fmt.Errorf("pubsubctl: %w", ctlwire.ErrBadRequest)

// RequestID implements ctlwire.Request.
func (r request) RequestID() int64 { return r.ID }

// recorder is a Dispatcher keeping every Delivery.
type recorder struct {
	mu   sync.Mutex
	got  []channelsproto.Delivery
	wake chan struct{}
}

func (r *recorder) Dispatch(d channelsproto.Delivery) {
	r.mu.Lock()
	r.got = append(r.got, d)
	old := r.wake
	r.wake = make(chan struct{})
	r.mu.Unlock()
	close(old)
}

// wait returns the deliveries once there are at least n, or ctx's error.
func (r *recorder) wait(ctx context.Context, n int) ([]channelsproto.Delivery, error) {
	for {
		r.mu.Lock()
		if len(r.got) >= n {
			out := append([]channelsproto.Delivery(nil), r.got...)
			r.mu.Unlock()
			return out, nil
		}
		w := r.wake
		r.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return nil, fmt.Errorf("%d deliveries wanted: %w", n, ctx.Err())
		}
	}
}

type entry struct {
	l   channelsproto.Backend
	rec *recorder
}

// server owns the layers created through the protocol and answers requests,
// each in its own goroutine.
type server struct {
	log *slog.Logger

	out io.Writer

	mu     sync.Mutex
	layers map[string]entry
	next   int
}

func newServer(out io.Writer, log *slog.Logger) *server {
	return &server{log: log, out: out, layers: map[string]entry{}}
}

// serve answers the requests read from in until EOF (see ctlwire.Server),
// then closes every layer still open.
func (s *server) serve(ctx context.Context, in io.Reader) error {
	defer func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for name, e := range s.layers {
			if err := e.l.Close(); err != nil {
				s.log.Warn("close layer", "layer", name, "err", err)
			}
			delete(s.layers, name)
		}
	}()
	return ctlwire.NewServer(s.out, s.log, s.dispatch).Serve(ctx, in)
}

func (s *server) dispatch(ctx context.Context, req request) (map[string]any, error) {
	if req.Op == "new" {
		return s.newLayer(req)
	}
	s.mu.Lock()
	e, ok := s.layers[req.Layer]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: no layer %q", errBadRequest, req.Layer)
	}
	l := e.l
	switch req.Op {
	case "new_channel":
		return map[string]any{"channel": l.NewChannel()}, nil
	case "send", "group_send":
		msg, err := ctlwire.DecodeMessage(req.Message)
		if err != nil {
			return nil, err
		}
		if req.Op == "send" {
			return nil, l.Send(ctx, req.Channel, msg)
		}
		return nil, l.GroupSend(ctx, req.Group, msg)
	case "receive":
		rctx, cancel := context.WithTimeout(ctx, ctlwire.Timeout(req.Timeout))
		defer cancel()
		msg, err := l.Receive(rctx, req.Channel)
		if err != nil {
			return nil, err
		}
		v, err := ctlwire.AppendValue(nil, msg)
		if err != nil {
			return nil, err
		}
		return map[string]any{"message": json.RawMessage(v)}, nil
	case "group_add":
		return nil, l.GroupAdd(ctx, req.Group, req.Channel)
	case "group_discard":
		return nil, l.GroupDiscard(ctx, req.Group, req.Channel)
	case "flush":
		return nil, l.Flush(ctx)
	case "ping":
		return nil, l.Ping(ctx)
	case "stats":
		st := l.Stats()
		return map[string]any{"delivered": st.Delivered, "malformed": st.Malformed, "reader_errors": st.ReaderErrors}, nil
	case "release":
		ps, ok := l.(*channelsproto.PubSubLayer)
		if !ok {
			return nil, fmt.Errorf("%w: release needs the pubsub backend", errBadRequest)
		}
		return nil, ps.ReleaseChannel(ctx, req.Channel)
	case "deliveries":
		if e.rec == nil {
			return nil, fmt.Errorf("%w: layer made without dispatch", errBadRequest)
		}
		wctx, cancel := context.WithTimeout(ctx, ctlwire.Timeout(req.Timeout))
		defer cancel()
		ds, err := e.rec.wait(wctx, req.Count)
		if err != nil {
			return nil, err
		}
		out := make([]any, 0, len(ds))
		for _, d := range ds {
			v, err := ctlwire.AppendValue(nil, d.Message)
			if err != nil {
				return nil, err
			}
			out = append(out, map[string]any{"channels": d.Channels, "message": json.RawMessage(v)})
		}
		return map[string]any{"deliveries": out}, nil
	case "close":
		s.mu.Lock()
		delete(s.layers, req.Layer)
		s.mu.Unlock()
		return nil, l.Close()
	}
	return nil, fmt.Errorf("%w: unknown op %q", errBadRequest, req.Op)
}

func (s *server) newLayer(req request) (map[string]any, error) {
	backend := req.Backend
	if backend == "" {
		backend = channelsproto.BackendPubSub
	}
	opts := []channelsproto.Option{channelsproto.WithLogger(s.log)}
	var rec *recorder
	if req.Dispatch {
		rec = &recorder{wake: make(chan struct{})}
		opts = append(opts, channelsproto.WithDispatcher(rec))
	}
	l, err := channelsproto.NewBackend(backend, req.Config, opts...)
	if err != nil {
		return nil, err
	}
	id := ""
	switch x := l.(type) {
	case *channelsproto.PubSubLayer:
		id = x.ID()
	case *channelsproto.Layer:
		id = x.ClientPrefix()
	}
	s.mu.Lock()
	s.next++
	name := "P" + strconv.Itoa(s.next)
	s.layers[name] = entry{l: l, rec: rec}
	s.mu.Unlock()
	return map[string]any{"layer": name, "client_prefix": id}, nil
}
