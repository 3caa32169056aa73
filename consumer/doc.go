// Package consumer serves WebSocket routes the way a Django Channels consumer
// would, natively in Go.
//
// A Server owns every socket it accepts. It authenticates the handshake with an
// Authenticator (the Django session), checks Origin with an OriginPolicy
// (Django's ALLOWED_HOSTS), gives each socket a channel name from a Layer
// (channels_redis), joins the route's groups, turns client JSON actions into
// group_add / group_discard (of the socket's own channel, or with
// MembershipProcess of one channel per Server and group, shared by its local
// subscribers), and forwards channel-layer events to the socket as
// JSON frames, exactly as a Channels AsyncJsonWebsocketConsumer whose handlers
// call send_json(event) with the event type's dots replaced by underscores
// (channels 4.3.2, channels.consumer.get_handler_name).
//
// Events arrive through Server.Deliver, which the channel layer calls once per
// Redis message with the local channel names it targets. Each event is encoded
// once into a whole WebSocket frame shared by every recipient socket;
// enqueueing never blocks, and a socket whose bounded queue is full is closed
// with CloseSlowConsumer.
//
// An idle socket holds no goroutine. gorilla/websocket answers the handshake
// only; the package then speaks RFC 6455 itself (wsframe.go). Reads wait on
// internal/netpoll (epoll) and run one message at a time on a short-lived
// goroutine; a few flusher goroutines write each socket's queue with one
// non-blocking writev, handing a socket whose kernel buffer is full to a
// goroutine of its own until it catches up; one sweeper goroutine runs every
// socket's timers. Without epoll each socket reads on its own goroutine.
//
// The HTTP statuses, WebSocket close codes and error-frame codes the package
// uses are all listed in codes.go and in docs/configuration.md.
package consumer
