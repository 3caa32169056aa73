// Command laurel serves a Django project's WebSockets in place of Daphne.
//
//	laurel serve [flags] [myproject.asgi:application]   (the default command)
//	laurel config --from-django SETTINGS_MODULE [--pythonpath DIR] [--python PY] [--include-secrets]
//	laurel check-session --config F (--cookie VALUE | --session-key K)
//	laurel version
//
// See docs/configuration.md and docs/migrating-from-daphne.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand. Adding one (e.g. "dev") is adding an entry to
// commands.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, io stdio) error
}

// stdio is what a command may touch of the process.
type stdio struct {
	stdout, stderr io.Writer
	environ        []string
}

var commands = map[string]command{
	"serve":         {"serve HTTP and WebSocket (the default)", runServe},
	"config":        {"print a laurel TOML config from a Django settings module", runConfig},
	"check-session": {"authenticate a session cookie or key and print the verdict", runCheckSession},
	"version":       {"print the version", runVersion},
}

// errUsage marks errors caused by bad arguments (exit status 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], stdio{os.Stdout, os.Stderr, os.Environ()})
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, io stdio) int {
	name, rest := "serve", args
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "help" || a == "-h" || a == "--help":
			usage(io.stdout)
			return 0
		case strings.HasPrefix(a, "-") || strings.Contains(a, ":") || strings.Contains(a, "."):
			// A flag or an ASGI path: Daphne's command line, served.
		default:
			name, rest = a, args[1:]
		}
	}
	cmd, ok := commands[name]
	if !ok {
		_, _ = fmt.Fprintf(io.stderr, "laurel: unknown command %q\n\n", name)
		usage(io.stderr)
		return 2
	}
	if err := cmd.run(ctx, rest, io); err != nil {
		_, _ = fmt.Fprintf(io.stderr, "laurel %s: %v\n", name, err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	_, _ = fmt.Fprintln(w, "usage: laurel <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		_, _ = fmt.Fprintf(w, "  %-14s %s\n", n, commands[n].summary)
	}
	_, _ = fmt.Fprintln(w, "\nRun 'laurel <command> -h' for a command's flags.")
}
