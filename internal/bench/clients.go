package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// pongWriteTimeout bounds writing one pong.
const pongWriteTimeout = 10 * time.Second

// ClientConfig configures one client process (laurel-bench clients).
type ClientConfig struct {
	// URL is the WebSocket URL, e.g. ws://127.0.0.1:8000/ws/tasks/.
	URL string
	// Origin is sent as the Origin header (the server checks it against
	// ALLOWED_HOSTS).
	Origin string
	// Cookies are Cookie header values; socket i uses Cookies[i%len].
	Cookies []string
	// N is the number of sockets this process opens.
	N int
	// Offset is the global index of this process's first socket (decides
	// its group in "each" mode).
	Offset int
	// Group is the task id every socket subscribes to ("one" mode) when
	// Each is false; with Each, socket of global index g subscribes to
	// Group+strconv.Itoa(g). The consumer prefixes "task_".
	Group string
	Each  bool
	// SourceIPs are local addresses sockets bind to, round robin (to use
	// more than one loopback address's 4-tuples). Empty means the kernel's
	// choice. Bound sockets set IP_BIND_ADDRESS_NO_PORT (Linux), so the
	// port is picked at connect time and not reserved per source address.
	SourceIPs []string
	// Retry503 is how many times a handshake refused with 503 is tried
	// again (after the response's Retry-After, at most 5 s). Zero value
	// means none: the refusal counts as a failure.
	Retry503 int
	// Concurrency bounds simultaneous handshakes. Zero value means 100.
	Concurrency int
	// HandshakeTimeout bounds one connect+upgrade+subscribe (checked every
	// tenth of it, at most every 100 ms: a handshake is cut at most that
	// much later). Zero value means 30 s.
	HandshakeTimeout time.Duration
	// Progress is the interval between progress lines. Zero value means
	// 100 ms (the pub/sub closed loop and probes read these counts).
	Progress time.Duration
}

// Line is one JSON line a client process writes on stdout: "connected"
// once every socket was attempted, "progress" periodically, "report" at
// the end.
type Line struct {
	Type string `json:"type"`
	// Received is the number of frames received so far.
	Received int64 `json:"received"`
	// Primed is the number of sockets that received at least one frame
	// without a seq (a probe: how a pub/sub run sees that a socket's
	// subscription took effect, see Runner.open).
	Primed int64 `json:"primed"`
	// Report is set on the final line.
	Report *ClientReport `json:"report,omitempty"`
	// Connected and Failed are set from "connected" on.
	Connected int `json:"connected"`
	Failed    int `json:"failed"`
	// ConnectStart is set on "connected": when the process began its first
	// handshake (unix ns), as in ClientReport.
	ConnectStart int64 `json:"connect_start,omitempty"`
}

// ClientReport is the final account of one client process.
type ClientReport struct {
	Attempted  int    `json:"attempted"`
	Connected  int    `json:"connected"`
	Failed     int    `json:"failed"`
	FirstError string `json:"first_error,omitempty"`
	// ConnectStart and ConnectEnd bracket the connect phase (unix ns):
	// just before the first socket's dial, and once every socket was
	// attempted.
	ConnectStart int64 `json:"connect_start"`
	ConnectEnd   int64 `json:"connect_end"`
	// Received counts frames carrying a seq; OutOfOrder those whose seq was
	// not greater than the previous one on the same socket (duplicates or
	// reordering); Other frames without a seq.
	Received   int64 `json:"received"`
	OutOfOrder int64 `json:"out_of_order"`
	Other      int64 `json:"other"`
	// Primed counts sockets that received at least one frame without a seq.
	Primed int64 `json:"primed"`
	// Retried counts handshakes tried again after a 503 (Retry503).
	Retried int64 `json:"retried"`
	// ClosedByServer counts sockets the server closed during the run.
	ClosedByServer int64  `json:"closed_by_server"`
	CloseError     string `json:"close_error,omitempty"`
	// Dropped counts sockets that failed without a close frame (reset,
	// EOF, ...) before the end of the run; DropError is the first such
	// error.
	Dropped   int64  `json:"dropped"`
	DropError string `json:"drop_error,omitempty"`
	// FirstRecv and LastRecv are the first and last frame receipt times (unix ns).
	FirstRecv int64 `json:"first_recv"`
	LastRecv  int64 `json:"last_recv"`
	// Latency is publish ("ts" in the event) → receipt; Handshake is
	// dial → 101 → subscribe sent.
	Latency   HistSnapshot `json:"latency"`
	Handshake HistSnapshot `json:"handshake"`
}

type clientRun struct {
	cfg        ClientConfig
	dialer     *wsDialer
	local      []*endpoint
	subPrefix  []byte // {"action":"subscribe","task_id":"<group>
	lat, hs    Histogram
	received   atomic.Int64
	outOfOrder atomic.Int64
	other      atomic.Int64
	primed     atomic.Int64
	retried    atomic.Int64
	closed     atomic.Int64
	dropped    atomic.Int64
	stopping   atomic.Bool
	firstRecv  atomic.Int64
	lastRecv   atomic.Int64
	mu         sync.Mutex
	closeErr   string
	dropErr    string
	firstErr   string
	failed     int
	conns      []*wsConn
}

// RunClients opens cfg.N sockets, subscribes each, then counts frames and
// records latencies until ctx is cancelled; then it closes every socket and
// writes the final report. Lines are written to out as JSON, one per line.
//
// The sockets speak WebSocket through this package's lean client
// (wshandshake.go, wsconn.go), not a general-purpose library: the client
// processes share the machine's cores with the server they load, so their
// cost per socket and per frame is kept small.
func RunClients(ctx context.Context, cfg ClientConfig, out io.Writer) error {
	r, err := newClientRun(cfg)
	if err != nil {
		return err
	}
	cfg = r.cfg
	enc := json.NewEncoder(out)
	var wg, readers sync.WaitGroup
	var next atomic.Int64
	rep := &ClientReport{Attempted: cfg.N, ConnectStart: time.Now().UnixNano()}
	// cfg.Concurrency dialers take the sockets in order, each in its own
	// slot of the handshake guard (which bounds every handshake by
	// cfg.HandshakeTimeout and cuts them when ctx is cancelled). Doing the
	// handshakes on a few long-lived goroutines grows a stack once per
	// dialer, not once per socket, and leaves each socket's reader goroutine
	// the small stack its read loop needs.
	dialers := min(cfg.Concurrency, cfg.N)
	guard := newHandshakeGuard(ctx, dialers, cfg.HandshakeTimeout)
	for w := range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := guard.slot(w)
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.N {
					return
				}
				c := r.connect(ctx, s, i)
				if c == nil {
					continue
				}
				// Read at once, not after every socket is open: a server's
				// pings must be answered (laurel drops a socket silent for
				// ping_interval + ping_timeout, 50 s by default, and opening
				// 15,000 sockets can take longer than that).
				readers.Add(1) // before wg.Done: readers.Wait comes after wg.Wait
				go func() {
					defer readers.Done()
					r.read(c)
				}()
			}
		}()
	}
	wg.Wait()
	guard.Close()
	rep.ConnectEnd = time.Now().UnixNano()
	r.mu.Lock()
	rep.Connected, rep.Failed, rep.FirstError = len(r.conns), r.failed, r.firstErr
	r.mu.Unlock()
	if err := enc.Encode(Line{Type: "connected", Connected: rep.Connected, Failed: rep.Failed, ConnectStart: rep.ConnectStart}); err != nil {
		return err
	}
	t := time.NewTicker(cfg.Progress)
	defer t.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-t.C:
			if err := enc.Encode(Line{Type: "progress", Received: r.received.Load(), Primed: r.primed.Load(),
				Connected: rep.Connected, Failed: rep.Failed}); err != nil {
				return err
			}
		}
	}
	r.stopping.Store(true)
	r.mu.Lock()
	conns := r.conns
	r.mu.Unlock()
	for _, c := range conns {
		_ = c.close()
	}
	readers.Wait()
	rep.Received, rep.OutOfOrder, rep.Other = r.received.Load(), r.outOfOrder.Load(), r.other.Load()
	rep.Primed, rep.Retried = r.primed.Load(), r.retried.Load()
	rep.ClosedByServer, rep.CloseError = r.closed.Load(), r.closeErr
	rep.Dropped, rep.DropError = r.dropped.Load(), r.dropErr
	rep.FirstRecv, rep.LastRecv = r.firstRecv.Load(), r.lastRecv.Load()
	rep.Latency, rep.Handshake = r.lat.Snapshot(), r.hs.Snapshot()
	return enc.Encode(Line{Type: "report", Received: rep.Received, Connected: rep.Connected, Failed: rep.Failed, Report: rep})
}

func (r *clientRun) fail(err error) {
	r.mu.Lock()
	r.failed++
	if r.firstErr == "" {
		r.firstErr = err.Error()
	}
	r.mu.Unlock()
}

// newClientRun validates cfg and applies its defaults.
func newClientRun(cfg ClientConfig) (*clientRun, error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 100
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 30 * time.Second
	}
	if cfg.Progress <= 0 {
		cfg.Progress = 100 * time.Millisecond
	}
	if len(cfg.Cookies) == 0 {
		return nil, fmt.Errorf("bench: no cookies")
	}
	d, err := newWSDialer(cfg.URL, cfg.Origin)
	if err != nil {
		return nil, err
	}
	r := &clientRun{cfg: cfg, dialer: d}
	for _, ip := range cfg.SourceIPs {
		a := net.ParseIP(ip)
		if a == nil {
			return nil, fmt.Errorf("bench: source address %q is not an IP", ip)
		}
		r.local = append(r.local, newEndpoint(&net.TCPAddr{IP: a}))
	}
	g, err := json.Marshal(cfg.Group)
	if err != nil {
		return nil, err
	}
	r.subPrefix = append([]byte(`{"action":"subscribe","task_id":`), g[:len(g)-1]...)
	return r, nil
}

// connect opens and subscribes socket i in slot s of the handshake guard,
// and returns it, or nil if that failed (counted in r.failed). ctx bounds
// the waits before a retry.
func (r *clientRun) connect(ctx context.Context, s *handshakeSlot, i int) *wsConn {
	cfg := r.cfg
	var local *endpoint
	if len(r.local) > 0 {
		local = r.local[i%len(r.local)]
	}
	cookie := cfg.Cookies[i%len(cfg.Cookies)]
	var b [128]byte
	sub := append(b[:0], r.subPrefix...)
	if cfg.Each {
		sub = strconv.AppendInt(sub, int64(cfg.Offset+i), 10)
	}
	sub = append(sub, `"}`...)
	start := time.Now()
	c, err := r.dialer.dial(s, local, cookie, sub, start)
	var he *handshakeError
	for try := 0; try < cfg.Retry503 && errors.As(err, &he) && he.Status == http.StatusServiceUnavailable; try++ {
		// Refused while the server is briefly not ready: come back after
		// its Retry-After (at most 5 s), as laurel's browser client does.
		wait := 5 * time.Second
		if s, err := strconv.Atoi(he.RetryAfter); err == nil && s >= 0 && s < 5 {
			wait = time.Duration(s) * time.Second
		}
		r.retried.Add(1)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		c, err = r.dialer.dial(s, local, cookie, sub, time.Now())
	}
	if err != nil {
		r.fail(err)
		return nil
	}
	r.hs.Record(time.Since(start))
	r.mu.Lock()
	r.conns = append(r.conns, c)
	r.mu.Unlock()
	return c
}

// readBatch accumulates one socket's counts between two flushes into the
// process totals, so a socket receiving a burst of frames touches the
// shared counters once per burst, not once per frame.
type readBatch struct {
	received, other, outOfOrder int64
	first, last                 int64 // receipt times (unix ns), 0 when none
}

// flush adds b to r's totals and empties it.
func (b *readBatch) flush(r *clientRun) {
	if b.received > 0 {
		r.received.Add(b.received)
		if r.firstRecv.Load() == 0 {
			r.firstRecv.CompareAndSwap(0, b.first)
		}
		for {
			l := r.lastRecv.Load()
			if b.last <= l || r.lastRecv.CompareAndSwap(l, b.last) {
				break
			}
		}
	}
	if b.other > 0 {
		r.other.Add(b.other)
	}
	if b.outOfOrder > 0 {
		r.outOfOrder.Add(b.outOfOrder)
	}
	*b = readBatch{}
}

// read counts c's frames until it fails (closed by us or by the server).
// Counts reach the totals before the socket waits for more bytes (and at
// least every 64 frames), so progress lines are never behind by more than
// the frames being parsed.
func (r *clientRun) read(c *wsConn) {
	last := int64(-1)
	primed := false
	var b readBatch
	for {
		data, err := c.readMessage()
		if err != nil {
			b.flush(r)
			var ce *closeError
			switch {
			case errors.As(err, &ce):
				r.closed.Add(1)
				r.mu.Lock()
				if r.closeErr == "" {
					r.closeErr = ce.Error()
				}
				r.mu.Unlock()
			case !r.stopping.Load():
				r.dropped.Add(1)
				r.mu.Lock()
				if r.dropErr == "" {
					r.dropErr = err.Error()
				}
				r.mu.Unlock()
			}
			return
		}
		now := time.Now().UnixNano()
		seq, ok1 := intField(data, `"seq":`)
		ts, ok2 := intField(data, `"ts":`)
		if !ok1 || !ok2 {
			b.other++
			if !primed {
				primed = true
				r.primed.Add(1)
			}
		} else {
			b.received++
			if b.first == 0 {
				b.first = now
			}
			b.last = now
			r.lat.Record(time.Duration(now - ts))
			if seq <= last {
				b.outOfOrder++
			}
			last = seq
		}
		if b.received+b.other >= 64 || !c.buffered() {
			b.flush(r)
		}
	}
}

// intField finds key in a JSON object's text and parses the integer after
// it (the consumer's frames are flat; nothing else carries these keys).
func intField(data []byte, key string) (int64, bool) {
	i := bytes.Index(data, []byte(key))
	if i < 0 {
		return 0, false
	}
	j := i + len(key)
	for j < len(data) && data[j] == ' ' {
		j++
	}
	k := j
	for k < len(data) && data[k] >= '0' && data[k] <= '9' {
		k++
	}
	v, err := strconv.ParseInt(string(data[j:k]), 10, 64)
	return v, err == nil
}
