package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/laurel-server/laurel/internal/bench"
)

type compareFlags struct {
	scenarios     string
	servers       string
	root          string
	laurelBin     string
	laurelCommit  string
	duration      time.Duration
	rate          float64
	count         int
	goCount       int
	stormN        int
	stormConc     int
	stormNDaphne  int
	users         int
	stormConcD    int
	stormRuns     int
	manyDur       time.Duration
	publishers    int
	idleRest      time.Duration
	perProc       int
	laurelPerProc int
	jsonOut       string
	doc           string
	png           string
	merge         string
	backend       string
	laurelArgs    string
	keep          bool
	pprofDir      string
	pprofFor      time.Duration
	pprofKinds    string
}

func runCompare(ctx context.Context, args []string) error {
	var f compareFlags
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.StringVar(&f.scenarios, "scenarios", "fanout-1k,throughput-1k,storm-sqlite,storm-postgres",
		"comma list: fanout-<N>, throughput-<N>, throughput-go-<N>, many-<N>, storm-sqlite, storm-postgres, idle-<N> (N like 1k, 10k); "+
			"a suffix /core or /pubsub picks that scenario's channel layer, a suffix /process runs laurel with --group-membership process (laurel only: its ratio is against Daphne's result of the scenario without /process), "+
			"a final @laurel or @daphne runs it on that server only (fanout-1k/pubsub@laurel, fanout-1k/process)")
	fs.StringVar(&f.backend, "backend", bench.BackendCore,
		"channel layer of both servers and the publishers for scenarios without a /core or /pubsub suffix: core (channels_redis.core.RedisChannelLayer) or pubsub (channels_redis.pubsub.RedisPubSubChannelLayer); pub/sub results are named <scenario>/pubsub")
	fs.StringVar(&f.pprofDir, "pprof-dir", "", "save laurel's CPU profile (its first process, served with --pprof, added to -laurel-args) and Redis' INFO commandstats during each laurel scenario in this directory, and the client processes' CPU profiles (<scenario>.<server>.client<k>.pprof, each process's whole life) for both servers")
	fs.DurationVar(&f.pprofFor, "pprof-seconds", 10*time.Second, "length of each CPU profile (from the scenario's start)")
	fs.StringVar(&f.pprofKinds, "pprof-kinds", "storm", "comma list of scenario kinds profiled with -pprof-dir (fanout, throughput, many, storm, idle); a summary goes into the results")
	fs.BoolVar(&f.keep, "keep", false, "keep each stack's temporary directory (server logs) after the run")
	fs.StringVar(&f.laurelArgs, "laurel-args", "", "extra arguments to every laurel serve, space-separated (e.g. --pprof)")
	fs.StringVar(&f.servers, "servers", "daphne,laurel", "servers to run against, in order")
	fs.StringVar(&f.root, "root", ".", "repository root")
	fs.StringVar(&f.laurelBin, "laurel-bin", "", "laurel binary (default: ./cmd/laurel of the repository's HEAD commit, from git archive, built without -race into a temp dir)")
	fs.StringVar(&f.laurelCommit, "laurel-commit", "", "with -laurel-bin: the commit it was built from, for the report")
	fs.DurationVar(&f.duration, "duration", 30*time.Second, "fan-out publishing time")
	fs.Float64Var(&f.rate, "rate", 20, "fan-out messages per second")
	fs.IntVar(&f.count, "count", 200, "throughput: back-to-back group_send calls")
	fs.IntVar(&f.goCount, "go-count", 2000, "throughput-go: back-to-back group_send calls through channelsproto")
	fs.IntVar(&f.stormN, "storm-n", 10000, "connect storm on laurel: sockets, each with its own session (enough for a steady rate: laurel opens 1,000 in under a second)")
	fs.IntVar(&f.stormConc, "storm-concurrency", 200, "connect storm on laurel: handshakes in flight per client process")
	fs.IntVar(&f.stormNDaphne, "storm-n-daphne", 2000, "connect storm on Daphne: sockets, each with its own session (Daphne takes 10-30 s for 2,000)")
	fs.IntVar(&f.users, "users", 0, "Django users the stack's sessions belong to, round robin (0: one user per session, as when every browser of a site reconnects after a deploy)")
	fs.IntVar(&f.stormRuns, "storm-runs", 3, "connect storms: runs per server, 3 s apart (longer than laurel's verdict cache TTL); the median run is reported")
	fs.IntVar(&f.stormConcD, "storm-concurrency-daphne", 50, "connect storm on Daphne: handshakes in flight (Twisted's listen backlog is 50: more are refused)")
	fs.DurationVar(&f.manyDur, "many-duration", 20*time.Second, "many groups: publishing time")
	fs.IntVar(&f.publishers, "publishers", 8, "many groups: concurrent Python publishers")
	fs.DurationVar(&f.idleRest, "idle-rest", 10*time.Second, "idle: time at rest measured")
	fs.IntVar(&f.perProc, "per-proc", 15000, "sockets per client process")
	fs.IntVar(&f.laurelPerProc, "laurel-per-proc", 16000, "sockets per laurel process: larger scenarios (a storm: -storm-n) start ceil(N/this) laurel processes with --reuse-port")
	fs.StringVar(&f.jsonOut, "json", "", "write the results as JSON to this file")
	fs.StringVar(&f.doc, "doc", "", "rewrite the results section of this markdown file (docs/benchmarks.md)")
	fs.StringVar(&f.png, "png", "", "write the bar chart to this PNG file")
	fs.StringVar(&f.merge, "merge", "", "comma list of earlier -json files: their scenarios not run now are reported too (with -scenarios '': report only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.stormRuns < 1 {
		return fmt.Errorf("-storm-runs %d: want 1 or more", f.stormRuns)
	}
	if f.backend != bench.BackendCore && f.backend != bench.BackendPubSub {
		return fmt.Errorf("-backend %q: want core or pubsub", f.backend)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if f.pprofDir != "" {
		if err := os.MkdirAll(f.pprofDir, 0o755); err != nil { //nolint:gosec // a report directory
			return err
		}
		f.laurelArgs += " --pprof"
	}
	root, err := filepath.Abs(f.root)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	run := bench.RunInfo{Date: time.Now().UTC().Format(time.RFC3339), Command: strings.Join(os.Args[1:], " ")}
	switch {
	case f.scenarios == "":
	case f.laurelBin == "":
		dir, err := os.MkdirTemp("", "laurel-bench-bin-")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(dir) }()
		f.laurelBin = filepath.Join(dir, "laurel")
		commit, err := buildHead(ctx, root, dir, f.laurelBin)
		if err != nil {
			return err
		}
		run.Laurel = fmt.Sprintf("commit %s (`git archive` of HEAD, built with `go build` without `-race`)", commit)
	default:
		// The stack starts laurel from its own temporary directory: a
		// relative path must not be resolved there.
		abs, err := filepath.Abs(f.laurelBin)
		if err != nil {
			return err
		}
		if st, err := os.Stat(abs); err != nil {
			return fmt.Errorf("-laurel-bin: %w", err)
		} else if st.IsDir() {
			return fmt.Errorf("-laurel-bin %s: a directory, not a laurel binary", f.laurelBin)
		}
		f.laurelBin = abs
		run.Laurel = fmt.Sprintf("%s (-laurel-bin), commit %s", f.laurelBin, firstNonEmpty(f.laurelCommit, "not given"))
	}
	if f.scenarios != "" {
		run.Machine, run.Versions = bench.Machine(), bench.Versions(ctx, root)
	}
	servers := strings.Split(f.servers, ",")
	var pairs []bench.Pair
	var results []bench.Result
	stacks := map[string]*bench.Stack{}
	defer func() {
		for _, s := range stacks {
			_ = s.Close()
		}
	}()
	stackFor := func(db string, procs int, backend, membership string) (*bench.Stack, error) {
		key := fmt.Sprintf("%s/%d/%s/%s", db, procs, backend, membership)
		db, _, _ = strings.Cut(db, ":")
		if db == "idle" {
			db = "sqlite"
		}
		if s := stacks[key]; s != nil {
			return s, nil
		}
		for k, s := range stacks { // one stack at a time: they compete for the same cores
			_ = s.Close()
			delete(stacks, k)
		}
		sessions := max(f.stormN, f.stormNDaphne, 1)
		users := f.users
		if users <= 0 || users > sessions {
			users = sessions
		}
		log.Info("starting stack", "users", users, "sessions", sessions, "db", db, "laurel_procs", procs,
			"backend", backend, "group_membership", membership)
		s, err := bench.StartStack(ctx, bench.StackOptions{Root: root, LaurelBin: f.laurelBin, DB: db,
			Users: users, Sessions: sessions, LaurelProcs: procs, Backend: backend, GroupMembership: membership,
			LaurelArgs: strings.Fields(f.laurelArgs), Keep: f.keep})
		if err != nil {
			return nil, err
		}
		stacks[key] = s
		log.Info("stack started", "dir", s.Dir, "redis", s.RedisURL)
		return s, nil
	}
	var scenarios []string
	if f.scenarios != "" {
		scenarios = strings.Split(f.scenarios, ",")
	}
	for _, entry := range scenarios {
		spec, err := parseScenario(entry, f.backend, servers)
		if err != nil {
			return err
		}
		sc, backend, servers, label := spec.name, spec.backend, spec.servers, spec.label
		db := "sqlite"
		if sc == "storm-postgres" {
			db = "postgres"
		}
		// Sockets beyond one process's open-file limit need several laurel
		// processes sharing the port (--reuse-port).
		procs := 1
		n, err := size(sc[strings.LastIndex(sc, "-")+1:])
		if strings.HasPrefix(sc, "storm-") {
			n, err = f.stormN, nil // a storm's size is -storm-n, not in its name
		}
		if err == nil && n > f.laurelPerProc {
			procs = (n + f.laurelPerProc - 1) / f.laurelPerProc
		}
		// Idle memory is measured on freshly started servers: a Go heap or a
		// Python arena grown by an earlier scenario is not given back at once.
		if strings.HasPrefix(sc, "idle-") {
			db = "idle:" + sc
		}
		st, err := stackFor(db, procs, backend, spec.membership)
		if err != nil {
			return err
		}
		r := &bench.Runner{Stack: st, Exe: exe, Root: root, PerProc: f.perProc, Log: log}
		p := bench.Pair{Scenario: label}
		for _, name := range servers {
			srv := st.Daphne
			if name == "laurel" {
				srv = st.Laurel
			}
			if srv == nil {
				return fmt.Errorf("unknown server %q", name)
			}
			log.Info("scenario", "name", sc, "server", name)
			var prof *profiling
			r.ClientProfile = ""
			if f.pprofDir != "" && slices.Contains(strings.Split(f.pprofKinds, ","), bench.Kind(sc)) {
				base := filepath.Join(f.pprofDir, strings.ReplaceAll(label, "/", "-"))
				if name == "laurel" {
					prof = startProfile(ctx, r, srv, base, f.pprofFor)
				}
				// The client processes' own profiles, whole run, one per process.
				r.ClientProfile = base + "." + name + ".client"
			}
			start, load := time.Now(), bench.Load1()
			res, err := runScenario(ctx, r, srv, sc, f)
			var profile string
			if prof != nil {
				profile = prof.finish(ctx, log, f.laurelBin)
			}
			if err != nil {
				res = bench.Result{Values: map[string]float64{}, Note: "failed: " + err.Error()}
				log.Error("scenario failed", "name", label, "server", name, "err", err)
			}
			res.Scenario, res.Server, res.Profile = label, name, profile
			if n := r.LeftBehind(); n > 0 {
				res.Values[bench.MetricLeftBehind] = float64(n)
				what := fmt.Sprintf("%d memberships of closed sockets left in Redis", n)
				if spec.membership == bench.MembershipProcess {
					what = fmt.Sprintf("%d group memberships left in Redis once every socket closed (process mode: a member is a laurel process's channel)", n)
				}
				res.Note = strings.TrimPrefix(res.Note+"; "+what, "; ")
			}
			res.Start, res.Seconds = start.UTC().Format(time.RFC3339), time.Since(start).Seconds()
			res.Load1Start, res.Load1End = load, bench.Load1()
			log.Info("result", "name", label, "server", name, "values", res.Values, "note", res.Note)
			results = append(results, res)
			if name == "laurel" {
				p.Laurel = &results[len(results)-1]
			} else {
				p.Daphne = &results[len(results)-1]
			}
		}
		pairs = append(pairs, p)
		_ = r.Close()
	}
	if f.merge != "" {
		for _, path := range strings.Split(f.merge, ",") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			rep, err := readReport(b)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if len(scenarios) == 0 && run.Laurel == "" {
				run = rep.Run // report only: the merged run's description
				run.Command += " (merged by: " + strings.Join(os.Args[1:], " ") + ")"
			}
			old := rep.Results
			for _, o := range old {
				if !hasScenario(pairs, o.Scenario) {
					pairs = append(pairs, bench.Pair{Scenario: o.Scenario})
				}
				if !hasResult(results, o) {
					results = append(results, o)
				}
			}
		}
	}
	// results may have been reallocated: rebind pairs.
	pairs = bench.WithBaseDaphne(rebind(nextToBase(pairs), results))
	if err := bench.WriteTable(os.Stdout, pairs); err != nil {
		return err
	}
	if f.jsonOut != "" {
		b, _ := json.MarshalIndent(bench.Report{Run: run, Results: results}, "", "  ")
		if err := os.WriteFile(f.jsonOut, b, 0o644); err != nil { //nolint:gosec // a report file
			return err
		}
	}
	if f.png != "" {
		if err := bench.WriteChartFile(f.png, pairs); err != nil {
			return err
		}
	}
	if f.doc != "" {
		if err := bench.UpdateDoc(f.doc, pairs, run); err != nil {
			return err
		}
	}
	return nil
}

func hasScenario(pairs []bench.Pair, sc string) bool {
	for _, p := range pairs {
		if p.Scenario == sc {
			return true
		}
	}
	return false
}

func hasResult(results []bench.Result, r bench.Result) bool {
	for _, x := range results {
		if x.Scenario == r.Scenario && x.Server == r.Server {
			return true
		}
	}
	return false
}

func rebind(pairs []bench.Pair, results []bench.Result) []bench.Pair {
	out := make([]bench.Pair, len(pairs))
	for i, p := range pairs {
		out[i].Scenario = p.Scenario
		for j := range results {
			r := &results[j]
			if r.Scenario != p.Scenario {
				continue
			}
			if r.Server == "laurel" {
				out[i].Laurel = r
			} else {
				out[i].Daphne = r
			}
		}
	}
	return out
}

// readReport reads a -json file: a Report, or the bare list of results
// earlier versions wrote.
func readReport(b []byte) (bench.Report, error) {
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err == nil {
		return rep, nil
	}
	err := json.Unmarshal(b, &rep.Results)
	return rep, err
}

// buildHead builds ./cmd/laurel of root's HEAD commit (git archive, so
// uncommitted changes in the tree are not measured) into bin, using dir as
// scratch space, and returns the commit.
func buildHead(ctx context.Context, root, dir, bin string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "", fmt.Errorf("git rev-parse HEAD: %w", err)
	}
	commit := strings.TrimSpace(string(out))
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil { //nolint:gosec // a scratch directory
		return "", err
	}
	archive := exec.CommandContext(ctx, "git", "-C", root, "archive", "--format=tar", commit) //nolint:gosec // a commit id from git
	tar := exec.CommandContext(ctx, "tar", "-x", "-C", src)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return "", err
	}
	tar.Stdin, archive.Stderr, tar.Stderr = pipe, os.Stderr, os.Stderr
	if err := tar.Start(); err != nil {
		return "", err
	}
	if err := archive.Run(); err != nil {
		return "", fmt.Errorf("git archive: %w", err)
	}
	if err := tar.Wait(); err != nil {
		return "", fmt.Errorf("tar: %w", err)
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/laurel") //nolint:gosec // a temp path we made
	build.Dir, build.Stdout, build.Stderr = src, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/laurel at %s: %w", commit, err)
	}
	return commit, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// nextToBase moves every "<scenario>/<backend>" pair right after the pair of
// <scenario> (and after its other variants), keeping the order otherwise.
func nextToBase(pairs []bench.Pair) []bench.Pair {
	var out []bench.Pair
	placed := map[string]bool{}
	for _, p := range pairs {
		if placed[p.Scenario] {
			continue
		}
		base, _, variant := strings.Cut(p.Scenario, "/")
		if variant && hasScenario(pairs, base) {
			continue // placed with its base
		}
		out = append(out, p)
		placed[p.Scenario] = true
		for _, q := range pairs {
			if b, _, ok := strings.Cut(q.Scenario, "/"); ok && b == p.Scenario && !placed[q.Scenario] {
				out = append(out, q)
				placed[q.Scenario] = true
			}
		}
	}
	return out
}

// scenarioSpec is one entry of -scenarios, parsed.
type scenarioSpec struct {
	// name is the scenario (fanout-1k), backend its channel layer and
	// membership laurel's group membership mode.
	name, backend, membership string
	// servers are the servers it runs on, in order.
	servers []string
	// label is its name in the results: name, then "/pubsub" for the
	// pub/sub layer, then "/process" for laurel's process mode, so the table
	// shows the variants next to the default rows.
	label string
}

// parseScenario parses one -scenarios entry: a scenario name, optional
// suffixes /core or /pubsub (channel layer; backend when neither) and
// /process (laurel's process mode), and an optional final @server; servers
// are -servers. An entry in process mode runs on laurel only: Daphne has no
// such mode.
func parseScenario(entry, backend string, servers []string) (scenarioSpec, error) {
	s := scenarioSpec{backend: backend, membership: bench.MembershipSocket, servers: servers}
	rest, only, ok := strings.Cut(entry, "@")
	if ok {
		s.servers = []string{only}
	}
	parts := strings.Split(rest, "/")
	s.name = parts[0]
	layer := false
	for _, p := range parts[1:] {
		switch {
		case (p == bench.BackendCore || p == bench.BackendPubSub) && !layer:
			s.backend, layer = p, true
		case p == bench.MembershipProcess && s.membership != p:
			s.membership = p
		default:
			return s, fmt.Errorf("scenario %q: unknown or repeated suffix %q (want /core or /pubsub, and /process)", entry, p)
		}
	}
	s.label = s.name
	if s.backend == bench.BackendPubSub {
		s.label += "/" + bench.BackendPubSub
	}
	if s.membership == bench.MembershipProcess {
		s.label += "/" + bench.MembershipProcess
		if !slices.Contains(s.servers, "laurel") {
			return s, fmt.Errorf("scenario %q: process mode is laurel's only (Daphne has no such mode), and laurel is not among the servers %v", entry, s.servers)
		}
		s.servers = []string{"laurel"}
	}
	return s, nil
}

// size parses "1k", "10k", "500" into a socket count.
func size(s string) (int, error) {
	mult := 1
	if strings.HasSuffix(s, "k") {
		mult, s = 1000, strings.TrimSuffix(s, "k")
	}
	n, err := strconv.Atoi(s)
	return n * mult, err
}

// stormPause is the wait between two runs of a storm: longer than laurel's
// verdict cache TTL (2 s), so each run's handshakes read the database.
const stormPause = 3 * time.Second

func runScenario(ctx context.Context, r *bench.Runner, srv *bench.Server, sc string, f compareFlags) (bench.Result, error) {
	parts := strings.Split(sc, "-")
	if parts[0] == "storm" {
		if srv.Name == "daphne" {
			return r.StormRuns(ctx, sc, srv, f.stormNDaphne, f.stormConcD, f.stormRuns, stormPause)
		}
		return r.StormRuns(ctx, sc, srv, f.stormN, f.stormConc, f.stormRuns, stormPause)
	}
	n, err := size(parts[len(parts)-1])
	if err != nil {
		return bench.Result{}, fmt.Errorf("scenario %q: %w", sc, err)
	}
	switch parts[0] {
	case "fanout":
		return r.Fanout(ctx, sc, srv, n, f.rate, f.duration)
	case "throughput":
		if len(parts) == 3 && parts[1] == "go" {
			return r.Throughput(ctx, sc, srv, n, f.goCount, "go")
		}
		return r.Throughput(ctx, sc, srv, n, f.count, "python")
	case "many":
		return r.ManyGroups(ctx, sc, srv, n, f.manyDur, f.publishers)
	case "idle":
		return r.Idle(ctx, sc, srv, n, f.idleRest)
	}
	return bench.Result{}, fmt.Errorf("unknown scenario %q", sc)
}
