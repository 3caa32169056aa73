package channelsproto

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestReapRemovesOnlyDeadLaurelMembers(t *testing.T) {
	cfg := testConfig(t)
	raw := rawClient(t, cfg.Hosts[0].URL)
	ctx := testCtx(t)
	dead, alive := newTestLayer(t, cfg), newTestLayer(t, cfg)
	for _, l := range []*Layer{dead, alive} {
		if _, err := l.Heartbeat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	group := "g1"
	chDead, chAlive := dead.NewChannel(), alive.NewChannel()
	python := "specific." + uuid4Hex() + "!py" // a Python consumer: never registered, never swept
	for _, c := range []struct {
		l  *Layer
		ch string
	}{{dead, chDead}, {alive, chAlive}, {alive, python}} {
		if err := c.l.GroupAdd(ctx, group, c.ch); err != nil {
			t.Fatal(err)
		}
	}
	// A message waiting in the dead process's inbox.
	if err := alive.Send(ctx, chDead, Map{{Key: "type", Value: "x"}}); err != nil {
		t.Fatal(err)
	}
	// Both heartbeats are old, but a process never reaps itself; a fresh one is kept.
	old := float64(time.Now().Add(-time.Hour).Unix())
	raw.ZAdd(ctx, dead.procsKey(), redis.Z{Score: old, Member: dead.ClientPrefix()})
	raw.ZAdd(ctx, alive.procsKey(), redis.Z{Score: old, Member: alive.ClientPrefix()})

	n, err := alive.Reap(ctx, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("Reap removed %d memberships, want 1", n)
	}
	got := raw.ZRange(ctx, cfg.Prefix+":group:"+group, 0, -1).Val()
	want := []string{chAlive, python}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("members after reap = %v, want %v", got, want)
	}
	if raw.Exists(ctx, dead.inboxKey).Val() != 0 {
		t.Fatal("dead process's inbox still exists")
	}
	procs := raw.ZRange(ctx, alive.procsKey(), 0, -1).Val()
	if !slices.Equal(procs, []string{alive.ClientPrefix()}) {
		t.Fatalf("procs = %v, want only the live one", procs)
	}
	// Nothing left to do: a second sweep is a no-op.
	if n, err := alive.Reap(ctx, 30*time.Second); err != nil || n != 0 {
		t.Fatalf("second Reap = %d, %v", n, err)
	}
}

func TestRunReaperRejoinsAndUnregisters(t *testing.T) {
	cfg := testConfig(t)
	raw := rawClient(t, cfg.Hosts[0].URL)
	l := newTestLayer(t, cfg)
	ctx, cancel := context.WithCancel(testCtx(t))
	var rejoins atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- l.RunReaper(ctx, ReaperConfig{Interval: 20 * time.Millisecond,
			OnRejoin: func(context.Context) { rejoins.Add(1) }})
	}()
	registered := func() bool { return raw.ZScore(ctx, l.procsKey(), l.ClientPrefix()).Err() == nil }
	eventually(t, "heartbeat registered", registered)
	if rejoins.Load() != 0 {
		t.Fatal("OnRejoin called for the first heartbeat")
	}
	raw.Del(ctx, l.procsKey()) // what a Redis restart without persistence does
	eventually(t, "OnRejoin after the entry vanished", func() bool { return rejoins.Load() == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if registered() {
		t.Fatal("heartbeat entry left behind after a clean stop")
	}
}

func TestRunReaperRejectsDeadAfterNotAboveInterval(t *testing.T) {
	cfg := testConfig(t)
	l := newTestLayer(t, cfg)
	err := l.RunReaper(testCtx(t), ReaperConfig{Interval: time.Second, DeadAfter: time.Second})
	if err == nil {
		t.Fatal("RunReaper accepted DeadAfter == Interval")
	}
}
