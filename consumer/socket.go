package consumer

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/laurel-server/laurel/internal/netpoll"
)

// closeGrace is how long a socket waits, once its close frame was queued,
// for the close handshake to finish before the connection is dropped.
const closeGrace = 2 * time.Second

// outFrame is one frame waiting in a socket's queue. It is immutable and
// shared by every socket a delivery targets; queues hold pointers so that a
// queued frame costs a socket 8 bytes.
type outFrame struct {
	frame    []byte    // the whole server frame: header and payload
	received time.Time // zero for frames not from the layer (error frames)
}

// socket is one accepted WebSocket. No goroutine belongs to an idle socket:
// reads run when the poller reports readiness (or, without one, on a read
// goroutine), writes run on the Server's flushers, and timers are the
// Server's sweeper.
//
// Life cycle: start makes it live; end (idempotent) stops reading, closes the
// connection, and once no activity (read handler, slow writer, background
// job) runs, cleanup leaves its groups and unregisters it.
type socket struct {
	// Hot: every delivery and every read touches these.
	srv *Server
	id  uint64

	wmu         sync.Mutex
	q           []*outFrame // data frames, at most Config.QueueSize
	ctrl        [][]byte    // pings and pongs, written before q
	closeF      []byte      // the close frame, written after q
	wstate      uint8       // writeIdle, writeScheduled or writeSlow
	wready      bool        // started: flushes may be scheduled
	wdead       bool        // ended: frames are dropped
	closeQueued bool        // a close frame was queued: later frames are dropped

	closeWritten atomic.Bool
	readDone     atomic.Bool  // no more frames will be read
	lastRead     atomic.Int64 // Server clock of the last frame read
	closeAt      atomic.Int64 // Server clock of the close request; 0 without one

	conn net.Conn
	raw  syscall.RawConn // for non-blocking writes; nil when unavailable
	reg  *netpoll.Registration
	fr   frameReader
	ra   readAhead // fr's source
	// deadlineFresh: the read handler has just set the read deadline, so
	// the first frame it reads does not set it again. Read handler only.
	deadlineFresh bool

	route   *compiledRoute
	channel string
	verdict Verdict

	// Life cycle, under lmu.
	lmu        sync.Mutex
	started    bool
	live       atomic.Bool // started, and visible to the sweeper
	ended      bool
	endPending bool // end was asked before start
	cleaned    bool
	inflight   int // running read handler, slow writer and background job
	bgBusy     atomic.Bool

	// Owned by the sweeper goroutine once started is set.
	lastPing, nextRefresh, nextReval, deadline int64

	mu           sync.Mutex
	groups       map[string]bool // group -> joined by an action; nil when none
	actionGroups int

	kwargs map[string]string // nil when the route has no kwargs
	cookie string            // kept only when revalidation is on
	client string
	path   string
}

func newSocket(s *Server, rt *compiledRoute, kwargs map[string]string, v Verdict, cookie, client, path string) *socket {
	if len(kwargs) == 0 {
		kwargs = nil
	}
	return &socket{
		srv:     s,
		id:      s.nextID.Add(1),
		route:   rt,
		kwargs:  kwargs,
		verdict: v,
		cookie:  cookie,
		client:  client,
		path:    path,
		channel: s.cfg.Layer.NewChannel(),
	}
}

// log logs msg with the socket's attributes (path, client, conn_id, user_id)
// before attrs. Nothing is built when the level is disabled.
func (sk *socket) log(level slog.Level, msg string, attrs ...slog.Attr) {
	l := sk.srv.log
	ctx := context.Background()
	if !l.Enabled(ctx, level) {
		return
	}
	all := make([]slog.Attr, 0, 4+len(attrs))
	all = append(all, slog.String("path", sk.path), slog.String("client", sk.client),
		slog.String("conn_id", sk.channel), slog.String("user_id", sk.verdict.UserID))
	l.LogAttrs(ctx, level, msg, append(all, attrs...)...)
}

// lookup resolves a template placeholder; field reads the client message.
func (sk *socket) lookup(field func(string) (string, bool)) func(string) (string, bool) {
	return func(name string) (string, bool) {
		switch name {
		case "user_id":
			return sk.verdict.UserID, sk.verdict.UserID != ""
		case "username":
			return sk.verdict.Username, sk.verdict.Username != ""
		}
		if v, ok := sk.kwargs[name]; ok {
			return v, true
		}
		if field != nil {
			return field(name)
		}
		return "", false
	}
}

// joinConnectGroups adds the socket to the route's groups. Templates with a
// placeholder the socket lacks (anonymous user) are skipped.
func (sk *socket) joinConnectGroups(ctx context.Context) error {
	for _, t := range sk.route.groups {
		g, missing := t.expand(sk.lookup(nil))
		if missing != "" {
			continue
		}
		if err := sk.srv.cfg.ValidateGroup(g); err != nil {
			sk.log(slog.LevelWarn, "connect group skipped: invalid name", slog.String("template", t.src), slog.Any("err", err))
			continue
		}
		if err := sk.srv.addMember(ctx, g, sk); err != nil {
			return err
		}
		sk.mu.Lock()
		if sk.groups == nil {
			sk.groups = map[string]bool{}
		}
		sk.groups[g] = false
		sk.mu.Unlock()
	}
	return nil
}

// groupList returns the groups the socket holds.
func (sk *socket) groupList() []string {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	groups := make([]string, 0, len(sk.groups))
	for g := range sk.groups {
		groups = append(groups, g)
	}
	return groups
}

// release leaves every group and, when the layer holds per-channel
// resources, releases the socket's channel.
func (sk *socket) release() {
	sk.discardAll()
	if r, ok := sk.srv.cfg.Layer.(ChannelReleaser); ok {
		if err := r.ReleaseChannel(sk.srv.bound.ctx(), sk.channel); err != nil {
			sk.log(slog.LevelWarn, "releasing channel failed", slog.Any("err", err))
		}
	}
}

// discardAll removes the socket from every group it joined, each call bounded
// by the handshake timeout.
func (sk *socket) discardAll() {
	sk.mu.Lock()
	groups := make([]string, 0, len(sk.groups))
	for g := range sk.groups {
		groups = append(groups, g)
	}
	sk.groups = nil
	sk.actionGroups = 0
	sk.mu.Unlock()
	for _, g := range groups {
		if err := sk.srv.dropMember(sk.srv.bound.ctx(), g, sk); err != nil {
			sk.log(slog.LevelWarn, "group_discard failed", slog.Any("err", err))
		}
	}
}

// start makes an upgraded socket live on nc: reads are watched by the
// Server's poller when nc exposes a file descriptor (raw, nil when it does
// not; a goroutine per socket reads otherwise), and frames queued before
// start are flushed.
func (sk *socket) start(nc net.Conn, raw syscall.RawConn) {
	s := sk.srv
	s.m.socketsOpen.Inc()
	now := s.clock()
	sk.conn = nc
	sk.ra = readAhead{r: nc}
	sk.fr = frameReader{r: &sk.ra, limit: s.cfg.MaxMessageSize, arm: sk}
	sk.lastRead.Store(now)
	sk.lastPing = now
	if s.cfg.GroupRefreshInterval > 0 && s.hub == nil {
		// In process mode the Server refreshes its shared groups instead.
		sk.nextRefresh = now + int64(s.refreshPeriod())
	}
	if s.cfg.RevalidateInterval > 0 {
		sk.nextReval = now + int64(s.cfg.RevalidateInterval)
	}
	if s.cfg.MaxLifetime > 0 {
		sk.deadline = now + int64(s.cfg.MaxLifetime)
	}

	if raw != nil {
		sk.raw = nonBlockingWriter(raw)
	}
	sk.lmu.Lock()
	sk.started = true
	pending := sk.endPending
	polled := false
	if s.poller != nil && raw != nil && !pending {
		reg, err := s.poller.AddRaw(raw, sk.onReadable)
		if err == nil {
			sk.reg = reg
			polled = true
		} else {
			s.log.Warn("poller refused a socket; reading it on its own goroutine", slog.Any("err", err))
		}
	}
	if !polled && !pending {
		sk.inflight++
	}
	sk.lmu.Unlock()
	if !polled && !pending {
		go sk.readLoop()
	}

	sk.wmu.Lock()
	sk.wready = true
	sk.scheduleLocked()
	sk.wmu.Unlock()
	sk.live.Store(true) // the sweeper's fields are set
	if pending {
		sk.end()
	}
}

// begin records an activity that cleanup must wait for; it returns false
// once the socket has ended.
func (sk *socket) begin() bool {
	sk.lmu.Lock()
	defer sk.lmu.Unlock()
	if sk.ended {
		return false
	}
	sk.inflight++
	return true
}

// finish ends an activity begun with begin.
func (sk *socket) finish() {
	sk.lmu.Lock()
	sk.inflight--
	last := sk.ended && sk.inflight == 0 && !sk.cleaned
	if last {
		sk.cleaned = true
	}
	sk.lmu.Unlock()
	if last {
		sk.cleanup()
	}
}

// end stops the socket at once: no more reads or writes, the connection
// closed. Cleanup follows when no activity runs. Safe to call from anywhere,
// more than once.
func (sk *socket) end() {
	sk.lmu.Lock()
	if sk.ended {
		sk.lmu.Unlock()
		return
	}
	if !sk.started {
		sk.endPending = true
		sk.lmu.Unlock()
		return
	}
	sk.ended = true
	last := sk.inflight == 0
	sk.cleaned = last
	sk.lmu.Unlock()

	sk.wmu.Lock()
	sk.wdead = true
	sk.q, sk.ctrl, sk.closeF = nil, nil, nil
	sk.wmu.Unlock()
	if sk.reg != nil {
		if err := sk.reg.Remove(); err != nil {
			sk.log(slog.LevelWarn, "poller removal failed", slog.Any("err", err))
		}
	}
	_ = sk.conn.Close()
	if last {
		// Cleanup does Redis I/O: never on the caller's goroutine, which
		// may be the sweeper or a flusher. The Server's WaitGroup owns it.
		go sk.cleanup()
	}
}

// cleanup leaves the socket's groups and unregisters it; it runs once.
func (sk *socket) cleanup() {
	s := sk.srv
	s.releasing <- struct{}{}
	sk.release()
	<-s.releasing
	s.m.socketsOpen.Dec()
	hook(s.cfg.Hooks.Disconnected, sk.client, sk.path)
	sk.log(slog.LevelDebug, "socket closed")
	s.unregister(sk)
}

// isEnded reports whether end was called.
func (sk *socket) isEnded() bool {
	sk.lmu.Lock()
	defer sk.lmu.Unlock()
	return sk.ended
}

// forceClose drops the connection at once.
func (sk *socket) forceClose() { sk.end() }

// background runs f on its own goroutine unless a previous one still runs,
// so slow Redis or database calls never delay the sweeper.
func (sk *socket) background(f func()) {
	if !sk.bgBusy.CompareAndSwap(false, true) {
		return
	}
	if !sk.begin() {
		sk.bgBusy.Store(false)
		return
	}
	go func() {
		defer sk.finish()
		defer sk.bgBusy.Store(false)
		f()
	}()
}

// refreshGroups re-adds the socket to every group it holds so that
// channels_redis' group_expiry does not remove it.
func (sk *socket) refreshGroups() {
	for _, g := range sk.groupList() {
		err := sk.srv.cfg.Layer.GroupAdd(sk.srv.bound.ctx(), g, sk.channel)
		if err != nil {
			sk.log(slog.LevelWarn, "group refresh failed", slog.Any("err", err))
		}
	}
}

// revalidate re-checks the session and closes the socket with
// CloseSessionEnded when it no longer belongs to the same user.
func (sk *socket) revalidate() {
	if !sk.verdict.Authenticated {
		return
	}
	v := sk.srv.cfg.Authenticator.Authenticate(sk.srv.bound.ctx(), sk.cookie)
	if v.Reason == ReasonStoreUnavailable {
		sk.log(slog.LevelWarn, "revalidation skipped: session store unavailable")
		return
	}
	if !v.Authenticated || v.UserID != sk.verdict.UserID {
		sk.log(slog.LevelInfo, "session ended", slog.String("reason", v.Reason))
		sk.requestClose(CloseSessionEnded, "session ended")
	}
}

// sendError queues an error frame.
func (sk *socket) sendError(code, message string) {
	sk.srv.m.errorFrames.WithLabelValues(code).Inc()
	data, err := sk.srv.cfg.Encode(errorFrame(code, message))
	if err != nil {
		sk.log(slog.LevelError, "cannot encode error frame", slog.Any("err", err))
		return
	}
	sk.enqueue(&outFrame{frame: serverFrame(opText, data)})
}

// lingerAfterClose reads and discards what the peer is still sending (at most
// lingerBytes, for at most lingerTime) before the connection is closed. A
// client caught mid-way through an oversized message would otherwise get a TCP
// reset, which discards the 1009 close frame already sent, instead of the
// frame itself.
func lingerAfterClose(nc net.Conn) {
	_ = nc.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.Copy(io.Discard, io.LimitReader(nc, lingerBytes))
}

const (
	lingerTime  = 2 * time.Second
	lingerBytes = 16 << 20
)
