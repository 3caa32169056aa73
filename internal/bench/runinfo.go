package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// RunInfo describes a compare run: when, what was measured and on what.
type RunInfo struct {
	// Date is the run's start (UTC, RFC 3339).
	Date string `json:"date"`
	// Command is the laurel-bench command line.
	Command string `json:"command"`
	// Laurel says which laurel was measured and how it was built.
	Laurel string `json:"laurel"`
	// Machine is CPUs, memory, kernel and the open-file limit.
	Machine string `json:"machine"`
	// Versions are the Go toolchain, Python packages, Redis and PostgreSQL.
	Versions string `json:"versions"`
}

// Report is what compare writes with -json: the run and its results.
type Report struct {
	Run     RunInfo  `json:"run"`
	Results []Result `json:"results"`
}

// Load1 is the 1-minute load average (/proc/loadavg), or -1.
func Load1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// Machine describes this machine: CPU model and count, memory, kernel and
// the per-process open-file limit.
func Machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				mem = fmt.Sprintf(", %.0f GB RAM", kb/(1<<20))
			}
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%d × %s%s%s%s", runtime.NumCPU(), model, mem, kernel, openFileLimit())
}

// Versions reports the Go toolchain, the venv's Django, Channels,
// channels_redis, Daphne and redis-py, redis-server and PostgreSQL.
func Versions(ctx context.Context, root string) string {
	out := func(name string, args ...string) string {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		b, err := exec.CommandContext(ctx, name, args...).Output() //nolint:gosec // fixed tools
		if err != nil {
			return "unknown"
		}
		return strings.TrimSpace(string(b))
	}
	py := out(filepath.Join(root, ".venv", "bin", "python"), "-c",
		`import sys, importlib.metadata as m
print("Python %d.%d.%d, " % sys.version_info[:3] + ", ".join("%s %s" % (p, m.version(p)) for p in ("Django", "channels", "channels-redis", "daphne", "redis")))`)
	redis := out("redis-server", "--version")
	if f := strings.Fields(redis); len(f) >= 3 {
		redis = "Redis " + strings.TrimPrefix(f[2], "v=")
	}
	pg := "PostgreSQL unknown"
	if found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres"); len(found) > 0 {
		pg = strings.Replace(out(found[len(found)-1], "--version"), "postgres (PostgreSQL)", "PostgreSQL", 1)
	}
	return fmt.Sprintf("%s; %s; %s; %s", runtime.Version(), py, redis, pg)
}
