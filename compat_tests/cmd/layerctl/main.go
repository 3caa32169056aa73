// Command layerctl exposes package channelsproto to the Python compat suite
// (compat_tests/channelsproto) as a line-oriented JSON protocol on stdin and
// stdout, so that every channel-layer operation can be done by laurel's Go code
// and by real channels_redis against the same Redis and compared.
//
// Each input line is a request {"id": n, "op": ..., ...}; each output line is
// {"id": n, "ok": true, "result": {...}} or {"id": n, "ok": false, "error":
// "...", "kind": "..."}. Requests run concurrently and may be answered out of
// order. Ops:
//
//	new            {"config": <CHANNEL_LAYERS CONFIG as JSON>} -> {"layer", "client_prefix"}
//	new_channel    {"layer"} -> {"channel"}
//	send           {"layer", "channel", "message": <tagged map>}
//	receive        {"layer", "channel", "timeout": seconds} -> {"message": <tagged map>}
//	group_add      {"layer", "group", "channel"}
//	group_discard  {"layer", "group", "channel"}
//	group_send     {"layer", "group", "message": <tagged map>}
//	flush, ping    {"layer"}
//	close          {"layer"}
//	marshal_json   {"value": <tagged>} -> {"text": MarshalPythonJSON output}
//	unmarshal_json {"text"} -> {"value": <tagged UnmarshalJSON output>}
//
// Values are tagged (see decodeValue) so that bytes, ints, floats and key
// order survive the trip exactly. Logs go to stderr. layerctl exits when
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
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "layerctl:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return newServer(os.Stdout, log).serve(ctx, os.Stdin)
}
