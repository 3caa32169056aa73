// Command laurel-bench measures laurel against Daphne side by side.
//
//	laurel-bench compare [-scenarios fanout-1k,throughput-1k,storm-sqlite,storm-postgres] [flags]
//
// starts the benchmark stack (compat_tests/bench/stack.py: Redis, the reference Django project with
// real sessions, one Daphne process with the reference consumer, laurel), runs every scenario against
// Daphne and then laurel, prints both and the ratios as a markdown table, and optionally writes the
// results as JSON, into docs/benchmarks.md (between its results markers) and as a PNG bar chart.
//
//	laurel-bench clients -url ws://... -origin http://... -cookies FILE -n N [flags]
//
// is one client process (compare starts several, each under the per-process open-file limit):
// it prints JSON lines on stdout and stops when its stdin says "stop" or closes.
// See docs/benchmarks.md.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

var errUsage = errors.New("usage: laurel-bench compare|clients [flags]")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "laurel-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "compare":
		return runCompare(ctx, args[1:])
	case "clients":
		return runClients(ctx, args[1:])
	}
	return errUsage
}

// stdinStop returns a context cancelled when stdin says "stop" or closes.
func stdinStop(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if sc.Text() == "stop" {
				break
			}
		}
		cancel()
	}()
	return ctx, cancel
}
