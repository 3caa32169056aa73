package consumer

import (
	"slices"
	"testing"
	"time"
)

// TestSweepDecisions checks what one sweep asks of a socket, for each timer
// and its disabled (negative or zero) setting, without waiting for a tick.
func TestSweepDecisions(t *testing.T) {
	t.Parallel()
	const long = time.Hour
	cases := []struct {
		name string
		cfg  func(*Config)
		// socket state, as offsets back from now
		idle, sincePing time.Duration
		dueRefresh      bool
		dueReval        bool
		pastDeadline    bool
		closing         time.Duration // 0: not closing
		want            []sweepKind
	}{
		{name: "fresh socket", want: nil},
		{name: "idle: ping", idle: 25 * time.Second, sincePing: 25 * time.Second, want: []sweepKind{sweepPing}},
		{name: "idle, pinged recently", idle: 25 * time.Second, sincePing: time.Second, want: nil},
		{name: "silent past ping timeout", idle: 51 * time.Second, sincePing: 25 * time.Second, want: []sweepKind{sweepIdle}},
		{name: "pings disabled", cfg: func(c *Config) { c.PingInterval = -1 }, idle: long, sincePing: long, want: nil},
		{name: "refresh due", dueRefresh: true, want: []sweepKind{sweepRefresh}},
		{name: "refresh disabled", cfg: func(c *Config) { c.GroupRefreshInterval = -1 }, dueRefresh: true, want: nil},
		{name: "revalidation due", dueReval: true, want: []sweepKind{sweepRevalidate}},
		{name: "revalidation disabled", cfg: func(c *Config) { c.RevalidateInterval = -1 }, dueReval: true, want: nil},
		{name: "lifetime reached", cfg: func(c *Config) { c.MaxLifetime = time.Minute }, pastDeadline: true, want: []sweepKind{sweepLifetime}},
		{name: "no lifetime", pastDeadline: true, want: nil},
		{name: "closing within grace", closing: time.Second, idle: long, want: nil},
		{name: "closing past grace", closing: closeGrace + time.Second, idle: long, want: []sweepKind{sweepGrace}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{Layer: newFakeLayer(), Authenticator: &fakeAuth{}}
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			srv, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			// The socket's clock values must be positive: start the
			// Server's clock well in the past.
			srv.epoch = time.Now().Add(-10 * long)
			sk := newSocket(srv, srv.routes[0], nil, Verdict{}, "", "c", "/ws/tasks/")
			if got := srv.register(sk); got != "" {
				t.Fatal(got)
			}
			now := srv.clock()
			sk.lastRead.Store(now - int64(tc.idle))
			sk.lastPing = now - int64(tc.sincePing)
			if srv.cfg.GroupRefreshInterval > 0 {
				sk.nextRefresh = now + int64(time.Minute)
				if tc.dueRefresh {
					sk.nextRefresh = now - 1
				}
			}
			if srv.cfg.RevalidateInterval > 0 {
				sk.nextReval = now + int64(time.Minute)
				if tc.dueReval {
					sk.nextReval = now - 1
				}
			}
			if srv.cfg.MaxLifetime > 0 {
				sk.deadline = now + int64(time.Minute)
				if tc.pastDeadline {
					sk.deadline = now - 1
				}
			}
			if tc.closing > 0 {
				sk.closeAt.Store(now - int64(tc.closing))
			}
			sk.live.Store(true)
			var got []sweepKind
			for _, a := range srv.sweep(sk.id%sweepShards, nil) {
				got = append(got, a.kind)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("actions %v, want %v", got, tc.want)
			}
			// Other shards leave the socket alone unless it is closing.
			if tc.closing == 0 {
				if other := srv.sweep((sk.id+1)%sweepShards, nil); len(other) != 0 {
					t.Fatalf("another shard acted: %v", other)
				}
			}
			srv.unregister(sk)
		})
	}
}
