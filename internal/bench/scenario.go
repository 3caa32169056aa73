package bench

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/laurel-server/laurel/channelsproto"
)

// Result is one scenario run against one server. Values are keyed by
// metric name (see the Metric* constants); Note explains anything odd.
type Result struct {
	Scenario string             `json:"scenario"`
	Server   string             `json:"server"`
	Values   map[string]float64 `json:"values"`
	Note     string             `json:"note,omitempty"`
	// Start is when the run began (UTC, RFC 3339) and Seconds how long it
	// took; Load1Start and Load1End the machine's 1-minute load average
	// then and at the end (set by compare).
	Start      string  `json:"start,omitempty"`
	Seconds    float64 `json:"seconds,omitempty"`
	Load1Start float64 `json:"load1_start,omitempty"`
	Load1End   float64 `json:"load1_end,omitempty"`
	// Profile summarizes laurel's CPU profile during the run (compare
	// -pprof-dir), as `go tool pprof -top -cum` rows.
	Profile string `json:"profile,omitempty"`
}

// Metric names used in Result.Values.
const (
	MetricSockets      = "sockets"
	MetricConnected    = "connected"
	MetricFailures     = "failures"
	MetricPublished    = "published"
	MetricExpected     = "expected"
	MetricDelivered    = "delivered"
	MetricLost         = "lost"
	MetricOutOfOrder   = "out_of_order"
	MetricP50          = "p50_ms"
	MetricP99          = "p99_ms"
	MetricMax          = "max_ms"
	MetricDeliveriesPS = "deliveries_per_s"
	MetricConnectsPS   = "connects_per_s"
	MetricHandshakeP99 = "handshake_p99_ms"
	MetricRSSPerSocket = "rss_per_socket_kb"
	MetricRSS          = "rss_mb"
	MetricCPU          = "cpu_pct"
	MetricGoroutines   = "goroutines"
	MetricThreads      = "threads"
	MetricClosed       = "closed_by_server"
	// MetricServerP99 is the upper bound (ms) of the
	// laurel_delivery_latency_seconds bucket holding the p99 of the run's
	// deliveries: the part of the latency spent inside laurel, from
	// receiving the message from Redis to writing the frame.
	MetricServerP99 = "server_p99_ms_le"
	// MetricRetried counts setup handshakes tried again after a 503.
	MetricRetried = "handshakes_retried"
	// MetricLeftBehind counts what the scenario's closed sockets left in
	// Redis (Runner.LeftBehind).
	MetricLeftBehind = "left_behind"
	// MetricDropped counts sockets that failed without a close frame
	// during the run.
	MetricDropped = "dropped"
	// MetricSendP50 and MetricSendP99 are the publisher's group_send call
	// durations in ms, included in the latency figures.
	MetricSendP50 = "publish_call_p50_ms"
	MetricSendP99 = "publish_call_p99_ms"
	// MetricHeapPerSocket and MetricStackPerSocket are a Go server's heap in
	// use and goroutine stacks in use, in KB per socket (all of it, not the
	// growth: an upper bound).
	MetricHeapPerSocket  = "heap_inuse_per_socket_kb"
	MetricStackPerSocket = "stack_inuse_per_socket_kb"
	// Per-process and per-machine figures of the idle scenarios: the server's
	// processes, the most sockets and the largest RSS (MB) of one of them;
	// the client processes and their RSS; Redis' RSS; and the sum of all
	// these processes' RSS (MB).
	MetricServerProcs    = "server_procs"
	MetricMaxProcSockets = "max_sockets_per_proc"
	MetricMaxProcRSS     = "max_rss_per_proc_mb"
	MetricClientProcs    = "client_procs"
	MetricClientRSS      = "client_rss_mb"
	MetricRedisRSS       = "redis_rss_mb" //nolint:gosec // a metric name, not a credential
	MetricMachineRSS     = "machine_rss_mb"
	MetricClientCPU      = "client_cpu_pct"
	// MetricRedisCPU and MetricDBCPU are Redis' and PostgreSQL's (postmaster
	// and backends) CPU during a connect storm, in % of one core.
	MetricRedisCPU = "redis_cpu_pct" //nolint:gosec // a metric name, not a credential
	MetricDBCPU    = "db_cpu_pct"
	// MetricServerMSPerConnect and MetricTotalMSPerConnect are the CPU time
	// one connect cost during a storm, in ms: the server's, and that of the
	// server, the database, Redis and the clients together.
	MetricServerMSPerConnect = "server_cpu_ms_per_connect"
	MetricTotalMSPerConnect  = "total_cpu_ms_per_connect"
	// MetricClientMSPerConnect is the client processes' CPU time per
	// connect during a storm, in ms (the load generator's own cost).
	MetricClientMSPerConnect = "client_cpu_ms_per_connect"
	// MetricInFlight is a connect storm's handshakes in flight per client
	// process.
	MetricInFlight = "in_flight"
)

// Runner runs scenarios on a Stack.
type Runner struct {
	Stack *Stack
	// Exe is the laurel-bench binary (client processes).
	Exe string
	// Root and Python locate publish.py and its interpreter.
	Root, Python string
	// PerProc bounds sockets per client process (FleetSpec.PerProc).
	PerProc int
	// ClientProfile, when not empty, makes the client processes of the
	// scenarios run next write CPU profiles (FleetSpec.CPUProfile).
	ClientProfile string
	Log           *slog.Logger
	rdb           *redis.Client
	ps            *channelsproto.PubSubLayer
	core          *channelsproto.Layer
	// taskKeys are the Redis keys of the task groups of the scenario
	// running on laurel in process mode: leftBehind counts their members
	// too (see leftBehind).
	taskKeys []string
	// baseline is leftBehind when the scenario began; leftover what the
	// scenario left above it after settle.
	baseline, leftover int64
}

func (r *Runner) redis() *redis.Client {
	if r.rdb == nil {
		o, _ := redis.ParseURL(r.Stack.RedisURL)
		r.rdb = redis.NewClient(o)
	}
	return r.rdb
}

// setupConcurrency is the handshakes in flight per client process when
// opening sockets for a scenario that does not measure connecting: Daphne
// (Twisted's default listen backlog of 50) resets connections beyond it.
const setupConcurrency = 25

// setupRetry503 is how often a setup connect refused with 503 is retried
// (ClientConfig.Retry503); the retries are reported.
const setupRetry503 = 3

// drainMax bounds the wait for frames after the last publish: frames
// arriving later count as lost.
const drainMax = 3 * time.Minute

// drainQuiet ends the wait early when no frame arrived for this long.
const drainQuiet = 30 * time.Second

func uniq(tag string) string { return fmt.Sprintf("%s%d-", tag, time.Now().UnixNano()%1e9) }

// opened is a fleet whose sockets are all subscribed.
type opened struct {
	fleet     *Fleet
	connected int
	failed    int
	// start is when open began (before the client processes were started).
	start time.Time
	// subscribed is the time from the fleet's first handshake
	// (Fleet.FirstConnect) to the last membership seen: where memberships
	// are counted (Runner.probed), the return of the first membership poll
	// (memberPoll) that saw the final count of memberships in Redis, so at
	// most one poll interval plus one ZCARD round trip after that
	// membership became visible; where sockets are probed (the pub/sub
	// layer, laurel's process mode with a shared group), the first look at
	// the fleet's progress that showed the last probed socket
	// (Runner.probe).
	subscribed  time.Duration
	memberships int
}

// memberPoll is the interval between two counts of one group's
// memberships while sockets subscribe (one ZCARD): small against a storm
// (1.5 s for 10,000 sockets on laurel), so the storm's clock is exact to
// within this. memberPollEach is that of the many-groups form (one
// pipeline of a ZCARD per group), which is not timed.
const (
	memberPoll     = 5 * time.Millisecond
	memberPollEach = 20 * time.Millisecond
)

// membersQuiet ends the wait for memberships when their count has not grown
// for this long after every socket was attempted.
const membersQuiet = 15 * time.Second

func (r *Runner) members(ctx context.Context, group string, n int, each bool) (int, error) {
	if !each {
		c, err := r.redis().ZCard(ctx, "asgi:group:task_"+group).Result()
		return int(c), err
	}
	total := 0
	for lo := 0; lo < n; lo += 5000 {
		p := r.redis().Pipeline()
		var cmds []*redis.IntCmd
		for i := lo; i < min(lo+5000, n); i++ {
			cmds = append(cmds, p.ZCard(ctx, "asgi:group:task_"+group+strconv.Itoa(i)))
		}
		if _, err := p.Exec(ctx); err != nil {
			return 0, err
		}
		for _, c := range cmds {
			total += int(c.Val())
		}
	}
	return total, nil
}

// open connects n sockets to srv and waits until the server has put every
// one of them in its task group: its membership visible in Redis, or where
// Redis does not show it (Runner.probed), a probe event received.
//
// retry503 is ClientConfig.Retry503: setup connects retry, connect storms
// (which measure refusals) do not.
func (r *Runner) open(ctx context.Context, srv *Server, n int, group string, each bool, conc int, sourceIPs bool, retry503 int) (*opened, error) {
	r.taskKeys = r.countedTasks(srv, group, n, each)
	r.baseline, r.leftover = r.leftBehind(ctx), 0
	o := &opened{start: time.Now()}
	f, err := StartFleet(ctx, FleetSpec{Exe: r.Exe, URL: srv.URL("/ws/tasks/"), Origin: srv.Origin(),
		CookiesPath: r.Stack.CookiesPath, N: n, PerProc: r.PerProc, Group: group, Each: each,
		Concurrency: conc, SourceIPs: sourceIPs, Retry503: retry503, CPUProfile: r.ClientProfile})
	if err != nil {
		return nil, err
	}
	o.fleet = f
	if r.probed(srv, each) {
		o.connected, o.failed, err = f.WaitConnected(ctx)
		if err == nil {
			err = r.probe(ctx, o, group, n, each)
		}
		if err != nil {
			f.Stop()
			return nil, err
		}
		r.Log.Info("sockets open", "server", srv.Name, "connected", o.connected, "failed", o.failed,
			"probed", o.memberships, "in", o.subscribed.Round(time.Millisecond))
		return o, nil
	}
	if err := r.waitMembers(ctx, o, group, n, each); err != nil {
		f.Stop()
		return nil, err
	}
	r.Log.Info("sockets open", "server", srv.Name, "connected", o.connected, "failed", o.failed,
		"subscribed", o.memberships, "in", o.subscribed.Round(time.Millisecond),
		"since_fleet_start", (o.subscribed + o.fleet.FirstConnect().Sub(o.start)).Round(time.Millisecond))
	return o, nil
}

// process reports whether srv is laurel serving in process mode
// (MembershipProcess): a group's members in Redis are then laurel's
// processes, one channel per process and group, not its sockets.
func (r *Runner) process(srv *Server) bool {
	return srv.Name == "laurel" && r.Stack.GroupMembership == MembershipProcess
}

// probed reports whether open waits for srv's sockets by probing
// (Runner.probe) rather than by counting memberships in Redis
// (Runner.waitMembers): with the pub/sub layer, which keeps no membership in
// Redis, and in process mode when the sockets share one group, whose member
// count is then that of laurel's processes. In process mode with a group per
// socket (each), every group has exactly one member, the channel of the
// process serving its socket, and counting them still tells when every
// socket is subscribed.
func (r *Runner) probed(srv *Server, each bool) bool {
	return r.Stack.Backend == BackendPubSub || (r.process(srv) && !each)
}

// countedTasks are the Redis keys of the task group(s) open subscribes n
// sockets of srv to, when leftBehind must count their members (srv is
// laurel in process mode with the core layer), else nil.
func (r *Runner) countedTasks(srv *Server, group string, n int, each bool) []string {
	if !r.process(srv) || r.Stack.Backend == BackendPubSub {
		return nil
	}
	if !each {
		return []string{"asgi:group:task_" + group}
	}
	keys := make([]string, n)
	for i := range n {
		keys[i] = "asgi:group:task_" + group + strconv.Itoa(i)
	}
	return keys
}

// waitMembers counts o's memberships in Redis until every connected socket
// is a member, or the count has not grown for membersQuiet after every
// socket was attempted. With one group it counts while the sockets connect,
// every memberPoll, so the last membership is seen within one interval of
// appearing; with a group per socket (each) it starts once every socket was
// attempted.
func (r *Runner) waitMembers(ctx context.Context, o *opened, group string, n int, each bool) error {
	type result struct {
		connected, failed int
		err               error
	}
	done := make(chan result, 1)
	go func() {
		c, f, err := o.fleet.WaitConnected(ctx)
		done <- result{c, f, err}
	}()
	interval := memberPoll
	attempted := false
	if each {
		res := <-done
		if res.err != nil {
			return res.err
		}
		o.connected, o.failed, attempted, interval = res.connected, res.failed, true, memberPollEach
	}
	var lastSeen, lastGrowth time.Time
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		m, err := r.members(ctx, group, n, each)
		now := time.Now()
		if err != nil {
			if !attempted {
				<-done // the fleet's lines must not be read twice: wait for its goroutine
			}
			return err
		}
		if m > o.memberships {
			o.memberships, lastSeen, lastGrowth = m, now, now
		}
		if !attempted {
			select {
			case res := <-done:
				if res.err != nil {
					return res.err
				}
				o.connected, o.failed, attempted = res.connected, res.failed, true
				lastGrowth = now
				continue // count again: the last memberships may have come in meanwhile
			default:
			}
		}
		if attempted && (m >= o.connected || now.Sub(lastGrowth) > membersQuiet) {
			break
		}
		select {
		case <-ctx.Done():
			if !attempted {
				<-done
			}
			return ctx.Err()
		case <-t.C:
		}
	}
	if !lastSeen.IsZero() {
		o.subscribed = lastSeen.Sub(o.fleet.FirstConnect())
	}
	return nil
}

// probe is open's wait where Redis does not hold one membership per socket
// (Runner.probed): with the pub/sub layer (PUBSUB NUMSUB counts one
// subscriber per server process, not per socket), and with laurel in process
// mode (a group's members are its processes). It publishes a probe event
// without seq (task.update, status "probe") to the task group(s) through the
// stack's layer (PubSubLayer or Layer GroupSend, as a Python publisher's
// group_send would) every probeInterval until every connected socket
// received one, or the count has not grown for 15 s. o.memberships is the
// number of sockets that received a probe; o.subscribed the time the last of
// them was seen (to within the clients' progress interval and
// probeInterval: not exact enough to time a connect storm).
func (r *Runner) probe(ctx context.Context, o *opened, group string, n int, each bool) error {
	l, err := r.sender()
	if err != nil {
		return err
	}
	groups := []string{group}
	if each {
		groups = make([]string, n)
		for i := range n {
			groups[i] = group + strconv.Itoa(i)
		}
	}
	lastGrowth := time.Now()
	o.subscribed = time.Since(o.fleet.FirstConnect())
	for {
		for _, g := range groups {
			msg := channelsproto.Map{{Key: "type", Value: "task.update"}, {Key: "task_id", Value: g},
				{Key: "status", Value: "probe"}}
			if err := l.GroupSend(ctx, "task_"+g, msg); err != nil {
				return fmt.Errorf("probe: %w", err)
			}
		}
		time.Sleep(probeInterval)
		if m := int(o.fleet.Primed()); m > o.memberships {
			o.memberships, lastGrowth = m, time.Now()
			o.subscribed = time.Since(o.fleet.FirstConnect())
		}
		if o.memberships >= o.connected || time.Since(lastGrowth) > 15*time.Second {
			return nil
		}
	}
}

// probeInterval is the pause between two rounds of probes (Runner.probe).
const probeInterval = 100 * time.Millisecond

// sender returns the runner's layer of the stack's backend, to send probes.
func (r *Runner) sender() (Sender, error) {
	if r.Stack.Backend == BackendPubSub {
		return r.pubsub()
	}
	return r.coreLayer()
}

// coreLayer returns the runner's core layer on the stack's Redis (probes and
// the Go publisher).
func (r *Runner) coreLayer() (*channelsproto.Layer, error) {
	if r.core == nil {
		l, err := channelsproto.New(channelsproto.Config{Hosts: []channelsproto.Host{{URL: r.Stack.RedisURL}}})
		if err != nil {
			return nil, err
		}
		r.core = l
	}
	return r.core, nil
}

// pubsub returns the runner's pub/sub layer on the stack's Redis (probes and
// the Go publisher).
func (r *Runner) pubsub() (*channelsproto.PubSubLayer, error) {
	if r.ps == nil {
		l, err := channelsproto.NewPubSub(channelsproto.Config{Hosts: []channelsproto.Host{{URL: r.Stack.RedisURL}}})
		if err != nil {
			return nil, err
		}
		r.ps = l
	}
	return r.ps, nil
}

// CommandStats returns Redis' INFO commandstats (calls and microseconds
// per command), to see where Redis' time goes in a scenario.
func (r *Runner) CommandStats(ctx context.Context) (string, error) {
	return r.redis().Info(ctx, "commandstats").Result()
}

// Close releases the runner's Redis connections.
func (r *Runner) Close() error {
	if r.ps != nil {
		_ = r.ps.Close()
	}
	if r.core != nil {
		_ = r.core.Close()
	}
	if r.rdb != nil {
		return r.rdb.Close()
	}
	return nil
}

// leftBehind counts what closed sockets may leave in Redis: with the core
// layer, members of the user groups (both servers join user_<id> on
// connect); with the pub/sub layer, subscribed socket channels
// (asgispecific.*, one per open socket on both servers, and one per process
// and group in laurel's process mode).
//
// With the core layer and laurel in process mode, the members of the
// scenario's task groups (taskKeys) count too: a task group's member there
// is a process's channel, discarded when the last of that process's
// subscribers leaves, and one left behind is a fault the user groups need not
// show. In socket mode the user groups suffice: both servers add each socket
// to its user group and its task group alike, and discard both on close.
func (r *Runner) leftBehind(ctx context.Context) int64 {
	if r.Stack.Backend == BackendPubSub {
		chans, _ := r.redis().PubSubChannels(ctx, "asgispecific.*").Result()
		return int64(len(chans))
	}
	// One round trip for all user groups: a storm stack has a user per session.
	pipe := r.redis().Pipeline()
	cards := make([]*redis.IntCmd, 0, len(r.Stack.Users)+len(r.taskKeys))
	for _, u := range r.Stack.Users {
		cards = append(cards, pipe.ZCard(ctx, fmt.Sprintf("asgi:group:user_%d", u)))
	}
	for _, k := range r.taskKeys {
		cards = append(cards, pipe.ZCard(ctx, k))
	}
	_, _ = pipe.Exec(ctx)
	total := int64(0)
	for _, c := range cards {
		total += c.Val()
	}
	return total
}

// settle waits until the server has discarded what closed sockets held in
// Redis (leftBehind), so the next scenario starts from a quiet server.
func (r *Runner) settle(ctx context.Context) {
	// Memberships a server failed to discard (Daphne under load, see
	// docs/compat-e2e.md) never go: stop when the count is steady for 5 s.
	// Only what this scenario left counts: the count may start above zero
	// (an earlier scenario's leftovers on the same stack).
	deadline := time.Now().Add(120 * time.Second)
	last, lastChange := int64(-1), time.Now()
	r.leftover = 0
	for time.Now().Before(deadline) {
		total := r.leftBehind(ctx) - r.baseline
		if total <= 0 {
			r.leftover = 0
			time.Sleep(time.Second)
			return
		}
		r.leftover = total
		if total != last {
			last, lastChange = total, time.Now()
		} else if time.Since(lastChange) > 5*time.Second {
			r.Log.Warn("memberships of closed sockets left behind", "count", total)
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	r.Log.Warn("memberships of closed sockets still present after 120 s", "count", r.leftover)
}

// LeftBehind is what the last scenario's closed sockets left in Redis after
// settling (leftBehind: core-layer user-group memberships, or pub/sub
// socket channels still subscribed).
func (r *Runner) LeftBehind() int64 { return r.leftover }

// PublishStats is publish.py's (or the Go publisher's) summary line.
type PublishStats struct {
	Sent       int64   `json:"sent"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error"`
	ElapsedS   float64 `json:"elapsed_s"`
	MaxLagS    float64 `json:"max_lag_s"`
	// SendP50 and SendP99 are the duration of one group_send call, in ms
	// (publish.py only): latency spent before the message reached Redis.
	SendP50 float64 `json:"send_ms_p50"`
	SendP99 float64 `json:"send_ms_p99"`
}

// PublishPython runs compat_tests/bench/publish.py with args.
func (r *Runner) PublishPython(ctx context.Context, args ...string) (PublishStats, error) {
	var st PublishStats
	py := r.Python
	if py == "" {
		py = filepath.Join(r.Root, ".venv", "bin", "python")
	}
	cmd := exec.CommandContext(ctx, py, append([]string{filepath.Join(r.Root, "compat_tests", "bench", "publish.py"), //nolint:gosec // the venv's python, our script
		"--redis", r.Stack.RedisURL, "--backend", backendOr(r.Stack.Backend)}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return st, fmt.Errorf("publish.py: %w: %s", err, stderr.String())
	}
	err = json.Unmarshal(out, &st)
	return st, err
}

// Sender is what PublishGo needs of a channel layer (*channelsproto.Layer
// and *channelsproto.PubSubLayer).
type Sender interface {
	GroupSend(ctx context.Context, group string, msg channelsproto.Map) error
}

// goBacklog is the closed loop's bound: PublishGo holds back while this many
// group messages (or more) are not yet delivered.
const goBacklog = 50

// PublishGo sends count task.update events to group through channelsproto
// (for rates Python cannot reach), with workers concurrent senders, as fast
// as the server delivers them (closed loop, see below). f is the fleet of
// the group's member sockets, members their number. On a stack in process
// mode (Stack.GroupMembership) the server is taken to be laurel.
func (r *Runner) PublishGo(ctx context.Context, group string, count, workers int, f *Fleet, members int) (PublishStats, error) {
	var st PublishStats
	var backlogged func() bool
	var sent atomic.Int64
	l, err := r.sender()
	if err != nil {
		return st, err
	}
	switch {
	case r.Stack.Backend == BackendPubSub || r.Stack.GroupMembership == MembershipProcess:
		// Redis does not show the server's backlog: the pub/sub layer keeps
		// nothing there, and laurel in process mode takes each message out
		// of its inbox at once (it names one channel, the process's) and
		// holds its frames in its sockets' queues (queue_size, 256 by
		// default, full closes the socket with 4008). Hold back while
		// goBacklog messages are not yet received by the fleet (whose count
		// is at most one client progress interval old, so the loop errs on
		// the side of holding back), so neither laurel's subscriber
		// connection (Redis' client-output-buffer-limit pubsub) nor its
		// sockets' queues overflow.
		backlogged = func() bool {
			return sent.Load()*int64(members)-f.Received() >= goBacklog*int64(members)
		}
	default:
		// Closed loop: hold back while the server's inbox (the Redis key of
		// its process channels, channels_redis capacity 100) holds goBacklog
		// or more messages, so group_send never drops over capacity and the
		// rate is what the server sustains.
		var inboxes []string
		mem, err := r.redis().ZRange(ctx, "asgi:group:task_"+group, 0, -1).Result()
		if err != nil {
			return st, err
		}
		seen := map[string]bool{}
		for _, m := range mem {
			if i := strings.IndexByte(m, '!'); i >= 0 && !seen[m[:i+1]] {
				seen[m[:i+1]] = true
				inboxes = append(inboxes, "asgi"+m[:i+1]) // channels_redis: prefix + channel, no separator
			}
		}
		backlogged = func() bool {
			for _, k := range inboxes {
				if n, err := r.redis().ZCard(ctx, k).Result(); err == nil && n >= goBacklog {
					return true
				}
			}
			return false
		}
	}
	start := time.Now()
	seq := make(chan int64, workers)
	go func() {
		for i := range int64(count) {
			seq <- i
		}
		close(seq)
	}()
	errs := make(chan error, workers)
	done := make(chan int64, workers)
	for range workers {
		go func() {
			var n int64
			var first error
			for i := range seq {
				for backlogged() && ctx.Err() == nil {
					time.Sleep(time.Millisecond)
				}
				msg := channelsproto.Map{{Key: "type", Value: "task.update"}, {Key: "task_id", Value: group},
					{Key: "status", Value: "processing"}, {Key: "seq", Value: i}, {Key: "ts", Value: time.Now().UnixNano()}}
				if err := l.GroupSend(ctx, "task_"+group, msg); err != nil {
					if first == nil {
						first = err
					}
					continue
				}
				n++
				sent.Add(1)
			}
			done <- n
			errs <- first
		}()
	}
	for range workers {
		st.Sent += <-done
		if e := <-errs; e != nil {
			st.Errors++
			st.FirstError = firstNonEmpty(st.FirstError, e.Error())
		}
	}
	st.ElapsedS = time.Since(start).Seconds()
	return st, nil
}

func backendOr(b string) string {
	if b == "" {
		return BackendCore
	}
	return b
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (r *Runner) cpuSince(srv *Server, before ProcSample, since time.Time) float64 {
	after, err := SampleProcs(srv.PIDs)
	if err != nil {
		return -1
	}
	return 100 * (after.CPUSeconds - before.CPUSeconds) / time.Since(since).Seconds()
}

// delivery is a delivery scenario's run (Fanout, Throughput, ManyGroups):
// its sockets open and subscribed, and the measures started at t0, just
// before publishing.
type delivery struct {
	o      *opened
	group  string
	before ProcSample
	meters sideMeters
	// serverLat: lat0 is laurel_delivery_latency_seconds at t0, and finish
	// records the p99 of the run's deliveries inside laurel.
	serverLat bool
	lat0      histogram
	t0        time.Time
	// st is the publisher's account and rep the clients' once the run is
	// over (runDelivery).
	st  PublishStats
	rep ClientReport
}

// runDelivery runs a delivery scenario: it opens n sockets of srv
// subscribed to a fresh task named from tag (each: one task per socket),
// starts the measures, calls publish, waits for the frames the publisher's
// account promises (each group_send reaches every member of its group: all
// the sockets, or with each the one socket of its task), fills res from the
// clients' report, and waits until srv has discarded the sockets' memberships
// (settle). The returned delivery holds the publisher's account and the
// clients' report.
func (r *Runner) runDelivery(ctx context.Context, name string, srv *Server, n int, tag string, each, serverLat bool,
	publish func(d *delivery) (PublishStats, error)) (Result, *delivery, error) {
	res := Result{Scenario: name, Server: srv.Name, Values: map[string]float64{}}
	d := &delivery{group: uniq(tag), serverLat: serverLat}
	o, err := r.open(ctx, srv, n, d.group, each, setupConcurrency, n > 15000, setupRetry503)
	if err != nil {
		return res, nil, err
	}
	defer r.settle(ctx)
	d.o = o
	d.before, _ = SampleProcs(srv.PIDs)
	d.meters = r.sideMeters(o.fleet)
	if serverLat {
		d.lat0 = scrapeHistogram(srv, "laurel_delivery_latency_seconds")
	}
	d.t0 = time.Now()
	if d.st, err = publish(d); err != nil {
		o.fleet.Stop()
		return res, nil, err
	}
	want := d.st.Sent
	if !each {
		want *= int64(o.memberships)
	}
	r.finish(d, srv, &res, want)
	return res, d, nil
}

// finish waits until want frames arrived (or drainQuiet / drainMax), records
// the server's CPU and the side meters since t0, stops the fleet and fills
// res from its report (kept in d.rep) and d.st.
func (r *Runner) finish(d *delivery, srv *Server, res *Result, want int64) {
	d.o.fleet.WaitReceived(want, drainQuiet, drainMax)
	res.Values[MetricCPU] = r.cpuSince(srv, d.before, d.t0)
	d.meters.record(res.Values)
	if d.serverLat {
		if lat := scrapeHistogram(srv, "laurel_delivery_latency_seconds"); lat != nil {
			if le, ok := lat.quantileSince(d.lat0, 0.99); ok {
				res.Values[MetricServerP99] = 1000 * le
			}
		}
	}
	d.rep = d.o.fleet.Stop()
	r.fill(res, d.o, d.rep, d.st, want)
}

// deliveriesPerS records the deliveries per second from t0 to the last
// receipt.
func (d *delivery) deliveriesPerS(res *Result) {
	if d.rep.LastRecv > 0 {
		res.Values[MetricDeliveriesPS] = float64(d.rep.Received) / (float64(d.rep.LastRecv-d.t0.UnixNano()) / 1e9)
	}
}

// Fanout runs n subscribers of one task, rate msg/s for dur through the real
// channels_redis group_send; latency, loss, server CPU.
func (r *Runner) Fanout(ctx context.Context, name string, srv *Server, n int, rate float64, dur time.Duration) (Result, error) {
	res, _, err := r.runDelivery(ctx, name, srv, n, "fan", false, true, func(d *delivery) (PublishStats, error) {
		return r.PublishPython(ctx, "--groups", "task_"+d.group, "--rate", fmt.Sprint(rate), "--duration", fmt.Sprint(dur.Seconds()))
	})
	return res, err
}

// Throughput sends back-to-back group_send of count events to n subscribers;
// deliveries per second from the first publish to the last receipt.
func (r *Runner) Throughput(ctx context.Context, name string, srv *Server, n, count int, publisher string) (Result, error) {
	res, d, err := r.runDelivery(ctx, name, srv, n, "thr", false, false, func(d *delivery) (PublishStats, error) {
		if publisher == "go" {
			return r.PublishGo(ctx, d.group, count, 4, d.o.fleet, d.o.memberships)
		}
		return r.PublishPython(ctx, "--groups", "task_"+d.group, "--count", fmt.Sprint(count))
	})
	if err != nil {
		return res, err
	}
	d.deliveriesPerS(&res)
	res.Note = fmt.Sprintf("publisher %s: %d group_send in %.1fs", publisher, d.st.Sent, d.st.ElapsedS)
	return res, nil
}

// ManyGroups opens n sockets each subscribed to its own task; publishers
// concurrent Python publishers (like Celery workers) send round robin over
// the n groups back to back for dur.
func (r *Runner) ManyGroups(ctx context.Context, name string, srv *Server, n int, dur time.Duration, publishers int) (Result, error) {
	res, d, err := r.runDelivery(ctx, name, srv, n, "many", true, false, func(d *delivery) (PublishStats, error) {
		return r.PublishPython(ctx, "--group-prefix", "task_"+d.group, "--groups-n", fmt.Sprint(n),
			"--duration", fmt.Sprint(dur.Seconds()), "--concurrency", fmt.Sprint(publishers))
	})
	if err != nil {
		return res, err
	}
	d.deliveriesPerS(&res)
	res.Note = fmt.Sprintf("%d Python publishers: %d group_send in %.1fs", publishers, d.st.Sent, d.st.ElapsedS)
	return res, nil
}

// Storm connects n sockets, each with its own Django session, with conc
// handshakes in flight per client process.
//
// Its rate (connects_per_s) is the sockets whose membership of the task
// group is visible in Redis, divided by the time from the fleet's first
// handshake (the earliest client process's dial of its first socket; the
// processes' start and their reading of the cookie file come before and do
// not count) to the last of those memberships seen (polled every
// memberPoll while the sockets connect: at most that interval plus one
// ZCARD round trip late; see opened.subscribed).
//
// CPU per connect is measured CPU time divided by connects: the server's
// from just before the client processes start to the last membership seen,
// and the clients' (their whole life up to then), Redis' and the database's
// over the same span. The CPU percentages are over that span too.
//
// The storm is not run on laurel in process mode (ErrStormProcess): its
// sockets share one group, whose membership count in Redis is then that of
// laurel's processes, and the probes that tell when they are all subscribed
// are too coarse a clock for it.
func (r *Runner) Storm(ctx context.Context, name string, srv *Server, n, conc int) (Result, error) {
	res := Result{Scenario: name, Server: srv.Name, Values: map[string]float64{}}
	if r.process(srv) {
		return res, ErrStormProcess
	}
	group := uniq("storm")
	before, _ := SampleProcs(srv.PIDs)
	redisCPU := newCPUMeter(func() []int { return []int{r.Stack.RedisPID} })
	var dbCPU *cpuMeter
	if r.Stack.PGPID > 0 {
		dbCPU = newCPUMeter(func() []int { return WithChildren(r.Stack.PGPID) })
	}
	o, err := r.open(ctx, srv, n, group, false, conc, true, 0)
	if err != nil {
		return res, err
	}
	span := time.Since(o.start).Seconds()
	var serverSec, clientSec, redisSec, dbSec float64
	if after, err := SampleProcs(srv.PIDs); err == nil {
		serverSec = after.CPUSeconds - before.CPUSeconds
	}
	redisSec = redisCPU.seconds()
	if dbCPU != nil {
		dbSec = dbCPU.seconds()
		res.Values[MetricDBCPU] = 100 * dbSec / span
	}
	// The client processes started with the storm: all their CPU is its.
	if c, err := SampleProcs(o.fleet.PIDs()); err == nil {
		clientSec = c.CPUSeconds
	}
	res.Values[MetricCPU] = 100 * serverSec / span
	res.Values[MetricRedisCPU] = 100 * redisSec / span
	res.Values[MetricClientCPU] = 100 * clientSec / span
	rep := o.fleet.Stop()
	r.settle(ctx)
	res.Values[MetricSockets] = float64(n)
	res.Values[MetricInFlight] = float64(conc)
	res.Values[MetricConnected] = float64(o.memberships)
	res.Values[MetricFailures] = float64(n - o.memberships)
	if o.subscribed > 0 {
		res.Values[MetricConnectsPS] = float64(o.memberships) / o.subscribed.Seconds()
	}
	// CPU time per connect: the server's own, and everything's (server,
	// database, Redis and clients), in ms.
	if o.memberships > 0 {
		res.Values[MetricServerMSPerConnect] = 1000 * serverSec / float64(o.memberships)
		res.Values[MetricClientMSPerConnect] = 1000 * clientSec / float64(o.memberships)
		res.Values[MetricTotalMSPerConnect] = 1000 * (serverSec + clientSec + redisSec + dbSec) / float64(o.memberships)
	}
	res.Values[MetricHandshakeP99] = ms(rep.Handshake.Quantile(0.99))
	if rep.FirstError != "" {
		res.Note = "first failure: " + rep.FirstError
	}
	if why := refusals(srv); why != "" {
		res.Note = strings.TrimPrefix(res.Note+"; laurel refused handshakes: "+why, "; ")
	}
	return res, nil
}

// MetricRuns is how many times a repeated scenario ran (StormRuns); its
// result is the median run's.
const MetricRuns = "runs"

// StormRuns runs Storm runs times on srv, pause apart, and returns the run
// with the median connect rate (the lower middle one for an even count),
// its note listing every run's rate. One storm lasts about a second on
// laurel, so a single run's rate moves by several percent with whatever
// else the machine does at that moment; the median of three is steadier,
// and every server gets the same treatment. Each run uses the same
// sessions: pause must be longer than laurel's verdict cache TTL (2 s by
// default), so that no run is answered from an earlier one's verdicts.
// Memberships left behind are the median run's. A failed run ends the
// series with its error.
func (r *Runner) StormRuns(ctx context.Context, name string, srv *Server, n, conc, runs int, pause time.Duration) (Result, error) {
	if runs <= 1 {
		return r.Storm(ctx, name, srv, n, conc)
	}
	type run struct {
		res  Result
		left int64
	}
	all := make([]run, 0, runs)
	for i := range runs {
		if i > 0 {
			select {
			case <-ctx.Done():
				return Result{}, ctx.Err()
			case <-time.After(pause):
			}
		}
		res, err := r.Storm(ctx, name, srv, n, conc)
		if err != nil {
			return res, err
		}
		r.Log.Info("storm run", "name", name, "server", srv.Name, "run", i+1, "of", runs,
			"connects_per_s", math.Round(res.Values[MetricConnectsPS]))
		all = append(all, run{res, r.leftover})
	}
	rates := make([]string, len(all))
	values := make([]float64, len(all))
	for i, x := range all {
		values[i] = x.res.Values[MetricConnectsPS]
		rates[i] = strconv.FormatFloat(values[i], 'f', 0, 64)
	}
	med := all[medianIndex(values)]
	r.leftover = med.left
	res := med.res
	res.Values[MetricRuns] = float64(runs)
	res.Note = strings.TrimPrefix(res.Note+"; "+fmt.Sprintf("median of %d runs (connects/s in run order: %s)",
		runs, strings.Join(rates, ", ")), "; ")
	return res, nil
}

// medianIndex is the index of vs' median (the lower middle one for an even
// count; the first of equal ones).
func medianIndex(vs []float64) int {
	idx := make([]int, len(vs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(vs[a], vs[b]) })
	return idx[(len(idx)-1)/2]
}

// Idle holds n sockets connected and subscribed, then at rest; RSS per socket
// (above the server's RSS before), goroutines (laurel), CPU over rest.
func (r *Runner) Idle(ctx context.Context, name string, srv *Server, n int, rest time.Duration) (Result, error) {
	res := Result{Scenario: name, Server: srv.Name, Values: map[string]float64{}}
	base, err := SampleProcs(srv.PIDs)
	if err != nil {
		return res, err
	}
	o, err := r.open(ctx, srv, n, uniq("idle"), false, setupConcurrency, true, setupRetry503)
	if err != nil {
		return res, err
	}
	time.Sleep(3 * time.Second)
	before, _ := SampleProcs(srv.PIDs)
	cbefore, _ := SampleProcs(o.fleet.PIDs())
	t0 := time.Now()
	time.Sleep(rest)
	res.Values[MetricCPU] = r.cpuSince(srv, before, t0)
	if cafter, err := SampleProcs(o.fleet.PIDs()); err == nil {
		res.Values[MetricClientCPU] = 100 * (cafter.CPUSeconds - cbefore.CPUSeconds) / time.Since(t0).Seconds()
	}
	after, _ := SampleProcs(srv.PIDs)
	res.Values[MetricSockets] = float64(n)
	res.Values[MetricConnected] = float64(o.memberships)
	res.Values[MetricRSS] = float64(after.RSS) / (1 << 20)
	if o.memberships > 0 {
		res.Values[MetricRSSPerSocket] = float64(after.RSS-base.RSS) / 1024 / float64(o.memberships)
	}
	res.Values[MetricThreads] = float64(after.Threads)
	r.perProcess(res.Values, srv, o.fleet)
	if g, ok := scrapeSum(srv, "go_goroutines"); ok {
		res.Values[MetricGoroutines] = g
	}
	// Where a Go server's memory goes: heap in use and goroutine stacks, per
	// socket (the runtime's own figures, from /metrics).
	if o.memberships > 0 {
		for m, name := range map[string]string{MetricHeapPerSocket: "go_memstats_heap_inuse_bytes",
			MetricStackPerSocket: "go_memstats_stack_inuse_bytes"} {
			if v, ok := scrapeSum(srv, name); ok {
				res.Values[m] = v / 1024 / float64(o.memberships)
			}
		}
	}
	rep := o.fleet.Stop()
	res.Values[MetricFailures] = float64(n - o.memberships)
	res.Values[MetricClosed] = float64(rep.ClosedByServer)
	res.Values[MetricDropped] = float64(rep.Dropped)
	res.Values[MetricRetried] = float64(rep.Retried)
	var notes []string
	if rep.FirstError != "" {
		notes = append(notes, "first failure: "+rep.FirstError)
	}
	if rep.DropError != "" {
		notes = append(notes, fmt.Sprintf("%d sockets dropped, first: %s", rep.Dropped, rep.DropError))
	}
	if why := refusals(srv); why != "" {
		notes = append(notes, "laurel refused handshakes: "+why)
	}
	res.Note = strings.Join(notes, "; ")
	r.settle(ctx)
	return res, nil
}

// sideMeters measure the CPU of everything but the server during a
// delivery scenario: the client processes and Redis.
type sideMeters struct{ clients, redis *cpuMeter }

func (r *Runner) sideMeters(f *Fleet) sideMeters {
	return sideMeters{clients: newCPUMeter(f.PIDs), redis: newCPUMeter(func() []int { return []int{r.Stack.RedisPID} })}
}

func (m sideMeters) record(v map[string]float64) {
	v[MetricClientCPU] = m.clients.pct()
	v[MetricRedisCPU] = m.redis.pct()
}

// perProcess records the idle scenarios' per-process and per-machine
// figures (MetricServerProcs ... MetricMachineRSS) into v.
func (r *Runner) perProcess(v map[string]float64, srv *Server, f *Fleet) {
	const mb = 1 << 20
	v[MetricServerProcs] = float64(len(srv.PIDs))
	var total int64
	for _, pid := range srv.PIDs {
		if s, err := SampleProc(pid); err == nil {
			v[MetricMaxProcRSS] = max(v[MetricMaxProcRSS], float64(s.RSS)/mb)
			total += s.RSS
		}
	}
	for _, u := range srv.Metrics {
		if n, ok := scrapeOne(u, "laurel_sockets_open"); ok {
			v[MetricMaxProcSockets] = max(v[MetricMaxProcSockets], n)
		}
	}
	if srv.Name != "laurel" {
		v[MetricMaxProcSockets] = v[MetricConnected] // one Daphne process
	}
	clients := f.PIDs()
	v[MetricClientProcs] = float64(len(clients))
	if s, err := SampleProcs(clients); err == nil {
		v[MetricClientRSS] = float64(s.RSS) / mb
		total += s.RSS
	}
	if s, err := SampleProc(r.Stack.RedisPID); err == nil {
		v[MetricRedisRSS] = float64(s.RSS) / mb
		total += s.RSS
	}
	v[MetricMachineRSS] = float64(total) / mb
}

// refusals sums laurel_handshakes_total over srv's metrics endpoints for
// every result but "accepted", as "result/reason count" pairs (empty for a
// server without metrics): why laurel refused handshakes.
func refusals(srv *Server) string {
	counts := map[string]float64{}
	for _, u := range srv.Metrics {
		resp, err := http.Get(u) //nolint:gosec // loopback URL from stack.py
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "laurel_handshakes_total{") || strings.Contains(line, `result="accepted"`) {
				continue
			}
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil || v == 0 {
				continue
			}
			counts[label(line, "result")+"/"+label(line, "reason")] += v
		}
		_ = resp.Body.Close()
	}
	var parts []string
	for k, v := range counts {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// label is the value of a Prometheus sample line's label name.
func label(line, name string) string {
	i := strings.Index(line, name+`="`)
	if i < 0 {
		return ""
	}
	rest := line[i+len(name)+2:]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return rest[:j]
}

// histogram is a Prometheus histogram's cumulative bucket counts by upper
// bound (le), summed over a server's processes.
type histogram map[float64]float64

// scrapeHistogram reads histogram name from srv's metrics endpoints (nil
// without metrics).
func scrapeHistogram(srv *Server, name string) histogram {
	if len(srv.Metrics) == 0 {
		return nil
	}
	h := histogram{}
	for _, u := range srv.Metrics {
		resp, err := http.Get(u) //nolint:gosec // loopback URL from stack.py
		if err != nil {
			return nil
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, name+"_bucket{") {
				continue
			}
			le, err := strconv.ParseFloat(label(line, "le"), 64) // "+Inf" parses as +Inf
			f := strings.Fields(line)
			v, err2 := strconv.ParseFloat(f[len(f)-1], 64)
			if err == nil && err2 == nil {
				h[le] += v
			}
		}
		_ = resp.Body.Close()
	}
	return h
}

// quantileSince is the upper bound of the bucket holding quantile q of the
// observations made between before and h, and false when there were none
// or it lies in the +Inf bucket.
func (h histogram) quantileSince(before histogram, q float64) (float64, bool) {
	var les []float64
	for le := range h {
		les = append(les, le)
	}
	slices.Sort(les)
	if len(les) == 0 {
		return 0, false
	}
	total := h[les[len(les)-1]] - before[les[len(les)-1]]
	if total <= 0 {
		return 0, false
	}
	for _, le := range les {
		if h[le]-before[le] >= q*total {
			return le, !math.IsInf(le, 1)
		}
	}
	return 0, false
}

// scrapeOne reads the gauge name from one metrics endpoint.
func scrapeOne(url, name string) (float64, bool) {
	resp, err := http.Get(url) //nolint:gosec // loopback URL from stack.py
	if err != nil {
		return 0, false
	}
	defer func() { _ = resp.Body.Close() }()
	return scrapeGauge(resp.Body, name)
}

// scrapeSum sums the gauge name over srv's metrics endpoints.
func scrapeSum(srv *Server, name string) (float64, bool) {
	if len(srv.Metrics) == 0 {
		return 0, false
	}
	total := 0.0
	for _, u := range srv.Metrics {
		resp, err := http.Get(u) //nolint:gosec // loopback URL from stack.py
		if err != nil {
			return 0, false
		}
		v, ok := scrapeGauge(resp.Body, name)
		_ = resp.Body.Close()
		if !ok {
			return 0, false
		}
		total += v
	}
	return total, true
}

func scrapeGauge(r io.Reader, name string) (float64, bool) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			return v, err == nil
		}
	}
	return 0, false
}

func (r *Runner) fill(res *Result, o *opened, rep ClientReport, st PublishStats, want int64) {
	v := res.Values
	v[MetricSockets] = float64(o.connected + o.failed)
	v[MetricConnected] = float64(o.memberships)
	v[MetricFailures] = float64(o.failed)
	v[MetricPublished] = float64(st.Sent)
	v[MetricExpected] = float64(want)
	v[MetricDelivered] = float64(rep.Received)
	v[MetricLost] = float64(max(want-rep.Received, 0))
	v[MetricOutOfOrder] = float64(rep.OutOfOrder)
	v[MetricClosed] = float64(rep.ClosedByServer)
	v[MetricDropped] = float64(rep.Dropped)
	v[MetricRetried] = float64(rep.Retried)
	v[MetricP50] = ms(rep.Latency.Quantile(0.50))
	v[MetricP99] = ms(rep.Latency.Quantile(0.99))
	v[MetricMax] = ms(rep.Latency.Max)
	var notes []string
	if st.Errors > 0 {
		notes = append(notes, fmt.Sprintf("%d publish errors: %s", st.Errors, st.FirstError))
	}
	if st.SendP50 > 0 {
		v[MetricSendP50], v[MetricSendP99] = st.SendP50, st.SendP99
	}
	if st.MaxLagS > 0.5 {
		notes = append(notes, fmt.Sprintf("publisher fell %.1fs behind schedule", st.MaxLagS))
	}
	if rep.CloseError != "" {
		notes = append(notes, "server closed sockets: "+rep.CloseError)
	}
	if rep.DropError != "" {
		notes = append(notes, fmt.Sprintf("%d sockets dropped, first: %s", rep.Dropped, rep.DropError))
	}
	res.Note = strings.Join(notes, "; ")
}
