package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/laurel-server/laurel/consumer"
	"github.com/laurel-server/laurel/internal/config"
	"github.com/laurel-server/laurel/internal/heapfloor"
)

// serveFlags are laurel serve's flags: Daphne's where they make sense, plus
// laurel's own. A flag given on the command line overrides the config file.
type serveFlags struct {
	configPath   string
	bind         string
	port         int
	unixSocket   string
	proxyHeaders bool
	rootPath     string
	pingInterval int
	pingTimeout  int
	wsTimeout    int
	verbosity    int
	accessLog    string
	upstream     string
	metricsBind  string
	asgiApp      string
	maxMessage   int
	connectTO    int
	ignored      []string // Daphne flags accepted without effect
	reusePort    bool
	pprof        bool
	membership   string
	maxSockets   int
	set          map[string]bool
}

func parseServeFlags(args []string, stderr io.Writer) (*serveFlags, error) {
	f := &serveFlags{set: map[string]bool{}}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.configPath, "config", "", "TOML configuration file (docs/configuration.md)")
	for _, n := range []string{"b", "bind"} {
		fs.StringVar(&f.bind, n, "", "address to bind to (default 127.0.0.1)")
	}
	for _, n := range []string{"p", "port"} {
		fs.IntVar(&f.port, n, 0, "port to listen on (default 8000)")
	}
	for _, n := range []string{"u", "unix-socket"} {
		fs.StringVar(&f.unixSocket, n, "", "listen on a UNIX socket instead of TCP")
	}
	fs.BoolVar(&f.proxyHeaders, "proxy-headers", false, "take the client address from X-Forwarded-For/-Port/-Proto")
	fs.StringVar(&f.rootPath, "root-path", "", "URL prefix stripped before route matching (Daphne's --root-path)")
	fs.IntVar(&f.pingInterval, "ping-interval", 20, "seconds a WebSocket may be idle before a ping")
	fs.IntVar(&f.pingTimeout, "ping-timeout", 30, "seconds without a reply after a ping before closing")
	for _, n := range []string{"websocket_timeout", "websocket-timeout"} {
		fs.IntVar(&f.wsTimeout, n, -1, "maximum seconds a WebSocket stays connected; -1 for no limit")
	}
	for _, n := range []string{"v", "verbosity"} {
		fs.IntVar(&f.verbosity, n, 1, "0 warnings only, 1 info and the access log on stdout, 2 debug")
	}
	fs.StringVar(&f.accessLog, "access-log", "", "access log file, - for stdout (default stdout when verbosity >= 1)")
	fs.StringVar(&f.upstream, "upstream", "", "ASGI server for everything else: http://host:port or unix:/path")
	fs.StringVar(&f.metricsBind, "metrics-bind", "", "serve /metrics, /healthz and /readyz on this address too")
	fs.BoolVar(&f.reusePort, "reuse-port", false, "listen with SO_REUSEPORT so several laurel processes share the port (Linux)")
	fs.Func("group-membership", "which channel joins a group: socket (each socket's own, as under Daphne; the default) or process (one per laurel process; group_send then costs the same for any number of subscribers)", func(v string) error {
		if _, err := consumer.ParseGroupMembership(v); err != nil {
			return err
		}
		f.membership = v
		return nil
	})
	fs.IntVar(&f.maxSockets, "max-sockets", 0, "most WebSocket sockets this process holds (further handshakes get 503 with Retry-After); 0: the open-file limit minus a reserve; negative: no cap")
	fs.BoolVar(&f.pprof, "pprof", false, "serve Go's /debug/pprof/ profiles on the --metrics-bind address (never on the main listener)")
	fs.IntVar(&f.maxMessage, "websocket-max-message-size", 1<<20, "largest incoming WebSocket message in bytes; 0 for no limit")
	for _, n := range []string{"websocket_connect_timeout", "websocket-connect-timeout"} {
		fs.IntVar(&f.connectTO, n, 5, "seconds allowed for a WebSocket handshake (authentication and group joins)")
	}
	// Daphne flags laurel accepts so that a Daphne command line keeps
	// working, but that have no effect here (logged at start-up).
	for _, n := range []string{"t", "http-timeout", "application-close-timeout", "websocket-max-frame-size",
		"s", "server-name", "log-fmt", "proxy-headers-host", "proxy-headers-port"} {
		fs.Func(n, "accepted for Daphne compatibility; no effect", func(string) error {
			f.ignored = append(f.ignored, n)
			return nil
		})
	}
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("%w: %w", errUsage, err)
		}
		args = fs.Args()
		if len(args) > 0 {
			if f.asgiApp != "" {
				return nil, fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
			}
			f.asgiApp = args[0]
			args = args[1:]
		}
	}
	fs.Visit(func(fl *flag.Flag) { f.set[canonicalFlag(fl.Name)] = true })
	return f, nil
}

func canonicalFlag(n string) string {
	switch n {
	case "b":
		return "bind"
	case "p":
		return "port"
	case "u":
		return "unix-socket"
	case "v":
		return "verbosity"
	case "websocket-timeout":
		return "websocket_timeout"
	case "websocket-connect-timeout":
		return "websocket_connect_timeout"
	}
	return n
}

// seconds converts a Daphne seconds flag; negative means "no limit" (0).
func seconds(n int) config.Duration {
	if n < 0 {
		return 0
	}
	return config.Duration(time.Duration(n) * time.Second)
}

// applyFlags lets command-line flags override the file and environment.
func (f *serveFlags) applyFlags(l *config.Laurel) {
	if f.set["websocket-max-message-size"] {
		l.MaxMessageSize = int64(f.maxMessage)
		if f.maxMessage == 0 {
			l.MaxMessageSize = -1 // Daphne's 0: no limit
		}
	}
	if f.set["websocket_connect_timeout"] && f.connectTO > 0 {
		l.HandshakeTimeout = config.Duration(time.Duration(f.connectTO) * time.Second)
	}
	if f.set["proxy-headers"] {
		l.ProxyHeaders = f.proxyHeaders
	}
	if f.set["root-path"] {
		l.RootPath = f.rootPath
	}
	if f.set["ping-interval"] {
		l.PingInterval = seconds(f.pingInterval)
		if f.pingInterval <= 0 {
			l.PingInterval = -1
		}
	}
	if f.set["ping-timeout"] {
		l.PingTimeout = seconds(f.pingTimeout)
	}
	if f.set["websocket_timeout"] {
		l.WebsocketTimeout = seconds(f.wsTimeout)
	}
	if f.set["access-log"] {
		l.AccessLog = f.accessLog
	}
	if f.set["upstream"] {
		l.Upstream = f.upstream
	}
	if f.set["group-membership"] {
		l.GroupMembership = f.membership
	}
	if f.set["max-sockets"] {
		l.MaxSockets = f.maxSockets
	}
	if f.set["metrics-bind"] {
		l.MetricsBind = f.metricsBind
	}
	if f.set["verbosity"] {
		switch {
		case f.verbosity <= 0:
			l.LogLevel = "warn"
		case f.verbosity == 1:
			l.LogLevel = "info"
		default:
			l.LogLevel = "debug"
		}
	}
}

func newLogger(w io.Writer, l config.Laurel) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(l.LogLevel) {
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if l.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func runServe(ctx context.Context, args []string, io stdio) error {
	f, err := parseServeFlags(args, io.stderr)
	if err != nil {
		return err
	}
	settings, err := config.Load(f.configPath, io.environ)
	if err != nil {
		return err
	}
	f.applyFlags(&settings.Laurel)
	switch {
	case settings.Laurel.AccessLog == "off":
		settings.Laurel.AccessLog = ""
	case settings.Laurel.AccessLog == "" && f.verbosity >= 1:
		settings.Laurel.AccessLog = "-" // Daphne's default at verbosity 1
	}
	log := newLogger(io.stderr, settings.Laurel)
	for _, w := range settings.Warnings {
		log.Warn(w)
	}
	for _, n := range f.ignored {
		log.Warn("Daphne flag accepted but has no effect in laurel", slog.String("flag", "--"+n))
	}
	if f.asgiApp != "" {
		log.Info("ASGI application argument ignored: laurel serves its routes natively; use --upstream to keep serving the rest",
			slog.String("application", f.asgiApp))
	}
	if f.pprof && settings.Laurel.MetricsBind == "" {
		return fmt.Errorf("%w: --pprof needs --metrics-bind: profiles are never served on the public listener", errUsage)
	}
	if floor := startHeapFloor(io.environ); floor != nil {
		defer floor.Stop()
	}
	addr := listenAddr(f)
	app, err := newApp(ctx, settings, log, io)
	if err != nil {
		return err
	}
	app.reusePort = f.reusePort
	app.pprof = f.pprof
	return app.serve(ctx, addr)
}

// heapFloor is the smallest heap goal laurel's collector runs with (see
// package heapfloor): a connect storm on a fresh process then costs 3 or 4
// collections rather than a dozen. It matters only while the live heap is
// under half of it, about 6,000 idle sockets.
const heapFloor = 32 << 20

// startHeapFloor starts the heap floor, unless GOGC is set in environ: an
// operator's own GOGC is kept as it is.
func startHeapFloor(environ []string) *heapfloor.Floor {
	for _, kv := range environ {
		if strings.HasPrefix(kv, "GOGC=") {
			return nil
		}
	}
	return heapfloor.Start(heapFloor, 100)
}

// listen is a listening address: network "tcp" or "unix".
type listen struct{ network, addr string }

func listenAddr(f *serveFlags) listen {
	if f.unixSocket != "" {
		return listen{"unix", f.unixSocket}
	}
	host, port := f.bind, f.port
	if host == "" {
		host = "127.0.0.1"
	}
	if port == 0 {
		port = 8000
	}
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	return listen{"tcp", fmt.Sprintf("%s:%d", host, port)}
}
