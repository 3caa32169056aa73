// Command pubsubctl exposes channelsproto's layers chosen by BACKEND (in
// particular PubSubLayer) to the Python compat suite compat_tests/pubsub, as
// a line-oriented JSON protocol on stdin and stdout, so every operation can
// be done by laurel's Go code and by real channels_redis against the same
// Redis and compared.
//
// Each input line is a request {"id": n, "op": ..., ...}; each output line is
// {"id": n, "ok": true, "result": {...}} or {"id": n, "ok": false, "error":
// "...", "kind": "..."}. Requests run concurrently and may be answered out of
// order. Ops:
//
//	new            {"config", "backend" (default pubsub), "dispatch": bool} -> {"layer", "client_prefix"}
//	new_channel    {"layer"} -> {"channel"}
//	send           {"layer", "channel", "message": <tagged map>}
//	receive        {"layer", "channel", "timeout": seconds} -> {"message": <tagged map>}
//	group_add      {"layer", "group", "channel"}
//	group_discard  {"layer", "group", "channel"}
//	group_send     {"layer", "group", "message": <tagged map>}
//	flush, ping    {"layer"}
//	close          {"layer"}
//	release        {"layer", "channel"}                      (PubSubLayer.ReleaseChannel)
//	deliveries     {"layer", "count", "timeout"} -> {"deliveries": [{"channels", "message"}]}
//	               waits until the layer's Dispatcher (new with "dispatch": true)
//	               has seen count deliveries and returns them all
//	stats          {"layer"} -> {"delivered", "malformed", "reader_errors"}
//
// Values are tagged (see decodeValue) so that bytes, ints, floats and key
// order survive the trip exactly. Logs go to stderr. pubsubctl exits when
// stdin closes, after closing every layer.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if err := newServer(os.Stdout, log).serve(ctx, os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "pubsubctl:", err)
		os.Exit(1)
	}
}
