package channelsproto

import (
	"strconv"
	"testing"
	"time"
)

// taskUpdate is the typical Celery → browser progress event.
var taskUpdate = Map{
	{Key: "type", Value: "task.update"},
	{Key: "task_id", Value: "5f0c6a2e-7d3b-4c1e-9a57-0f9d3b2c1a00"},
	{Key: "state", Value: "PROGRESS"},
	{Key: "pct", Value: int64(42)},
	{Key: "eta", Value: 12.5},
	{Key: "meta", Value: Map{{Key: "step", Value: "résumé"}, {Key: "done", Value: false}}},
}

// BenchmarkInboxDispatch10k decodes one group message addressed to 10 000
// local channels and dispatches it (one Delivery), as the inbox reader does.
func BenchmarkInboxDispatch10k(b *testing.B) {
	l := offlineLayer(b, 1, nil)
	n := 0
	l.disp = DispatcherFunc(func(d Delivery) { n += len(d.Channels) })
	members := make([]string, 10000)
	for i := range members {
		members[i] = l.inboxName + uuid4Hex()
	}
	shards, order, err := l.buildGroupSend(members, taskUpdate)
	if err != nil {
		b.Fatal(err)
	}
	payload := string(shards[order[0]].payloads[0].([]byte))
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		l.deliver(payload, time.Time{})
	}
	if n != 10000*b.N {
		b.Fatalf("dispatched %d", n)
	}
}

// BenchmarkBuildGroupSend1k builds the per-key payloads of a group_send to
// 1000 members spread over 10 processes.
func BenchmarkBuildGroupSend1k(b *testing.B) {
	l := offlineLayer(b, 1, nil)
	members := make([]string, 1000)
	for i := range members {
		members[i] = "specific." + strconv.Itoa(i%10) + "0123456789abcdef0123456789abcde!" + uuid4Hex()
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := l.buildGroupSend(members, taskUpdate); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalMsgpack(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MarshalMsgpack(taskUpdate); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalMsgpack(b *testing.B) {
	enc, err := MarshalMsgpack(taskUpdate)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := UnmarshalMsgpack(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalPythonJSONTaskUpdate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MarshalPythonJSON(taskUpdate); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSerializeEncrypted(b *testing.B) {
	s, err := NewSerializer("msgpack", []string{"k"}, 12, time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		p, err := s.Serialize(taskUpdate)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Deserialize(p); err != nil {
			b.Fatal(err)
		}
	}
}
