package djangoauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingStore counts loads and answers from a fixed function.
type countingStore struct {
	n    atomic.Int64
	gate chan struct{}
	fn   func() (map[string]any, error)
}

func (s *countingStore) load(context.Context, *dbRead, string) (map[string]any, error) {
	s.n.Add(1)
	if s.gate != nil {
		<-s.gate
	}
	return s.fn()
}
func (s *countingStore) ping(context.Context) error { return nil }
func (s *countingStore) close() error               { return nil }

func TestVerdictCache(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	a, fx := sqliteAuthenticator(t, func(c *Config) { c.VerdictTTL = 2 * time.Second })
	a.now = clock
	var key string
	for _, sc := range fx.Scenarios {
		if sc.Name == "valid" {
			key = sc.SessionKey
		}
	}
	real := a.store
	cs := &countingStore{fn: func() (map[string]any, error) {
		rd := a.db.read()
		defer rd.release()
		return real.load(context.Background(), &rd, key)
	}}
	a.store = cs
	ctx := context.Background()
	v1 := a.VerdictForSessionKey(ctx, key)
	v2 := a.VerdictForSessionKey(ctx, key)
	if !v1.Authenticated || v1.Cached || !v2.Cached || !v2.Authenticated || cs.n.Load() != 1 {
		t.Fatalf("v1=%+v v2=%+v loads=%d", v1, v2, cs.n.Load())
	}
	advance(2 * time.Second)
	if v := a.VerdictForSessionKey(ctx, key); v.Cached || cs.n.Load() != 2 {
		t.Fatalf("after TTL: %+v loads=%d", v, cs.n.Load())
	}
	// outages are never cached
	cs.fn = func() (map[string]any, error) { return nil, ErrStoreUnavailable }
	advance(3 * time.Second)
	for i := range 3 {
		if v := a.VerdictForSessionKey(ctx, key); v.Reason != ReasonStoreUnavailable || v.Cached || v.Authenticated {
			t.Fatalf("outage %d: %+v", i, v)
		}
	}
	if cs.n.Load() != 5 {
		t.Fatalf("loads = %d, want 5", cs.n.Load())
	}
}

// A reconnect storm for one session key costs one store query.
func TestVerdictSingleFlight(t *testing.T) {
	t.Parallel()
	a, _ := sqliteAuthenticator(t, nil)
	cs := &countingStore{gate: make(chan struct{}), fn: func() (map[string]any, error) { return map[string]any{}, nil }}
	a.store = cs
	var wg sync.WaitGroup
	results := make([]Verdict, 20)
	for i := range results {
		wg.Go(func() { results[i] = a.VerdictForSessionKey(context.Background(), "samekey123456789") })
	}
	waitFor(t, func() bool { return a.flight.waiting("samekey123456789") == len(results)-1 })
	close(cs.gate)
	wg.Wait()
	if cs.n.Load() != 1 {
		t.Fatalf("loads = %d for one key", cs.n.Load())
	}
	for _, r := range results {
		if r.Reason != ReasonNoUser {
			t.Fatalf("got %+v", r)
		}
	}
}

// waitFor polls cond until it holds (or fails the test after 10 s).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLogValueRedacts(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	cfg := Config{SecretKey: "super-secret-value", SecretKeyFallbacks: []string{"old-secret-value"},
		Database:   DatabaseConfig{Engine: "django.db.backends.postgresql", Password: "db-password-value", Host: "127.0.0.1", Port: "1"},
		VerdictTTL: -1}
	a, err := New(cfg, WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	key := "sessionkeyvalue0123456789abcdef"
	v := a.VerdictForSessionKey(ctx, key)
	if v.Reason != ReasonStoreUnavailable {
		t.Fatalf("got %+v", v)
	}
	err = a.Ping(ctx)
	log.Info("verdict", "v", v, "cfg", cfg, "err", err)
	out := buf.String()
	for _, secret := range []string{"super-secret-value", "old-secret-value", "db-password-value", key} {
		if strings.Contains(out, secret) || (err != nil && strings.Contains(err.Error(), secret)) {
			t.Fatalf("log or error leaks %q:\n%s", secret, out)
		}
	}
	if !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("Ping err = %v", err)
	}
}

func TestCloseTwice(t *testing.T) {
	t.Parallel()
	a, _ := sqliteAuthenticator(t, nil)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if v := a.VerdictForSessionKey(context.Background(), "abcdefghijklmnop"); v.Reason != ReasonStoreUnavailable {
		t.Fatalf("after Close: %+v", v)
	}
}

// ctxStore blocks each load until gate is closed or the load's ctx ends,
// and records how each ended.
type ctxStore struct {
	gate      chan struct{}
	loads     atomic.Int64
	cancelled atomic.Int64
}

func (s *ctxStore) load(ctx context.Context, _ *dbRead, _ string) (map[string]any, error) {
	s.loads.Add(1)
	select {
	case <-s.gate:
		return map[string]any{}, nil
	case <-ctx.Done():
		s.cancelled.Add(1)
		return nil, ctx.Err()
	}
}
func (s *ctxStore) ping(context.Context) error { return nil }
func (s *ctxStore) close() error               { return nil }

// The caller that started a shared query going away does not fail the
// others waiting on it.
func TestVerdictSingleFlightLeaderCancelled(t *testing.T) {
	t.Parallel()
	a, _ := sqliteAuthenticator(t, nil)
	cs := &ctxStore{gate: make(chan struct{})}
	a.store = cs
	const key = "leaderkey12345678"
	lctx, cancel := context.WithCancel(context.Background())
	leader := make(chan Verdict, 1)
	go func() { leader <- a.VerdictForSessionKey(lctx, key) }()
	waitFor(t, func() bool { return cs.loads.Load() == 1 })
	var wg sync.WaitGroup
	results := make([]Verdict, 10)
	for i := range results {
		wg.Go(func() { results[i] = a.VerdictForSessionKey(context.Background(), key) })
	}
	waitFor(t, func() bool { return a.flight.waiting(key) == len(results) })
	cancel()
	// The query must survive the leader's cancellation.
	waitFor(t, func() bool {
		a.flight.mu.Lock()
		defer a.flight.mu.Unlock()
		return a.flight.calls[key].refs == len(results)
	})
	if cs.cancelled.Load() != 0 {
		t.Fatal("the shared query was cancelled with its first caller")
	}
	close(cs.gate)
	wg.Wait()
	<-leader
	for i, r := range results {
		if r.Reason != ReasonNoUser {
			t.Errorf("follower %d got %+v", i, r)
		}
	}
	if cs.loads.Load() != 1 || cs.cancelled.Load() != 0 {
		t.Fatalf("loads=%d cancelled=%d, want one uncancelled load", cs.loads.Load(), cs.cancelled.Load())
	}
}

// When every caller has gone, the shared query is cancelled and the next
// caller starts a new one.
func TestVerdictSingleFlightAllCancelled(t *testing.T) {
	t.Parallel()
	a, _ := sqliteAuthenticator(t, nil)
	cs := &ctxStore{gate: make(chan struct{})}
	a.store = cs
	const key = "allgonekey1234567"
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if v := a.VerdictForSessionKey(ctx, key); v.Reason != ReasonStoreUnavailable {
				t.Errorf("cancelled caller got %+v", v)
			}
		})
	}
	waitFor(t, func() bool { return a.flight.waiting(key) == 2 })
	cancel()
	wg.Wait()
	waitFor(t, func() bool { return cs.cancelled.Load() == 1 })
	close(cs.gate)
	if v := a.VerdictForSessionKey(context.Background(), key); v.Reason != ReasonNoUser {
		t.Fatalf("next caller got %+v", v)
	}
	if cs.loads.Load() != 2 {
		t.Fatalf("loads = %d, want 2", cs.loads.Load())
	}
}

// Expired verdicts are dropped by a sweep, which rebuilds the map once it
// is mostly empty; live ones stay.
func TestVerdictCacheSweepsExpired(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_800_000_000, 0)
	c := newVerdictCache(2*time.Second, 100000, func() time.Time { return t0 })
	defer c.stop()
	for i := range 1000 {
		c.put(fmt.Sprintf("old%05d", i), Verdict{Reason: ReasonNoSession}, t0)
	}
	for i := range 10 {
		c.put(fmt.Sprintf("new%05d", i), Verdict{Reason: ReasonOK, Authenticated: true}, t0.Add(time.Second))
	}
	c.mu.Lock()
	before := reflect.ValueOf(c.entries).UnsafePointer()
	c.sweepLocked(t0.Add(2 * time.Second))
	n, after := len(c.entries), reflect.ValueOf(c.entries).UnsafePointer()
	c.mu.Unlock()
	if n != 10 {
		t.Fatalf("%d entries after the sweep, want the 10 live ones", n)
	}
	if after == before {
		t.Fatal("the map was not rebuilt after losing 99% of its entries")
	}
	if v, ok := c.get("new00003", t0.Add(2*time.Second)); !ok || !v.Authenticated {
		t.Fatalf("live entry lost: %+v %v", v, ok)
	}
}

// The sweep timer runs about once per TTL while the cache holds entries:
// verdicts left by a burst of handshakes go away without further traffic,
// and no timer stays armed once the cache is empty.
func TestVerdictCacheEmptiesWhenIdle(t *testing.T) {
	t.Parallel()
	c := newVerdictCache(20*time.Millisecond, 100000, time.Now)
	defer c.stop()
	now := time.Now()
	for i := range 500 {
		c.put(fmt.Sprintf("key%05d", i), Verdict{Reason: ReasonOK}, now)
	}
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.entries) == 0 && c.timer == nil
	})
	c.mu.Lock()
	peak := c.peak
	c.mu.Unlock()
	if peak != 0 {
		t.Fatalf("peak %d after emptying: the map was not rebuilt", peak)
	}
}
