package consumer

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/laurel-server/laurel/channelsproto"
	"github.com/laurel-server/laurel/internal/netpoll"
)

// Server serves the configured WebSocket routes. It is an http.Handler for the
// paths Match claims, and the receiver of channel-layer deliveries (Deliver).
// All methods are safe for concurrent use.
type Server struct {
	cfg    Config
	log    *slog.Logger
	routes []*compiledRoute
	m      *metrics

	hub    *hub            // shared groups (MembershipProcess); nil in socket mode
	auths  *authPool       // runs handshake authentication on warm goroutines
	bound  *sharedDeadline // HandshakeTimeout contexts, shared
	epoch  time.Time       // the sockets' clock starts here
	nextID atomic.Uint64   // socket ids

	// I/O machinery shared by every socket, started with the first one
	// and stopped by Shutdown once every socket has ended.
	ioMu      sync.Mutex
	ioStarted bool
	ioStopped bool
	poller    *netpoll.Poller // nil: each socket reads on its own goroutine
	flushers  []*flusher
	ioStop    chan struct{}
	ioWG      sync.WaitGroup

	// Process mode: when the shared groups are next refreshed (sweeper
	// only), and whether a refresh runs.
	sharedNext int64
	sharedBusy atomic.Bool

	// releasing bounds the sockets leaving their groups at once, so that
	// a disconnect storm queues here instead of timing out in the layer's
	// connection pool (and starving its health checks).
	releasing chan struct{}

	mu      sync.RWMutex
	sockets map[string]*socket // by channel name
	perAddr map[string]int     // open sockets by client address, when limited
	closing bool
	wg      sync.WaitGroup // one per registered socket

	// open is len(sockets), written under mu, read without it by the
	// cheap check before authenticating (socketsFull).
	open atomic.Int64
	// capLog rate-limits the socket_limit warning (logCapRefusal).
	capLogAt  atomic.Int64 // unix nanoseconds of the last warning
	capRefuse atomic.Int64 // refusals since the last warning

	shutdownOnce sync.Once
	shutdownErr  error
}

// New validates cfg (on a copy, with defaults applied) and returns a Server.
// Errors wrap ErrConfig and name the bad field or route.
func New(cfg Config) (*Server, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	routes, err := compileRoutes(c.Routes)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(c.Registerer)
	if err != nil {
		return nil, fmt.Errorf("consumer: registering metrics: %w", err)
	}
	s := &Server{
		cfg:    c,
		log:    c.Logger,
		routes: routes,
		m:      m,
		auths:  newAuthPool(c.Authenticator),
		bound:  newSharedDeadline(c.HandshakeTimeout),
		epoch:  time.Now(),

		releasing: make(chan struct{}, releaseWorkers),
		sockets:   map[string]*socket{},
		perAddr:   map[string]int{},
	}
	if c.GroupMembership == MembershipProcess {
		s.hub = newHub()
	}
	if c.MaxSockets > 0 {
		m.socketsMax.Set(float64(c.MaxSockets))
	}
	return s, nil
}

// routePath returns the request path with the root path stripped, and
// whether it was under the root path.
func (s *Server) routePath(p string) (string, bool) {
	rp := strings.TrimSuffix(s.cfg.RootPath, "/")
	if rp == "" {
		return p, true
	}
	if !strings.HasPrefix(p, rp) {
		return "", false
	}
	return p[len(rp):], true
}

func (s *Server) find(p string) (*compiledRoute, map[string]string) {
	p, ok := s.routePath(p)
	if !ok {
		return nil, nil
	}
	for _, r := range s.routes {
		if kw, ok := r.match(p); ok {
			return r, kw
		}
	}
	return nil, nil
}

// Match reports whether r is a WebSocket handshake on a path one of the
// Server's routes claims. Requests it does not claim belong to the upstream
// (or get a 404).
func (s *Server) Match(r *http.Request) bool {
	if !websocket.IsWebSocketUpgrade(r) {
		return false
	}
	rt, _ := s.find(r.URL.Path)
	return rt != nil
}

// Claims reports whether r is a WebSocket handshake on one of the Server's
// routes that passes the upgrade checks (GET, version 13, a valid key). For
// such a request ServeHTTP answers only through the hijacked connection
// (the 101, or a raw refusal), so a caller serving connections itself may
// hand it a ResponseWriter whose only working method is Hijack.
func (s *Server) Claims(r *http.Request) bool {
	if !s.Match(r) {
		return false
	}
	_, err := checkUpgrade(r)
	return err == nil
}

// OpenSockets returns the number of sockets currently registered.
func (s *Server) OpenSockets() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.sockets)
}

// Deliver hands a channel-layer message to the local sockets named by
// channels. It never blocks on a socket: each frame is enqueued without
// waiting, and a socket with a full queue is closed with CloseSlowConsumer.
// msg is read only and may be shared with other receivers. The frame is
// encoded once per call and shared by every recipient.
func (s *Server) Deliver(channels []string, msg channelsproto.Map, received time.Time) {
	s.m.fromLayer.Inc()
	typ := msg.String("type")
	if typ == "" {
		s.m.dropped(DropNoType).Add(float64(len(channels)))
		return
	}
	if strings.HasPrefix(typ, "_") || strings.HasPrefix(typ, ".") {
		s.m.dropped(DropMalformedType).Add(float64(len(channels)))
		return
	}
	d := delivery{s: s, typ: typ, msg: msg, received: received}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.hub != nil {
		s.hub.mu.RLock()
		defer s.hub.mu.RUnlock()
		if len(channels) > 1 {
			// A socket may be named twice: through its group's shared
			// channel and through its own channel, added to the same
			// group by Python. It gets the event once, as a consumer
			// would.
			d.seen = map[*socket]struct{}{}
		}
	}
	for _, ch := range channels {
		if sock := s.sockets[ch]; sock != nil {
			d.to(sock)
			continue
		}
		if s.hub != nil {
			if g := s.hub.sharedFor(ch); g != nil {
				for sock := range g.members {
					d.to(sock)
				}
				continue
			}
		}
		s.m.dropped(DropNoSocket).Inc()
	}
}

// delivery is one Deliver call: the event is encoded on its first recipient
// and the frame shared by the others.
type delivery struct {
	s        *Server
	typ      string
	msg      channelsproto.Map
	received time.Time
	out      *outFrame
	failed   bool
	seen     map[*socket]struct{} // recipients so far, when one may repeat
}

func (d *delivery) to(sock *socket) {
	if d.seen != nil {
		if _, dup := d.seen[sock]; dup {
			return
		}
		d.seen[sock] = struct{}{}
	}
	if !sock.route.forwards(d.typ) {
		d.s.m.dropped(DropNotForwarded).Inc()
		return
	}
	if d.out == nil && !d.failed {
		var err error
		d.out, err = d.s.prepareEvent(d.msg)
		if err != nil {
			d.failed = true
			d.s.log.Warn("cannot encode event", slog.String("type", d.typ), slog.Any("err", err))
		} else {
			d.out.received = d.received
		}
	}
	if d.failed {
		d.s.m.dropped(DropEncode).Inc()
		return
	}
	sock.enqueue(d.out)
}

// EventFrame returns the frame a consumer sends for a channel-layer event:
// the event with "type" dots replaced by underscores (the Channels handler
// name) and every other field kept in order; channels_redis' internal
// "__asgi_channel__" key is left out.
func EventFrame(msg channelsproto.Map) channelsproto.Map {
	frame := make(channelsproto.Map, 0, len(msg))
	for _, f := range msg {
		switch f.Key {
		case "__asgi_channel__", "__asgi_group__":
			continue
		case "type":
			if t, ok := f.Value.(string); ok {
				f.Value = strings.ReplaceAll(t, ".", "_")
			}
		}
		frame = append(frame, f)
	}
	return frame
}

// prepareEvent encodes an event once, as a whole server frame (header and
// payload in one slice) that every recipient's queue shares.
func (s *Server) prepareEvent(msg channelsproto.Map) (*outFrame, error) {
	data, err := s.cfg.Encode(EventFrame(msg))
	if err != nil {
		return nil, err
	}
	return &outFrame{frame: serverFrame(opText, data)}, nil
}

// startIO starts the poller, the flushers and the sweeper, once, unless
// Shutdown has stopped them. Without a poller (not Linux, or epoll refused)
// sockets read on goroutines of their own.
func (s *Server) startIO() {
	s.ioMu.Lock()
	defer s.ioMu.Unlock()
	if s.ioStarted || s.ioStopped {
		return
	}
	s.ioStarted = true
	p, err := netpoll.New()
	if err != nil {
		s.log.Info("no readiness poller; one read goroutine per socket", slog.Any("err", err))
	} else {
		s.poller = p
	}
	s.ioStop = make(chan struct{})
	s.flushers = make([]*flusher, runtime.GOMAXPROCS(0))
	for i := range s.flushers {
		f := newFlusher()
		s.flushers[i] = f
		s.ioWG.Add(1)
		go func() {
			defer s.ioWG.Done()
			f.run()
		}()
	}
	s.ioWG.Add(1)
	go func() {
		defer s.ioWG.Done()
		s.sweepLoop(s.ioStop)
	}()
}

// stopIO stops what startIO started, and the authentication workers; every
// socket has ended.
func (s *Server) stopIO() {
	s.auths.close()
	s.ioMu.Lock()
	defer s.ioMu.Unlock()
	if s.ioStopped {
		return
	}
	s.ioStopped = true
	if !s.ioStarted {
		return
	}
	close(s.ioStop)
	for _, f := range s.flushers {
		f.shutdown()
	}
	s.ioWG.Wait()
	if s.poller != nil {
		if err := s.poller.Close(); err != nil {
			s.log.Warn("closing the poller failed", slog.Any("err", err))
		}
	}
}

// flusherFor returns the flusher of socket id.
func (s *Server) flusherFor(id uint64) *flusher {
	return s.flushers[id%uint64(len(s.flushers))]
}

// releaseWorkers bounds the concurrent group_discard rounds of ended
// sockets (see Server.releasing).
const releaseWorkers = 32

// Reasons register refuses a socket.
const (
	refuseClosing = "shutting_down"
	refuseAddress = "address_limit"
	refuseSockets = "socket_limit"
)

// register adds a socket unless the server is closing, already holds
// Config.MaxSockets sockets, or the socket's address already holds
// Config.MaxSocketsPerAddress sockets; it returns the refusal reason, ""
// when registered. The count it checks is the registered sockets' own,
// under s.mu, so concurrent handshakes never exceed the cap.
func (s *Server) register(sock *socket) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return refuseClosing
	}
	if lim := s.cfg.MaxSockets; lim > 0 && len(s.sockets) >= lim {
		return refuseSockets
	}
	if lim := s.cfg.MaxSocketsPerAddress; lim > 0 {
		a := clientHost(sock.client)
		if s.perAddr[a] >= lim {
			return refuseAddress
		}
		s.perAddr[a]++
	}
	s.sockets[sock.channel] = sock
	s.open.Store(int64(len(s.sockets)))
	s.wg.Add(1)
	return ""
}

// socketsFull reports whether the server holds Config.MaxSockets sockets (a
// cheap check before authenticating, without the lock; register decides).
func (s *Server) socketsFull() bool {
	lim := s.cfg.MaxSockets
	return lim > 0 && s.open.Load() >= int64(lim)
}

// capLogEvery is the least time between two socket_limit warnings: at
// capacity a refusal may come with every handshake, and one line per
// interval, with the count refused, says as much.
const capLogEvery = 10 * time.Second

// logCapRefusal counts a socket_limit refusal and logs a warning, with the
// refusals since the previous one, at most once per capLogEvery.
func (s *Server) logCapRefusal(client, path string) {
	s.capRefuse.Add(1)
	now := time.Now().UnixNano()
	last := s.capLogAt.Load()
	if last != 0 && now-last < int64(capLogEvery) {
		return
	}
	if !s.capLogAt.CompareAndSwap(last, now) {
		return // another handshake logs this interval
	}
	n := s.capRefuse.Swap(0)
	s.hsLog(slog.LevelWarn, "handshake refused: socket limit reached (max_sockets); answering 503 with Retry-After", client, path,
		slog.Int("limit", s.cfg.MaxSockets), slog.Int64("refused", n), slog.Duration("log_interval", capLogEvery))
}

// addressFull reports whether client's address is at its socket limit (a
// cheap check before authenticating; register decides).
func (s *Server) addressFull(client string) bool {
	lim := s.cfg.MaxSocketsPerAddress
	if lim <= 0 {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.perAddr[clientHost(client)] >= lim
}

func (s *Server) unregister(sock *socket) {
	s.mu.Lock()
	delete(s.sockets, sock.channel)
	s.open.Store(int64(len(s.sockets)))
	if s.cfg.MaxSocketsPerAddress > 0 {
		a := clientHost(sock.client)
		if s.perAddr[a]--; s.perAddr[a] <= 0 {
			delete(s.perAddr, a)
		}
	}
	s.mu.Unlock()
	s.wg.Done()
}

// clientHost is the address part of a RemoteAddr ("host:port", or a bare
// host or unix socket path as given).
func clientHost(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

// Shutdown stops accepting handshakes, closes every socket with
// CloseGoingAway spread evenly over Config.DrainPeriod, and waits until each
// has discarded its group memberships. If ctx ends first, the remaining
// connections are closed at once and Shutdown still waits for their
// handlers, then returns ctx's error. It is safe to call more than once;
// later calls return the first call's result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	socks := make([]*socket, 0, len(s.sockets))
	for _, sock := range s.sockets {
		socks = append(socks, sock)
	}
	s.mu.Unlock()
	s.log.Info("draining sockets", slog.Int("sockets", len(socks)), slog.Duration("drain_period", s.cfg.DrainPeriod))

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()

	var step time.Duration
	if len(socks) > 1 {
		step = s.cfg.DrainPeriod / time.Duration(len(socks))
	}
	var err error
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
drain:
	for i, sock := range socks {
		sock.requestClose(CloseGoingAway, "server shutting down")
		if step > 0 && i < len(socks)-1 {
			timer.Reset(step)
			select {
			case <-timer.C:
			case <-ctx.Done():
				err = ctx.Err()
				break drain
			}
		}
	}
	if err == nil {
		select {
		case <-done:
			s.stopIO()
			return nil
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	for _, sock := range socks {
		sock.forceClose()
	}
	<-done
	s.stopIO()
	return err
}
