package channelsproto

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestSendReceiveSpecificChannel(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	l := newTestLayer(t, testConfig(t))
	ch := l.NewChannel()
	if !strings.HasPrefix(ch, "specific."+l.ClientPrefix()+"!") || len(ch) != 74 {
		t.Fatalf("NewChannel() = %q", ch)
	}
	msg := Map{{Key: "type", Value: "chat.message"}, {Key: "text", Value: "héllo"}, {Key: "n", Value: int64(3)}}
	if err := l.Send(ctx, ch, msg); err != nil {
		t.Fatal(err)
	}
	got, err := l.Receive(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	if !equalValue(got, msg) {
		t.Fatalf("got %#v want %#v", got, msg)
	}
	if _, ok := msg.Get(asgiChannelKey); ok {
		t.Fatal("Send modified the caller's message")
	}
}

func TestSendReceiveNormalChannel(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	l := newTestLayer(t, cfg)
	for i := range 3 {
		if err := l.Send(ctx, "tasks.normal", Map{{Key: "type", Value: "task"}, {Key: "i", Value: int64(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		got, err := l.Receive(ctx, "tasks.normal")
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := got.Get("i"); v != int64(i) {
			t.Fatalf("message %d: got %#v (FIFO order broken)", i, got)
		}
	}
	raw := rawClient(t, cfg.Hosts[0].URL)
	if n := raw.Exists(ctx, cfg.Prefix+"tasks.normal$inflight").Val(); n != 0 {
		t.Fatalf("$inflight backup not cleaned: exists=%d", n)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := l.Receive(short, "tasks.normal"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("empty channel: got %v, want deadline exceeded", err)
	}
}

func TestSendValidation(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	l := newTestLayer(t, testConfig(t))
	if err := l.Send(ctx, "bad name", Map{}); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("bad name: %v", err)
	}
	if err := l.Send(ctx, "ok", Map{{Key: asgiChannelKey, Value: "x"}}); !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("reserved key: %v", err)
	}
	if err := l.GroupSend(ctx, "g", Map{{Key: asgiChannelKey, Value: "x"}}); !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("reserved key in group send: %v", err)
	}
	if err := l.GroupAdd(ctx, "bad:group", "ok"); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("bad group: %v", err)
	}
	if _, err := l.Receive(ctx, "specific.0123456789abcdef0123456789abcdef!x"); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("foreign channel: %v", err)
	}
}

func TestGroupAddSendDiscard(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	l := newTestLayer(t, cfg)
	a, b := l.NewChannel(), l.NewChannel()
	for _, ch := range []string{a, b} {
		if err := l.GroupAdd(ctx, "room-1", ch); err != nil {
			t.Fatal(err)
		}
	}
	raw := rawClient(t, cfg.Hosts[0].URL)
	gk := cfg.Prefix + ":group:room-1"
	if ttl := raw.TTL(ctx, gk).Val(); ttl <= 86000*time.Second {
		t.Fatalf("group TTL %v, want ~86400s", ttl)
	}
	msg := Map{{Key: "type", Value: "task.update"}, {Key: "pct", Value: int64(50)}}
	if err := l.GroupSend(ctx, "room-1", msg); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []string{a, b} {
		got, err := l.Receive(ctx, ch)
		if err != nil {
			t.Fatal(err)
		}
		if !equalValue(got, msg) {
			t.Fatalf("%s got %#v", ch, got)
		}
	}
	if err := l.GroupDiscard(ctx, "room-1", a); err != nil {
		t.Fatal(err)
	}
	if err := l.GroupDiscard(ctx, "room-1", a); err != nil {
		t.Fatalf("second discard: %v", err)
	}
	if err := l.GroupSend(ctx, "room-1", Map{{Key: "type", Value: "second"}}); err != nil {
		t.Fatal(err)
	}
	got, err := l.Receive(ctx, b)
	if err != nil || got.String("type") != "second" {
		t.Fatalf("b: %#v %v", got, err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if m, err := l.Receive(short, a); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("discarded channel received %#v, %v", m, err)
	}
	if err := l.GroupSend(ctx, "empty-group", msg); err != nil {
		t.Fatalf("empty group: %v", err)
	}
}

func TestGroupSendOneMessagePerProcess(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	sender := newTestLayer(t, cfg)
	// Members of a receiving process that does not read, so the stored
	// messages can be inspected.
	cp := uuid4Hex()
	members := []string{"specific." + cp + "!a", "specific." + cp + "!b", "plain.chan"}
	for _, m := range members {
		if err := sender.GroupAdd(ctx, "g", m); err != nil {
			t.Fatal(err)
		}
	}
	if err := sender.GroupSend(ctx, "g", Map{{Key: "type", Value: "x"}}); err != nil {
		t.Fatal(err)
	}
	raw := rawClient(t, cfg.Hosts[0].URL)
	stored := raw.ZRange(ctx, cfg.Prefix+"specific."+cp+"!", 0, -1).Val()
	if len(stored) != 1 {
		t.Fatalf("%d messages on the process key, want 1", len(stored))
	}
	m, err := sender.ser.Deserialize([]byte(stored[0]))
	if err != nil {
		t.Fatal(err)
	}
	if last := m[len(m)-1]; last.Key != asgiChannelKey || !equalValue(last.Value, []any{members[0], members[1]}) {
		t.Fatalf("__asgi_channel__ = %#v", last)
	}
	if ttl := raw.TTL(ctx, cfg.Prefix+"plain.chan").Val(); ttl <= 0 || ttl > 60*time.Second {
		t.Fatalf("plain channel TTL %v", ttl)
	}
	plain := raw.ZRange(ctx, cfg.Prefix+"plain.chan", 0, -1).Val()
	pm, err := sender.ser.Deserialize([]byte(plain[0]))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := pm.Get(asgiChannelKey); !equalValue(v, []any{"plain.chan"}) {
		t.Fatalf("plain member __asgi_channel__ = %#v, want a one-element list", v)
	}
}

func TestCapacity(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	cfg.Capacity = 3
	cfg.ChannelCapacity = []CapacityRule{{Pattern: "small.*", Capacity: 1}}
	var logs logBuffer
	l := newTestLayer(t, cfg, WithLogger(logs.logger()))
	for i := range 3 {
		if err := l.Send(ctx, "big", Map{{Key: "i", Value: i}}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if err := l.Send(ctx, "big", Map{}); !errors.Is(err, ErrChannelFull) {
		t.Fatalf("4th send: %v, want ErrChannelFull", err)
	}
	if err := l.Send(ctx, "small.x", Map{}); err != nil {
		t.Fatal(err)
	}
	if err := l.Send(ctx, "small.x", Map{}); !errors.Is(err, ErrChannelFull) {
		t.Fatalf("channel_capacity rule: %v", err)
	}
	// Group send over capacity: no error, INFO log, nothing added.
	if err := l.GroupAdd(ctx, "grp", "small.x"); err != nil {
		t.Fatal(err)
	}
	if err := l.GroupSend(ctx, "grp", Map{{Key: "type", Value: "dropped"}}); err != nil {
		t.Fatalf("group send over capacity must not fail: %v", err)
	}
	raw := rawClient(t, cfg.Hosts[0].URL)
	if n := raw.ZCard(ctx, cfg.Prefix+"small.x").Val(); n != 1 {
		t.Fatalf("small.x holds %d, want 1", n)
	}
	if s := logs.String(); !strings.Contains(s, "over capacity") || !strings.Contains(s, "group=grp") {
		t.Fatalf("no over-capacity INFO log: %s", s)
	}
}

func TestExpiryPruning(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	l := newTestLayer(t, cfg)
	raw := rawClient(t, cfg.Hosts[0].URL)
	now := float64(time.Now().Unix())
	key := cfg.Prefix + "exp.chan"
	// An old message (older than expiry 60 s) and a fresh one.
	raw.ZAdd(ctx, key, redis.Z{Score: now - 120, Member: "old"}, redis.Z{Score: now - 5, Member: "fresh"})
	if err := l.Send(ctx, "exp.chan", Map{{Key: "type", Value: "new"}}); err != nil {
		t.Fatal(err)
	}
	members := raw.ZRange(ctx, key, 0, -1).Val()
	if len(members) != 2 || members[0] != "fresh" {
		t.Fatalf("after prune: %q", members)
	}
	// Group memberships older than group_expiry are pruned by GroupSend.
	gk := cfg.Prefix + ":group:exp"
	raw.ZAdd(ctx, gk, redis.Z{Score: now - 86400 - 10, Member: "gone.chan"}, redis.Z{Score: now, Member: "kept.chan"})
	if err := l.GroupSend(ctx, "exp", Map{{Key: "type", Value: "g"}}); err != nil {
		t.Fatal(err)
	}
	if got := raw.ZRange(ctx, gk, 0, -1).Val(); len(got) != 1 || got[0] != "kept.chan" {
		t.Fatalf("group after prune: %q", got)
	}
	if raw.Exists(ctx, cfg.Prefix+"gone.chan").Val() != 0 {
		t.Fatal("expired member received a message")
	}
	if raw.ZCard(ctx, cfg.Prefix+"kept.chan").Val() != 1 {
		t.Fatal("kept member did not receive the message")
	}
}

func TestFlush(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	l := newTestLayer(t, cfg)
	raw := rawClient(t, cfg.Hosts[0].URL)
	if err := l.Send(ctx, "f.chan", Map{}); err != nil {
		t.Fatal(err)
	}
	if err := l.GroupAdd(ctx, "fg", "f.chan"); err != nil {
		t.Fatal(err)
	}
	other := "other" + uuid4Hex()
	raw.Set(ctx, other, "x", time.Minute)
	t.Cleanup(func() { raw.Del(context.Background(), other) })
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if keys := raw.Keys(ctx, cfg.Prefix+"*").Val(); len(keys) != 0 {
		t.Fatalf("keys left after flush: %q", keys)
	}
	if raw.Exists(ctx, other).Val() != 1 {
		t.Fatal("flush deleted a key outside the prefix")
	}
}

func TestEncryptedLayer(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	cfg.SymmetricEncryptionKeys = []string{"new-secret", "old-secret"}
	l := newTestLayer(t, cfg)
	ch := l.NewChannel()
	msg := Map{{Key: "type", Value: "secret.message"}, {Key: "b", Value: []byte{0, 1, 2}}}
	if err := l.GroupAdd(ctx, "enc", ch); err != nil {
		t.Fatal(err)
	}
	// A process with only the old key writes directly into the queue.
	old := newTestLayer(t, Config{Hosts: cfg.Hosts, Prefix: cfg.Prefix, SymmetricEncryptionKeys: []string{"old-secret"}})
	if err := old.GroupSend(ctx, "enc", msg); err != nil {
		t.Fatal(err)
	}
	got, err := l.Receive(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	if !equalValue(got, msg) {
		t.Fatalf("got %#v", got)
	}
	// What is stored is a Fernet token after the 12-byte prefix.
	raw := rawClient(t, cfg.Hosts[0].URL)
	if err := l.Send(ctx, "enc.plain", msg); err != nil {
		t.Fatal(err)
	}
	stored := raw.ZRange(ctx, cfg.Prefix+"enc.plain", 0, -1).Val()
	if len(stored) != 1 || !strings.HasPrefix(stored[0][12:], "gAAAAA") {
		t.Fatalf("stored payload is not a Fernet token: %q", stored)
	}
	if m, err := l.Receive(ctx, "enc.plain"); err != nil || !equalValue(m, msg) {
		t.Fatalf("normal channel: %#v %v", m, err)
	}
}

func TestMultiHostSharding(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	second := startRedis(t)
	cfg.Hosts = append(cfg.Hosts, Host{URL: second})
	raws := []*redis.Client{rawClient(t, cfg.Hosts[0].URL), rawClient(t, second)}
	rec := newRecorder()
	recv := newTestLayer(t, cfg, WithDispatcher(rec))
	send := newTestLayer(t, cfg)

	// Groups land on the shard of the bare group name.
	var channels []string
	for i := range 6 {
		channels = append(channels, recv.NewChannel())
		group := "shard-group-" + string(rune('a'+i))
		if err := send.GroupAdd(ctx, group, channels[i]); err != nil {
			t.Fatal(err)
		}
		idx := ConsistentHash(group, 2)
		if raws[idx].Exists(ctx, cfg.Prefix+":group:"+group).Val() != 1 || raws[1-idx].Exists(ctx, cfg.Prefix+":group:"+group).Val() != 0 {
			t.Fatalf("group %s not on shard %d only", group, idx)
		}
		if err := send.GroupSend(ctx, group, Map{{Key: "type", Value: "g"}, {Key: "i", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	// Go's direct sends hash the non-local part (the receiver's shard).
	for i, ch := range channels {
		if err := send.Send(ctx, ch, Map{{Key: "type", Value: "direct"}, {Key: "i", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	// Python's send() hashes the full name: emulate it by writing the same
	// bytes to the shard of the full name; readers on every host get them.
	pyShards := map[int]bool{}
	for i, ch := range channels {
		idx := ConsistentHash(ch, 2)
		pyShards[idx] = true
		body := Map{{Key: "type", Value: "python.send"}, {Key: "i", Value: i}, {Key: asgiChannelKey, Value: ch}}
		payload, err := send.ser.Serialize(body)
		if err != nil {
			t.Fatal(err)
		}
		raws[idx].ZAdd(ctx, cfg.Prefix+NonLocalName(ch), redis.Z{Score: float64(time.Now().UnixNano()) / 1e9, Member: payload})
	}
	if len(pyShards) != 2 {
		t.Logf("all full-name hashes landed on one shard: %v", pyShards)
	}
	got := rec.waitN(t, 18)
	counts := map[string]int{}
	for _, d := range got {
		if len(d.Channels) != 1 {
			t.Fatalf("delivery %#v", d)
		}
		counts[d.Message.String("type")]++
	}
	if counts["g"] != 6 || counts["direct"] != 6 || counts["python.send"] != 6 {
		t.Fatalf("deliveries by type: %v", counts)
	}
}

func TestDispatcherFanOut(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	rec := newRecorder()
	recv := newTestLayer(t, cfg, WithDispatcher(rec))
	send := newTestLayer(t, cfg)
	var chans []string
	for range 3 {
		ch := recv.NewChannel()
		chans = append(chans, ch)
		if err := send.GroupAdd(ctx, "fan", ch); err != nil {
			t.Fatal(err)
		}
	}
	msg := Map{{Key: "type", Value: "task.update"}, {Key: "pct", Value: int64(100)}}
	if err := send.GroupSend(ctx, "fan", msg); err != nil {
		t.Fatal(err)
	}
	d := rec.waitN(t, 1)[0]
	if strings.Join(d.Channels, ",") != strings.Join(chans, ",") {
		t.Fatalf("channels %v, want %v", d.Channels, chans)
	}
	if !equalValue(d.Message, msg) || d.Received.IsZero() {
		t.Fatalf("delivery %#v", d)
	}
	if st := recv.Stats(); st.Delivered != 1 {
		t.Fatalf("stats %+v", st)
	}
	// With a Dispatcher, Receive still works for a channel that waits.
	done := make(chan Map, 1)
	go func() {
		m, _ := recv.Receive(ctx, chans[0])
		done <- m
	}()
	eventually(t, "receive waiter", func() bool {
		recv.mu.Lock()
		defer recv.mu.Unlock()
		return recv.buffers[chans[0]] != nil
	})
	if err := send.Send(ctx, chans[0], Map{{Key: "type", Value: "pull"}}); err != nil {
		t.Fatal(err)
	}
	if m := <-done; m.String("type") != "pull" {
		t.Fatalf("Receive got %#v", m)
	}
	recv.mu.Lock()
	n := len(recv.buffers)
	recv.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d buffers kept with a Dispatcher", n)
	}
}

func TestInflightBackupRequeued(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	rec := newRecorder()
	// Build the layer first to learn its inbox key, but write the backup
	// before the reader starts: create without dispatcher, then start it.
	l := newTestLayer(t, cfg)
	l.disp = rec
	raw := rawClient(t, cfg.Hosts[0].URL)
	ch := l.inboxName + "local1"
	payload, err := l.ser.Serialize(Map{{Key: "type", Value: "crashed.mid.delivery"}, {Key: asgiChannelKey, Value: ch}})
	if err != nil {
		t.Fatal(err)
	}
	raw.ZAdd(ctx, l.InboxKey()+"$inflight", redis.Z{Score: 1, Member: payload})
	l.startReaders()
	d := rec.waitN(t, 1)[0]
	if d.Message.String("type") != "crashed.mid.delivery" || d.Channels[0] != ch {
		t.Fatalf("delivery %#v", d)
	}
	eventually(t, "empty $inflight", func() bool {
		return raw.Exists(ctx, l.InboxKey()+"$inflight").Val() == 0 && raw.Exists(ctx, l.InboxKey()).Val() == 0
	})
}

func TestBatchDrain(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	rec := newRecorder()
	recv := newTestLayer(t, cfg, WithDispatcher(rec))
	send := newTestLayer(t, cfg)
	ch := recv.NewChannel()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				if err := send.Send(ctx, ch, Map{{Key: "i", Value: i*100 + j}}); err != nil {
					t.Errorf("send: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	rec.waitN(t, 200)
	if st := recv.Stats(); st.Delivered != 200 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMalformedPayloadSkipped(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	var logs logBuffer
	rec := newRecorder()
	l := newTestLayer(t, cfg, WithDispatcher(rec), WithLogger(logs.logger()))
	raw := rawClient(t, cfg.Hosts[0].URL)
	now := float64(time.Now().UnixNano()) / 1e9
	raw.ZAdd(ctx, l.InboxKey(),
		redis.Z{Score: now, Member: "short"},
		redis.Z{Score: now + 0.001, Member: "123456789012\xc1garbage-secret"},
		redis.Z{Score: now + 0.002, Member: "123456789012\x81\xa4type\xa1x"}) // no __asgi_channel__
	ch := l.NewChannel()
	if err := l.Send(ctx, ch, Map{{Key: "type", Value: "good"}}); err != nil {
		t.Fatal(err)
	}
	d := rec.waitN(t, 1)[0]
	if d.Message.String("type") != "good" {
		t.Fatalf("delivery %#v", d)
	}
	eventually(t, "malformed count", func() bool { return l.Stats().Malformed == 3 })
	if strings.Contains(logs.String(), "garbage-secret") {
		t.Fatal("payload content leaked into logs")
	}
}

func TestReconnectAfterClientKill(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	rec := newRecorder()
	l := newTestLayer(t, cfg, WithDispatcher(rec))
	raw := rawClient(t, cfg.Hosts[0].URL)
	// Find the reader's connection parked in BZPOPMIN on our inbox key and kill it.
	var killed bool
	eventually(t, "reader blocked in BZPOPMIN", func() bool {
		for _, line := range strings.Split(raw.ClientList(ctx).Val(), "\n") {
			if !strings.Contains(line, "cmd=bzpopmin") || !strings.Contains(line, "name=laurel-"+l.ClientPrefix()+" ") {
				continue
			}
			id := ""
			for _, f := range strings.Fields(line) {
				if v, ok := strings.CutPrefix(f, "id="); ok {
					id = v
				}
			}
			// Only our own layer's reader: connections are named after
			// the client prefix, and other tests share this Redis.
			if id != "" && raw.Do(ctx, "CLIENT", "KILL", "ID", id).Err() == nil {
				killed = true
			}
		}
		return killed && l.Stats().ReaderErrors > 0
	})
	ch := l.NewChannel()
	if err := l.Send(ctx, ch, Map{{Key: "type", Value: "after.kill"}}); err != nil {
		t.Fatal(err)
	}
	d := rec.waitN(t, 1)[0]
	if d.Message.String("type") != "after.kill" {
		t.Fatalf("delivery %#v", d)
	}
}

func TestCloseIdempotentAndWakesReceivers(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	l, err := New(testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	ch := l.NewChannel()
	errc := make(chan error, 1)
	go func() {
		_, err := l.Receive(ctx, ch)
		errc <- err
	}()
	eventually(t, "receive waiter", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.buffers[ch] != nil
	})
	start := time.Now()
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}()
	}
	wg.Wait()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("pending Receive: %v", err)
	}
	if err := l.Send(ctx, ch, Map{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	if _, err := l.Receive(ctx, ch); !errors.Is(err, ErrClosed) {
		t.Fatalf("Receive after Close: %v", err)
	}
	if err := l.Ping(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ping after Close: %v", err)
	}
}

func TestPing(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	if err := newTestLayer(t, cfg).Ping(ctx); err != nil {
		t.Fatal(err)
	}
	cfg.Hosts = append(cfg.Hosts, Host{Addr: "127.0.0.1:1"})
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := newTestLayer(t, cfg).Ping(short); err == nil || !strings.Contains(err.Error(), "host 1") {
		t.Fatalf("unreachable host: %v", err)
	}
}

func TestReceiveBufferDropsOldest(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	cfg.Capacity = 5
	l := newTestLayer(t, cfg)
	a, b := l.NewChannel(), l.NewChannel()
	for _, ch := range []string{a, b} {
		if err := l.GroupAdd(ctx, "buf", ch); err != nil {
			t.Fatal(err)
		}
	}
	// Nobody receives on a: its buffer keeps only the newest 5.
	for i := range 8 {
		if err := l.GroupSend(ctx, "buf", Map{{Key: "i", Value: i}}); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Receive(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	for want := 3; want < 8; want++ {
		m, err := l.Receive(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := m.Get("i"); v != int64(want) {
			t.Fatalf("got %#v want i=%d", m, want)
		}
	}
}

func TestBatchDrainPopsTogether(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := testConfig(t)
	rec := newRecorder()
	l := newTestLayer(t, cfg)
	l.disp = rec // set before the readers start
	send := newTestLayer(t, cfg)
	ch := l.inboxName + "batch"
	for i := range 60 {
		if err := send.Send(ctx, ch, Map{{Key: "i", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	l.startReaders()
	got := rec.waitN(t, 60)
	batches := map[time.Time]int{}
	for i, d := range got {
		if v, _ := d.Message.Get("i"); v != int64(i) {
			t.Fatalf("delivery %d is %#v: order lost", i, d.Message)
		}
		batches[d.Received]++
	}
	// One BZPOPMIN plus one drain EVAL delivers all 60 together.
	if len(batches) > 2 {
		t.Fatalf("60 queued messages took %d reads, want 1 batch", len(batches))
	}
}

func TestReconnectAfterRedisRestart(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	srv := startRestartableRedis(t)
	var logs logBuffer
	rec := newRecorder()
	l := newTestLayer(t, Config{Hosts: []Host{{URL: srv.url}}, Prefix: "restart."}, WithDispatcher(rec), WithLogger(logs.logger()))
	ch := l.NewChannel()
	if err := l.Send(ctx, ch, Map{{Key: "type", Value: "before"}}); err != nil {
		t.Fatal(err)
	}
	rec.waitN(t, 1)
	srv.stop(t)
	eventually(t, "reader error counted", func() bool { return l.Stats().ReaderErrors > 0 })
	srv.start(t)
	// Sends retry on the new connection; the reader reconnects with backoff.
	eventually(t, "send after restart", func() bool {
		return l.Send(ctx, ch, Map{{Key: "type", Value: "after"}}) == nil
	})
	got := rec.waitN(t, 2)
	if got[1].Message.String("type") != "after" {
		t.Fatalf("delivery %#v", got[1])
	}
	if !strings.Contains(logs.String(), "inbox reader error") {
		t.Fatalf("reconnect not logged: %s", logs.String())
	}
}

func TestCloseRacesNewChannel(t *testing.T) {
	t.Parallel()
	for range 20 {
		l, err := New(testConfig(t))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); _ = l.NewChannel() }()
		go func() { defer wg.Done(); _ = l.Close() }()
		wg.Wait()
		_ = l.Close()
	}
}
