package consumer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/laurel-server/laurel/channelsproto"
)

// fakeLayer is an in-memory Layer: groups of local channels, delivering
// group sends through Server.Deliver as the real layer's dispatcher does.
type fakeLayer struct {
	mu       sync.Mutex
	n        atomic.Int64
	groups   map[string]map[string]bool
	fail     atomic.Bool
	srv      *Server
	released []string
}

func newFakeLayer() *fakeLayer { return &fakeLayer{groups: map[string]map[string]bool{}} }

// ReleaseChannel records released channels (ChannelReleaser).
func (l *fakeLayer) ReleaseChannel(_ context.Context, channel string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.released = append(l.released, channel)
	return nil
}

func (l *fakeLayer) releasedChannels() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.released...)
}

func (l *fakeLayer) NewChannel() string {
	return fmt.Sprintf("specific.test!%d", l.n.Add(1))
}

var errLayerDown = errors.New("fake layer down")

func (l *fakeLayer) GroupAdd(_ context.Context, group, channel string) error {
	if l.fail.Load() {
		return errLayerDown
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.groups[group] == nil {
		l.groups[group] = map[string]bool{}
	}
	l.groups[group][channel] = true
	return nil
}

func (l *fakeLayer) GroupDiscard(_ context.Context, group, channel string) error {
	if l.fail.Load() {
		return errLayerDown
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.groups[group], channel)
	if len(l.groups[group]) == 0 {
		delete(l.groups, group)
	}
	return nil
}

// members returns the sorted channels of group.
func (l *fakeLayer) members(group string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for ch := range l.groups[group] {
		out = append(out, ch)
	}
	sort.Strings(out)
	return out
}

// groupNames returns every non-empty group.
func (l *fakeLayer) groupNames() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for g := range l.groups {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}

func (l *fakeLayer) groupSend(group string, msg channelsproto.Map) {
	l.srv.Deliver(l.members(group), msg, time.Now())
}

// fakeAuth maps cookie headers to verdicts.
type fakeAuth struct {
	mu       sync.Mutex
	verdicts map[string]Verdict
}

func (a *fakeAuth) Authenticate(_ context.Context, cookie string) Verdict {
	a.mu.Lock()
	defer a.mu.Unlock()
	if v, ok := a.verdicts[cookie]; ok {
		return v
	}
	if cookie == "" {
		return Verdict{Reason: "no_cookie"}
	}
	return Verdict{Reason: "no_session"}
}

func (a *fakeAuth) set(cookie string, v Verdict) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.verdicts[cookie] = v
}

// allowOrigins accepts exactly the listed Origin values.
type allowOrigins []string

func (o allowOrigins) Allow(h []string) bool {
	if len(h) != 1 {
		return false
	}
	for _, a := range o {
		if a == h[0] {
			return true
		}
	}
	return false
}
