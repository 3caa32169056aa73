package channelsproto

import (
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkInboxDrainRedis measures the whole inbox path against a real
// Redis (REDIS_URL): a group_send to 100 channels of this process is
// written to the inbox key, drained by the reader (BZPOPMIN), decoded and
// dispatched once. One iteration is one group message end to end, the
// sender's round trips (ZREMRANGEBYSCORE, ZRANGE, EVAL) included; the
// reader may lag the sender by a bounded window.
func BenchmarkInboxDrainRedis(b *testing.B) {
	cfg := testConfig(b)
	cfg.Capacity = 1 << 20
	var dispatched atomic.Int64
	l := newTestLayer(b, cfg, WithDispatcher(DispatcherFunc(func(d Delivery) {
		if len(d.Channels) != 100 {
			b.Errorf("delivery for %d channels, want 100", len(d.Channels))
		}
		dispatched.Add(1)
	})))
	ctx := testCtx(b)
	const group = "bench-drain"
	for range 100 {
		if err := l.GroupAdd(ctx, group, l.NewChannel()); err != nil {
			b.Fatal(err)
		}
	}
	const window = 256
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for int64(i)-dispatched.Load() >= window {
			time.Sleep(10 * time.Microsecond)
		}
		if err := l.GroupSend(ctx, group, taskUpdate); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for dispatched.Load() < int64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("dispatched %d of %d", dispatched.Load(), b.N)
		}
		time.Sleep(100 * time.Microsecond)
	}
}
