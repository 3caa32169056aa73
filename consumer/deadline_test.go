package consumer

import (
	"context"
	"testing"
	"time"
)

// TestSharedDeadline: calls close together share one context whose
// deadline is within [timeout, timeout+slack] of each call; later calls get
// a new one; the context ends on its own at its deadline.
func TestSharedDeadline(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	d := newSharedDeadline(timeout)
	before := time.Now()
	a := d.ctx()
	b := d.ctx()
	after := time.Now()
	if a != b {
		t.Fatal("calls in the same instant got different contexts")
	}
	dl, ok := a.Deadline()
	if !ok {
		t.Fatal("no deadline")
	}
	if dl.Before(before.Add(timeout)) || dl.After(after.Add(timeout+d.slack)) {
		t.Fatalf("deadline %v after the calls, want within [%v, %v]", dl.Sub(before), timeout, timeout+d.slack)
	}
	time.Sleep(2 * d.slack)
	c := d.ctx()
	if c == a {
		t.Fatal("a call after the slack window got the old context")
	}
	select {
	case <-a.Done():
		if a.Err() != context.DeadlineExceeded {
			t.Fatalf("err %v", a.Err())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the shared context never ended")
	}
	if since := time.Since(before); since < timeout {
		t.Fatalf("ended after %v, before its timeout", since)
	}
}

// BenchmarkSharedDeadline is the per-handshake cost of the bound.
func BenchmarkSharedDeadline(b *testing.B) {
	d := newSharedDeadline(5 * time.Second)
	b.ReportAllocs()
	for b.Loop() {
		if d.ctx() == nil {
			b.Fatal("nil")
		}
	}
}
