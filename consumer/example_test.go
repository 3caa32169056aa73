package consumer_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/laurel-server/laurel/channelsproto"
	"github.com/laurel-server/laurel/consumer"
)

// The frame a socket receives for a channel-layer event is what Channels'
// send_json({**event, "type": event["type"].replace(".", "_")}) writes.
func ExampleEventFrame() {
	event := channelsproto.Map{
		{Key: "type", Value: "task.update"},
		{Key: "task_id", Value: "abc-123"},
		{Key: "progress", Value: int64(45)},
	}
	b, _ := channelsproto.MarshalPythonJSON(consumer.EventFrame(event))
	fmt.Println(string(b))
	// Output: {"type": "task_update", "task_id": "abc-123", "progress": 45}
}

// A server with a declarative chat route next to the seed's /ws/tasks/.
// layer is a *channelsproto.Layer, auth adapts a *djangoauth.Authenticator.
func ExampleNew() {
	var (
		layer consumer.Layer         // channelsproto.New(...)
		auth  consumer.Authenticator // djangoauth.New(...), adapted
	)
	if layer == nil {
		return // wire real ones in a program; see cmd/laurel
	}
	routes := append(consumer.DefaultRoutes(), consumer.Route{
		Path:    "/ws/chat/{room}/",
		Groups:  []string{"chat_{room}"},
		Forward: []string{"chat.*"},
		Actions: []consumer.Action{{Name: "typing", Join: "typing_{room}"}},
	})
	srv, err := consumer.New(consumer.Config{Layer: layer, Authenticator: auth, Routes: routes})
	if err != nil {
		panic(err)
	}
	// The layer's dispatcher hands every Redis message to Deliver.
	_ = channelsproto.DispatcherFunc(func(d channelsproto.Delivery) { srv.Deliver(d.Channels, d.Message, d.Received) })
	go func() { _ = http.ListenAndServe("127.0.0.1:8000", srv) }() //nolint:gosec // example
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}
