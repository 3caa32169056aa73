package channelsproto

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestGroupAddConcurrent: many concurrent calls, coalesced into pipelines,
// each add their member with the group's expiry set.
func TestGroupAddConcurrent(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	cfg.GroupExpiry = 120 * time.Second
	l := newTestLayer(t, cfg)
	raw := rawClient(t, cfg.Hosts[0].URL)
	const callers, groups = 600, 6
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			errs[i] = l.GroupAdd(ctx, "cg"+strconv.Itoa(i%groups), "c.member"+strconv.Itoa(i))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	for g := range groups {
		key := l.groupKey("cg" + strconv.Itoa(g))
		if n := raw.ZCard(ctx, key).Val(); n != callers/groups {
			t.Errorf("%s has %d members, want %d", key, n, callers/groups)
		}
		if ttl := raw.TTL(ctx, key).Val(); ttl <= 100*time.Second || ttl > 120*time.Second {
			t.Errorf("%s TTL %v, want group_expiry 120 s", key, ttl)
		}
	}
}

// TestGroupAddOwnErrors: a call whose key holds another type fails with
// Redis' WRONGTYPE while the calls sharing its pipeline succeed.
func TestGroupAddOwnErrors(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	l := newTestLayer(t, cfg)
	raw := rawClient(t, cfg.Hosts[0].URL)
	if err := raw.Set(ctx, l.groupKey("notazset"), "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	const callers = 200
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			group := "fine"
			if i%10 == 0 {
				group = "notazset"
			}
			errs[i] = l.GroupAdd(ctx, group, "m"+strconv.Itoa(i))
		})
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case i%10 == 0 && (err == nil || !strings.Contains(err.Error(), "WRONGTYPE")):
			t.Errorf("caller %d on the string key: %v, want WRONGTYPE", i, err)
		case i%10 != 0 && err != nil:
			t.Errorf("caller %d: %v", i, err)
		}
	}
	if n := raw.ZCard(ctx, l.groupKey("fine")).Val(); n != callers-callers/10 {
		t.Errorf("fine has %d members, want %d", n, callers-callers/10)
	}
}

// TestGroupAddCancelledCallers: callers whose ctx ends while Redis is held
// (CLIENT PAUSE, in effect once it returns) get their ctx error at once,
// and the calls queued with them still succeed when Redis resumes. The
// pause is on a redis-server of this test's own, not on the shared one.
func TestGroupAddCancelledCallers(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	cfg.Hosts = []Host{{URL: startRedis(t)}}
	l := newTestLayer(t, cfg)
	raw := rawClient(t, cfg.Hosts[0].URL)
	const pause = time.Second
	if err := l.GroupAdd(ctx, "busy", "warm"); err != nil { // adder running
		t.Fatal(err)
	}
	if err := raw.Do(ctx, "CLIENT", "PAUSE", pause.Milliseconds()).Err(); err != nil {
		t.Fatalf("CLIENT PAUSE: %v", err)
	}
	paused := time.Now()
	const callers = 100
	var wg sync.WaitGroup
	errs := make([]error, callers)
	returned := make([]time.Duration, callers)
	for i := range callers {
		wg.Go(func() {
			cctx := ctx
			if i%2 == 0 {
				var cancel context.CancelFunc
				cctx, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
				defer cancel()
			}
			errs[i] = l.GroupAdd(cctx, "busy", "m"+strconv.Itoa(i))
			returned[i] = time.Since(paused)
		})
	}
	wg.Wait()
	for i := range callers {
		if i%2 == 0 {
			if !errors.Is(errs[i], context.DeadlineExceeded) || returned[i] >= pause*8/10 {
				t.Errorf("cancelled caller %d: %v after %v, want DeadlineExceeded before the %v pause ends", i, errs[i], returned[i], pause)
			}
			continue
		}
		if errs[i] != nil {
			t.Errorf("caller %d: %v", i, errs[i])
		}
		if _, err := raw.ZScore(ctx, l.groupKey("busy"), "m"+strconv.Itoa(i)).Result(); err != nil {
			t.Errorf("caller %d's member: %v", i, err)
		}
	}
}

// TestGroupAddThenDiscardOrder: calls from one goroutine keep their order
// (each returns after its commands ran).
func TestGroupAddThenDiscardOrder(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	l := newTestLayer(t, cfg)
	raw := rawClient(t, cfg.Hosts[0].URL)
	for i := range 50 {
		ch := "o" + strconv.Itoa(i)
		if err := l.GroupAdd(ctx, "ord", ch); err != nil {
			t.Fatal(err)
		}
		if err := l.GroupDiscard(ctx, "ord", ch); err != nil {
			t.Fatal(err)
		}
	}
	if n := raw.ZCard(ctx, l.groupKey("ord")).Val(); n != 0 {
		t.Fatalf("%d members left after add+discard", n)
	}
}

// TestGroupAddAfterClose: queued and later calls fail with ErrClosed.
func TestGroupAddAfterClose(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.GroupAdd(ctx, "g", "a"); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.GroupAdd(ctx, "g", "b"); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestGroupDiscardConcurrent: concurrent discards, coalesced with adds of
// other callers, each remove their own member.
func TestGroupDiscardConcurrent(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	l := newTestLayer(t, cfg)
	raw := rawClient(t, cfg.Hosts[0].URL)
	const n = 300
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := l.GroupAdd(ctx, "dg", "d"+strconv.Itoa(i)); err != nil {
				t.Errorf("add %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	for i := range n {
		wg.Go(func() {
			// Even members leave while new ones join.
			var err error
			if i%2 == 0 {
				err = l.GroupDiscard(ctx, "dg", "d"+strconv.Itoa(i))
			} else {
				err = l.GroupAdd(ctx, "dg", "n"+strconv.Itoa(i))
			}
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	members := raw.ZRange(ctx, l.groupKey("dg"), 0, -1).Val()
	if len(members) != n {
		t.Fatalf("%d members, want %d", len(members), n)
	}
	for _, m := range members {
		i, _ := strconv.Atoi(m[1:])
		if m[0] == 'd' && i%2 == 0 {
			t.Errorf("%s was discarded but is still a member", m)
		}
	}
}
