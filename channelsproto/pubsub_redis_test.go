package channelsproto

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Integration tests of PubSubLayer against the real Redis of REDIS_URL
// (skipped when unset, failing when unreachable). Each test uses its own
// prefix, so its Pub/Sub channel names are unique.

func newTestPubSub(t testing.TB, cfg Config, opts ...Option) *PubSubLayer {
	t.Helper()
	l, err := NewPubSub(cfg, opts...)
	if err != nil {
		t.Fatalf("NewPubSub: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

// numSub returns PUBSUB NUMSUB name on c.
func numSub(t testing.TB, c *redis.Client, name string) int64 {
	t.Helper()
	m, err := c.PubSubNumSub(context.Background(), name).Result()
	if err != nil {
		t.Fatalf("PUBSUB NUMSUB: %v", err)
	}
	return m[name]
}

// rawSubscriber is redis-level SUBSCRIBE used to capture PUBLISHed bytes.
func rawSubscriber(t testing.TB, c *redis.Client, names ...string) <-chan *redis.Message {
	t.Helper()
	ctx := testCtx(t)
	ps := c.Subscribe(ctx, names...)
	if _, err := ps.Receive(ctx); err != nil { // subscribe confirmation
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ps.Close() })
	return ps.Channel()
}

func recvMsg(t testing.TB, ch <-chan *redis.Message) *redis.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no PUBLISH seen")
		return nil
	}
}

func TestPubSubSendReceive(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	recv := newTestPubSub(t, cfg)
	send := newTestPubSub(t, cfg)
	raw := rawClient(t, cfg.Hosts[0].URL)

	ch := recv.NewChannel()
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(cfg.Prefix) + `specific\.[0-9a-f]{32}$`).MatchString(ch) {
		t.Fatalf("NewChannel() = %q, want <prefix>specific.<32 hex>", ch)
	}
	eventually(t, "SUBSCRIBE of the new channel", func() bool { return numSub(t, raw, ch) == 1 })
	wire := rawSubscriber(t, raw, ch)

	msg := Map{{Key: "type", Value: "chat.message"}, {Key: "n", Value: int64(7)}, {Key: "b", Value: []byte{0, 1}}}
	if err := send.Send(ctx, ch, msg); err != nil {
		t.Fatal(err)
	}
	got, err := recv.Receive(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	if !equalValue(got, msg) {
		t.Fatalf("received %#v", got)
	}
	// The PUBLISHed bytes are exactly msgpack(msg), no prefix.
	want, _ := MarshalMsgpack(msg)
	if p := recvMsg(t, wire); p.Channel != ch || p.Payload != string(want) {
		t.Fatalf("PUBLISH %q %x, want %q %x", p.Channel, p.Payload, ch, want)
	}
	// Sending to a channel nobody listens to is not an error.
	if err := send.Send(ctx, cfg.Prefix+"nobody", msg); err != nil {
		t.Fatal(err)
	}
}

func TestPubSubGroupsAcrossProcesses(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	recA, recB := newRecorder(), newRecorder()
	a := newTestPubSub(t, cfg, WithDispatcher(recA))
	b := newTestPubSub(t, cfg, WithDispatcher(recB))
	sender := newTestPubSub(t, cfg)
	raw := rawClient(t, cfg.Hosts[0].URL)
	gch := a.GroupChannel("room")
	if gch != cfg.Prefix+"__group__room" {
		t.Fatalf("GroupChannel = %q", gch)
	}

	a1, a2, b1 := a.NewChannel(), a.NewChannel(), b.NewChannel()
	for _, m := range []struct {
		l  *PubSubLayer
		ch string
	}{{a, a1}, {a, a2}, {b, b1}, {a, a1}} { // adding twice is harmless
		if err := m.l.GroupAdd(ctx, "room", m.ch); err != nil {
			t.Fatal(err)
		}
	}
	// One subscription per process, however many local members.
	if n := numSub(t, raw, gch); n != 2 {
		t.Fatalf("NUMSUB %s = %d, want 2 (one per process)", gch, n)
	}
	if err := sender.GroupSend(ctx, "room", Map{{Key: "type", Value: "room.msg"}}); err != nil {
		t.Fatal(err)
	}
	da := recA.waitN(t, 1)
	db := recB.waitN(t, 1)
	if len(da) != 1 || strings.Join(da[0].Channels, ",") != a1+","+a2 || da[0].Message.String("type") != "room.msg" {
		t.Fatalf("process A deliveries %+v", da)
	}
	if len(db) != 1 || strings.Join(db[0].Channels, ",") != b1 {
		t.Fatalf("process B deliveries %+v", db)
	}

	// The last local member leaving unsubscribes the process.
	if err := a.GroupDiscard(ctx, "room", a1); err != nil {
		t.Fatal(err)
	}
	if n := numSub(t, raw, gch); n != 2 {
		t.Fatalf("NUMSUB after one of two local members left = %d, want 2", n)
	}
	if err := a.GroupDiscard(ctx, "room", a2); err != nil {
		t.Fatal(err)
	}
	eventually(t, "UNSUBSCRIBE of the group", func() bool { return numSub(t, raw, gch) == 1 })
	if err := sender.GroupSend(ctx, "room", Map{{Key: "type", Value: "second"}}); err != nil {
		t.Fatal(err)
	}
	if db := recB.waitN(t, 2); db[1].Message.String("type") != "second" {
		t.Fatalf("B got %+v", db)
	}
	if n := len(recA.deliveries()); n != 1 {
		t.Fatalf("A got %d deliveries after leaving", n)
	}
}

func TestPubSubGroupSendWireBytes(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	cfg.SymmetricEncryptionKeys = []string{"k1"}
	l := newTestPubSub(t, cfg)
	raw := rawClient(t, cfg.Hosts[0].URL)
	wire := rawSubscriber(t, raw, l.GroupChannel("g"))
	msg := Map{{Key: "type", Value: "x"}}
	if err := l.GroupSend(ctx, "g", msg); err != nil {
		t.Fatal(err)
	}
	p := recvMsg(t, wire)
	if !strings.HasPrefix(p.Payload, "gAAAAA") {
		t.Fatalf("encrypted payload %q is not a bare Fernet token", p.Payload)
	}
	got, err := l.Serializer().Deserialize([]byte(p.Payload))
	if err != nil || !equalValue(got, msg) {
		t.Fatalf("decrypt: %v %#v", err, got)
	}
}

func TestPubSubReceiveCancelUnsubscribes(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	l := newTestPubSub(t, cfg)
	raw := rawClient(t, cfg.Hosts[0].URL)
	ch := cfg.Prefix + "plain"
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := l.Receive(ctx, ch)
		done <- err
	}()
	eventually(t, "Receive subscribing", func() bool { return numSub(t, raw, ch) == 1 })
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive = %v", err)
	}
	eventually(t, "UNSUBSCRIBE after cancel", func() bool { return numSub(t, raw, ch) == 0 })
	// The channel is forgotten, so it can no longer join a group.
	if err := l.GroupAdd(testCtx(t), "g", ch); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("GroupAdd on a forgotten channel: %v", err)
	}
}

func TestPubSubReleaseAndFlush(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	l := newTestPubSub(t, cfg)
	raw := rawClient(t, cfg.Hosts[0].URL)
	c1, c2 := l.NewChannel(), l.NewChannel()
	for _, c := range []string{c1, c2} {
		if err := l.GroupAdd(ctx, "g", c); err != nil {
			t.Fatal(err)
		}
	}
	gch := l.GroupChannel("g")
	if err := l.ReleaseChannel(ctx, c1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "release", func() bool { return numSub(t, raw, c1) == 0 })
	if numSub(t, raw, gch) != 1 || numSub(t, raw, c2) != 1 {
		t.Fatal("release touched other subscriptions")
	}

	// A pending Receive survives Flush by subscribing again.
	got := make(chan Map, 1)
	go func() {
		m, _ := l.Receive(ctx, c2)
		got <- m
	}()
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "group unsubscribed by Flush", func() bool { return numSub(t, raw, gch) == 0 })
	eventually(t, "Receive resubscribing after Flush", func() bool { return numSub(t, raw, c2) == 1 })
	if err := l.Send(ctx, c2, Map{{Key: "type", Value: "after.flush"}}); err != nil {
		t.Fatal(err)
	}
	if m := <-got; m.String("type") != "after.flush" {
		t.Fatalf("got %#v", m)
	}
}

func TestPubSubReconnectAfterClientKill(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	logs := &logBuffer{}
	rec := newRecorder()
	l := newTestPubSub(t, cfg, WithDispatcher(rec), WithLogger(logs.logger()))
	raw := rawClient(t, cfg.Hosts[0].URL)
	ch := l.NewChannel()
	if err := l.GroupAdd(ctx, "g", ch); err != nil {
		t.Fatal(err)
	}
	gch := l.GroupChannel("g")
	killed := 0
	for _, line := range strings.Split(raw.ClientList(ctx).Val(), "\n") {
		if !strings.Contains(line, "name=laurel-ps-"+l.ID()+" ") || !strings.Contains(line, "sub=2") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok && raw.Do(ctx, "CLIENT", "KILL", "ID", id).Err() == nil {
				killed++
			}
		}
	}
	if killed != 1 {
		t.Fatalf("killed %d subscriber connections, want 1", killed)
	}
	eventually(t, "reader error counted", func() bool { return l.Stats().ReaderErrors > 0 })
	eventually(t, "resubscription", func() bool { return numSub(t, raw, ch) == 1 && numSub(t, raw, gch) == 1 })
	if !strings.Contains(logs.String(), "pubsub reconnected and resubscribed") || !strings.Contains(logs.String(), "channels=2") {
		t.Fatalf("reconnection not logged:\n%s", logs)
	}
	if err := raw.Publish(ctx, gch, mustMsgpack(t, Map{{Key: "type", Value: "after.kill"}})).Err(); err != nil {
		t.Fatal(err)
	}
	if d := rec.waitN(t, 1)[0]; d.Message.String("type") != "after.kill" || d.Channels[0] != ch {
		t.Fatalf("delivery %+v", d)
	}
	// A GroupAdd during normal operation still waits for confirmation.
	ch2 := l.NewChannel()
	if err := l.GroupAdd(ctx, "g2", ch2); err != nil {
		t.Fatal(err)
	}
	if numSub(t, raw, l.GroupChannel("g2")) != 1 {
		t.Fatal("GroupAdd returned before the SUBSCRIBE took effect")
	}
}

func mustMsgpack(t testing.TB, m Map) []byte {
	t.Helper()
	b, err := MarshalMsgpack(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPubSubRepeatedKills(t *testing.T) {
	t.Parallel()
	url := startRedis(t)
	ctx := testCtx(t)
	rec := newRecorder()
	l := newTestPubSub(t, Config{Hosts: []Host{{URL: url}}}, WithDispatcher(rec))
	raw := rawClient(t, url)
	ch := l.NewChannel()
	if err := l.GroupAdd(ctx, "g", ch); err != nil {
		t.Fatal(err)
	}
	// CLIENT KILL of every subscriber, several times: errors are counted
	// and the subscriptions come back each time.
	for round := 1; round <= 3; round++ {
		if err := raw.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
			t.Fatal(err)
		}
		eventually(t, "errors counted", func() bool { return l.Stats().ReaderErrors >= int64(round) })
		eventually(t, "resubscribed", func() bool { return numSub(t, raw, "asgi__group__g") == 1 && numSub(t, raw, ch) == 1 })
	}
	if err := l.Send(ctx, ch, Map{{Key: "type", Value: "direct"}}); err != nil {
		t.Fatal(err)
	}
	if d := rec.waitN(t, 1)[0]; d.Message.String("type") != "direct" {
		t.Fatalf("delivery %+v", d)
	}
}

// TestPubSubRedisRestart stops the Redis server, publishes nothing while it
// is down, starts it again on the same port, and expects the reader to
// resubscribe after its backoff.
func TestPubSubRedisRestart(t *testing.T) {
	t.Parallel()
	testRedisURL(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	start := func() *exec.Cmd {
		cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		return cmd
	}
	stop := func(cmd *exec.Cmd) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	srv := start()
	t.Cleanup(func() { stop(srv) })
	raw := rawClient(t, url)
	eventually(t, "redis up", func() bool { return raw.Ping(context.Background()).Err() == nil })

	ctx := testCtx(t)
	logs := &logBuffer{}
	rec := newRecorder()
	l := newTestPubSub(t, Config{Hosts: []Host{{URL: url}}}, WithDispatcher(rec), WithLogger(logs.logger()))
	ch := l.NewChannel()
	if err := l.GroupAdd(ctx, "g", ch); err != nil {
		t.Fatal(err)
	}
	stop(srv)
	eventually(t, "errors while down", func() bool { return l.Stats().ReaderErrors >= 2 })
	if err := l.GroupSend(ctx, "g", Map{}); err == nil {
		t.Fatal("GroupSend succeeded with Redis down")
	}
	srv = start()
	eventually(t, "resubscribed after restart", func() bool {
		return raw.Ping(context.Background()).Err() == nil && numSub(t, raw, "asgi__group__g") == 1 && numSub(t, raw, ch) == 1
	})
	if !strings.Contains(logs.String(), "pubsub reader error") || !strings.Contains(logs.String(), "backoff=") {
		t.Fatalf("errors not logged with backoff:\n%s", logs)
	}
	if err := l.GroupSend(ctx, "g", Map{{Key: "type", Value: "back"}}); err != nil {
		t.Fatal(err)
	}
	if d := rec.waitN(t, 1)[0]; d.Message.String("type") != "back" {
		t.Fatalf("delivery %+v", d)
	}
}

func TestPubSubSharding(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	second := startRedis(t)
	cfg.Hosts = append(cfg.Hosts, Host{URL: second})
	raws := []*redis.Client{rawClient(t, cfg.Hosts[0].URL), rawClient(t, second)}
	rec := newRecorder()
	recv := newTestPubSub(t, cfg, WithDispatcher(rec))
	send := newTestPubSub(t, cfg)
	var chans []string
	seen := map[int]bool{}
	for len(seen) < 2 || len(chans) < 4 {
		ch := recv.NewChannel()
		chans = append(chans, ch)
		seen[ConsistentHash(ch, 2)] = true
	}
	groups := []string{"a", "b", "c", "d", "e"}
	for i, g := range groups {
		if err := recv.GroupAdd(ctx, g, chans[i%len(chans)]); err != nil {
			t.Fatal(err)
		}
	}
	// Every name is subscribed on its own shard only.
	names := append([]string(nil), chans...)
	for _, g := range groups {
		names = append(names, recv.GroupChannel(g))
	}
	for _, n := range names {
		idx := ConsistentHash(n, 2)
		eventually(t, "subscription on shard", func() bool {
			return numSub(t, raws[idx], n) == 1 && numSub(t, raws[1-idx], n) == 0
		})
	}
	for _, ch := range chans {
		if err := send.Send(ctx, ch, Map{{Key: "to", Value: ch}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range groups {
		if err := send.GroupSend(ctx, g, Map{{Key: "to", Value: g}}); err != nil {
			t.Fatal(err)
		}
	}
	ds := rec.waitN(t, len(chans)+len(groups))
	got := map[string]bool{}
	for _, d := range ds {
		got[d.Message.String("to")] = true
	}
	if len(got) != len(chans)+len(groups) {
		t.Fatalf("delivered %v", got)
	}
}

func TestPubSubCloseWakesReceivers(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	l, err := NewPubSub(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ch := l.NewChannel()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := l.Receive(context.Background(), ch)
			errs <- err
		}()
	}
	raw := rawClient(t, cfg.Hosts[0].URL)
	eventually(t, "subscribed", func() bool { return numSub(t, raw, ch) == 1 })
	time.Sleep(50 * time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Receive after Close = %v", err)
		}
	}
	eventually(t, "subscriptions gone", func() bool { return numSub(t, raw, ch) == 0 })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestPubSubPing(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	l := newTestPubSub(t, cfg)
	if err := l.Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	bad := newTestPubSub(t, Config{Hosts: []Host{{Addr: "127.0.0.1:1"}}})
	if err := bad.Ping(testCtx(t)); err == nil || !strings.Contains(err.Error(), "host 0") {
		t.Fatalf("Ping of an unreachable host = %v", err)
	}
}

// TestPubSubConcurrentMembership races GroupAdd/GroupDiscard of one group
// from many goroutines: the SUBSCRIBE/UNSUBSCRIBE writes must follow the
// local membership, so Redis ends with exactly the subscriptions the
// membership implies.
func TestPubSubConcurrentMembership(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	rec := newRecorder()
	l := newTestPubSub(t, cfg, WithDispatcher(rec))
	raw := rawClient(t, cfg.Hosts[0].URL)
	gch := l.GroupChannel("hot")
	chans := make([]string, 8)
	for i := range chans {
		chans[i] = l.NewChannel()
	}
	var wg sync.WaitGroup
	for _, ch := range chans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if err := l.GroupAdd(ctx, "hot", ch); err != nil {
					t.Error(err)
					return
				}
				if err := l.GroupDiscard(ctx, "hot", ch); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	eventually(t, "no subscription left", func() bool { return numSub(t, raw, gch) == 0 })
	for _, ch := range chans {
		if err := l.GroupAdd(ctx, "hot", ch); err != nil {
			t.Fatal(err)
		}
	}
	if n := numSub(t, raw, gch); n != 1 {
		t.Fatalf("NUMSUB = %d, want 1", n)
	}
	if err := l.GroupSend(ctx, "hot", Map{{Key: "type", Value: "x"}}); err != nil {
		t.Fatal(err)
	}
	if d := rec.waitN(t, 1); len(d) != 1 || len(d[0].Channels) != len(chans) {
		t.Fatalf("deliveries %+v", d)
	}
}

// TestPubSubSilentConnection pauses Redis (CLIENT PAUSE) so the idle reader's
// PING gets no PONG in time: the connection counts as dead, and the reader
// resubscribes once Redis answers again.
func TestPubSubSilentConnection(t *testing.T) {
	t.Parallel()
	url := startRedis(t) // CLIENT PAUSE would stall the shared server
	ctx := testCtx(t)
	rec := newRecorder()
	logs := &logBuffer{}
	l, err := NewPubSub(Config{Hosts: []Host{{URL: url}}}, WithDispatcher(rec), WithLogger(logs.logger()))
	if err != nil {
		t.Fatal(err)
	}
	l.idle = 200 * time.Millisecond
	t.Cleanup(func() { _ = l.Close() })
	ch := l.NewChannel()
	if err := l.GroupAdd(ctx, "g", ch); err != nil {
		t.Fatal(err)
	}
	raw := rawClient(t, url)
	if err := raw.Do(ctx, "CLIENT", "PAUSE", "1500", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "silent connection detected", func() bool { return l.Stats().ReaderErrors >= 1 })
	if !strings.Contains(logs.String(), "no PONG") {
		t.Fatalf("error is not the missing PONG:\n%s", logs)
	}
	eventually(t, "resubscribed after the pause", func() bool { return numSub(t, raw, "asgi__group__g") == 1 })
	if err := l.GroupSend(ctx, "g", Map{{Key: "type", Value: "after.pause"}}); err != nil {
		t.Fatal(err)
	}
	if d := rec.waitN(t, 1)[0]; d.Message.String("type") != "after.pause" {
		t.Fatalf("delivery %+v", d)
	}
}
