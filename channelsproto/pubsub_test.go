package channelsproto

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pubsubGolden is testdata/pubsub.json, written by
// compat_tests/pubsub/gen_pubsub_fixtures.py with channels_redis 4.3.0.
type pubsubGolden struct {
	Payloads []struct {
		Name  string
		Value json.RawMessage
		Hex   string
	}
	JSONPayloads []struct {
		Name  string
		Value json.RawMessage
		Hex   string
	} `json:"json_payloads"`
	Encrypted []struct {
		Name  string
		Keys  []string
		Value json.RawMessage
		Token string
	}
	GroupChannels []struct {
		Prefix, Group, Channel string
	} `json:"group_channels"`
	Shards []struct {
		Hosts int
		Name  string
		Index int
	}
}

func loadPubSubGolden(t testing.TB) pubsubGolden {
	t.Helper()
	var g pubsubGolden
	loadGolden(t, "pubsub.json", &g)
	if len(g.Payloads) == 0 || len(g.Encrypted) == 0 || len(g.Shards) == 0 || len(g.GroupChannels) == 0 {
		t.Fatal("pubsub.json is incomplete")
	}
	return g
}

// offlinePubSub is a PubSubLayer on n unreachable hosts, for tests without
// I/O (nothing is subscribed, so no connection is attempted).
func offlinePubSub(t testing.TB, n int, cfg Config, opts ...Option) *PubSubLayer {
	t.Helper()
	for i := range n {
		cfg.Hosts = append(cfg.Hosts, Host{Addr: fmt.Sprintf("127.0.0.1:%d", 1+i)})
	}
	l, err := NewPubSub(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func TestPubSubPayloadGolden(t *testing.T) {
	t.Parallel()
	g := loadPubSubGolden(t)
	for _, tc := range []struct {
		name   string
		format string
		cases  []struct {
			Name  string
			Value json.RawMessage
			Hex   string
		}
	}{
		{"msgpack", "", g.Payloads},
		{"json", "json", g.JSONPayloads},
	} {
		l := offlinePubSub(t, 1, Config{SerializerFormat: tc.format})
		for _, c := range tc.cases {
			t.Run(tc.name+"/"+c.Name, func(t *testing.T) {
				want := mustHex(t, c.Hex)
				msg := fromTagged(t, c.Value).(Map)
				got, err := l.Serializer().Serialize(msg)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("payload differs from channels_redis pubsub\n got %s\nwant %s", short(got), short(want))
				}
				dec, err := l.Serializer().Deserialize(want)
				if err != nil {
					t.Fatal(err)
				}
				if !equalValue(dec, msg) {
					t.Fatalf("decode mismatch\n got %#v\nwant %#v", dec, msg)
				}
			})
		}
	}
}

// TestPubSubEncryptedGolden decrypts tokens made by Python when the fixture
// was generated: they are older than any TTL, and still valid because the
// pubsub serializer has expiry=None.
func TestPubSubEncryptedGolden(t *testing.T) {
	t.Parallel()
	g := loadPubSubGolden(t)
	for _, c := range g.Encrypted {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			l := offlinePubSub(t, 1, Config{SymmetricEncryptionKeys: c.Keys})
			got, err := l.Serializer().Deserialize([]byte(c.Token))
			if err != nil {
				t.Fatalf("Deserialize(python token): %v", err)
			}
			if want := fromTagged(t, c.Value).(Map); !equalValue(got, want) {
				t.Fatalf("got %#v want %#v", got, want)
			}
			// A core-layer serializer (expiry 60 s) rejects the same
			// old token: the difference is real.
			core, err := NewSerializer("", c.Keys, 0, 60*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			core.now = func() time.Time { return time.Now().Add(time.Hour) }
			if _, err := core.Deserialize([]byte(c.Token)); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("core serializer accepted a token an hour old: %v", err)
			}
			// Round trip through Go's own encryption.
			msg := fromTagged(t, c.Value).(Map)
			tok, err := l.Serializer().Serialize(msg)
			if err != nil {
				t.Fatal(err)
			}
			back, err := l.Serializer().Deserialize(tok)
			if err != nil || !equalValue(back, msg) {
				t.Fatalf("round trip: %v %#v", err, back)
			}
		})
	}
}

func TestPubSubNamesGolden(t *testing.T) {
	t.Parallel()
	g := loadPubSubGolden(t)
	for _, c := range g.GroupChannels {
		l := offlinePubSub(t, 1, Config{Prefix: c.Prefix})
		if got := l.GroupChannel(c.Group); got != c.Channel {
			t.Errorf("GroupChannel(%q) with prefix %q = %q, python %q", c.Group, c.Prefix, got, c.Channel)
		}
	}
	layers := map[int]*PubSubLayer{}
	for _, c := range g.Shards {
		l := layers[c.Hosts]
		if l == nil {
			l = offlinePubSub(t, c.Hosts, Config{})
			layers[c.Hosts] = l
		}
		if got := l.shard(c.Name).idx; got != c.Index {
			t.Errorf("shard(%q) over %d hosts = %d, python %d", c.Name, c.Hosts, got, c.Index)
		}
	}
}

func TestParsePubSubConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, json string
		wantErr    string
		check      func(Config) bool
	}{
		{"hooks ignored", `{"hosts": ["redis://r:6379"], "on_disconnect": "disc", "on_reconnect": null}`, "",
			func(c Config) bool { return len(c.Hosts) == 1 && c.Hosts[0].URL == "redis://r:6379" }},
		{"encryption and prefix", `{"prefix": "app", "symmetric_encryption_keys": ["k"], "serializer_format": "json"}`, "",
			func(c Config) bool {
				return c.Prefix == "app" && len(c.SymmetricEncryptionKeys) == 1 && c.SerializerFormat == "json"
			}},
		{"core keys accepted", `{"capacity": 5, "expiry": 10}`, "",
			func(c Config) bool { return c.Capacity == 5 }},
		{"bad hook type", `{"on_disconnect": 3}`, "on_disconnect", nil},
		{"unknown key", `{"nope": 1}`, "nope", nil},
		{"not an object", `[1]`, "object", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := ParsePubSubConfig([]byte(tc.json))
			if tc.wantErr != "" {
				if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want ErrConfig naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !tc.check(cfg) {
				t.Fatalf("cfg %+v err %v", cfg, err)
			}
		})
	}
}

func TestNewBackend(t *testing.T) {
	t.Parallel()
	cfg := []byte(`{"hosts": ["redis://127.0.0.1:1"]}`)
	for _, tc := range []struct {
		name, backend string
		config        []byte
		wantType      string
		wantErr       string
	}{
		{"core", BackendCore, cfg, "*channelsproto.Layer", ""},
		{"pubsub", BackendPubSub, cfg, "*channelsproto.PubSubLayer", ""},
		{"pubsub hooks", BackendPubSub, []byte(`{"on_disconnect": "x"}`), "*channelsproto.PubSubLayer", ""},
		{"core rejects hooks", BackendCore, []byte(`{"on_disconnect": "x"}`), "", "CHANNEL_LAYERS.default.CONFIG"},
		{"in-memory", "channels.layers.InMemoryChannelLayer", cfg, "", "CHANNEL_LAYERS.default.BACKEND"},
		{"empty", "", cfg, "", "CHANNEL_LAYERS.default.BACKEND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := NewBackend(tc.backend, tc.config)
			if tc.wantErr != "" {
				if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want ErrConfig naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = b.Close() }()
			if got := fmt.Sprintf("%T", b); got != tc.wantType {
				t.Fatalf("type %s, want %s", got, tc.wantType)
			}
		})
	}
}

// TestPubSubHandleRouting drives _receive_message's routing without Redis:
// a channel name wins over a group name, group members get one Delivery,
// forgotten members are skipped, unknown names and garbage are dropped.
func TestPubSubHandleRouting(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	l := offlinePubSub(t, 1, Config{}, WithDispatcher(rec))
	payload, err := l.Serializer().Serialize(Map{{Key: "type", Value: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := "asgispecific.a", "asgispecific.b", "asgispecific.c"
	l.mu.Lock()
	for _, ch := range []string{a, b} {
		l.channels[ch] = &localQueue{signal: make(chan struct{})}
	}
	l.groups["asgi__group__g"] = []string{a, c, b} // c was forgotten
	l.channels["asgi__group__clash"] = &localQueue{signal: make(chan struct{})}
	l.groups["asgi__group__clash"] = []string{a}
	l.mu.Unlock()

	now := time.Now()
	l.handle("asgi__group__g", payload, now)
	l.handle(a, payload, now)
	l.handle("asgi__group__clash", payload, now)
	l.handle("asgi__group__unknown", payload, now)
	l.handle(a, []byte("\xc1garbage"), now)

	got := rec.deliveries()
	want := [][]string{{a, b}, {a}, {"asgi__group__clash"}}
	if len(got) != len(want) {
		t.Fatalf("%d deliveries, want %d: %+v", len(got), len(want), got)
	}
	for i, d := range got {
		if fmt.Sprint(d.Channels) != fmt.Sprint(want[i]) || d.Message.String("type") != "x" || !d.Received.Equal(now) {
			t.Errorf("delivery %d = %+v, want channels %v", i, d, want[i])
		}
	}
	if s := l.Stats(); s.Delivered != 3 || s.Malformed != 1 {
		t.Fatalf("stats %+v", s)
	}
	// With a Dispatcher, channels nobody Receives on buffer nothing.
	l.mu.Lock()
	defer l.mu.Unlock()
	for ch, q := range l.channels {
		if len(q.items) != 0 {
			t.Errorf("%s buffered %d messages without a Receive", ch, len(q.items))
		}
	}
}

func TestPubSubLocalBufferBounded(t *testing.T) {
	t.Parallel()
	l := offlinePubSub(t, 1, Config{Capacity: 3})
	l.mu.Lock()
	l.channels["c"] = &localQueue{signal: make(chan struct{})}
	l.mu.Unlock()
	for i := range 5 {
		p, _ := l.Serializer().Serialize(Map{{Key: "i", Value: int64(i)}})
		l.handle("c", p, time.Now())
	}
	ctx := context.Background()
	for want := int64(2); want < 5; want++ {
		m, err := l.Receive(ctx, "c")
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := m.Get("i"); v != want {
			t.Fatalf("got i=%v, want %d (oldest dropped first)", v, want)
		}
	}
}

func TestPubSubGroupAddNeedsLocalChannel(t *testing.T) {
	t.Parallel()
	l := offlinePubSub(t, 1, Config{})
	err := l.GroupAdd(context.Background(), "g", "asgispecific.elsewhere")
	if !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), "in-process") {
		t.Fatalf("err = %v", err)
	}
	// Discarding a non-member is a no-op (4.1.0+).
	if err := l.GroupDiscard(context.Background(), "g", "asgispecific.elsewhere"); err != nil {
		t.Fatal(err)
	}
}

func TestPubSubClosed(t *testing.T) {
	t.Parallel()
	l := offlinePubSub(t, 1, Config{})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx := context.Background()
	for name, err := range map[string]error{
		"Send":         l.Send(ctx, "c", Map{}),
		"GroupSend":    l.GroupSend(ctx, "g", Map{}),
		"GroupAdd":     l.GroupAdd(ctx, "g", "c"),
		"GroupDiscard": l.GroupDiscard(ctx, "g", "c"),
		"Flush":        l.Flush(ctx),
		"Ping":         l.Ping(ctx),
		"Release":      l.ReleaseChannel(ctx, "c"),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
	if _, err := l.Receive(ctx, "c"); !errors.Is(err, ErrClosed) {
		t.Errorf("Receive after Close: %v", err)
	}
	if ch := l.NewChannel(); !strings.HasPrefix(ch, "asgispecific.") {
		t.Errorf("NewChannel after Close = %q", ch)
	}
}

func FuzzPubSubHandle(f *testing.F) {
	var g pubsubGolden
	if b, err := os.ReadFile(filepath.Join("testdata", "pubsub.json")); err == nil {
		_ = json.Unmarshal(b, &g)
	}
	for _, p := range g.Payloads {
		if b, err := hex.DecodeString(p.Hex); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte{0x80})
	l, err := NewPubSub(Config{Hosts: []Host{{Addr: "127.0.0.1:1"}}}, WithDispatcher(DispatcherFunc(func(d Delivery) {
		if len(d.Channels) != 1 || d.Channels[0] != "c" {
			panic(fmt.Sprintf("delivery to %v", d.Channels))
		}
	})))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = l.Close() })
	l.channels["c"] = &localQueue{signal: make(chan struct{})}
	f.Fuzz(func(t *testing.T, payload []byte) {
		before := l.Stats()
		l.handle("c", payload, time.Now())
		after := l.Stats()
		if after.Delivered+after.Malformed != before.Delivered+before.Malformed+1 {
			t.Fatalf("payload neither delivered nor counted malformed: %+v → %+v", before, after)
		}
	})
}

// BenchmarkPubSubHandleGroup is the receive hot path: decode one group
// message and hand it to the Dispatcher for 500 local members (one Delivery).
func BenchmarkPubSubHandleGroup(b *testing.B) {
	var n int
	l := offlinePubSub(b, 1, Config{}, WithDispatcher(DispatcherFunc(func(d Delivery) { n += len(d.Channels) })))
	members := make([]string, 500)
	for i := range members {
		members[i] = fmt.Sprintf("asgispecific.%032x", i)
		l.channels[members[i]] = &localQueue{signal: make(chan struct{})}
	}
	l.groups["asgi__group__g"] = members
	payload, err := l.Serializer().Serialize(Map{{Key: "type", Value: "task.update"}, {Key: "task_id", Value: "t1"},
		{Key: "status", Value: "processing"}, {Key: "progress", Value: int64(50)}})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		l.handle("asgi__group__g", payload, now)
	}
	if n == 0 {
		b.Fatal("nothing dispatched")
	}
}

// BenchmarkPubSubSerialize is the send hot path: the PUBLISH payload.
func BenchmarkPubSubSerialize(b *testing.B) {
	l := offlinePubSub(b, 1, Config{})
	msg := Map{{Key: "type", Value: "task.update"}, {Key: "task_id", Value: "t1"}, {Key: "progress", Value: int64(50)}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Serializer().Serialize(msg); err != nil {
			b.Fatal(err)
		}
	}
}
