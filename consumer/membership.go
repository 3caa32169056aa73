package consumer

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
)

// GroupMembership says which channel the Server adds to a group when a socket
// subscribes to it.
type GroupMembership string

const (
	// MembershipSocket adds each socket's own channel to its groups, as a
	// Channels consumer under Daphne does: Redis holds one member per
	// subscribed socket, and Python's group_send names every one of them in
	// the message it sends (channels_redis reads the whole group and msgpacks
	// the list). The default: Redis state is exactly Daphne's.
	MembershipSocket GroupMembership = "socket"
	// MembershipProcess adds one channel per Server and group: the first
	// local subscriber adds it, the last one to leave discards it, and the
	// Server hands each message for it to every local subscriber. A
	// group_send then costs Python (and Redis) the same whether the group
	// has ten subscribers or ten thousand. Sockets keep their own channels
	// for direct sends (channel_layer.send), and Python may still add a
	// socket's channel to a group itself. What changes is visible only to
	// code that reads group members from Redis: a member is a process, not
	// a socket.
	MembershipProcess GroupMembership = "process"
)

// ParseGroupMembership returns the mode named by s ("socket" or "process").
func ParseGroupMembership(s string) (GroupMembership, error) {
	switch m := GroupMembership(s); m {
	case MembershipSocket, MembershipProcess:
		return m, nil
	}
	return "", fmt.Errorf("group membership %q: want %q or %q", s, MembershipSocket, MembershipProcess)
}

// sharedGroup is one group held in MembershipProcess mode: its channel is the
// group's member in the layer, members are the local sockets subscribed.
type sharedGroup struct {
	name    string
	channel string
	members map[*socket]struct{}
	// ready is closed when the GroupAdd of channel returned; err is its
	// error, written before ready is closed.
	ready chan struct{}
	err   error
}

// hub holds the Server's shared groups (MembershipProcess). A group emptied
// of its last subscriber is forgotten at once and its channel discarded; a
// later subscriber starts a new generation with a new channel, so a discard
// still in flight can never remove the new generation's membership.
type hub struct {
	mu        sync.RWMutex
	byName    map[string]*sharedGroup
	byChannel map[string]*sharedGroup
}

func newHub() *hub {
	return &hub{byName: map[string]*sharedGroup{}, byChannel: map[string]*sharedGroup{}}
}

// addMember puts sk in group: in socket mode it adds sk's channel to the
// group in the layer; in process mode it adds sk to the local group, the
// first subscriber adding the group's channel in the layer while later ones
// wait for that call's outcome (or their ctx).
func (s *Server) addMember(ctx context.Context, group string, sk *socket) error {
	if s.hub == nil {
		return s.cfg.Layer.GroupAdd(ctx, group, sk.channel)
	}
	h := s.hub
	h.mu.Lock()
	g := h.byName[group]
	if g == nil {
		g = &sharedGroup{name: group, channel: s.cfg.Layer.NewChannel(),
			members: map[*socket]struct{}{sk: {}}, ready: make(chan struct{})}
		h.byName[group] = g
		h.byChannel[g.channel] = g
		s.m.sharedGroups.Inc()
		h.mu.Unlock()
		// Bounded by the shared handshake deadline, not by this socket's
		// ctx: other sockets may come to wait for the same call.
		err := s.cfg.Layer.GroupAdd(s.bound.ctx(), group, g.channel)
		h.mu.Lock()
		g.err = err
		if err != nil {
			s.forgetLocked(g)
		}
		close(g.ready)
		h.mu.Unlock()
		if err != nil {
			s.releaseChannel(g.channel)
		}
		return err
	}
	g.members[sk] = struct{}{}
	h.mu.Unlock()
	select {
	case <-g.ready:
		return g.err
	case <-ctx.Done():
		if s.dropLocal(g, sk) {
			_ = s.retire(s.bound.ctx(), g)
		}
		return ctx.Err()
	}
}

// dropMember takes sk out of group: in socket mode it discards sk's channel
// from the group in the layer; in process mode it removes sk from the local
// group and, when sk was its last subscriber, discards the group's channel.
func (s *Server) dropMember(ctx context.Context, group string, sk *socket) error {
	if s.hub == nil {
		return s.cfg.Layer.GroupDiscard(ctx, group, sk.channel)
	}
	h := s.hub
	h.mu.RLock()
	g := h.byName[group]
	h.mu.RUnlock()
	if g == nil {
		return nil
	}
	if !s.dropLocal(g, sk) {
		return nil
	}
	return s.retire(ctx, g)
}

// retire discards the channel of g, forgotten when its last subscriber left.
// A GroupAdd still running for g is waited for: discarding before it lands
// would leave the member behind.
func (s *Server) retire(ctx context.Context, g *sharedGroup) error {
	<-g.ready
	if g.err != nil {
		return nil
	}
	err := s.cfg.Layer.GroupDiscard(ctx, g.name, g.channel)
	s.releaseChannel(g.channel)
	return err
}

// dropLocal removes sk from g and, when g is left empty and still current,
// forgets it. It reports whether g was forgotten (its channel must then be
// discarded by the caller).
func (s *Server) dropLocal(g *sharedGroup, sk *socket) bool {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := g.members[sk]; !ok {
		return false
	}
	delete(g.members, sk)
	if len(g.members) > 0 || h.byName[g.name] != g {
		return false
	}
	s.forgetLocked(g)
	return true
}

// forgetLocked removes g from the hub's maps; h.mu is held.
func (s *Server) forgetLocked(g *sharedGroup) {
	h := s.hub
	if h.byName[g.name] == g {
		delete(h.byName, g.name)
		s.m.sharedGroups.Dec()
	}
	delete(h.byChannel, g.channel)
}

// releaseChannel releases a channel whose layer holds resources for it
// (ChannelReleaser).
func (s *Server) releaseChannel(channel string) {
	r, ok := s.cfg.Layer.(ChannelReleaser)
	if !ok {
		return
	}
	if err := r.ReleaseChannel(s.bound.ctx(), channel); err != nil {
		s.log.Warn("releasing a group channel failed", slog.Any("err", err))
	}
}

// sharedFor returns the shared group whose channel is ch, nil when none.
// The caller holds s.hub.mu (read).
func (h *hub) sharedFor(ch string) *sharedGroup {
	return h.byChannel[ch]
}

// sharedGroupList returns the shared groups whose GroupAdd succeeded, for a
// refresh.
func (s *Server) sharedGroupList() []*sharedGroup {
	h := s.hub
	h.mu.RLock()
	defer h.mu.RUnlock()
	list := make([]*sharedGroup, 0, len(h.byName))
	for _, g := range h.byName {
		select {
		case <-g.ready:
			if g.err == nil {
				list = append(list, g)
			}
		default:
		}
	}
	return list
}

// current reports whether g is still the hub's group for its name.
func (s *Server) current(g *sharedGroup) bool {
	s.hub.mu.RLock()
	defer s.hub.mu.RUnlock()
	return s.hub.byName[g.name] == g
}

// refreshShared re-adds the channel of g (so that channels_redis'
// group_expiry does not remove it, or after Redis lost its data); a group
// forgotten while its re-add ran is discarded again. It reports success.
func (s *Server) refreshShared(ctx context.Context, g *sharedGroup) bool {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
	err := s.cfg.Layer.GroupAdd(cctx, g.name, g.channel)
	cancel()
	if err != nil {
		s.log.Warn("shared group re-add failed", slog.Any("err", err))
		return false
	}
	if !s.current(g) {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
		_ = s.cfg.Layer.GroupDiscard(cctx, g.name, g.channel)
		cancel()
	}
	return true
}
