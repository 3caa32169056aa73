package channelsproto

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Reaping of a dead process's group memberships.
//
// channels_redis 4.x keeps a group member until group_expiry (86400 s by
// default) and every group_send — Python's too — sends to every member. A
// laurel process killed with SIGKILL (or lost with its machine) cannot
// discard its sockets' memberships, so without help each of Python's
// group_sends would keep writing into the dead process's inbox for a day.
//
// Each laurel process therefore records a heartbeat: its client prefix in the
// sorted set "<prefix>:laurel:procs" on the first host, scored with Redis'
// own clock (TIME), renewed every ReaperConfig.Interval. Every live process
// also sweeps: a client prefix whose heartbeat is older than DeadAfter
// belongs to a dead process; its members ("specific.<client prefix>!...")
// are removed from every "<prefix>:group:*" set on every host, its inbox is
// deleted, and then its heartbeat entry. Python processes are never touched:
// only client prefixes that a laurel process registered are swept.

// ReaperConfig configures RunReaper. Zero values select the defaults.
type ReaperConfig struct {
	// Interval is how often the heartbeat is renewed and dead processes are
	// swept. Zero means 10 s.
	Interval time.Duration
	// DeadAfter is how old a heartbeat must be for its process to count as
	// dead. Zero means 3 × Interval.
	DeadAfter time.Duration
	// OnRejoin is called (if not nil) when this process finds its own
	// heartbeat entry gone — Redis lost its data, or another process swept
	// this one while it was paused or cut off — so that the caller can add
	// its sockets to their groups again.
	OnRejoin func(ctx context.Context)
}

// procsKey is the heartbeat sorted set.
func (l *Layer) procsKey() string { return l.prefix + ":laurel:procs" }

// redisNow returns the first host's clock as Unix seconds.
func (l *Layer) redisNow(ctx context.Context) (float64, error) {
	t, err := l.clients[0].Time(ctx).Result()
	if err != nil {
		return 0, err
	}
	return float64(t.UnixMicro()) / 1e6, nil
}

// Heartbeat records that this process is alive. It reports whether the
// entry was missing (first call, or lost since).
func (l *Layer) Heartbeat(ctx context.Context) (added bool, err error) {
	now, err := l.redisNow(ctx)
	if err != nil {
		return false, l.wrapErr("heartbeat", err)
	}
	n, err := l.clients[0].ZAdd(ctx, l.procsKey(), redis.Z{Score: now, Member: l.cp}).Result()
	if err != nil {
		return false, l.wrapErr("heartbeat", err)
	}
	return n == 1, nil
}

// Reap removes the group memberships and inboxes of every laurel process
// whose heartbeat is older than deadAfter (never this process's own). It
// returns the number of memberships removed. It is safe to run concurrently
// in several processes: every step is idempotent.
func (l *Layer) Reap(ctx context.Context, deadAfter time.Duration) (removed int, err error) {
	now, err := l.redisNow(ctx)
	if err != nil {
		return 0, l.wrapErr("reap", err)
	}
	limit := strconv.FormatFloat(now-deadAfter.Seconds(), 'f', 6, 64)
	dead, err := l.clients[0].ZRangeByScore(ctx, l.procsKey(), &redis.ZRangeBy{Min: "-inf", Max: limit}).Result()
	if err != nil {
		return 0, l.wrapErr("reap", err)
	}
	prefixes := make([]string, 0, len(dead))
	for _, cp := range dead {
		if cp != l.cp {
			prefixes = append(prefixes, "specific."+cp+"!")
		}
	}
	if len(prefixes) == 0 {
		return 0, nil
	}
	for _, c := range l.clients {
		n, err := l.reapHost(ctx, c, prefixes)
		removed += n
		if err != nil {
			return removed, l.wrapErr("reap", err)
		}
	}
	members := make([]any, 0, len(prefixes))
	for _, p := range prefixes {
		members = append(members, strings.TrimSuffix(strings.TrimPrefix(p, "specific."), "!"))
	}
	if err := l.clients[0].ZRem(ctx, l.procsKey(), members...).Err(); err != nil {
		return removed, l.wrapErr("reap", err)
	}
	l.log.Info("reaped dead laurel processes' group memberships",
		slog.Int("processes", len(prefixes)), slog.Int("memberships", removed))
	return removed, nil
}

func (l *Layer) reapHost(ctx context.Context, c redis.UniversalClient, prefixes []string) (int, error) {
	removed := 0
	for _, p := range prefixes {
		if err := c.Del(ctx, l.prefix+p, backupKey(l.prefix+p)).Err(); err != nil {
			return removed, err
		}
	}
	iter := c.Scan(ctx, 0, l.prefix+":group:*", 1000).Iterator()
	for iter.Next(ctx) {
		group := iter.Val()
		all, err := c.ZRange(ctx, group, 0, -1).Result()
		if err != nil {
			return removed, err
		}
		var stale []any
		for _, m := range all {
			for _, p := range prefixes {
				if strings.HasPrefix(m, p) {
					stale = append(stale, m)
					break
				}
			}
		}
		if len(stale) == 0 {
			continue
		}
		n, err := c.ZRem(ctx, group, stale...).Result()
		if err != nil {
			return removed, err
		}
		removed += int(n)
	}
	return removed, iter.Err()
}

// RunReaper renews this process's heartbeat and sweeps dead processes every
// cfg.Interval until ctx ends, then removes its own heartbeat entry (a
// process that shuts down cleanly has discarded its memberships already).
// Redis errors are logged and retried at the next tick.
func (l *Layer) RunReaper(ctx context.Context, cfg ReaperConfig) error {
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.DeadAfter <= 0 {
		cfg.DeadAfter = 3 * cfg.Interval
	}
	if cfg.DeadAfter <= cfg.Interval {
		return fmt.Errorf("%w: reaper DeadAfter %v must be longer than Interval %v", ErrConfig, cfg.DeadAfter, cfg.Interval)
	}
	first := true
	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	for {
		added, err := l.Heartbeat(ctx)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				l.log.Warn("heartbeat failed", slog.Any("error", err))
			}
		case added && !first && cfg.OnRejoin != nil:
			l.log.Warn("own heartbeat entry was gone (Redis data lost, or swept as dead); re-adding group memberships")
			cfg.OnRejoin(ctx)
		}
		if err == nil {
			first = false
			if _, err := l.Reap(ctx, cfg.DeadAfter); err != nil && ctx.Err() == nil {
				l.log.Warn("reaping dead processes failed", slog.Any("error", err))
			}
		}
		select {
		case <-ctx.Done():
			cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = l.clients[0].ZRem(cctx, l.procsKey(), l.cp).Err()
			cancel()
			return nil
		case <-t.C:
		}
	}
}
