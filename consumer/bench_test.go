package consumer

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/laurel-server/laurel/channelsproto"
	"github.com/laurel-server/laurel/internal/connbench"
	"github.com/prometheus/client_golang/prometheus"
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
	for _, mode := range []GroupMembership{MembershipSocket, MembershipProcess} {
		for _, n := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("membership=%s/sockets=%d", mode, n), func(b *testing.B) {
				layer := newFakeLayer()
				srv, err := New(Config{Layer: layer, Authenticator: &fakeAuth{}, QueueSize: 1024, GroupMembership: mode})
				if err != nil {
					b.Fatal(err)
				}
				layer.srv = srv
				socks := make([]*socket, n)
				for i := range socks {
					sk := newSocket(srv, srv.routes[0], nil, Verdict{}, "", "", "/ws/tasks/")
					socks[i] = sk
					srv.register(sk)
					if err := srv.addMember(context.Background(), "task_b", sk); err != nil {
						b.Fatal(err)
					}
				}
				// What the layer's message names: every socket's channel,
				// or the process's one channel for the group.
				channels := layer.members("task_b")
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

// benchLayer is a Layer that costs next to nothing and signals every
// action-joined group_add, so a benchmark can wait for a subscription
// without a real Redis.
type benchLayer struct {
	n      atomic.Uint64
	joined chan struct{}
}

func (l *benchLayer) NewChannel() string {
	return "specific.bench!" + strconv.FormatUint(l.n.Add(1), 10)
}

func (l *benchLayer) GroupAdd(_ context.Context, group, _ string) error {
	if strings.HasPrefix(group, "task_") {
		l.joined <- struct{}{}
	}
	return nil
}

func (l *benchLayer) GroupDiscard(context.Context, string, string) error { return nil }

// benchAuth authenticates every handshake at no cost.
type benchAuth struct{}

func (benchAuth) Authenticate(context.Context, string) Verdict {
	return Verdict{Authenticated: true, UserID: "1", Username: "bench", Reason: "ok"}
}

// BenchmarkHandshake measures a whole connect over loopback TCP, the way
// laurel-bench's storm does it: HTTP upgrade with a session cookie, auth
// (free here), the connect group, the 101, then a subscribe frame whose
// group_add ends the operation; the client then closes. Clients are raw
// TCP with pre-built bytes, so the profile is the server's path.
func BenchmarkHandshake(b *testing.B) {
	layer := &benchLayer{joined: make(chan struct{}, 1024)}
	srv, err := New(Config{Layer: layer, Authenticator: benchAuth{}, Origin: allowOrigins{origin},
		Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer func() { _ = srv.Shutdown(context.Background()) }()
	addr := strings.TrimPrefix(hs.URL, "http://")
	req := []byte("GET /ws/tasks/ HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: Go-http-client/1.1\r\n" +
		"Connection: Upgrade\r\nCookie: sessionid=0123456789abcdefghijklmnopqrstuv\r\nOrigin: " + origin + "\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n\r\n")
	sub := maskedFrame(opText, []byte(`{"action":"subscribe","task_id":"storm1"}`))

	connbench.Run(b, 32, addr, req, sub, layer.joined)
}

// maskedFrame returns a client frame (masked, as RFC 6455 requires).
func maskedFrame(op byte, payload []byte) []byte {
	key := [4]byte{1, 2, 3, 4}
	f := []byte{0x80 | op, 0x80 | byte(len(payload))}
	f = append(f, key[:]...)
	p := append([]byte(nil), payload...)
	maskBytes(key, p)
	return append(f, p...)
}
