package channelsproto

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"
)

type groupGolden struct {
	Scenarios []struct {
		Name          string
		Hosts         int
		Members       []string
		CapacityRules []CapacityRule `json:"capacity_rules"`
		Message       json.RawMessage
		Shards        []struct {
			Index       int
			Keys        []string
			PayloadsHex []string `json:"payloads_hex"`
			Capacities  []int
		}
	}
	Send struct {
		Channel string
		Message json.RawMessage
		Hex     string
	}
}

// offlineLayer is a Layer with n unreachable hosts for tests that do no I/O.
func offlineLayer(t testing.TB, n int, rules []CapacityRule) *Layer {
	t.Helper()
	cfg := Config{ChannelCapacity: rules}
	for i := range n {
		cfg.Hosts = append(cfg.Hosts, Host{Addr: fmt.Sprintf("127.0.0.1:%d", 1+i)})
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func TestGroupSendGolden(t *testing.T) {
	t.Parallel()
	var g groupGolden
	loadGolden(t, "group_send.json", &g)
	for _, sc := range g.Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			t.Parallel()
			l := offlineLayer(t, sc.Hosts, sc.CapacityRules)
			msg := fromTagged(t, sc.Message).(Map)
			shards, order, err := l.buildGroupSend(sc.Members, msg)
			if err != nil {
				t.Fatal(err)
			}
			if len(order) != len(sc.Shards) {
				t.Fatalf("%d shards, python %d", len(order), len(sc.Shards))
			}
			for i, want := range sc.Shards {
				if order[i] != want.Index {
					t.Fatalf("shard #%d is %d, python %d", i, order[i], want.Index)
				}
				got := shards[order[i]]
				if fmt.Sprint(got.keys) != fmt.Sprint(want.Keys) {
					t.Fatalf("shard %d keys %v, python %v", want.Index, got.keys, want.Keys)
				}
				if fmt.Sprint(got.caps) != fmt.Sprint(want.Capacities) {
					t.Fatalf("shard %d capacities %v, python %v", want.Index, got.caps, want.Capacities)
				}
				for j, h := range want.PayloadsHex {
					py := mustHex(t, h)
					goBytes := got.payloads[j].([]byte)
					if !bytes.Equal(goBytes[12:], py[12:]) {
						t.Fatalf("payload for %s\n got %s\nwant %s", want.Keys[j], short(goBytes), short(py))
					}
				}
			}
			// The caller's message is not modified.
			if _, ok := msg.Get(asgiChannelKey); ok {
				t.Fatal("buildGroupSend modified the message")
			}
		})
	}
	t.Run("send_shape", func(t *testing.T) {
		l := offlineLayer(t, 1, nil)
		msg := fromTagged(t, g.Send.Message).(Map)
		body := append(msg.Clone(), Field{Key: asgiChannelKey, Value: g.Send.Channel})
		got, err := l.ser.Serialize(body)
		if err != nil {
			t.Fatal(err)
		}
		py := mustHex(t, g.Send.Hex)
		if !bytes.Equal(got[12:], py[12:]) {
			t.Fatalf("\n got %s\nwant %s", short(got), short(py))
		}
		chans, m, err := splitTarget(func() Map { d, _ := l.ser.Deserialize(py); return d }())
		if err != nil || len(chans) != 1 || chans[0] != g.Send.Channel || !equalValue(m, msg) {
			t.Fatalf("splitTarget: %v %v %#v", chans, err, m)
		}
	})
}

// TestDeliverPythonGroupPayloads feeds the real channels_redis group_send
// payloads through the inbox reader's decode and dispatch path.
func TestDeliverPythonGroupPayloads(t *testing.T) {
	t.Parallel()
	var g groupGolden
	loadGolden(t, "group_send.json", &g)
	l := offlineLayer(t, 1, nil)
	rec := newRecorder()
	l.disp = rec
	want := 0
	for _, sc := range g.Scenarios {
		msg := fromTagged(t, sc.Message).(Map)
		for _, sh := range sc.Shards {
			for _, h := range sh.PayloadsHex {
				l.deliver(string(mustHex(t, h)), time.Now())
				want++
				got := rec.deliveries()
				if len(got) != want {
					t.Fatalf("%s: payload not delivered (malformed=%d)", sc.Name, l.Stats().Malformed)
				}
				d := got[want-1]
				if !equalValue(d.Message, msg) {
					t.Fatalf("%s: message %#v", sc.Name, d.Message)
				}
				for _, ch := range d.Channels {
					if !slices.Contains(sc.Members, ch) {
						t.Fatalf("%s: unknown target %q", sc.Name, ch)
					}
				}
			}
		}
	}
	// Non-str entries in the target list are malformed, not delivered.
	bad, _ := MarshalMsgpack(Map{{Key: "type", Value: "x"}, {Key: asgiChannelKey, Value: []any{"a", int64(1)}}})
	l.deliver(string(append(make([]byte, 12), bad...)), time.Now())
	if l.Stats().Malformed != 1 || len(rec.deliveries()) != want {
		t.Fatalf("bad target list: stats %+v", l.Stats())
	}
}
