package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/laurel-server/laurel/channelsproto"
	"github.com/laurel-server/laurel/client"
	"github.com/laurel-server/laurel/consumer"
	"github.com/laurel-server/laurel/djangoauth"
	"github.com/laurel-server/laurel/internal/accesslog"
	"github.com/laurel-server/laurel/internal/config"
	"github.com/laurel-server/laurel/internal/forwarded"
	"github.com/laurel-server/laurel/internal/proxy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// app is a running laurel: the layer, the authenticator, the consumer server
// and the optional upstream, in the order they are shut down in reverse.
type app struct {
	log      *slog.Logger
	cfg      config.Laurel
	layer    channelsproto.Backend
	auth     *djangoauth.Authenticator
	srv      *consumer.Server
	upstream *proxy.Upstream
	reg      *prometheus.Registry
	access   *accesslog.Log
	closers  []func() error
	stopping atomic.Bool
	watch    *layerWatch
	// reusePort sets SO_REUSEPORT on the TCP listener (--reuse-port).
	reusePort bool
	// pprof serves net/http/pprof on the --metrics-bind listener (--pprof).
	pprof bool
}

// authAdapter presents a djangoauth.Authenticator as a consumer.Authenticator,
// counting where each verdict came from (laurel_auth_verdicts_total).
type authAdapter struct {
	a        *djangoauth.Authenticator
	verdicts *prometheus.CounterVec
}

func newAuthAdapter(a *djangoauth.Authenticator, reg prometheus.Registerer) authAdapter {
	x := authAdapter{a: a, verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "laurel_auth_verdicts_total",
		Help: "Handshake verdicts by source: cache (verdict cache hit), store (session store read), none (no session cookie).",
	}, []string{"source"})}
	reg.MustRegister(x.verdicts)
	return x
}

func (x authAdapter) Authenticate(ctx context.Context, cookie string) consumer.Verdict {
	v := x.a.Authenticate(ctx, cookie)
	source := "store"
	switch {
	case v.Cached:
		source = "cache"
	case v.Reason == djangoauth.ReasonNoCookie:
		source = "none"
	}
	x.verdicts.WithLabelValues(source).Inc()
	return consumer.Verdict{Authenticated: v.Authenticated, UserID: v.UserID, Username: v.Username, Reason: string(v.Reason)}
}

// routes converts configured routes to consumer routes.
func routes(rs []config.Route) []consumer.Route {
	out := make([]consumer.Route, 0, len(rs))
	for _, r := range rs {
		cr := consumer.Route{Path: r.Path, Auth: consumer.Auth(r.Auth), Groups: r.Groups, Forward: r.Forward}
		for _, a := range r.Actions {
			cr.Actions = append(cr.Actions, consumer.Action{Name: a.Name, Join: a.Join, Leave: a.Leave})
		}
		out = append(out, cr)
	}
	return out
}

func newApp(ctx context.Context, s *config.Settings, log *slog.Logger, io stdio) (a *app, err error) {
	a = &app{log: log, cfg: s.Laurel, reg: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			a.closeAll()
		}
	}()
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	switch dest := a.cfg.AccessLog; dest {
	case "", "off":
	case "-":
		a.access = accesslog.New(io.stdout)
	default:
		f, err := os.OpenFile(dest, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644) //nolint:gosec // operator-chosen path
		if err != nil {
			return nil, fmt.Errorf("laurel.access_log: %w", err)
		}
		a.closers = append(a.closers, f.Close)
		a.access = accesslog.New(f)
	}

	// Django session authentication.
	djJSON, err := s.DjangoJSON()
	if err != nil {
		return nil, err
	}
	authCfg, err := djangoauth.FromSettings(djJSON)
	if err != nil {
		return nil, err
	}
	a.auth, err = djangoauth.New(authCfg, djangoauth.WithLogger(log.With(slog.String("component", "djangoauth"))))
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.auth.Close)

	// The channel layer, dispatching to the consumer server once it exists.
	layerJSON, err := s.ChannelLayer()
	if err != nil {
		return nil, err
	}
	var srvPtr atomic.Pointer[consumer.Server]
	dispatch := channelsproto.DispatcherFunc(func(d channelsproto.Delivery) {
		if srv := srvPtr.Load(); srv != nil {
			srv.Deliver(d.Channels, d.Message, d.Received)
		}
	})
	a.layer, err = channelsproto.NewBackend(s.ChannelLayerBackend(), layerJSON,
		channelsproto.WithLogger(log.With(slog.String("component", "channelsproto"))),
		channelsproto.WithDispatcher(dispatch))
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.layer.Close)
	a.registerLayerStats()

	refresh := a.cfg.GroupRefreshInterval.D()
	if refresh == 0 {
		refresh = -1 // the pub/sub layer's groups do not expire
		if s.ChannelLayerBackend() == config.LayerCore {
			layerCfg, err := channelsproto.ParseConfig(layerJSON)
			if err != nil {
				return nil, fmt.Errorf("CHANNEL_LAYERS.default.CONFIG: %w", err)
			}
			expiry := layerCfg.GroupExpiry
			if expiry == 0 {
				expiry = 86400 * time.Second
			}
			refresh = expiry / 2
		}
	}
	sc := resolveSocketCap(a.cfg.MaxSockets, socketPools(s.ChannelLayerBackend(), layerJSON, authCfg), config.FileLimit, log)
	ccfg := consumer.Config{
		Layer:                a.layer,
		Authenticator:        newAuthAdapter(a.auth, a.reg),
		Origin:               a.auth.OriginValidator(),
		Routes:               routes(a.cfg.Routes),
		RootPath:             a.cfg.RootPath,
		QueueSize:            a.cfg.QueueSize,
		MaxMessageSize:       a.cfg.MaxMessageSize,
		GroupMembership:      consumer.GroupMembership(a.cfg.GroupMembership),
		SubscriptionLimit:    a.cfg.SubscriptionLimit,
		MaxSocketsPerAddress: a.cfg.MaxSocketsPerAddress,
		MaxSockets:           sc.Max,
		PingInterval:         a.cfg.PingInterval.D(),
		PingTimeout:          a.cfg.PingTimeout.D(),
		MaxLifetime:          a.cfg.WebsocketTimeout.D(),
		HandshakeTimeout:     a.cfg.HandshakeTimeout.D(),
		WriteTimeout:         a.cfg.WriteTimeout.D(),
		GroupRefreshInterval: refresh,
		RevalidateInterval:   a.cfg.RevalidateInterval.D(),
		DrainPeriod:          a.cfg.DrainPeriod.D(),
		Logger:               log.With(slog.String("component", "consumer")),
		Registerer:           a.reg,
	}
	if a.access != nil {
		ccfg.Hooks = consumer.Hooks{
			Connecting:   a.access.WSConnecting,
			Rejected:     a.access.WSRejected,
			Connected:    a.access.WSConnected,
			Disconnected: a.access.WSDisconnected,
		}
	}
	a.srv, err = consumer.New(ccfg)
	if err != nil {
		return nil, err
	}
	srvPtr.Store(a.srv)

	if a.cfg.Upstream != "" {
		a.upstream, err = proxy.New(a.cfg.Upstream, a.cfg.ProxyHeaders, log.With(slog.String("component", "proxy")))
		if err != nil {
			return nil, fmt.Errorf("--upstream / laurel.upstream: %w", err)
		}
	}

	// An unreachable Redis or session store does not stop laurel: it starts
	// not ready (readyz 503), retries with backoff, and serves once they
	// answer. Say which is missing.
	a.watch = &layerWatch{ping: a.layer.Ping, refresh: a.srv.RefreshGroups, log: log.With(slog.String("component", "layerwatch"))}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := a.layer.Ping(pctx); err != nil {
		log.Error("CHANNEL_LAYERS.default: Redis unreachable at start-up; not ready until it answers", slog.Any("err", err))
	}
	if err := a.auth.Ping(pctx); err != nil {
		log.Warn("session store not reachable at start-up; handshakes answer 503 until it is", slog.Any("err", err))
	}
	return a, nil
}

// socketPools is the most connections the pools of this configuration may
// open at once, for config.ReserveFor: go-redis opens up to max_connections
// per channel-layer host (10 per CPU by default), plus a few outside the
// pool (the pub/sub layer's subscriptions); a cache session store has a
// Redis pool of its own; djangoauth's SQL pools hold MaxOpenConns each (8
// by default), two of them on SQLite. A CONFIG that does not parse counts
// as one host with the default pool (newApp reports the error itself).
func socketPools(backend string, layerJSON []byte, auth djangoauth.Config) int {
	redisDefault := 10 * runtime.GOMAXPROCS(0)
	parse := channelsproto.ParseConfig
	if backend == config.LayerPubSub {
		parse = channelsproto.ParsePubSubConfig
	}
	hosts := []channelsproto.Host{{}}
	if c, err := parse(layerJSON); err == nil && len(c.Hosts) > 0 {
		hosts = c.Hosts
	}
	n := 0
	for _, h := range hosts {
		pool := h.PoolSize
		if pool <= 0 {
			pool = redisDefault
		}
		n += pool + 4
	}
	if auth.SessionEngine == djangoauth.EngineCache || auth.SessionEngine == djangoauth.EngineCachedDB {
		n += redisDefault
	}
	sqlConns := auth.MaxOpenConns
	if sqlConns <= 0 {
		sqlConns = 8
	}
	return n + 2*sqlConns
}

// resolveSocketCap resolves laurel.max_sockets (config.ResolveMaxSockets)
// and logs the effective cap; it warns when a configured cap exceeds what
// the open-file limit leaves room for.
func resolveSocketCap(configured, pools int, fileLimit config.FileLimitFunc, log *slog.Logger) config.SocketCap {
	sc := config.ResolveMaxSockets(configured, pools, fileLimit)
	source := "max_sockets"
	if sc.Auto {
		source = "open-file limit"
	}
	attrs := []any{slog.Int("max_sockets", sc.Max), slog.String("from", source)}
	if sc.FileLimit > 0 {
		attrs = append(attrs, slog.Uint64("open_file_limit", sc.FileLimit), slog.Int("reserve", sc.Reserve))
	} else {
		attrs = append(attrs, slog.String("open_file_limit", "unknown"))
	}
	if sc.Max > 0 {
		log.Info("socket cap: further handshakes get 503 with Retry-After", attrs...)
	} else {
		log.Info("socket cap: none", attrs...)
	}
	if sc.OverLimit {
		log.Warn("laurel.max_sockets exceeds what the open-file limit allows: near that many sockets accept() fails with EMFILE and open sockets cannot open Redis or database connections; lower it or raise LimitNOFILE",
			slog.Int("max_sockets", sc.Max), slog.Uint64("open_file_limit", sc.FileLimit),
			slog.Int("reserve", sc.Reserve), slog.Int("allowed", sc.Allowed))
	}
	return sc
}

func (a *app) registerLayerStats() {
	a.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "laurel_layer_reader_errors_total", Help: "Redis errors of the channel layer inbox readers.",
		}, func() float64 { return float64(a.layer.Stats().ReaderErrors) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "laurel_layer_malformed_total", Help: "Inbox payloads that could not be decoded.",
		}, func() float64 { return float64(a.layer.Stats().Malformed) }),
	)
}

func (a *app) closeAll() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil {
			a.log.Warn("close", slog.Any("err", err))
		}
	}
	a.closers = nil
}

// handler routes a request: operations endpoints, laurel's WebSocket routes,
// then the upstream (or 404).
func (a *app) handler(withMetrics bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", a.readyz)
	// The browser client (docs/client.md), so pages can load it from laurel itself.
	mux.Handle("GET "+client.Prefix, client.Handler())
	if withMetrics {
		mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{}))
	}
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if websocket.IsWebSocketUpgrade(r) {
			switch {
			case a.srv.Match(r):
				a.srv.ServeHTTP(w, r)
			case a.upstream != nil:
				a.upstream.Tunnel(w, r)
			default:
				http.NotFound(w, r)
			}
			return
		}
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		if a.upstream != nil {
			a.upstream.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	})
	if a.access != nil {
		h = a.access.Handler(h)
	}
	return forwarded.Handler(h, a.cfg.ProxyHeaders)
}

func (a *app) readyz(w http.ResponseWriter, r *http.Request) {
	if a.stopping.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.layer.Ping(ctx); err != nil || !a.watch.up.Load() {
		a.log.Warn("readyz: channel layer", slog.Any("err", err))
		http.Error(w, "channel layer (Redis) unavailable", http.StatusServiceUnavailable)
		return
	}
	if err := a.auth.Ping(ctx); err != nil {
		a.log.Warn("readyz: session store", slog.Any("err", err))
		http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
		return
	}
	_, _ = io.WriteString(w, "ok\n")
}

// listenOn listens on l. keepAlive is the TCP keep-alive period of accepted
// connections, as net.ListenConfig.KeepAlive (negative: off).
func listenOn(l listen, keepAlive time.Duration) (net.Listener, error) {
	if l.network == "unix" {
		if fi, err := os.Lstat(l.addr); err == nil && fi.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(l.addr) // a stale socket from a previous run
		}
	}
	lc := net.ListenConfig{KeepAlive: keepAlive}
	return lc.Listen(context.Background(), l.network, l.addr)
}

// tcpKeepAlive is the keep-alive setting of accepted connections: off while
// WebSocket pings find dead peers (every connect saves the four setsockopt
// calls Go makes to enable it), Go's default when pings are disabled. HTTP
// connections are bounded by the server's idle timeout either way.
func (a *app) tcpKeepAlive() time.Duration {
	if a.cfg.PingInterval.D() >= 0 {
		return -1
	}
	return 0
}

// serve listens and serves until ctx ends, then shuts down in order: stop
// accepting, drain sockets (1001, memberships discarded), close tunnels,
// close the layer and the authenticator.
func (a *app) serve(ctx context.Context, addr listen) error {
	defer a.closeAll()
	var (
		ln  net.Listener
		err error
	)
	if a.reusePort && addr.network == "tcp" {
		ln, err = listenReusePort(addr.network, addr.addr, a.tcpKeepAlive())
	} else {
		ln, err = listenOn(addr, a.tcpKeepAlive())
	}
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr.addr, err)
	}
	errLog := slog.NewLogLogger(a.log.Handler(), slog.LevelDebug)
	main := &http.Server{Handler: a.handler(a.cfg.MetricsBind == ""), ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
	servers := []*http.Server{main}
	errc := make(chan error, 3)
	// The fast path (fastpath.go) accepts every connection; net/http
	// serves those it hands over.
	handoff := newConnQueue(ln.Addr())
	// A claimed request is one the main handler would pass, past the
	// proxy headers and the access log (which leaves upgrades to the
	// consumer's hooks), to a.srv: the fast path goes there directly.
	fast := &fastAccept{ln: ln, h: forwarded.Handler(a.srv, a.cfg.ProxyHeaders), claims: a.srv.Claims,
		handoff: handoff, log: a.log, headTimeout: main.ReadHeaderTimeout}
	fastDone := make(chan struct{})
	go func() {
		defer close(fastDone)
		if err := fast.run(); !errors.Is(err, net.ErrClosed) {
			errc <- err
		}
	}()
	// stopAccepting closes the listener and waits for the connections
	// the fast path is reading or serving. Safe to call more than once.
	stopAccepting := func() {
		_ = ln.Close()
		_ = handoff.Close()
		<-fastDone
	}
	defer stopAccepting()
	go func() { errc <- main.Serve(handoff) }()
	wctx, stopWatch := context.WithCancel(context.Background())
	watchDone, reaperDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(watchDone); a.watch.run(wctx) }()
	defer func() { stopWatch(); <-watchDone; <-reaperDone }()
	if core, ok := a.layer.(*channelsproto.Layer); ok && a.cfg.HeartbeatInterval >= 0 {
		// Heartbeat and sweeping of killed processes' memberships; stopped
		// (own entry removed) after the drain, before the layer closes.
		go func() {
			defer close(reaperDone)
			err := core.RunReaper(wctx, channelsproto.ReaperConfig{
				Interval: a.cfg.HeartbeatInterval.D(),
				OnRejoin: func(ctx context.Context) { a.srv.RefreshGroups(ctx) },
			})
			if err != nil {
				a.log.Error("heartbeat", slog.Any("err", err))
			}
		}()
	} else {
		close(reaperDone)
	}
	if a.cfg.MetricsBind != "" {
		mln, err := net.Listen("tcp", a.cfg.MetricsBind)
		if err != nil {
			stopAccepting()
			_ = main.Close()
			if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
				a.log.Warn("serve", slog.Any("err", serr))
			}
			return fmt.Errorf("--metrics-bind %s: %w", a.cfg.MetricsBind, err)
		}
		ms := &http.Server{Handler: a.opsHandler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
		servers = append(servers, ms)
		go func() { errc <- ms.Serve(mln) }()
	}
	attrs := []any{slog.String("listen", ln.Addr().String())}
	if a.upstream != nil {
		attrs = append(attrs, slog.String("upstream", a.upstream.String()))
	}
	if a.cfg.MetricsBind != "" {
		attrs = append(attrs, slog.String("metrics", a.cfg.MetricsBind))
	}
	a.log.Info("laurel serving", attrs...)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	a.stopping.Store(true)
	timeout := a.cfg.ShutdownTimeout.D()
	if timeout == 0 {
		drain := a.cfg.DrainPeriod.D()
		if drain == 0 {
			drain = 5 * time.Second
		}
		timeout = drain + 10*time.Second
	}
	a.log.Info("shutting down", slog.Duration("timeout", timeout))
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// Stop accepting; hijacked sockets are not tracked by net/http.
	shutdownDone := make(chan struct{})
	_ = ln.Close()
	go func() {
		for _, s := range servers {
			_ = s.Shutdown(sctx)
		}
		close(shutdownDone)
	}()
	if err := a.srv.Shutdown(sctx); err != nil {
		a.log.Warn("socket drain incomplete", slog.Any("err", err))
	}
	if a.upstream != nil {
		_ = a.upstream.Close()
	}
	<-shutdownDone
	for _, s := range servers {
		_ = s.Close()
	}
	stopAccepting()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	a.log.Info("stopped")
	return nil
}

// opsHandler serves only the operations endpoints (--metrics-bind).
func (a *app) opsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{}))
	if a.pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}
