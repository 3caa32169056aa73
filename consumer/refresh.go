package consumer

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
)

// refreshWorkers bounds the concurrent group_adds of RefreshGroups.
const refreshWorkers = 8

// RefreshGroups re-adds every open socket to every group it holds (the
// route's connect groups and the groups joined by actions), as each socket's
// periodic refresh does, but all at once. Call it when the channel layer's
// Redis answers again after failing: a Redis restarted without persistence
// (or from an older snapshot) has lost the group sorted sets, and Python's
// group_send would otherwise reach none of the sockets until their next
// periodic refresh. Re-adding a member that is still there only updates its
// score, so a spurious call is harmless. In process mode
// (MembershipProcess) it re-adds the channel of every shared group instead.
//
// It returns the number of group_adds attempted and the number that failed;
// failures are logged and left to the next call or the periodic refresh.
// Cancelling ctx stops it early. Safe for concurrent use.
func (s *Server) RefreshGroups(ctx context.Context) (added, failed int) {
	if s.hub != nil {
		work := s.sharedGroupList()
		return s.inParallel(ctx, len(work), func(ctx context.Context, i int) bool {
			return s.refreshShared(ctx, work[i])
		})
	}
	type member struct {
		sock  *socket
		group string
	}
	s.mu.RLock()
	var work []member
	for _, sock := range s.sockets {
		sock.mu.Lock()
		for g := range sock.groups {
			work = append(work, member{sock, g})
		}
		sock.mu.Unlock()
	}
	s.mu.RUnlock()
	return s.inParallel(ctx, len(work), func(ctx context.Context, i int) bool {
		m := work[i]
		cctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
		err := s.cfg.Layer.GroupAdd(cctx, m.group, m.sock.channel)
		cancel()
		if err != nil {
			m.sock.log(slog.LevelWarn, "group re-add failed", slog.Any("err", err))
			return false
		}
		if !m.sock.holds(m.group) {
			// The socket left the group or ended meanwhile: undo.
			cctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
			_ = s.cfg.Layer.GroupDiscard(cctx, m.group, m.sock.channel)
			cancel()
		}
		return true
	})
}

// inParallel runs f(ctx, i) for i in [0, n) on up to refreshWorkers
// goroutines until ctx ends. It returns the number of calls made and the
// number that reported failure (f returned false).
func (s *Server) inParallel(ctx context.Context, n int, f func(ctx context.Context, i int) bool) (attempted, failed int) {
	var (
		next, nfail atomic.Int64
		wg          sync.WaitGroup
	)
	for range min(refreshWorkers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if !f(ctx, i) {
					nfail.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return min(int(next.Load()), n), int(nfail.Load())
}

// holds reports whether the socket is still open and a member of group.
func (sk *socket) holds(group string) bool {
	if sk.isEnded() {
		return false
	}
	sk.mu.Lock()
	defer sk.mu.Unlock()
	_, ok := sk.groups[group]
	return ok
}
