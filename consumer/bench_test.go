package consumer

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
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
		if f := serverFrame(opText, data); len(f) <= len(data) {
			b.Fatal("short frame")
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
			socks := make([]*socket, n)
			for i := range channels {
				sk := newSocket(srv, srv.routes[0], nil, Verdict{}, "", "", "/ws/tasks/")
				channels[i] = sk.channel
				socks[i] = sk
				srv.register(sk)
			}
			now := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				srv.Deliver(channels, benchEvent, now)
				// The sockets are not started: empty their queues as a
				// flusher would.
				for _, sk := range socks {
					sk.wmu.Lock()
					clear(sk.q)
					sk.q = sk.q[:0]
					sk.wmu.Unlock()
				}
			}
		})
	}
}

// BenchmarkFanoutSockets measures one event delivered to n real WebSocket
// clients over loopback TCP, until every client has read it.
func BenchmarkFanoutSockets(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("sockets=%d", n), func(b *testing.B) {
			layer := newFakeLayer()
			auth := &fakeAuth{verdicts: map[string]Verdict{"c": {Authenticated: true, UserID: "1"}}}
			srv, err := New(Config{Layer: layer, Authenticator: auth, QueueSize: 1024, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			hs := httptest.NewServer(srv)
			defer hs.Close()
			defer func() { _ = srv.Shutdown(context.Background()) }()
			url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws/tasks/"
			got := make(chan struct{}, n)
			var wg sync.WaitGroup
			for i := 0; i < n; i++ {
				c, resp, err := websocket.DefaultDialer.Dial(url, http.Header{"Cookie": {"c"}})
				if resp != nil {
					_ = resp.Body.Close()
				}
				if err != nil {
					b.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { _ = c.Close() }()
					for {
						if _, _, err := c.ReadMessage(); err != nil {
							return
						}
						got <- struct{}{}
					}
				}()
			}
			channels := layer.members("user_1")
			if len(channels) != n {
				b.Fatalf("%d members", len(channels))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				srv.Deliver(channels, benchEvent, time.Now())
				for i := 0; i < n; i++ {
					<-got
				}
			}
			b.StopTimer()
			_ = srv.Shutdown(context.Background())
			wg.Wait()
		})
	}
}
