//go:build linux

package netpoll

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newPoller(t *testing.T) *Poller {
	t.Helper()
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// pair returns both ends of a loopback TCP connection.
func pair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = server.Close(); _ = client.Close() })
	return server, client
}

func expectEvent(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("no event: %s", what)
	}
}

func expectNone(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("unexpected event: %s", what)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestReadinessAndRearm(t *testing.T) {
	t.Parallel()
	p := newPoller(t)
	srv, cli := pair(t)
	events := make(chan struct{}, 10)
	r, err := p.Add(srv.(*net.TCPConn), func() { events <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	expectNone(t, events, "idle connection")

	if _, err := cli.Write([]byte("ab")); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, events, "data arrived")
	// One-shot: unread data raises no second event until Rearm.
	expectNone(t, events, "before rearm")
	if err := r.Rearm(); err != nil {
		t.Fatal(err)
	}
	// Level-triggered once re-armed: the unread bytes report again.
	expectEvent(t, events, "unread data after rearm")

	buf := make([]byte, 2)
	if _, err := srv.Read(buf); err != nil {
		t.Fatal(err)
	}
	if err := r.Rearm(); err != nil {
		t.Fatal(err)
	}
	expectNone(t, events, "drained connection")

	// Peer hang-up is readiness too.
	_ = cli.Close()
	expectEvent(t, events, "peer closed")
}

func TestRemoveStopsEvents(t *testing.T) {
	t.Parallel()
	p := newPoller(t)
	srv, cli := pair(t)
	events := make(chan struct{}, 10)
	r, err := p.Add(srv.(*net.TCPConn), func() { events <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	if p.Len() != 1 {
		t.Fatalf("Len %d", p.Len())
	}
	if err := r.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove(); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	if err := r.Rearm(); err != nil {
		t.Fatalf("Rearm after Remove: %v", err)
	}
	if p.Len() != 0 {
		t.Fatalf("Len %d after Remove", p.Len())
	}
	if _, err := cli.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	expectNone(t, events, "removed registration")
}

// TestFDReuse closes a registered connection (after Remove) and registers a
// new one that may get the same descriptor number: only the new handler runs.
func TestFDReuse(t *testing.T) {
	t.Parallel()
	p := newPoller(t)
	oldEvents := make(chan struct{}, 10)
	newEvents := make(chan struct{}, 10)
	srv1, _ := pair(t)
	r1, err := p.Add(srv1.(*net.TCPConn), func() { oldEvents <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	if err := r1.Remove(); err != nil {
		t.Fatal(err)
	}
	_ = srv1.Close()

	srv2, cli2 := pair(t)
	r2, err := p.Add(srv2.(*net.TCPConn), func() { newEvents <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	if r2.id == r1.id {
		t.Fatal("registration id reused")
	}
	// The stale registration must not touch the new one.
	if err := r1.Rearm(); err != nil {
		t.Fatal(err)
	}
	if err := r1.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := cli2.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, newEvents, "new connection readable")
	expectNone(t, oldEvents, "old registration")
}

func TestManyConnections(t *testing.T) {
	t.Parallel()
	p := newPoller(t)
	const n = 50
	events := make(chan int, n)
	var clients []net.Conn
	for i := range n {
		srv, cli := pair(t)
		if _, err := p.Add(srv.(*net.TCPConn), func() { events <- i }); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, cli)
	}
	for _, c := range clients {
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[int]bool{}
	for len(seen) < n {
		select {
		case i := <-events:
			if seen[i] {
				t.Fatalf("connection %d reported twice without rearm", i)
			}
			seen[i] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d connections reported", len(seen), n)
		}
	}
}

func TestAddAfterClose(t *testing.T) {
	t.Parallel()
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := pair(t)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := p.Add(srv.(*net.TCPConn), func() {}); err == nil {
		t.Fatal("Add after Close succeeded")
	}
}

// TestHandlersDoNotWaitForEachOther blocks one handler: another connection's
// event still runs at once, on a worker of its own.
func TestHandlersDoNotWaitForEachOther(t *testing.T) {
	t.Parallel()
	p := newPoller(t)
	srvA, cliA := pair(t)
	srvB, cliB := pair(t)
	release := make(chan struct{})
	blocked := make(chan struct{}, 1)
	events := make(chan struct{}, 1)
	if _, err := p.Add(srvA.(*net.TCPConn), func() { blocked <- struct{}{}; <-release }); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Add(srvB.(*net.TCPConn), func() { events <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	if _, err := cliA.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, blocked, "first handler started")
	if _, err := cliB.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, events, "second handler while the first is blocked")
	close(release)
}

// TestWorkersAreReused runs handlers one after the other: they run on far
// fewer goroutines than events (one, unless an event came while the
// previous worker was between its handler and parking).
func TestWorkersAreReused(t *testing.T) {
	t.Parallel()
	p := newPoller(t)
	srv, cli := pair(t)
	events := make(chan struct{}, 1)
	r, err := p.Add(srv.(*net.TCPConn), func() {
		var b [1]byte
		_, _ = srv.Read(b[:])
		events <- struct{}{}
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	for range n {
		if _, err := cli.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		expectEvent(t, events, "data arrived")
		waitIdle(t, p)
		if err := r.Rearm(); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.started.Load(); got > n/2 {
		t.Fatalf("%d workers started for %d events", got, n)
	}
}

// waitIdle waits until some worker has finished its handler.
func waitIdle(t *testing.T, p *Poller) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for p.idle.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no idle worker")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCloseWaitsForHandlers: Close returns only once running handlers have.
func TestCloseWaitsForHandlers(t *testing.T) {
	t.Parallel()
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	srv, cli := pair(t)
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	var finished atomic.Bool
	if _, err := p.Add(srv.(*net.TCPConn), func() {
		started <- struct{}{}
		<-release
		finished.Store(true)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, started, "handler started")
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	}()
	expectNone(t, closed, "Close while a handler runs")
	close(release)
	expectEvent(t, closed, "Close after the handler returned")
	if !finished.Load() {
		t.Fatal("Close returned before the handler did")
	}
}

// TestAddRaw registers through a syscall.RawConn the caller already holds.
func TestAddRaw(t *testing.T) {
	t.Parallel()
	p := newPoller(t)
	srv, cli := pair(t)
	rc, err := srv.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan struct{}, 1)
	r, err := p.AddRaw(rc, func() { events <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, events, "data arrived")
	if err := r.Remove(); err != nil {
		t.Fatal(err)
	}
}
