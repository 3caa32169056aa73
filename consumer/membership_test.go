package consumer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/laurel-server/laurel/channelsproto"
)

func processMode(c *Config) { c.GroupMembership = MembershipProcess }

// socketChannels returns the channel of every open socket.
func (e *env) socketChannels() []string {
	e.srv.mu.RLock()
	defer e.srv.mu.RUnlock()
	var out []string
	for ch := range e.srv.sockets {
		out = append(out, ch)
	}
	return out
}

func subscribe(t *testing.T, c *websocket.Conn, task string) {
	t.Helper()
	if err := c.WriteJSON(map[string]any{"action": "subscribe", "task_id": task}); err != nil {
		t.Fatal(err)
	}
}

// subscribers counts the local subscribers of a shared group.
func (e *env) subscribers(group string) int {
	e.srv.hub.mu.RLock()
	defer e.srv.hub.mu.RUnlock()
	if g := e.srv.hub.byName[group]; g != nil {
		return len(g.members)
	}
	return 0
}

func TestParseGroupMembership(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"socket", "process"} {
		if m, err := ParseGroupMembership(s); err != nil || string(m) != s {
			t.Errorf("ParseGroupMembership(%q) = %q, %v", s, m, err)
		}
	}
	for _, s := range []string{"", "Process", "sockets", "per_socket"} {
		if _, err := ParseGroupMembership(s); err == nil {
			t.Errorf("ParseGroupMembership(%q) accepted", s)
		}
	}
	_, err := New(Config{Layer: newFakeLayer(), Authenticator: &fakeAuth{}, GroupMembership: "shared"})
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("New with GroupMembership \"shared\": %v, want ErrConfig", err)
	}
}

// In process mode a group has one member per Server whatever the number of
// local subscribers, every subscriber gets each event once, and the member
// goes with the last subscriber.
func TestProcessMembershipSharesOneChannel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, processMode)
	a := e.mustDial("/ws/tasks/", aliceCookie)
	b := e.mustDial("/ws/tasks/", aliceCookie)
	c := e.mustDial("/ws/tasks/", "sessionid=bob")
	for _, conn := range []*websocket.Conn{a, b, c} {
		subscribe(t, conn, "t1")
	}
	eventually(t, "three subscribers", func() bool { return e.subscribers("task_t1") == 3 })
	members := e.layer.members("task_t1")
	if len(members) != 1 {
		t.Fatalf("task_t1 members %v, want one channel", members)
	}
	if slices.Contains(e.socketChannels(), members[0]) {
		t.Fatalf("task_t1's member %s is a socket's channel, want the group's own", members[0])
	}
	if m := e.layer.members("user_7"); len(m) != 1 {
		t.Fatalf("user_7 members %v, want one channel for alice's two sockets", m)
	}
	if got := counterValue(t, e.reg, "laurel_shared_groups", nil); got != 3 {
		t.Fatalf("laurel_shared_groups = %v, want 3 (user_7, user_8, task_t1)", got)
	}

	ev := channelsproto.Map{{Key: "type", Value: "task.update"}, {Key: "task_id", Value: "t1"}, {Key: "progress", Value: int64(1)}}
	want := `{"type": "task_update", "task_id": "t1", "progress": 1}`
	e.layer.groupSend("task_t1", ev)
	for _, conn := range []*websocket.Conn{a, b, c} {
		if got := readText(t, conn); got != want {
			t.Fatalf("frame %s, want %s", got, want)
		}
	}

	// b leaves: the member stays for a and c, and b gets nothing more.
	if err := b.WriteJSON(map[string]any{"action": "unsubscribe", "task_id": "t1"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b unsubscribed", func() bool { return e.subscribers("task_t1") == 2 })
	if m := e.layer.members("task_t1"); !slices.Equal(m, members) {
		t.Fatalf("task_t1 members %v after one of three left, want %v", m, members)
	}
	ev[2].Value = int64(2)
	e.layer.groupSend("task_t1", ev)
	e.layer.groupSend("user_7", channelsproto.Map{{Key: "type", Value: "user.message"}, {Key: "text", Value: "hi"}})
	for _, conn := range []*websocket.Conn{a, c} {
		if got := readText(t, conn); got != `{"type": "task_update", "task_id": "t1", "progress": 2}` {
			t.Fatalf("frame %s", got)
		}
	}
	// b's next frame is the user_7 message, not the task update.
	if got := readText(t, b); got != `{"type": "user_message", "text": "hi"}` {
		t.Fatalf("b read %s, want only the user_7 message", got)
	}
	if got := readText(t, a); got != `{"type": "user_message", "text": "hi"}` {
		t.Fatalf("a read %s, want the user_7 message", got)
	}

	// Every socket closes: every member is discarded and its channel released.
	for _, conn := range []*websocket.Conn{a, b, c} {
		_ = conn.Close()
	}
	eventually(t, "every group left", func() bool { return len(e.layer.groupNames()) == 0 })
	eventually(t, "sockets unregistered", func() bool { return e.srv.OpenSockets() == 0 })
	released := e.layer.releasedChannels()
	if !slices.Contains(released, members[0]) {
		t.Fatalf("released %v, want task_t1's channel %s among them", released, members[0])
	}
	if got := counterValue(t, e.reg, "laurel_shared_groups", nil); got != 0 {
		t.Fatalf("laurel_shared_groups = %v after every socket closed, want 0", got)
	}
}

// A socket named twice in one message (its group's channel, and its own
// channel added to the same group by Python) gets the event once.
func TestProcessMembershipDeliversOncePerSocket(t *testing.T) {
	t.Parallel()
	e := newEnv(t, processMode)
	a := e.mustDial("/ws/tasks/", aliceCookie)
	subscribe(t, a, "d")
	eventually(t, "subscribed", func() bool { return e.subscribers("task_d") == 1 })
	own := e.socketChannels()[0]
	if err := e.layer.GroupAdd(context.Background(), "task_d", own); err != nil {
		t.Fatal(err)
	}
	if n := len(e.layer.members("task_d")); n != 2 {
		t.Fatalf("task_d has %d members, want 2", n)
	}
	e.layer.groupSend("task_d", channelsproto.Map{{Key: "type", Value: "task.update"}, {Key: "n", Value: int64(1)}})
	e.srv.Deliver([]string{own}, channelsproto.Map{{Key: "type", Value: "task.update"}, {Key: "n", Value: int64(2)}}, time.Now())
	for _, want := range []string{`{"type": "task_update", "n": 1}`, `{"type": "task_update", "n": 2}`} {
		if got := readText(t, a); got != want {
			t.Fatalf("read %s, want %s (each event once)", got, want)
		}
	}
}

// A failed group_add fails every subscriber waiting for it and leaves
// nothing behind; the next subscribe tries again.
func TestProcessMembershipAddFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, processMode)
	a := e.mustDial("/ws/tasks/", aliceCookie)
	e.layer.fail.Store(true)
	subscribe(t, a, "f")
	got := readText(t, a)
	if want := fmt.Sprintf(`"error": %q`, ErrCodeLayerUnavailable); !strings.Contains(got, want) {
		t.Fatalf("frame %s, want an error with %s", got, want)
	}
	if n := e.subscribers("task_f"); n != 0 {
		t.Fatalf("task_f has %d subscribers after a failed add", n)
	}
	e.layer.fail.Store(false)
	subscribe(t, a, "f")
	eventually(t, "subscribed after recovery", func() bool { return len(e.layer.members("task_f")) == 1 })
	e.layer.groupSend("task_f", channelsproto.Map{{Key: "type", Value: "task.update"}})
	if got := readText(t, a); got != `{"type": "task_update"}` {
		t.Fatalf("frame %s", got)
	}
}

// slowLayer delays every GroupAdd and GroupDiscard, so that joins and leaves
// overlap the calls in flight.
type slowLayer struct {
	*fakeLayer
	delay time.Duration
}

func (l slowLayer) GroupAdd(ctx context.Context, group, channel string) error {
	time.Sleep(time.Duration(rand.Int64N(int64(l.delay))))
	return l.fakeLayer.GroupAdd(ctx, group, channel)
}

func (l slowLayer) GroupDiscard(ctx context.Context, group, channel string) error {
	time.Sleep(time.Duration(rand.Int64N(int64(l.delay))))
	return l.fakeLayer.GroupDiscard(ctx, group, channel)
}

// Joins and leaves racing on a few groups, with slow layer calls, end with
// exactly the memberships of the subscribers left, and none once they leave.
func TestProcessMembershipConcurrentJoinsAndLeaves(t *testing.T) {
	t.Parallel()
	fl := newFakeLayer()
	srv, err := New(Config{Layer: slowLayer{fl, 2 * time.Millisecond}, Authenticator: &fakeAuth{},
		GroupMembership: MembershipProcess})
	if err != nil {
		t.Fatal(err)
	}
	groups := []string{"g0", "g1", "g2"}
	const workers, rounds = 16, 60
	var wg sync.WaitGroup
	kept := make([]*socket, workers) // each worker ends subscribed to g0 with its own socket
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sk := &socket{srv: srv, channel: fmt.Sprintf("sock%d", w)}
			ctx := context.Background()
			for range rounds {
				g := groups[rand.IntN(len(groups))]
				if err := srv.addMember(ctx, g, sk); err != nil {
					t.Errorf("addMember: %v", err)
					return
				}
				if err := srv.dropMember(ctx, g, sk); err != nil {
					t.Errorf("dropMember: %v", err)
					return
				}
			}
			if err := srv.addMember(ctx, "g0", sk); err != nil {
				t.Errorf("addMember: %v", err)
			}
			kept[w] = sk
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if m := fl.members("g0"); len(m) != 1 {
		t.Fatalf("g0 members %v, want exactly the shared channel", m)
	}
	for _, g := range groups[1:] {
		if m := fl.members(g); len(m) != 0 {
			t.Fatalf("%s members %v after every subscriber left, want none", g, m)
		}
	}
	for _, sk := range kept {
		if err := srv.dropMember(context.Background(), "g0", sk); err != nil {
			t.Fatal(err)
		}
	}
	if names := fl.groupNames(); len(names) != 0 {
		t.Fatalf("groups %v left in the layer, want none", names)
	}
	if n := len(srv.hub.byName) + len(srv.hub.byChannel); n != 0 {
		t.Fatalf("hub holds %d entries, want none", n)
	}
}

// A subscriber that gives up waiting for the first subscriber's group_add
// (its ctx ends) leaves no membership behind once everyone is gone.
func TestProcessMembershipWaiterGivesUp(t *testing.T) {
	t.Parallel()
	fl := newFakeLayer()
	gate := make(chan struct{})
	srv, err := New(Config{Layer: gatedLayer{fl, gate}, Authenticator: &fakeAuth{}, GroupMembership: MembershipProcess})
	if err != nil {
		t.Fatal(err)
	}
	first, second := &socket{srv: srv, channel: "s1"}, &socket{srv: srv, channel: "s2"}
	done := make(chan error, 1)
	go func() { done <- srv.addMember(context.Background(), "g", first) }()
	eventually(t, "first add in flight", func() bool {
		srv.hub.mu.RLock()
		defer srv.hub.mu.RUnlock()
		return srv.hub.byName["g"] != nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := srv.addMember(ctx, "g", second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting subscriber: %v, want its deadline", err)
	}
	// The first subscriber leaves before its own add returned.
	left := make(chan error, 1)
	go func() { left <- srv.dropMember(context.Background(), "g", first) }()
	eventually(t, "the group forgotten while its add is in flight", func() bool {
		srv.hub.mu.RLock()
		defer srv.hub.mu.RUnlock()
		return srv.hub.byName["g"] == nil
	})
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-left; err != nil {
		t.Fatal(err)
	}
	if names := fl.groupNames(); len(names) != 0 {
		t.Fatalf("groups %v left in the layer, want none", names)
	}
}

// gatedLayer holds every GroupAdd until gate is closed.
type gatedLayer struct {
	*fakeLayer
	gate chan struct{}
}

func (l gatedLayer) GroupAdd(ctx context.Context, group, channel string) error {
	<-l.gate
	return l.fakeLayer.GroupAdd(ctx, group, channel)
}

// The periodic refresh and RefreshGroups re-add the shared channels, not the
// sockets' own.
func TestProcessMembershipRefresh(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) {
		processMode(c)
		c.GroupRefreshInterval = 20 * time.Millisecond
	})
	a := e.mustDial("/ws/tasks/", aliceCookie)
	b := e.mustDial("/ws/tasks/", aliceCookie)
	subscribe(t, a, "r")
	subscribe(t, b, "r")
	eventually(t, "subscribed", func() bool { return e.subscribers("task_r") == 2 })
	want := map[string][]string{"user_7": e.layer.members("user_7"), "task_r": e.layer.members("task_r")}
	// channels_redis' group_expiry (or a Redis restart) removes the members...
	for g, m := range want {
		if err := e.layer.GroupDiscard(context.Background(), g, m[0]); err != nil {
			t.Fatal(err)
		}
	}
	// ...and the Server's periodic refresh adds the same channels back.
	eventually(t, "memberships refreshed", func() bool {
		return slices.Equal(e.layer.members("user_7"), want["user_7"]) && slices.Equal(e.layer.members("task_r"), want["task_r"])
	})
	added, failed := e.srv.RefreshGroups(context.Background())
	if added != 2 || failed != 0 {
		t.Fatalf("RefreshGroups = %d, %d; want 2 shared groups re-added, 0 failed", added, failed)
	}
	for g, m := range want {
		if got := e.layer.members(g); !slices.Equal(got, m) {
			t.Fatalf("%s members %v after RefreshGroups, want %v", g, got, m)
		}
	}
}
