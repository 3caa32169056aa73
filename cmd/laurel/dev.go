package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/laurel-server/laurel/client"
	"github.com/laurel-server/laurel/internal/config"
	"github.com/laurel-server/laurel/internal/devserver"
)

// init registers `laurel dev` in the subcommand table of main.go. (Kept here
// so that dev mode stays in this one file; it is equivalent to an entry in
// the commands literal.)
func init() {
	commands["dev"] = command{"run a demo: embedded Redis, a demo user and page, live task progress", runDev}
}

// runDev is `laurel dev`: the README's first command. It starts Redis (the
// one on --redis-port, or an embedded one), a SQLite session database with
// Django's tables and the demo user, and the demo application
// (internal/devserver), then runs the real `laurel serve` with the generated
// configuration and the demo application as its upstream, until ctx ends.
func runDev(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(io.stderr)
	var (
		bind      string
		port      int
		redisPort int
		dir       string
		verbosity int
	)
	for _, n := range []string{"b", "bind"} {
		fs.StringVar(&bind, n, "127.0.0.1", "address to bind to")
	}
	for _, n := range []string{"p", "port"} {
		fs.IntVar(&port, n, 8000, "port to listen on")
	}
	fs.IntVar(&redisPort, "redis-port", 6379, "Redis port on 127.0.0.1: used if a Redis listens there, else an embedded one is started")
	fs.StringVar(&dir, "dir", "", "data directory for the SQLite database, secret key and config (default <tmp>/laurel-dev)")
	for _, n := range []string{"v", "verbosity"} {
		fs.IntVar(&verbosity, n, 1, "0 warnings only, 1 info and the access log, 2 debug")
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if port <= 0 || port > 65535 || redisPort <= 0 || redisPort > 65535 {
		return fmt.Errorf("%w: ports must be between 1 and 65535", errUsage)
	}

	level := "info"
	switch {
	case verbosity <= 0:
		level = "warn"
	case verbosity >= 2:
		level = "debug"
	}
	log := newLogger(io.stderr, config.Laurel{LogLevel: level})
	env, err := devserver.Start(ctx, devserver.Config{
		Dir:          dir,
		RedisAddr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(redisPort)),
		AllowedHosts: devAllowedHosts(bind),
		Logger:       log.With("component", "devserver"),
	})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = env.Close(cctx)
	}()

	base := "http://" + net.JoinHostPort(browseHost(bind), strconv.Itoa(port))
	redisNote := "a Redis already listening there"
	if env.Redis.Embedded {
		redisNote = "embedded; it stops with laurel dev"
	}
	_, _ = fmt.Fprintf(io.stdout, `
laurel dev

  Open %s/ and sign in as %s / demo, then start a task.

  Redis     %s (%s)
  Sessions  %s (Django's auth and sessions tables)
  Config    %s
  Client    %s%s
  Health    %s/healthz  %s/readyz  %s/metrics

  A Django project shares these sessions and this channel layer with (settings.py):

%s
  Ctrl-C stops.

`, base, env.User.Username, env.Redis.URL(), redisNote, env.DBPath, env.ConfigPath, base, client.ScriptPath,
		base, base, base, indent(env.DjangoSettings(), "    "))

	return runServe(ctx, []string{
		"--config", env.ConfigPath,
		"-b", bind, "-p", strconv.Itoa(port),
		"--upstream", env.AppURL,
		"-v", strconv.Itoa(verbosity),
	}, io)
}

// devAllowedHosts is ALLOWED_HOSTS for the Origin check in dev mode: the
// loopback names, the bind address when it is a specific one, and "*" when
// binding every interface (the page is then opened by any name).
func devAllowedHosts(bind string) []string {
	hosts := []string{"localhost", "127.0.0.1", "[::1]"}
	switch h := strings.Trim(bind, "[]"); h {
	case "", "localhost", "127.0.0.1", "::1":
	case "0.0.0.0", "::":
		hosts = append(hosts, "*")
	default:
		if strings.Contains(h, ":") {
			h = "[" + h + "]"
		}
		hosts = append(hosts, h)
	}
	return hosts
}

// browseHost is the host to print in URLs for a bind address.
func browseHost(bind string) string {
	switch h := strings.Trim(bind, "[]"); h {
	case "", "0.0.0.0", "::":
		return "127.0.0.1"
	default:
		return h
	}
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}
