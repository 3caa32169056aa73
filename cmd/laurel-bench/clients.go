package main

import (
	"context"
	"flag"
	"os"
	"strings"

	"github.com/laurel-server/laurel/internal/bench"
)

func runClients(ctx context.Context, args []string) error {
	var cfg bench.ClientConfig
	var cookies, sources string
	fs := flag.NewFlagSet("clients", flag.ContinueOnError)
	fs.StringVar(&cfg.URL, "url", "", "WebSocket URL")
	fs.StringVar(&cfg.Origin, "origin", "", "Origin header")
	fs.StringVar(&cookies, "cookies", "", "file with one Cookie header value per line")
	fs.IntVar(&cfg.N, "n", 1, "sockets to open")
	fs.IntVar(&cfg.Offset, "offset", 0, "global index of the first socket (cookie and -each group)")
	fs.StringVar(&cfg.Group, "group", "bench", "task id to subscribe to (prefix with -each)")
	fs.BoolVar(&cfg.Each, "each", false, "socket g subscribes to task <group><g>")
	fs.StringVar(&sources, "source", "", "comma-separated local addresses to bind, round robin")
	fs.IntVar(&cfg.Concurrency, "concurrency", 100, "handshakes in flight")
	fs.IntVar(&cfg.Retry503, "retry-503", 0, "times a handshake refused with 503 is tried again (after Retry-After, at most 5 s)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := os.ReadFile(cookies)
	if err != nil {
		return err
	}
	all := strings.Fields(string(b))
	if len(all) > 0 {
		k := cfg.Offset % len(all)
		cfg.Cookies = append(all[k:], all[:k]...)
	}
	if sources != "" {
		cfg.SourceIPs = strings.Split(sources, ",")
	}
	ctx, cancel := stdinStop(ctx)
	defer cancel()
	return bench.RunClients(ctx, cfg, os.Stdout)
}
