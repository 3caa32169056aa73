//go:build unix

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/laurel-server/laurel/consumer"
	"github.com/laurel-server/laurel/internal/connbench"
	"github.com/laurel-server/laurel/internal/cpuclock"
	"github.com/laurel-server/laurel/internal/forwarded"
	"github.com/prometheus/client_golang/prometheus"
)

// freeLayer is a consumer.Layer that costs nothing and signals each
// action-joined group_add.
type freeLayer struct {
	n      atomic.Uint64
	joined chan struct{}
}

func (l *freeLayer) NewChannel() string { return fmt.Sprintf("specific.bench!%d", l.n.Add(1)) }

func (l *freeLayer) GroupAdd(_ context.Context, group, _ string) error {
	if strings.HasPrefix(group, "task_") {
		l.joined <- struct{}{}
	}
	return nil
}

func (l *freeLayer) GroupDiscard(context.Context, string, string) error { return nil }

type freeAuth struct{}

func (freeAuth) Authenticate(context.Context, string) consumer.Verdict {
	return consumer.Verdict{Authenticated: true, UserID: "1", Reason: "ok"}
}

// BenchmarkServeHandshake measures a whole connect through laurel serve's
// accept path (the fast path, or net/http with fast=false) into the
// consumer, with free authentication and channel layer: raw TCP clients
// send the handshake, read the 101, send a subscribe and wait for its
// group_add.
func BenchmarkServeHandshake(b *testing.B) {
	for _, fast := range []bool{true, false} {
		b.Run(fmt.Sprintf("fast=%v", fast), func(b *testing.B) {
			layer := &freeLayer{joined: make(chan struct{}, 1024)}
			srv, err := consumer.New(consumer.Config{Layer: layer, Authenticator: freeAuth{},
				Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
			if err != nil {
				b.Fatal(err)
			}
			// As laurel serve listens with its default pings: no TCP
			// keep-alive on accepted connections.
			ln, err := listenOn(listen{network: "tcp", addr: "127.0.0.1:0"}, -1)
			if err != nil {
				b.Fatal(err)
			}
			h := forwarded.Handler(srv, false)
			hs := &http.Server{Handler: h}
			serveDone := make(chan struct{})
			if fast {
				q := newConnQueue(ln.Addr())
				f := &fastAccept{ln: ln, h: h, claims: srv.Claims, handoff: q, log: slog.New(slog.DiscardHandler), headTimeout: 10e9}
				go func() { _ = f.run(); close(serveDone) }()
				go func() { _ = hs.Serve(q) }()
			} else {
				go func() { _ = hs.Serve(ln); close(serveDone) }()
			}
			defer func() {
				_ = ln.Close()
				_ = hs.Close()
				<-serveDone
				_ = srv.Shutdown(context.Background())
			}()
			addr := ln.Addr().String()
			var key [16]byte
			_, _ = rand.Read(key[:])
			req := []byte("GET /ws/tasks/ HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: Go-http-client/1.1\r\n" +
				"Connection: Upgrade\r\nCookie: sessionid=" + hex.EncodeToString(key[:]) + "\r\nOrigin: http://app.example\r\n" +
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n\r\n")
			sub := connbench.MaskedText([]byte(`{"action":"subscribe","task_id":"storm1"}`))
			cpu0 := cpuclock.Benchmark(b)
			connbench.Run(b, 32, addr, req, sub, layer.joined)
			// The process's CPU time (user + system, both sides of each
			// connect): on a loaded machine a steadier figure than ns/op.
			b.ReportMetric(float64(cpuclock.Benchmark(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
