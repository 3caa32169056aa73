// Package channelsproto speaks the Redis protocol of channels_redis'
// core RedisChannelLayer (channels_redis 4.0.0–4.3.0 with channels
// 4.0–4.3.2), so a Go process can share groups and channels with unchanged
// Django Channels code: Python group_send reaches Go sockets and Go
// GroupSend reaches Python consumers.
//
// # What is reproduced
//
//   - Keys: prefix+channel for normal channels, prefix+"specific.<cp>!" shared
//     by every specific channel of a process, prefix+":group:"+group for group
//     ZSETs, and key+"$inflight" for the receive backup (reference §1.4).
//   - Commands and Lua: send is ZREMRANGEBYSCORE / ZCOUNT / ZADD / EXPIRE;
//     group_send prunes, ZRANGE, buckets members per key with
//     "__asgi_channel__" appended last as a list, pipelines the expiry prune
//     in MULTI/EXEC and runs Python's capacity Lua script verbatim; flush and
//     the receive cleanup run Python's scripts verbatim. Scores are float
//     seconds (§1.7–1.11).
//   - Payloads: a random prefix (12 bytes by default) || msgpack-python 1.x
//     packb bytes (or Python json.dumps for serializer_format "json"),
//     optionally inside a MultiFernet token keyed by
//     urlsafe_b64(sha256(secret)) with TTL expiry+10 s (§1.6). See
//     MarshalMsgpack, MarshalPythonJSON and Serializer.
//   - Names and sharding: the Channels 4.x name validators with their Python
//     quirks, non_local_name, and the CRC-32 ring of _consistent_hash (§1.3,
//     §1.5).
//   - Capacity: channel_capacity globs (fnmatch) and regexes, ChannelFull on
//     Send, silent skip with an INFO log on GroupSend, local buffers that drop
//     the oldest message (§1.12).
//
// # Deliberate choices
//
//   - One inbox per process: all channels from NewChannel share
//     prefix+"specific.<cp>!", read by one goroutine per Redis host. Every
//     host is read, not only ConsistentHash("specific.<cp>!"), so messages
//     that Python's send() puts on the shard of the full channel name (a
//     channels_redis bug since 2.2) still arrive.
//   - Batch drain: while the inbox is not empty, one Lua script per round
//     trip drops the previous (delivered) batch from $inflight and moves the
//     next one, up to 256 messages or 8 MB, into it, so a busy process
//     empties its key fast and Python senders do not hit capacity 100. Only
//     an empty inbox falls back to Python's BZPOPMIN + ZADD to $inflight.
//     Every message is in $inflight from the moment it leaves the inbox until
//     it is delivered; a reader error leaves it there for Python's cleanup
//     script to requeue. Payloads are never sent back to Redis (DEL, not
//     ZREM), and the channel names of a group message are substrings of its
//     payload, not copies.
//   - Round trips: GroupAdd calls running at once on a host share one
//     pipeline (each call's ZADD and EXPIRE, in order, with its own error);
//     read-only commands share the round trip of the command before them
//     (ZRANGE in GroupSend, ZCOUNT in Send); scripts run as EVALSHA.
//   - Go's Send puts a specific channel's message on the shard its receiver
//     reads (hash of the non-local part), and GroupSend prunes each bucket on
//     its own shard; Python hashes the full name and prunes on the previous
//     connection. With one host both behave identically.
//   - A Dispatcher receives each inbox message once with its channel list,
//     instead of one copy per channel; Receive keeps Python's per-channel
//     buffers for code that pulls. With a Dispatcher, only channels with a
//     Receive in progress are buffered, so idle sockets cost no memory.
//
// # Known limits
//
//   - Values are limited to the types Channels' spec allows (see Map):
//     msgpack ext types, integers beyond 64 bits and bin map keys that are
//     not UTF-8 are rejected where Python would return ExtType, int or bytes
//     keys.
//   - Channel-capacity regexes use Go's RE2 syntax; \d, \w and $ there are
//     ASCII / end-of-text only, unlike Python's re.
//   - UnmarshalJSON reads UTF-8 only and maps lone surrogate escapes to
//     U+FFFD.
package channelsproto
