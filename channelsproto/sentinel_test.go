package channelsproto

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestSentinelHost runs the layer through a real redis-sentinel that
// monitors a fresh redis-server (Python {"sentinels": ..., "master_name": ...}).
func TestSentinelHost(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	masterURL := startRedis(t)
	o, err := redis.ParseURL(masterURL)
	if err != nil {
		t.Fatal(err)
	}
	_, masterPort, _ := splitHostPort(o.Addr)
	port := freePort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor laurelmaster 127.0.0.1 %s 1\n", port, dir, masterPort)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("redis-sentinel", conf)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-sentinel: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	sentinelAddr := "127.0.0.1:" + strconv.Itoa(port)
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinelAddr})
	t.Cleanup(func() { _ = sc.Close() })
	eventually(t, "sentinel knows the master", func() bool {
		addr, err := sc.GetMasterAddrByName(context.Background(), "laurelmaster").Result()
		return err == nil && len(addr) == 2
	})
	cfg, err := ParseConfig([]byte(fmt.Sprintf(`{"hosts": [{"sentinels": [["127.0.0.1", %d]], "master_name": "laurelmaster"}], "prefix": "sent."}`, port)))
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	l := newTestLayer(t, cfg, WithDispatcher(rec))
	if err := l.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	ch := l.NewChannel()
	if err := l.GroupAdd(ctx, "sg", ch); err != nil {
		t.Fatal(err)
	}
	if err := l.GroupSend(ctx, "sg", Map{{Key: "type", Value: "via.sentinel"}}); err != nil {
		t.Fatal(err)
	}
	if d := rec.waitN(t, 1)[0]; d.Message.String("type") != "via.sentinel" {
		t.Fatalf("delivery %#v", d)
	}
	// The data really is on the monitored master.
	if n := rawClient(t, masterURL).Exists(ctx, "sent.:group:sg").Val(); n != 1 {
		t.Fatalf("group key not on the master (exists=%d)", n)
	}
}

func splitHostPort(addr string) (string, string, error) {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[:i], addr[i+1:], nil
		}
	}
	return addr, "", fmt.Errorf("no port in %q", addr)
}
