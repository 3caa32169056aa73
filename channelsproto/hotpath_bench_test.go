package channelsproto

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Benchmarks of the issue #6 hot paths: inbox drain and decode of group
// messages written by real channels_redis, GroupSend to 1k members and
// GroupAdd under 1,000 concurrent callers. The Redis ones need REDIS_URL;
// the channels_redis bytes need the repository's venv (.venv/bin/python).

// pyGroupPayloadScript prints, as hex, the inbox payload channels_redis
// 4.x group_send stores for members (argv[2:] is read from stdin, one name a
// line): _map_channel_keys_to_connection with the layer's own serializer.
const pyGroupPayloadScript = `
import sys
from channels_redis.core import RedisChannelLayer
names = sys.stdin.read().split()
layer = RedisChannelLayer(hosts=["redis://127.0.0.1:1"])
msg = {"type": "task.update", "task_id": "5f0c6a2e-7d3b-4c1e-9a57-0f9d3b2c1a00",
       "state": "PROGRESS", "pct": 42, "eta": 12.5,
       "meta": {"step": "r\u00e9sum\u00e9", "done": False}}
_, payloads, _ = layer._map_channel_keys_to_connection(names, msg)
assert len(payloads) == 1, payloads.keys()
sys.stdout.write(next(iter(payloads.values())).hex())
`

// pythonGroupPayload returns the bytes channels_redis writes to the inbox
// of inboxName for a group_send to n fresh members of that process.
func pythonGroupPayload(tb testing.TB, inboxName string, n int) (payload []byte, members []string) {
	tb.Helper()
	py, err := filepath.Abs(filepath.Join("..", ".venv", "bin", "python"))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat(py); err != nil {
		tb.Skipf("needs the venv's Python to produce channels_redis bytes: %v", err)
	}
	members = make([]string, n)
	for i := range members {
		members[i] = inboxName + uuid4Hex()
	}
	cmd := exec.Command(py, "-c", pyGroupPayloadScript)
	cmd.Stdin = strings.NewReader(strings.Join(members, "\n"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("channels_redis payload: %v", err)
	}
	payload, err = hex.DecodeString(string(out))
	if err != nil {
		tb.Fatal(err)
	}
	return payload, members
}

// BenchmarkDecodeGroupMessage decodes one channels_redis group message for
// 1k and 10k local members, "__asgi_channel__" list included, as the inbox
// reader does before dispatching.
func BenchmarkDecodeGroupMessage(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			l := offlineLayer(b, 1, nil)
			payload, members := pythonGroupPayload(b, l.inboxName, n)
			str := string(payload)
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			for b.Loop() {
				msg, err := l.ser.deserializeInbox(str)
				if err != nil {
					b.Fatal(err)
				}
				channels, _, err := splitTarget(msg)
				if err != nil {
					b.Fatal(err)
				}
				if len(channels) != n || channels[n-1] != members[n-1] {
					b.Fatalf("decoded %d channels", len(channels))
				}
			}
		})
	}
}

// BenchmarkInboxDrain measures the inbox reader against a real Redis: the
// inbox holds a backlog of channels_redis group messages for 1k or 10k
// local members (Python's bytes, each with its own random prefix), and one
// iteration is one message popped, backed up in $inflight, decoded,
// dispatched and released. The backlog is refilled outside the timer.
func BenchmarkInboxDrain(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			cfg := testConfig(b)
			cfg.Capacity = 1 << 20
			var dispatched atomic.Int64
			var bad atomic.Int64
			l := newTestLayer(b, cfg, WithDispatcher(DispatcherFunc(func(d Delivery) {
				if len(d.Channels) != n {
					bad.Add(1)
				}
				dispatched.Add(1)
			})))
			payload, _ := pythonGroupPayload(b, l.inboxName, n)
			raw := rawClient(b, testRedisURL(b))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			// Fill in chunks so the backlog stays bounded in Redis memory.
			chunk := max(1, min(512, (64<<20)/len(payload)))
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			b.ResetTimer()
			var done int64
			for done < int64(b.N) {
				k := min(int64(chunk), int64(b.N)-done)
				b.StopTimer()
				base := dispatched.Load()
				_, err := raw.Pipelined(ctx, func(p redis.Pipeliner) error {
					for i := range k {
						m := append([]byte(nil), payload...)
						copy(m, fmt.Appendf(nil, "%012d", done+i)) // the random prefix
						p.ZAdd(ctx, l.inboxKey, redis.Z{Score: float64(time.Now().UnixNano()) / 1e9, Member: m})
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for dispatched.Load()-base < k {
					time.Sleep(20 * time.Microsecond)
				}
				done += k
			}
			b.StopTimer()
			if bad.Load() != 0 {
				b.Fatalf("%d deliveries with the wrong channel count", bad.Load())
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "channels/s")
		})
	}
}

// BenchmarkGroupSend1k is one GroupSend to a group of 1000 members of
// another process (Python group_send's commands: ZREMRANGEBYSCORE, ZRANGE,
// MULTI/EXEC, EVAL), against a real Redis. The target inbox is emptied
// outside the timer.
func BenchmarkGroupSend1k(b *testing.B) {
	cfg := testConfig(b)
	cfg.Capacity = 1 << 20
	l := newTestLayer(b, cfg)
	ctx := testCtx(b)
	const group = "bench-send"
	inbox := "specific." + uuid4Hex() + "!"
	_, err := l.client(0).Pipelined(ctx, func(p redis.Pipeliner) error {
		for range 1000 {
			p.ZAdd(ctx, l.groupKey(group), redis.Z{Score: l.nowScore(), Member: inbox + uuid4Hex()})
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	raw := rawClient(b, testRedisURL(b))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := l.GroupSend(ctx, group, taskUpdate); err != nil {
			b.Fatal(err)
		}
		if i%256 == 255 {
			b.StopTimer()
			raw.Del(ctx, cfg.Prefix+inbox)
			b.StartTimer()
		}
	}
	b.StopTimer()
	b.ReportMetric(1000*float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}

// BenchmarkGroupAddConcurrent1000: 1000 goroutines call GroupAdd at once
// (a connect storm), each on its own channel, over 10 groups. One iteration
// is the whole wave.
func BenchmarkGroupAddConcurrent1000(b *testing.B) {
	cfg := testConfig(b)
	l := newTestLayer(b, cfg)
	ctx := testCtx(b)
	const callers = 1000
	channels := make([]string, callers)
	for i := range channels {
		channels[i] = l.NewChannel()
	}
	var wg sync.WaitGroup
	var failed atomic.Int64
	start := make(chan struct{})
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start = make(chan struct{})
		for i := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if err := l.GroupAdd(ctx, "storm-"+strconv.Itoa(i%10), channels[i]); err != nil {
					failed.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
	}
	b.StopTimer()
	if failed.Load() != 0 {
		b.Fatalf("%d GroupAdd calls failed", failed.Load())
	}
	b.ReportMetric(callers*float64(b.N)/b.Elapsed().Seconds(), "adds/s")
	n, err := l.client(0).ZCard(context.Background(), l.groupKey("storm-0")).Result()
	if err != nil || n != callers/10 {
		b.Fatalf("storm-0 has %d members (%v), want %d", n, err, callers/10)
	}
}

// BenchmarkGroupAddSerial: one caller at a time (no coalescing possible),
// for the latency the per-host pipeline adds to a lone GroupAdd.
func BenchmarkGroupAddSerial(b *testing.B) {
	cfg := testConfig(b)
	l := newTestLayer(b, cfg)
	ctx := testCtx(b)
	ch := l.NewChannel()
	b.ReportAllocs()
	for b.Loop() {
		if err := l.GroupAdd(ctx, "serial", ch); err != nil {
			b.Fatal(err)
		}
	}
}
