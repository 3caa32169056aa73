package channelsproto_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/laurel-server/laurel/channelsproto"
)

// redisURL is where the examples find Redis. The examples that need Redis
// have no Output line, so `go test` compiles but does not run them; the
// integration tests exercise the same calls against REDIS_URL.
func redisURL() string { return os.Getenv("REDIS_URL") }

// A Layer configured from the same JSON as Django's CHANNEL_LAYERS CONFIG.
func ExampleParseConfig() {
	cfg, err := channelsproto.ParseConfig([]byte(`{
		"hosts": ["redis://localhost:6379/0"],
		"capacity": 200,
		"channel_capacity": {"http.request": 50, "re:^websocket\\.send!": 20}
	}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.Capacity, cfg.ChannelCapacity[1].Regex, cfg.ChannelCapacity[1].Pattern)
	// Output: 200 true ^websocket\.send!
}

// Send to a group and read it back on a channel of this process, as a
// consumer's group_add + group_send + receive would in Python.
func ExampleLayer_GroupSend() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	layer, err := channelsproto.New(channelsproto.Config{
		Hosts:  []channelsproto.Host{{URL: redisURL()}},
		Prefix: "example-groupsend.",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer layer.Close()
	ch := layer.NewChannel() // "specific.<client prefix>!<uuid>"
	if err := layer.GroupAdd(ctx, "tasks-42", ch); err != nil {
		log.Fatal(err)
	}
	defer func() { _ = layer.GroupDiscard(ctx, "tasks-42", ch) }()
	msg := channelsproto.Map{{Key: "type", Value: "task.update"}, {Key: "pct", Value: 50}}
	if err := layer.GroupSend(ctx, "tasks-42", msg); err != nil {
		log.Fatal(err)
	}
	got, err := layer.Receive(ctx, ch)
	if err != nil {
		log.Fatal(err)
	}
	pct, _ := got.Get("pct")
	fmt.Println(got.String("type"), pct) // task.update 50
}

// A Dispatcher gets each inbox message once with all its local targets,
// which is how a WebSocket server fans one group_send out to its sockets.
func ExampleWithDispatcher() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan channelsproto.Delivery, 1)
	layer, err := channelsproto.New(channelsproto.Config{
		Hosts:  []channelsproto.Host{{URL: redisURL()}},
		Prefix: "example-dispatch.",
	}, channelsproto.WithDispatcher(channelsproto.DispatcherFunc(func(d channelsproto.Delivery) {
		got <- d // must not block for long: runs on the reader
	})))
	if err != nil {
		log.Fatal(err)
	}
	defer layer.Close()
	a, b := layer.NewChannel(), layer.NewChannel()
	for _, ch := range []string{a, b} {
		if err := layer.GroupAdd(ctx, "room", ch); err != nil {
			log.Fatal(err)
		}
		defer func() { _ = layer.GroupDiscard(ctx, "room", ch) }()
	}
	if err := layer.GroupSend(ctx, "room", channelsproto.Map{{Key: "type", Value: "chat.message"}}); err != nil {
		log.Fatal(err)
	}
	d := <-got
	fmt.Println(len(d.Channels), "recipients of", d.Message.String("type")) // 2 recipients of chat.message
}

// Python-identical JSON for WebSocket frames.
func ExampleMarshalPythonJSON() {
	b, _ := channelsproto.MarshalPythonJSON(channelsproto.Map{
		{Key: "type", Value: "task.update"}, {Key: "pct", Value: 1.0}, {Key: "name", Value: "résumé"},
	})
	fmt.Println(string(b))
	// Output: {"type": "task.update", "pct": 1.0, "name": "r\u00e9sum\u00e9"}
}

func ExampleNew() {
	layer, err := channelsproto.New(channelsproto.Config{
		Hosts: []channelsproto.Host{{URL: "redis://localhost:6379/0"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer layer.Close()
	fmt.Println(len(layer.ClientPrefix()), layer.InboxKey() == "asgispecific."+layer.ClientPrefix()+"!")
	// Output: 32 true
}

// Join a socket's channel to a group on connect and leave on disconnect, as
// a Channels consumer's groups attribute does. Re-add before group_expiry
// (24 h by default) for sockets that live longer.
func ExampleLayer_GroupAdd() {
	ctx := context.Background()
	layer, err := channelsproto.New(channelsproto.Config{Hosts: []channelsproto.Host{{URL: redisURL()}}})
	if err != nil {
		log.Fatal(err)
	}
	defer layer.Close()
	ch := layer.NewChannel()
	if err := layer.GroupAdd(ctx, "chat_room-1", ch); err != nil { // ZADD asgi:group:chat_room-1 <now> <ch>; EXPIRE 86400
		log.Fatal(err)
	}
	// ... serve the socket ...
	if err := layer.GroupDiscard(ctx, "chat_room-1", ch); err != nil { // ZREM
		log.Fatal(err)
	}
}
