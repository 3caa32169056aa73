package consumer

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// blockingAuth blocks the cookies listed in hold until release is closed,
// and names the cookie in the verdict.
type blockingAuth struct {
	hold    map[string]bool
	started chan string
	release chan struct{}
}

func (a *blockingAuth) Authenticate(ctx context.Context, cookie string) Verdict {
	a.started <- cookie
	if a.hold[cookie] {
		select {
		case <-a.release:
		case <-ctx.Done():
			return Verdict{Reason: ReasonStoreUnavailable}
		}
	}
	return Verdict{Authenticated: true, UserID: cookie, Reason: "ok"}
}

// TestAuthPoolNeverQueues: a call stuck in the session store does not delay
// the next one.
func TestAuthPoolNeverQueues(t *testing.T) {
	t.Parallel()
	a := &blockingAuth{hold: map[string]bool{"slow": true}, started: make(chan string, 4), release: make(chan struct{})}
	p := newAuthPool(a)
	defer p.close()
	slow := make(chan Verdict, 1)
	go func() { slow <- p.authenticate(context.Background(), "slow") }()
	if got := <-a.started; got != "slow" {
		t.Fatalf("started %q", got)
	}
	done := make(chan Verdict, 1)
	go func() { done <- p.authenticate(context.Background(), "fast") }()
	select {
	case v := <-done:
		if v.UserID != "fast" || !v.Authenticated {
			t.Fatalf("verdict %+v", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a call waited for a blocked one")
	}
	close(a.release)
	if v := <-slow; v.UserID != "slow" {
		t.Fatalf("verdict %+v", v)
	}
}

// TestAuthPoolReusesWorkers: calls one after the other run on far fewer
// goroutines than calls, and every caller gets its own verdict.
func TestAuthPoolReusesWorkers(t *testing.T) {
	t.Parallel()
	p := newAuthPool(&fakeAuth{verdicts: map[string]Verdict{"a": {Authenticated: true, UserID: "1"}}})
	defer p.close()
	const n = 50
	for i := range n {
		cookie := "a"
		if i%2 == 1 {
			cookie = "b"
		}
		v := p.authenticate(context.Background(), cookie)
		if want := cookie == "a"; v.Authenticated != want {
			t.Fatalf("call %d (%s): verdict %+v", i, cookie, v)
		}
		eventually(t, "the worker to be idle", func() bool { return p.idle.Load() > 0 })
	}
	if got := p.started.Load(); got > n/2 {
		t.Fatalf("%d workers for %d calls", got, n)
	}
}

// TestAuthPoolConcurrentVerdicts: many concurrent callers each get the
// verdict of their own cookie (no mix-up between pooled jobs).
func TestAuthPoolConcurrentVerdicts(t *testing.T) {
	t.Parallel()
	verdicts := map[string]Verdict{}
	for _, c := range []string{"u1", "u2", "u3", "u4"} {
		verdicts[c] = Verdict{Authenticated: true, UserID: c}
	}
	p := newAuthPool(&fakeAuth{verdicts: verdicts})
	defer p.close()
	var wg sync.WaitGroup
	errs := make(chan string, 400)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				c := []string{"u1", "u2", "u3", "u4"}[(g+i)%4]
				if v := p.authenticate(context.Background(), c); v.UserID != c {
					errs <- c + " got " + v.UserID
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestAuthPoolClose ends the workers (goleak checks at the end of the run);
// calls after close still authenticate, on the caller's goroutine.
func TestAuthPoolClose(t *testing.T) {
	t.Parallel()
	p := newAuthPool(&fakeAuth{verdicts: map[string]Verdict{"a": {Authenticated: true, UserID: "1"}}})
	if v := p.authenticate(context.Background(), "a"); !v.Authenticated {
		t.Fatalf("verdict %+v", v)
	}
	p.close()
	p.close()
	if p.idle.Load() != 0 {
		t.Fatalf("%d idle workers after close", p.idle.Load())
	}
	before := p.started.Load()
	if v := p.authenticate(context.Background(), "a"); !v.Authenticated {
		t.Fatalf("verdict after close %+v", v)
	}
	if p.started.Load() != before {
		t.Fatal("a worker started after close")
	}
}

// TestAuthPoolIdleWorkersEnd: a worker left idle for authIdleTimeout ends,
// so sockets at rest hold no authentication stacks.
func TestAuthPoolIdleWorkersEnd(t *testing.T) {
	t.Parallel()
	p := newAuthPool(&fakeAuth{verdicts: map[string]Verdict{"a": {Authenticated: true, UserID: "1"}}})
	defer p.close()
	p.authenticate(context.Background(), "a")
	eventually(t, "the worker to park", func() bool { return p.idle.Load() == 1 })
	start := time.Now()
	eventually(t, "the idle worker to end", func() bool { return p.idle.Load() == 0 })
	if d := time.Since(start); d < authIdleTimeout/2 {
		t.Fatalf("the worker ended after %v, before its idle timeout", d)
	}
}

// warmWriter marks a net/http ResponseWriter as served on a reused
// goroutine.
type warmWriter struct{ http.ResponseWriter }

func (warmWriter) WarmGoroutine() {}

func (w warmWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// TestWarmGoroutineAuthenticatesInline: a handshake whose ResponseWriter is
// a WarmGoroutine is authenticated on its own goroutine, any other on the
// auth workers; both get the same verdicts.
func TestWarmGoroutineAuthenticatesInline(t *testing.T) {
	t.Parallel()
	for _, warm := range []bool{true, false} {
		t.Run(fmt.Sprintf("warm=%v", warm), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			if warm {
				// newEnv's cleanup closes e.http, this one then.
				plain := e.http
				t.Cleanup(plain.Close)
				e.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					e.srv.ServeHTTP(warmWriter{w}, r)
				}))
			}
			c := e.mustDial("/ws/tasks/", aliceCookie)
			if err := c.WriteJSON(map[string]any{"action": "subscribe", "task_id": "w"}); err != nil {
				t.Fatal(err)
			}
			eventually(t, "task_w membership", func() bool { return len(e.layer.members("task_w")) == 1 })
			if _, status, err := e.dial("/ws/tasks/", "sessionid=nobody"); err == nil || status != http.StatusForbidden {
				t.Fatalf("unknown session: status %d, err %v", status, err)
			}
			started := e.srv.auths.started.Load()
			if warm && started != 0 || !warm && started == 0 {
				t.Fatalf("%d auth workers started", started)
			}
		})
	}
}
