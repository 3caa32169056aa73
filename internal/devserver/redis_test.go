package devserver

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestStartRedisEmbeddedThenShared(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr := freeAddr(t)
	r, err := StartRedis(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.Embedded || r.Addr != addr || r.URL() != "redis://"+addr+"/0" {
		t.Fatalf("first StartRedis = %+v, want an embedded Redis on %s", r, addr)
	}
	// A second laurel dev finds the first one's Redis and uses it.
	r2, err := StartRedis(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	r2.Close() // no-op: not ours
	if r2.Embedded || r2.Addr != addr {
		t.Fatalf("second StartRedis = %+v, want the existing Redis", r2)
	}
	if ok, err := probeRedis(ctx, addr); !ok || err != nil {
		t.Fatalf("closing a shared Redis stopped it: %v %v", ok, err)
	}
	r.Close()
	r.Close()
}

func TestStartRedisUsesRealRedis(t *testing.T) {
	t.Parallel()
	addr := redisAddr(t)
	r, err := StartRedis(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Embedded {
		t.Fatalf("started an embedded Redis although one listens on %s", addr)
	}
}

func TestStartRedisPortTaken(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	_, err = StartRedis(context.Background(), ln.Addr().String())
	if !errors.Is(err, ErrPortTaken) || !strings.Contains(err.Error(), "HTTP/1.1 400") {
		t.Fatalf("StartRedis on an HTTP server: %v, want ErrPortTaken naming its answer", err)
	}
}
