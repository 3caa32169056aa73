package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// scriptedPing answers pings from a switchable state and counts them.
type scriptedPing struct {
	mu    sync.Mutex
	down  bool
	calls int
}

func (p *scriptedPing) ping(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.down {
		return errors.New("connection refused")
	}
	return nil
}

func (p *scriptedPing) set(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLayerWatchTransitions(t *testing.T) {
	tests := []struct {
		name          string
		startDown     bool
		wantRefreshes int32 // after one outage and recovery
	}{
		{"up at start", false, 1},
		{"down at start", true, 2}, // the start-up recovery re-adds too
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &scriptedPing{down: tc.startDown}
			var refreshes atomic.Int32
			w := &layerWatch{
				ping:    p.ping,
				refresh: func(context.Context) (int, int) { refreshes.Add(1); return 3, 0 },
				log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
			}
			if w.up.Load() {
				t.Fatal("watch starts ready")
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); w.run(ctx) }()
			defer func() { cancel(); <-done }()

			if tc.startDown {
				time.Sleep(3 * watchInterval)
				if w.up.Load() {
					t.Fatal("ready while Redis is down at start")
				}
				p.set(false)
			}
			waitUntil(t, "ready", w.up.Load)
			if tc.startDown && refreshes.Load() != 1 {
				t.Fatalf("refreshes after start-up recovery = %d, want 1", refreshes.Load())
			}
			if !tc.startDown && refreshes.Load() != 0 {
				t.Fatalf("refreshed without an outage: %d", refreshes.Load())
			}
			p.set(true)
			waitUntil(t, "not ready", func() bool { return !w.up.Load() })
			// Backoff: while down, pings are at most one per watchInterval.
			p.mu.Lock()
			before := p.calls
			p.mu.Unlock()
			time.Sleep(4 * watchMaxBackoff)
			p.mu.Lock()
			during := p.calls - before
			p.mu.Unlock()
			if during > 4*int(watchMaxBackoff/watchInterval)+1 || during < 2 {
				t.Fatalf("%d pings in %v while down", during, 4*watchMaxBackoff)
			}
			p.set(false)
			recovered := time.Now()
			waitUntil(t, "ready again", w.up.Load)
			if d := time.Since(recovered); d > watchMaxBackoff+500*time.Millisecond {
				t.Fatalf("recovery noticed after %v", d)
			}
			if got := refreshes.Load(); got != tc.wantRefreshes {
				t.Fatalf("refreshes = %d, want %d", got, tc.wantRefreshes)
			}
		})
	}
}
