package consumer

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/laurel-server/laurel/channelsproto"
)

// closeGrace is how long a socket waits for the client's close frame after
// sending its own before dropping the connection.
const closeGrace = 2 * time.Second

// outFrame is one frame waiting in a socket's queue. It is immutable and
// shared by every socket a delivery targets; queues hold pointers so that a
// socket's queue costs 8 bytes per slot.
type outFrame struct {
	data     []byte                     // the text frame's payload
	pm       *websocket.PreparedMessage // non-nil when shared by several sockets
	received time.Time                  // zero for frames not from the layer (error frames)
}

type closeRequest struct {
	code   int
	reason string
}

// socket is one accepted WebSocket. Its handler goroutine reads; a writer
// goroutine it owns writes, pings, refreshes groups and revalidates.
type socket struct {
	srv     *Server
	route   *compiledRoute
	kwargs  map[string]string
	verdict Verdict
	cookie  string
	client  string
	path    string
	channel string
	log     *slog.Logger

	queue   chan *outFrame
	closeCh chan closeRequest // capacity 1: the first request wins
	// slowTimer force-closes a slow consumer whose writer is blocked.
	slowTimer atomic.Pointer[time.Timer]
	done      chan struct{} // closed when the reader returns

	connMu sync.Mutex
	conn   *websocket.Conn

	mu           sync.Mutex
	groups       map[string]bool // group -> joined by an action
	actionGroups int

	// Periodic refresh and revalidation do I/O off the writer goroutine, one
	// at a time; run waits for them before releasing the socket.
	bg     sync.WaitGroup
	bgBusy atomic.Bool
}

// background runs f on its own goroutine unless a previous one still runs,
// so slow Redis or database calls never delay frame writes.
func (sk *socket) background(f func()) {
	if !sk.bgBusy.CompareAndSwap(false, true) {
		return
	}
	sk.bg.Add(1)
	go func() {
		defer sk.bg.Done()
		defer sk.bgBusy.Store(false)
		f()
	}()
}

func newSocket(s *Server, rt *compiledRoute, kwargs map[string]string, v Verdict, cookie, client, path string) *socket {
	return &socket{
		srv:     s,
		route:   rt,
		kwargs:  kwargs,
		verdict: v,
		cookie:  cookie,
		client:  client,
		path:    path,
		channel: s.cfg.Layer.NewChannel(),
		queue:   make(chan *outFrame, s.cfg.QueueSize),
		closeCh: make(chan closeRequest, 1),
		done:    make(chan struct{}),
		groups:  map[string]bool{},
	}
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
			sk.log.Warn("connect group skipped: invalid name", slog.String("template", t.src), slog.Any("err", err))
			continue
		}
		if err := sk.srv.cfg.Layer.GroupAdd(ctx, g, sk.channel); err != nil {
			return err
		}
		sk.mu.Lock()
		sk.groups[g] = false
		sk.mu.Unlock()
	}
	return nil
}

// release leaves every group and, when the layer holds per-channel
// resources, releases the socket's channel.
func (sk *socket) release() {
	sk.discardAll()
	if r, ok := sk.srv.cfg.Layer.(ChannelReleaser); ok {
		ctx, cancel := context.WithTimeout(context.Background(), sk.srv.cfg.HandshakeTimeout)
		if err := r.ReleaseChannel(ctx, sk.channel); err != nil {
			sk.log.Warn("releasing channel failed", slog.Any("err", err))
		}
		cancel()
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
	clear(sk.groups)
	sk.actionGroups = 0
	sk.mu.Unlock()
	for _, g := range groups {
		ctx, cancel := context.WithTimeout(context.Background(), sk.srv.cfg.HandshakeTimeout)
		if err := sk.srv.cfg.Layer.GroupDiscard(ctx, g, sk.channel); err != nil {
			sk.log.Warn("group_discard failed", slog.Any("err", err))
		}
		cancel()
	}
}

// enqueue adds a frame without blocking; a full queue closes the socket.
func (sk *socket) enqueue(f *outFrame) {
	select {
	case sk.queue <- f:
	default:
		sk.srv.m.dropped(DropQueueFull).Inc()
		if sk.requestClose(CloseSlowConsumer, "slow consumer") {
			sk.log.Info("slow consumer: send queue full; closing with 4008", slog.Int("queue_size", cap(sk.queue)))
			// A writer blocked on a client that stopped reading cannot send
			// the close frame until WriteTimeout: drop the connection if the
			// socket has not ended within closeGrace.
			sk.slowTimer.Store(time.AfterFunc(closeGrace, sk.forceClose))
		}
	}
}

// requestClose asks the writer to send a close frame; the first request wins
// and gets true.
func (sk *socket) requestClose(code int, reason string) bool {
	select {
	case sk.closeCh <- closeRequest{code, reason}:
		return true
	default:
		return false
	}
}

// forceClose drops the connection at once.
func (sk *socket) forceClose() {
	sk.connMu.Lock()
	c := sk.conn
	sk.connMu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

func (sk *socket) readDeadline() time.Time {
	if sk.srv.cfg.PingInterval < 0 {
		return time.Time{}
	}
	return time.Now().Add(sk.srv.cfg.PingInterval + sk.srv.cfg.PingTimeout)
}

// run serves the socket until it ends, then leaves its groups and
// unregisters it.
func (sk *socket) run(conn *websocket.Conn) {
	s := sk.srv
	sk.connMu.Lock()
	sk.conn = conn
	sk.connMu.Unlock()
	s.m.socketsOpen.Inc()
	defer s.m.socketsOpen.Dec()

	if s.cfg.MaxMessageSize > 0 {
		conn.SetReadLimit(s.cfg.MaxMessageSize)
	}
	_ = conn.SetReadDeadline(sk.readDeadline())
	conn.SetPongHandler(func(string) error {
		return conn.SetReadDeadline(sk.readDeadline())
	})

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sk.writeLoop(conn)
	}()

	sk.readLoop(conn)
	close(sk.done)
	// Any close frame has been written synchronously by now; closing the
	// connection unblocks a writer stuck on a client that stopped reading.
	_ = conn.Close()
	wg.Wait()
	if t := sk.slowTimer.Load(); t != nil {
		t.Stop()
	}
	sk.bg.Wait()
	sk.release()
	s.unregister(sk)
	sk.log.Debug("socket closed")
}

func (sk *socket) readLoop(conn *websocket.Conn) {
	for {
		typ, data, err := conn.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				// gorilla has already sent the 1009 close frame.
				sk.srv.m.closes.WithLabelValues(strconv.Itoa(CloseMessageTooBig)).Inc()
				sk.log.Info("message too big; closed with 1009")
				lingerAfterClose(conn.NetConn())
			}
			return
		}
		_ = conn.SetReadDeadline(sk.readDeadline())
		sk.handle(typ, data)
	}
}

func (sk *socket) writeLoop(conn *websocket.Conn) {
	s := sk.srv
	var pingC, refreshC, revalC, lifeC <-chan time.Time
	if s.cfg.PingInterval > 0 {
		t := time.NewTicker(s.cfg.PingInterval)
		defer t.Stop()
		pingC = t.C
	}
	if s.cfg.GroupRefreshInterval > 0 {
		// Up to 10% earlier per socket, so that sockets connected together
		// do not all refresh in the same instant.
		period := s.cfg.GroupRefreshInterval
		if j := int64(period / 10); j > 0 {
			period -= time.Duration(rand.Int64N(j)) //nolint:gosec // jitter, not a secret
		}
		t := time.NewTicker(period)
		defer t.Stop()
		refreshC = t.C
	}
	if s.cfg.RevalidateInterval > 0 {
		t := time.NewTicker(s.cfg.RevalidateInterval)
		defer t.Stop()
		revalC = t.C
	}
	if s.cfg.MaxLifetime > 0 {
		t := time.NewTimer(s.cfg.MaxLifetime)
		defer t.Stop()
		lifeC = t.C
	}
	for {
		select {
		case f := <-sk.queue:
			_ = conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
			var err error
			if f.pm != nil {
				err = conn.WritePreparedMessage(f.pm)
			} else {
				err = conn.WriteMessage(websocket.TextMessage, f.data)
			}
			if err != nil {
				sk.log.Debug("write failed", slog.Any("err", err))
				_ = conn.Close()
				return
			}
			s.m.delivered.Inc()
			if !f.received.IsZero() {
				s.m.latency.Observe(time.Since(f.received).Seconds())
			}
		case <-pingC:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.cfg.WriteTimeout)); err != nil {
				_ = conn.Close()
				return
			}
		case <-refreshC:
			sk.background(sk.refreshGroups)
		case <-revalC:
			sk.background(sk.revalidate)
		case <-lifeC:
			sk.requestClose(CloseNormal, "")
		case req := <-sk.closeCh:
			s.m.closes.WithLabelValues(strconv.Itoa(req.code)).Inc()
			sk.log.Info("closing socket", slog.Int("code", req.code), slog.String("reason", req.reason))
			msg := websocket.FormatCloseMessage(req.code, req.reason)
			if err := conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(s.cfg.WriteTimeout)); err != nil {
				_ = conn.Close()
				return
			}
			// The reader returns when the client answers, or at the deadline.
			_ = conn.SetReadDeadline(time.Now().Add(closeGrace))
			return
		case <-sk.done:
			return
		}
	}
}

// refreshGroups re-adds the socket to every group it holds so that
// channels_redis' group_expiry does not remove it.
func (sk *socket) refreshGroups() {
	sk.mu.Lock()
	groups := make([]string, 0, len(sk.groups))
	for g := range sk.groups {
		groups = append(groups, g)
	}
	sk.mu.Unlock()
	for _, g := range groups {
		ctx, cancel := context.WithTimeout(context.Background(), sk.srv.cfg.HandshakeTimeout)
		err := sk.srv.cfg.Layer.GroupAdd(ctx, g, sk.channel)
		cancel()
		if err != nil {
			sk.log.Warn("group refresh failed", slog.Any("err", err))
		}
	}
}

// revalidate re-checks the session and closes the socket with
// CloseSessionEnded when it no longer belongs to the same user.
func (sk *socket) revalidate() {
	if !sk.verdict.Authenticated {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), sk.srv.cfg.HandshakeTimeout)
	v := sk.srv.cfg.Authenticator.Authenticate(ctx, sk.cookie)
	cancel()
	if v.Reason == ReasonStoreUnavailable {
		sk.log.Warn("revalidation skipped: session store unavailable")
		return
	}
	if !v.Authenticated || v.UserID != sk.verdict.UserID {
		sk.log.Info("session ended", slog.String("reason", v.Reason))
		sk.requestClose(CloseSessionEnded, "session ended")
	}
}

// sendError queues an error frame.
func (sk *socket) sendError(code, message string) {
	sk.srv.m.errorFrames.WithLabelValues(code).Inc()
	frame := channelsproto.Map{
		{Key: "type", Value: "error"},
		{Key: "error", Value: code},
		{Key: "message", Value: message},
	}
	data, err := sk.srv.cfg.Encode(frame)
	if err != nil {
		sk.log.Error("cannot encode error frame", slog.Any("err", err))
		return
	}
	sk.enqueue(&outFrame{data: data})
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
