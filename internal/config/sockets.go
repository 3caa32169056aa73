package config

import "math"

// FileLimitFunc returns the process's open-file soft limit (RLIMIT_NOFILE);
// ok is false when the system has no such limit or it cannot be read.
type FileLimitFunc func() (limit uint64, ok bool)

// SocketCap is a process's effective max_sockets, as ResolveMaxSockets
// derives it.
type SocketCap struct {
	// Max is the most WebSocket sockets the process holds open; 0 means
	// no cap.
	Max int
	// Auto reports that Max comes from the open-file limit (max_sockets
	// = 0) rather than from the configuration.
	Auto bool
	// FileLimit is the open-file soft limit read; 0 when unknown.
	FileLimit uint64
	// Reserve is the descriptors kept for everything laurel opens besides
	// sockets; 0 when FileLimit is unknown.
	Reserve int
	// Allowed is FileLimit minus Reserve: the most sockets the limit
	// leaves room for; 0 when FileLimit is unknown.
	Allowed int
	// OverLimit reports that a configured max_sockets exceeds Allowed: at
	// that many sockets the process would run out of descriptors.
	OverLimit bool
}

// minReserve is the least number of descriptors kept for everything but
// sockets, whatever the pools.
const minReserve = 256

// fixedDescriptors counts the descriptors laurel holds besides sockets and
// pools: stdin, stdout and stderr, the listener and the metrics listener,
// the epoll instance and its wake-up descriptor, the access log, and what
// Go's runtime opens, with room to spare.
const fixedDescriptors = 64

// ReserveFor returns how many of limit descriptors to keep for everything
// laurel opens besides WebSocket sockets, given pools, the most connections
// its pools may open at once (Redis, SQL, cache; see cmd/laurel):
// max(256, 10% of limit, pools + 64).
//
// Why: the pools open connections on demand (go-redis up to
// max_connections per host, 10 per CPU by default; the SQL pools up to
// their size, twice on SQLite, and the SQLite fast pool reopens
// connections idle for 1 s), so their descriptors must stay free however
// many sockets are open, or the open sockets lose their Redis and session
// store. Beyond the pools, descriptors are held for a while by connections
// that are not yet (or never will be) sockets: handshakes being read and
// authenticated (up to handshake_timeout each, hundreds during a connect
// storm), refusals being answered (a 503 must be accepted to be sent, which
// is what keeps clients from hanging in the listen backlog), and proxied
// upstream requests (two each). Their number grows with the load, hence
// the 10% that scales with the limit (2,000 of 20,000); 256 keeps a small
// limit usable.
func ReserveFor(limit uint64, pools int) int {
	r := max(minReserve, pools+fixedDescriptors)
	if tenth := limit / 10; tenth > uint64(r) {
		r = int(min(tenth, math.MaxInt32)) //nolint:gosec // bounded by the min
	}
	return r
}

// ResolveMaxSockets derives the effective socket cap from max_sockets
// (configured), the pools' size (see ReserveFor) and the open-file limit
// read through fileLimit. Zero configured means automatic: the limit minus
// ReserveFor, or no cap when the limit is unknown or unlimited; a negative
// one means no cap; a positive one is kept as is, with OverLimit set when
// it exceeds what the limit allows. When the limit is not above the
// reserve, the automatic cap is half the limit.
func ResolveMaxSockets(configured, pools int, fileLimit FileLimitFunc) SocketCap {
	var c SocketCap
	if limit, ok := fileLimit(); ok && limit > 0 && limit < math.MaxInt32 {
		c.FileLimit = limit
		c.Reserve = ReserveFor(limit, pools)
		if l := int(limit); l > c.Reserve {
			c.Allowed = l - c.Reserve
		} else {
			c.Allowed = max(l/2, 1)
		}
	}
	switch {
	case configured < 0:
	case configured > 0:
		c.Max = configured
		c.OverLimit = c.Allowed > 0 && configured > c.Allowed
	default:
		c.Auto = true
		c.Max = c.Allowed
	}
	return c
}
