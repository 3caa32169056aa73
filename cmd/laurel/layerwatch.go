package main

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// Layer watch timings: a healthy layer is pinged every watchInterval; a
// failing one is retried with exponential backoff from watchInterval up to
// watchMaxBackoff, so that recovery is noticed within about a second.
const (
	watchInterval   = 250 * time.Millisecond
	watchMaxBackoff = time.Second
	watchTimeout    = time.Second
)

// layerWatch pings the channel layer's Redis in the background. It records
// whether the last ping succeeded (readyz reports it) and, each time Redis
// answers again after failing, re-adds every open socket to its groups
// (consumer.Server.RefreshGroups): a Redis restarted without persistence has
// lost them. Messages sent while Redis was down are lost, as with Python
// consumers.
type layerWatch struct {
	ping    func(ctx context.Context) error
	refresh func(ctx context.Context) (added, failed int)
	log     *slog.Logger
	up      atomic.Bool
	ups     atomic.Int64 // completed down→up transitions, for tests
}

// run watches until ctx ends. It starts in the "down" state, so a laurel
// started while Redis is unreachable reports not ready until the first
// successful ping.
func (w *layerWatch) run(ctx context.Context) {
	delay := time.Duration(0)
	failing := false
	for {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, watchTimeout)
		err := w.ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if w.up.Swap(false) || !failing {
				w.log.Error("channel layer (Redis) unreachable; not ready, retrying", slog.Any("err", err))
			}
			failing = true
			delay = min(max(delay*2, watchInterval), watchMaxBackoff)
			continue
		}
		delay = watchInterval
		if w.up.Swap(true) {
			continue
		}
		if failing {
			start := time.Now()
			added, failed := w.refresh(ctx)
			w.log.Info("channel layer (Redis) reachable again; group memberships re-added",
				slog.Int("group_adds", added), slog.Int("failed", failed), slog.Duration("took", time.Since(start)))
		}
		failing = false
		w.ups.Add(1)
	}
}
