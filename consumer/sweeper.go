package consumer

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"
)

// The sweeper replaces per-socket timers: one goroutine ticks every
// sweepTick; each tick checks every closing socket's closeGrace, and one
// shard of the sockets (1/sweepShards of them, by id) for pings, the idle
// timeout, group refresh, revalidation and MaxLifetime. A socket is thus
// visited every sweepTick*sweepShards (1 s), which is the precision of those
// timers.
const (
	sweepTick   = 250 * time.Millisecond
	sweepShards = 4
)

type sweepKind uint8

const (
	sweepPing sweepKind = iota
	sweepIdle
	sweepLifetime
	sweepRefresh
	sweepRevalidate
	sweepGrace
)

type sweepAction struct {
	sk   *socket
	kind sweepKind
}

// refreshPeriod is GroupRefreshInterval up to 10% earlier per socket, so
// that sockets connected together do not all refresh in the same instant.
func (s *Server) refreshPeriod() time.Duration {
	period := s.cfg.GroupRefreshInterval
	if j := int64(period / 10); j > 0 {
		period -= time.Duration(rand.Int64N(j)) //nolint:gosec // jitter, not a secret
	}
	return period
}

// clock is the Server's monotonic clock in nanoseconds since New.
func (s *Server) clock() int64 { return int64(time.Since(s.epoch)) }

// sweepLoop runs until stop is closed.
func (s *Server) sweepLoop(stop <-chan struct{}) {
	t := time.NewTicker(sweepTick)
	defer t.Stop()
	var (
		tick    uint64
		actions []sweepAction
	)
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		tick++
		actions = s.sweep(tick%sweepShards, actions[:0])
		for _, a := range actions {
			s.act(a)
		}
		clear(actions)
		if s.hub != nil && s.cfg.GroupRefreshInterval > 0 {
			s.refreshSharedWhenDue(stop)
		}
	}
}

// refreshSharedWhenDue starts a refresh of every shared group (process
// mode) every refreshPeriod, on a goroutine of its own that stop ends; a
// refresh still running when the next is due delays it. Sweeper only.
func (s *Server) refreshSharedWhenDue(stop <-chan struct{}) {
	now := s.clock()
	if s.sharedNext == 0 {
		s.sharedNext = now + int64(s.refreshPeriod())
		return
	}
	if now < s.sharedNext || !s.sharedBusy.CompareAndSwap(false, true) {
		return
	}
	s.sharedNext = now + int64(s.refreshPeriod())
	s.ioWG.Add(1)
	go func() {
		defer s.ioWG.Done()
		defer s.sharedBusy.Store(false)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		added, failed := s.RefreshGroups(ctx)
		s.log.Debug("shared groups refreshed", slog.Int("group_adds", added), slog.Int("failed", failed))
	}()
}

// sweep collects what the sockets need; the caller acts outside s.mu.
func (s *Server) sweep(shard uint64, actions []sweepAction) []sweepAction {
	c := &s.cfg
	now := s.clock()
	pingEvery := int64(c.PingInterval)
	idleMax := int64(c.PingInterval + c.PingTimeout)
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, sk := range s.sockets {
		if !sk.live.Load() {
			continue
		}
		if at := sk.closeAt.Load(); at != 0 {
			if now-at >= int64(closeGrace) {
				actions = append(actions, sweepAction{sk, sweepGrace})
			}
			continue
		}
		if sk.id%sweepShards != shard {
			continue
		}
		if sk.deadline != 0 && now >= sk.deadline {
			actions = append(actions, sweepAction{sk, sweepLifetime})
			continue
		}
		if pingEvery > 0 {
			idle := now - sk.lastRead.Load()
			if idle >= idleMax {
				actions = append(actions, sweepAction{sk, sweepIdle})
				continue
			}
			if idle >= pingEvery && now-sk.lastPing >= pingEvery {
				sk.lastPing = now
				actions = append(actions, sweepAction{sk, sweepPing})
			}
		}
		if sk.nextRefresh != 0 && now >= sk.nextRefresh {
			sk.nextRefresh = now + int64(s.refreshPeriod())
			actions = append(actions, sweepAction{sk, sweepRefresh})
		}
		if sk.nextReval != 0 && now >= sk.nextReval {
			sk.nextReval = now + int64(c.RevalidateInterval)
			actions = append(actions, sweepAction{sk, sweepRevalidate})
		}
	}
	return actions
}

func (s *Server) act(a sweepAction) {
	sk := a.sk
	switch a.kind {
	case sweepPing:
		sk.enqueueControl(pingFrame)
	case sweepIdle:
		sk.log(slog.LevelDebug, "no frame within ping interval + ping timeout; dropping")
		sk.end()
	case sweepLifetime:
		sk.requestClose(CloseNormal, "")
	case sweepRefresh:
		sk.background(sk.refreshGroups)
	case sweepRevalidate:
		sk.background(sk.revalidate)
	case sweepGrace:
		sk.end()
	}
}
