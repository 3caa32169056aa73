package consumer

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/laurel-server/laurel/channelsproto"
)

var benchEvent = channelsproto.Map{
	{Key: "type", Value: "task.update"},
	{Key: "task_id", Value: "5b2f7a0e-6f0e-4a8e-9a57-1f9e3c1d2b4a"},
	{Key: "status", Value: "processing"},
	{Key: "message", Value: "Processing 1500 records..."},
	{Key: "progress", Value: int64(45)},
	{Key: "data", Value: channelsproto.Map{{Key: "created", Value: int64(1500)}, {Key: "updated", Value: int64(0)}}},
}

// BenchmarkEventFrame measures turning one channel-layer event into the
// shared prepared frame (done once per Redis message).
func BenchmarkEventFrame(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		data, err := channelsproto.MarshalPythonJSON(EventFrame(benchEvent))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := websocket.NewPreparedMessage(websocket.TextMessage, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeliverFanout measures Deliver to n local sockets: one encode,
// n non-blocking enqueues.
func BenchmarkDeliverFanout(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("sockets=%d", n), func(b *testing.B) {
			layer := newFakeLayer()
			srv, err := New(Config{Layer: layer, Authenticator: &fakeAuth{}, QueueSize: 1024})
			if err != nil {
				b.Fatal(err)
			}
			channels := make([]string, n)
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for i := range channels {
				sk := newSocket(srv, srv.routes[0], nil, Verdict{}, "", "", "/ws/tasks/")
				channels[i] = sk.channel
				srv.register(sk)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-sk.queue:
						case <-stop:
							return
						}
					}
				}()
			}
			now := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				srv.Deliver(channels, benchEvent, now)
			}
			b.StopTimer()
			close(stop)
			wg.Wait()
		})
	}
}
