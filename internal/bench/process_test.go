package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/laurel-server/laurel/channelsproto"
)

func TestProbed(t *testing.T) {
	t.Parallel()
	laurel, daphne := &Server{Name: "laurel"}, &Server{Name: "daphne"}
	for _, tc := range []struct {
		name                string
		backend, membership string
		srv                 *Server
		each, want          bool
	}{
		{"core, socket mode: memberships counted", BackendCore, MembershipSocket, laurel, false, false},
		{"core, process mode, one group: probed", BackendCore, MembershipProcess, laurel, false, true},
		{"core, process mode, a group per socket: memberships counted", BackendCore, MembershipProcess, laurel, true, false},
		{"core, Daphne on a process-mode stack: memberships counted", BackendCore, MembershipProcess, daphne, false, false},
		{"pub/sub: probed", BackendPubSub, MembershipSocket, daphne, true, true},
		{"pub/sub, process mode: probed", BackendPubSub, MembershipProcess, laurel, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := &Runner{Stack: &Stack{Backend: tc.backend, GroupMembership: tc.membership}}
			if got := r.probed(tc.srv, tc.each); got != tc.want {
				t.Errorf("probed = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCountedTasks(t *testing.T) {
	t.Parallel()
	laurel, daphne := &Server{Name: "laurel"}, &Server{Name: "daphne"}
	process := &Runner{Stack: &Stack{Backend: BackendCore, GroupMembership: MembershipProcess}}
	for _, tc := range []struct {
		name string
		r    *Runner
		srv  *Server
		each bool
		want []string
	}{
		{"process mode, one group", process, laurel, false, []string{"asgi:group:task_g"}},
		{"process mode, a group per socket", process, laurel, true,
			[]string{"asgi:group:task_g0", "asgi:group:task_g1", "asgi:group:task_g2"}},
		{"Daphne", process, daphne, false, nil},
		{"socket mode", &Runner{Stack: &Stack{Backend: BackendCore, GroupMembership: MembershipSocket}}, laurel, false, nil},
		{"pub/sub (subscribed channels are counted instead)",
			&Runner{Stack: &Stack{Backend: BackendPubSub, GroupMembership: MembershipProcess}}, laurel, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.r.countedTasks(tc.srv, "g", 3, tc.each); !slices.Equal(got, tc.want) {
				t.Errorf("countedTasks = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStormRefusedInProcessMode(t *testing.T) {
	t.Parallel()
	r := &Runner{Stack: &Stack{Backend: BackendCore, GroupMembership: MembershipProcess}, Log: slog.New(slog.DiscardHandler)}
	_, err := r.Storm(context.Background(), "storm-sqlite", &Server{Name: "laurel"}, 10, 10)
	if !errors.Is(err, ErrStormProcess) {
		t.Fatalf("Storm in process mode: %v, want ErrStormProcess", err)
	}
}

// TestLeftBehindProcessMode checks that in process mode a group membership
// left in a scenario's task group counts, above the scenario's baseline, and
// that socket mode keeps counting the user groups only.
func TestLeftBehindProcessMode(t *testing.T) {
	t.Parallel()
	rdb, url := testRedis(t)
	ctx := context.Background()
	user := int(time.Now().UnixNano()%1e6) + 1e6
	userKey := fmt.Sprintf("asgi:group:user_%d", user)
	group := uniq("lefttest")
	t.Cleanup(func() {
		rdb.Del(context.Background(), userKey, "asgi:group:task_"+group+"0", "asgi:group:task_"+group+"1")
	})
	// An earlier scenario left one user-group membership: the baseline.
	if err := rdb.ZAdd(ctx, userKey, redis.Z{Score: 1, Member: "specific.old!x"}).Err(); err != nil {
		t.Fatal(err)
	}
	laurel := &Server{Name: "laurel"}
	for _, tc := range []struct {
		membership string
		want       int64
	}{{MembershipProcess, 1}, {MembershipSocket, 0}} {
		r := &Runner{Stack: &Stack{RedisURL: url, Backend: BackendCore, GroupMembership: tc.membership, Users: []int{user}},
			Log: slog.New(slog.DiscardHandler)}
		t.Cleanup(func() { _ = r.Close() })
		r.taskKeys = r.countedTasks(laurel, group, 2, true)
		r.baseline = r.leftBehind(ctx)
		if r.baseline != 1 {
			t.Fatalf("%s: baseline %d, want 1 (the earlier user-group membership)", tc.membership, r.baseline)
		}
		if tc.membership == MembershipProcess {
			// The process channel of task group 1 was not discarded.
			if err := rdb.ZAdd(ctx, "asgi:group:task_"+group+"1", redis.Z{Score: 1, Member: "specific.p!g1"}).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if got := r.leftBehind(ctx) - r.baseline; got != tc.want {
			t.Errorf("%s: left behind %d, want %d", tc.membership, got, tc.want)
		}
	}
}

// processMember plays a laurel process in process mode: a core layer on
// url whose one channel, returned, is the member of task group.
func processMember(t *testing.T, url, group string) (*channelsproto.Layer, string) {
	t.Helper()
	proc, err := channelsproto.New(channelsproto.Config{Hosts: []channelsproto.Host{{URL: url}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proc.Close() })
	ch := proc.NewChannel()
	if err := proc.GroupAdd(context.Background(), "task_"+group, ch); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proc.GroupDiscard(context.Background(), "task_"+group, ch) })
	return proc, ch
}

// TestProbeProcessMode checks open's wait for laurel in process mode with the
// core layer: the probes go through channelsproto.Layer's GroupSend to the
// group's member (here one process channel, as laurel adds it), and the wait
// ends when the fleet reports every socket primed.
func TestProbeProcessMode(t *testing.T) {
	t.Parallel()
	_, url := testRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	group := uniq("probetest")
	proc, ch := processMember(t, url, group)

	const n = 3
	w := &worker{conn: make(chan Line, 1), final: make(chan Line, 1)}
	f := &Fleet{procs: []*worker{w}, firstConnect: time.Now().UnixNano()}
	got := make(chan channelsproto.Map, 1)
	go func() {
		msg, err := proc.Receive(ctx, ch)
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		got <- msg
		// laurel hands the probe to its n local subscribers.
		w.mu.Lock()
		w.last.Primed = n
		w.mu.Unlock()
	}()
	r := &Runner{Stack: &Stack{RedisURL: url, Backend: BackendCore, GroupMembership: MembershipProcess},
		Log: slog.New(slog.DiscardHandler)}
	t.Cleanup(func() { _ = r.Close() })
	srv := &Server{Name: "laurel"}
	if !r.probed(srv, false) {
		t.Fatal("process mode with one group is not probed")
	}
	o := &opened{fleet: f, connected: n}
	if err := r.probe(ctx, o, group, n, false); err != nil {
		t.Fatal(err)
	}
	if o.memberships != n {
		t.Fatalf("memberships %d, want %d", o.memberships, n)
	}
	msg := <-got
	if msg == nil {
		t.Fatal("no probe received")
	}
	fields := map[string]any{}
	for _, kv := range msg {
		fields[kv.Key] = kv.Value
	}
	if fields["type"] != "task.update" || fields["status"] != "probe" || fields["task_id"] != group {
		t.Errorf("probe = %v, want a task.update with status probe for task %s", fields, group)
	}
	if _, ok := fields["seq"]; ok {
		t.Errorf("probe %v has a seq: it would count as a delivery", fields)
	}
}

// TestPublishGoProcessModeHoldsBack checks the Go publisher's closed loop
// against laurel in process mode: laurel empties its inbox at once there, so
// the loop must hold back on the fleet's count of received frames, sending
// no more than goBacklog messages (plus one per sender in flight) ahead of
// what the fleet received.
func TestPublishGoProcessModeHoldsBack(t *testing.T) {
	t.Parallel()
	_, url := testRedis(t)
	group := uniq("gotest")
	proc, ch := processMember(t, url, group)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	// laurel drains its inbox as fast as messages come; the fleet receives
	// nothing.
	go func() {
		for {
			if _, err := proc.Receive(ctx, ch); err != nil {
				return
			}
		}
	}()
	w := &worker{conn: make(chan Line, 1), final: make(chan Line, 1)}
	f := &Fleet{procs: []*worker{w}}
	r := &Runner{Stack: &Stack{RedisURL: url, Backend: BackendCore, GroupMembership: MembershipProcess},
		Log: slog.New(slog.DiscardHandler)}
	t.Cleanup(func() { _ = r.Close() })
	const workers = 4
	st, err := r.PublishGo(ctx, group, 4*goBacklog, workers, f, 1)
	if err != nil {
		t.Fatal(err)
	}
	if st.Sent < goBacklog || st.Sent >= goBacklog+workers {
		t.Errorf("sent %d with nothing received, want %d to %d", st.Sent, goBacklog, goBacklog+workers-1)
	}
}
