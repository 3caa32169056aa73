package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strings"

	"github.com/laurel-server/laurel/internal/bench"
)

func runClients(ctx context.Context, args []string) error {
	var cfg bench.ClientConfig
	var cookies, sources, cpuProfile string
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
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write this process's CPU profile, from start to stop, to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// A client process's heap is its sockets (a few KB each) and little
	// garbage: collecting at 5x the live heap rather than 2x saves most of
	// the marking (CPU taken from the server under test on a shared
	// machine) for a few MB of RSS (88 -> 97 MB at 15,000 sockets).
	debug.SetGCPercent(400)
	if cpuProfile != "" {
		stop, err := startCPUProfile(cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
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

// startCPUProfile starts profiling this process's CPU into path; the
// returned function stops and writes it (errors go to stderr: a missing
// profile must not fail the run it describes).
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path) //nolint:gosec // a report file named by the caller
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "laurel-bench clients: cpu profile:", err)
		}
	}, nil
}
