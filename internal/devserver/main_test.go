package devserver

import (
	"net"
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// redisURL returns REDIS_URL; tests needing a real Redis skip when it is
// unset and fail when it is set but unreachable.
func redisAddr(t *testing.T) string {
	t.Helper()
	u := os.Getenv("REDIS_URL")
	if u == "" {
		t.Skip("REDIS_URL not set")
	}
	host := u
	if i := len("redis://"); len(u) > i && u[:i] == "redis://" {
		host = u[i:]
	}
	for i := 0; i < len(host); i++ {
		if host[i] == '/' {
			host = host[:i]
			break
		}
	}
	if _, _, err := net.SplitHostPort(host); err != nil {
		t.Fatalf("REDIS_URL %q: %v", u, err)
	}
	c, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatalf("REDIS_URL is set but Redis is unreachable: %v", err)
	}
	_ = c.Close()
	return host
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}
