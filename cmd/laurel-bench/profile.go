package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/laurel-server/laurel/internal/bench"
)

// profiling is a CPU profile of a laurel process and a Redis command
// statistics snapshot taken while a scenario runs.
type profiling struct {
	r       *bench.Runner
	base    string // output path without extension
	before  string // INFO commandstats at the start
	done    chan error
	started time.Time
}

// startProfile asks srv's first process for a CPU profile of d (served by
// laurel serve --pprof on its metrics listener) and records Redis' command
// statistics; finish writes base.pprof and base.redis.txt.
func startProfile(ctx context.Context, r *bench.Runner, srv *bench.Server, base string, d time.Duration) *profiling {
	p := &profiling{r: r, base: base, done: make(chan error, 1), started: time.Now()}
	p.before, _ = r.CommandStats(ctx)
	if len(srv.Metrics) == 0 {
		p.done <- fmt.Errorf("no metrics listener to profile")
		return p
	}
	url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", strings.TrimSuffix(srv.Metrics[0], "/metrics"), int(d.Seconds()))
	go func() {
		p.done <- fetchTo(ctx, url, base+".pprof")
	}()
	return p
}

func fetchTo(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req) //nolint:gosec // loopback URL from stack.py
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(path) //nolint:gosec // a report file
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// finish waits for the profile and writes Redis' command statistics before
// and after the scenario. It returns a summary of the profile for the
// report: its duration and samples, and the functions of laurel, its
// drivers and the runtime that use the most CPU (cumulative), from
// `go tool pprof -top -cum` on laurelBin.
func (p *profiling) finish(ctx context.Context, log *slog.Logger, laurelBin string) string {
	after, _ := p.r.CommandStats(ctx)
	text := fmt.Sprintf("# INFO commandstats before the scenario\n%s\n# after (%.1f s later)\n%s\n",
		p.before, time.Since(p.started).Seconds(), after)
	if err := os.WriteFile(p.base+".redis.txt", []byte(text), 0o644); err != nil { //nolint:gosec // a report file
		log.Warn("redis commandstats", "err", err)
	}
	if err := <-p.done; err != nil {
		log.Warn("profile", "err", err)
		return ""
	}
	log.Info("profile written", "path", p.base+".pprof")
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-cum", "-nodecount=300", laurelBin, p.base+".pprof").Output() //nolint:gosec // our files
	if err != nil {
		log.Warn("go tool pprof", "err", err)
		return ""
	}
	return summarizeProfile(string(out), profileLines)
}

// profileLines bounds the functions a profile summary lists.
const profileLines = 25

// profileKeep selects the functions worth listing: laurel's own, the
// session-store drivers, the WebSocket and HTTP layers, and the runtime's
// big items (syscalls, allocation, GC).
var profileKeep = []string{"laurel-server/laurel/", "modernc.org/sqlite.", "jackc/pgx", "database/sql.(*DB)",
	"net/http.(*conn).serve", "syscall.Syscall", "Syscall6", "runtime.mallocgc", "runtime.gcBgMarkWorker", "go-redis"}

// summarizeProfile keeps the header lines (Duration, samples) and at most n
// rows of `pprof -top -cum` output whose function matches profileKeep.
func summarizeProfile(top string, n int) string {
	var b strings.Builder
	rows := 0
	for _, line := range strings.Split(top, "\n") {
		switch {
		case strings.HasPrefix(line, "Duration:"):
			b.WriteString(line + "\n      flat  flat%   sum%        cum   cum%\n")
		case rows < n && keepRow(line):
			b.WriteString(line + "\n")
			rows++
		}
	}
	return b.String()
}

func keepRow(line string) bool {
	if len(strings.Fields(line)) < 6 {
		return false
	}
	for _, k := range profileKeep {
		if strings.Contains(line, k) {
			return true
		}
	}
	return false
}
