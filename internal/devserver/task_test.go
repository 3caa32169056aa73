package devserver

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/laurel-server/laurel/channelsproto"
)

// recorder is a GroupSender that records what it is sent.
type recorder struct {
	mu   sync.Mutex
	sent []sent
	err  error
}

type sent struct {
	group string
	msg   channelsproto.Map
	at    time.Time
}

func (r *recorder) GroupSend(_ context.Context, group string, msg channelsproto.Map) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.sent = append(r.sent, sent{group, msg, time.Now()})
	return nil
}

func (r *recorder) snapshot() []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sent(nil), r.sent...)
}

func TestRunTaskEvents(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	start := time.Now()
	plan := TaskPlan{Steps: 3, StepInterval: 20 * time.Millisecond, StartDelay: 50 * time.Millisecond}
	if err := RunTask(context.Background(), rec, "abc-1", plan); err != nil {
		t.Fatal(err)
	}
	got := rec.snapshot()
	want := []channelsproto.Map{UpdateEvent("abc-1", 1, 3), UpdateEvent("abc-1", 2, 3), UpdateEvent("abc-1", 3, 3), CompleteEvent("abc-1", 3)}
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	for i, s := range got {
		if s.group != "task_abc-1" || !reflect.DeepEqual(s.msg, want[i]) {
			t.Fatalf("event %d = %s %v, want task_abc-1 %v", i, s.group, s.msg, want[i])
		}
	}
	if d := got[0].at.Sub(start); d < plan.StartDelay {
		t.Fatalf("first event after %v, before the start delay %v", d, plan.StartDelay)
	}
	if d := got[3].at.Sub(got[0].at); d < 3*plan.StepInterval {
		t.Fatalf("events spread over %v, want at least %v", d, 3*plan.StepInterval)
	}
	// The seed's messages, field by field and in order.
	frame, err := channelsproto.MarshalPythonJSON(UpdateEvent("abc-1", 1, 3))
	if err != nil {
		t.Fatal(err)
	}
	if s := string(frame); s != `{"type": "task.update", "task_id": "abc-1", "status": "processing", "message": "Processing step 1 of 3...", "progress": 25}` {
		t.Fatalf("update event JSON = %s", s)
	}
	frame, _ = channelsproto.MarshalPythonJSON(CompleteEvent("abc-1", 3))
	if s := string(frame); s != `{"type": "task.complete", "task_id": "abc-1", "status": "completed", "message": "All done!", "result": {"steps": 3}}` {
		t.Fatalf("complete event JSON = %s", s)
	}
}

func TestRunTaskErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	if err := RunTask(context.Background(), &recorder{err: boom}, "x", TaskPlan{StartDelay: time.Millisecond}); !errors.Is(err, boom) {
		t.Fatalf("RunTask with a failing layer = %v, want boom", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := RunTask(ctx, &recorder{}, "x", TaskPlan{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("RunTask with a cancelled ctx = %v", err)
	}
}

// TestRunTaskThroughEmbeddedRedis runs a task through a real channelsproto
// Layer on laurel dev's embedded Redis and receives it on a member channel,
// as laurel does.
func TestRunTaskThroughEmbeddedRedis(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := StartRedis(ctx, freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cfg := channelsproto.Config{Hosts: []channelsproto.Host{{URL: r.URL()}}, Prefix: "devtest"}
	sender, err := channelsproto.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	receiver, err := channelsproto.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer receiver.Close()
	ch := receiver.NewChannel()
	if err := receiver.GroupAdd(ctx, TaskGroup("t1"), ch); err != nil {
		t.Fatal(err)
	}
	plan := TaskPlan{Steps: 2, StepInterval: time.Millisecond, StartDelay: time.Millisecond}
	if err := RunTask(ctx, sender, "t1", plan); err != nil {
		t.Fatal(err)
	}
	for _, want := range []channelsproto.Map{UpdateEvent("t1", 1, 2), UpdateEvent("t1", 2, 2), CompleteEvent("t1", 2)} {
		got, err := receiver.Receive(ctx, ch)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("received %v, want %v", got, want)
		}
	}
}
