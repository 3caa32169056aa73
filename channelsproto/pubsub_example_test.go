package channelsproto_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/laurel-server/laurel/channelsproto"
)

// A server picks the layer from the Django settings' BACKEND and CONFIG, and
// gets one Delivery per Redis message with the local channels it is for.
func ExampleNewBackend() {
	dispatch := channelsproto.DispatcherFunc(func(d channelsproto.Delivery) {
		fmt.Println(d.Channels, d.Message.String("type"))
	})
	layer, err := channelsproto.NewBackend(channelsproto.BackendPubSub,
		[]byte(`{"hosts": ["redis://localhost:6379/0"], "on_disconnect": "disconnect"}`),
		channelsproto.WithDispatcher(dispatch))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = layer.Close() }()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ch := layer.NewChannel() // "asgispecific.<32 hex>", subscribed
	if err := layer.GroupAdd(ctx, "room.1", ch); err != nil {
		log.Fatal(err)
	}
	// Any process, Python or Go, can now publish to the group.
	if err := layer.GroupSend(ctx, "room.1", channelsproto.Map{{Key: "type", Value: "chat.message"}}); err != nil {
		log.Fatal(err)
	}
}

// GroupChannel shows the Pub/Sub channel a group uses.
func ExamplePubSubLayer_GroupChannel() {
	l, err := channelsproto.NewPubSub(channelsproto.Config{Prefix: "app"})
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	fmt.Println(l.GroupChannel("room.1"))
	// Output: app__group__room.1
}
