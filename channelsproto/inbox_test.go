package channelsproto

import (
	"bytes"
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// inflightProbe is a Dispatcher that, for every delivery, records how many
// members the $inflight backup holds and whether the delivered payload is
// one of them.
type inflightProbe struct {
	t      *testing.T
	raw    *redis.Client
	backup string

	mu        sync.Mutex
	sizes     []int64
	notBacked int
	order     []int64
}

func (p *inflightProbe) Dispatch(d Delivery) {
	ctx := context.Background()
	members, err := p.raw.ZRange(ctx, p.backup, 0, -1).Result()
	if err != nil {
		p.t.Errorf("ZRANGE $inflight: %v", err)
	}
	n, _ := d.Message.Get("n")
	backed := false
	for _, m := range members {
		// The payloads differ only in "n"; find this one's encoding.
		if bytes.Contains([]byte(m), []byte("\xa1n\xcd"+string([]byte{byte(n.(int64) >> 8), byte(n.(int64))}))) {
			backed = true
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sizes = append(p.sizes, int64(len(members)))
	p.order = append(p.order, n.(int64))
	if !backed {
		p.notBacked++
	}
}

func (p *inflightProbe) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.order)
}

// TestDrainKeepsInflightSemantics: a deep inbox is drained in batches;
// every message is in $inflight while it is delivered, batches respect
// drainBatch and the byte budget, order is kept, and nothing is left in
// either key afterwards.
func TestDrainKeepsInflightSemantics(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		messages int
		pad      int // bytes of padding per message
		maxBatch int64
	}{
		{"count_bound", 600, 0, drainBatch},
		{"byte_bound", 6, 3 << 20, 2}, // 3 MB each: two fit in 8 MB
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			cfg := testConfig(t)
			cfg.Capacity = 1 << 20
			l := newTestLayer(t, cfg)
			raw := rawClient(t, cfg.Hosts[0].URL)
			probe := &inflightProbe{t: t, raw: raw, backup: backupKey(l.InboxKey())}
			l.disp = probe
			ch := l.inboxName + "drain"
			pad := string(make([]byte, tc.pad))
			_, err := raw.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i := range tc.messages {
					payload, err := l.ser.Serialize(Map{{Key: "pad", Value: pad}, {Key: "n", Value: int64(1000 + i)}, {Key: asgiChannelKey, Value: ch}})
					if err != nil {
						return err
					}
					p.ZAdd(ctx, l.InboxKey(), redis.Z{Score: float64(i), Member: payload})
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			l.startReaders()
			eventually(t, strconv.Itoa(tc.messages)+" deliveries", func() bool { return probe.count() == tc.messages })
			eventually(t, "empty inbox and $inflight", func() bool {
				return raw.Exists(ctx, l.InboxKey(), probe.backup).Val() == 0
			})
			probe.mu.Lock()
			defer probe.mu.Unlock()
			if probe.notBacked != 0 {
				t.Errorf("%d messages were not in $inflight while delivered", probe.notBacked)
			}
			var biggest int64
			for i, s := range probe.sizes {
				biggest = max(biggest, s)
				if probe.order[i] != int64(1000+i) {
					t.Fatalf("delivery %d is message %d: order not kept", i, probe.order[i])
				}
			}
			if biggest != tc.maxBatch {
				t.Errorf("largest $inflight batch %d, want %d", biggest, tc.maxBatch)
			}
		})
	}
}
