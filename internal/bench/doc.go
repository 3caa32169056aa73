// Package bench is laurel-bench's engine: it drives WebSocket clients with
// real Django session cookies against Daphne (with the reference consumer of
// compat_tests/djproject) and against laurel, publishes through the real
// Python channels_redis group_send (compat_tests/bench/publish.py) or through
// channelsproto, and measures per-frame latency, deliveries, loss, the
// connect+auth+subscribe rate, and server RSS and CPU read from /proc.
//
// The pieces: Histogram (latency), RunClients (one client process, speaking
// WebSocket through a minimal client of its own, wshandshake.go and
// wsconn.go, so that it costs the shared cores little), the
// stack launcher (compat_tests/bench/stack.py), Scenario runners that spread
// clients over several client processes and loopback source addresses, and
// the report (markdown table and PNG chart). Nothing here is used by laurel
// itself.
package bench
