package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// testRedis returns a client of REDIS_URL: the test is skipped when it is
// unset and fails when it is set but unreachable.
func testRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	u := os.Getenv("REDIS_URL")
	if u == "" {
		t.Skip("REDIS_URL not set")
	}
	o, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("REDIS_URL %s: %v", u, err)
	}
	return c, u
}

// TestWaitMembersClock checks the storm's clock: it runs from the fleet's
// first handshake (not from open's start) to the last membership as it
// appears in Redis while the sockets connect (not when the fleet reports
// that every socket was attempted, which comes later here).
func TestWaitMembersClock(t *testing.T) {
	t.Parallel()
	rdb, url := testRedis(t)
	ctx := context.Background()
	group := uniq("waittest")
	key := "asgi:group:task_" + group
	t.Cleanup(func() { rdb.Del(context.Background(), key) })
	w := &worker{conn: make(chan Line, 1), final: make(chan Line, 1)}
	f := &Fleet{procs: []*worker{w}}
	r := &Runner{Stack: &Stack{RedisURL: url}, Log: slog.New(slog.DiscardHandler)}
	t.Cleanup(func() { _ = r.Close() })
	firstConnect := time.Now()
	// open began a second before the first handshake (processes starting).
	o := &opened{fleet: f, start: firstConnect.Add(-time.Second)}
	const n = 5
	var lastAdd, lastAdded time.Time
	go func() {
		for i := range n {
			time.Sleep(30 * time.Millisecond)
			lastAdd = time.Now()
			if err := rdb.ZAdd(ctx, key, redis.Z{Score: 1, Member: fmt.Sprintf("ch%d", i)}).Err(); err != nil {
				t.Error(err)
			}
			lastAdded = time.Now()
		}
		// Every socket attempted well after the last membership.
		time.Sleep(400 * time.Millisecond)
		w.conn <- Line{Type: "connected", Connected: n, ConnectStart: firstConnect.UnixNano()}
	}()
	if err := r.waitMembers(ctx, o, group, n, false); err != nil {
		t.Fatal(err)
	}
	if o.memberships != n || o.connected != n {
		t.Fatalf("memberships %d connected %d, want %d", o.memberships, o.connected, n)
	}
	lo, hi := lastAdd.Sub(firstConnect), lastAdded.Sub(firstConnect)+memberPoll+100*time.Millisecond
	if o.subscribed < lo || o.subscribed > hi {
		t.Fatalf("subscribed after %v, want between %v (last ZADD sent) and %v (its reply, one poll and some slack)", o.subscribed, lo, hi)
	}
}
