package consumer

import (
	"context"
	"encoding/json"
	"testing"
)

// TestRefreshGroupsAfterDataLoss: a Redis restarted without persistence has
// no groups; RefreshGroups puts every open socket back into every group it
// held (connect-time and action-joined), and a closed socket into none.
func TestRefreshGroupsAfterDataLoss(t *testing.T) {
	e := newEnv(t, nil)
	a := e.mustDial("/ws/tasks/", aliceCookie)
	b := e.mustDial("/ws/tasks/", "sessionid=bob")
	for _, c := range []struct {
		conn interface{ WriteMessage(int, []byte) error }
		task string
	}{{a, "t1"}, {b, "t2"}} {
		msg, _ := json.Marshal(map[string]string{"action": "subscribe", "task_id": c.task})
		if err := c.conn.WriteMessage(1, msg); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "both subscriptions", func() bool {
		return len(e.layer.members("task_t1")) == 1 && len(e.layer.members("task_t2")) == 1
	})
	want := map[string][]string{}
	for _, g := range e.layer.groupNames() {
		want[g] = e.layer.members(g)
	}
	if len(want) != 4 {
		t.Fatalf("groups before = %v, want user_7, user_8, task_t1, task_t2", want)
	}

	// Redis lost everything; bob's socket closes meanwhile.
	e.layer.mu.Lock()
	clear(e.layer.groups)
	e.layer.mu.Unlock()
	_ = b.Close()
	eventually(t, "bob's socket gone", func() bool { return e.srv.OpenSockets() == 1 })

	added, failed := e.srv.RefreshGroups(context.Background())
	if added != 2 || failed != 0 {
		t.Fatalf("RefreshGroups = %d added, %d failed; want 2, 0", added, failed)
	}
	got := map[string][]string{}
	for _, g := range e.layer.groupNames() {
		got[g] = e.layer.members(g)
	}
	if len(got) != 2 || len(got["user_7"]) != 1 || len(got["task_t1"]) != 1 ||
		got["user_7"][0] != want["user_7"][0] || got["task_t1"][0] != want["task_t1"][0] {
		t.Fatalf("groups after refresh = %v, want alice's user_7 and task_t1 only (before: %v)", got, want)
	}
}

func TestRefreshGroupsCountsFailures(t *testing.T) {
	e := newEnv(t, nil)
	e.mustDial("/ws/tasks/", aliceCookie)
	eventually(t, "socket registered", func() bool { return len(e.layer.members("user_7")) == 1 })
	e.layer.fail.Store(true)
	added, failed := e.srv.RefreshGroups(context.Background())
	e.layer.fail.Store(false)
	if added != 1 || failed != 1 {
		t.Fatalf("RefreshGroups with the layer down = %d added, %d failed; want 1, 1", added, failed)
	}
}
