package devserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// ErrPortTaken is returned by StartRedis when something that is not Redis
// listens on the requested address.
var ErrPortTaken = errors.New("devserver: the Redis port is taken by something that is not Redis")

// Redis is the Redis `laurel dev` uses: one already listening on the
// address, or an embedded miniredis started on it.
type Redis struct {
	// Addr is host:port.
	Addr string
	// Embedded is true when Redis is a miniredis owned by this process.
	Embedded bool
	mini     *miniredis.Miniredis
}

// URL returns redis://Addr/0.
func (r *Redis) URL() string { return "redis://" + r.Addr + "/0" }

// Close stops an embedded Redis; it does nothing for an external one. It is
// safe to call twice.
func (r *Redis) Close() {
	if r.mini != nil {
		r.mini.Close()
	}
}

// StartRedis uses the Redis listening on addr when one answers PING there,
// and otherwise starts an embedded miniredis listening on addr. Something
// else listening on addr gives ErrPortTaken. Cancelling ctx abandons the
// probe.
func StartRedis(ctx context.Context, addr string) (*Redis, error) {
	ok, err := probeRedis(ctx, addr)
	if err != nil {
		return nil, err
	}
	if ok {
		return &Redis{Addr: addr}, nil
	}
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr(addr); err != nil {
		return nil, fmt.Errorf("devserver: starting embedded Redis on %s: %w", addr, err)
	}
	return &Redis{Addr: m.Addr(), Embedded: true, mini: m}, nil
}

// probeRedis reports whether a Redis answers PING on addr: false with no
// error when nothing listens, ErrPortTaken when something else does.
func probeRedis(ctx context.Context, addr string) (bool, error) {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, nil
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return false, fmt.Errorf("%w (%s: %w)", ErrPortTaken, addr, err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	switch {
	case err == nil && strings.HasPrefix(line, "+PONG"):
		return true, nil
	case err == nil && (strings.HasPrefix(line, "-NOAUTH") || strings.HasPrefix(line, "-ERR") && strings.Contains(line, "auth")):
		return false, fmt.Errorf("devserver: the Redis on %s requires a password; pick another --redis-port", addr)
	default:
		return false, fmt.Errorf("%w (%s answered %q)", ErrPortTaken, addr, strings.TrimSpace(line))
	}
}
