package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// FleetSpec says how many client sockets to open against a server and how
// to spread them over client processes and source addresses.
type FleetSpec struct {
	// Exe is the laurel-bench binary (re-executed as "clients").
	Exe string
	// URL, Origin and CookiesPath as in ClientConfig; CookiesPath is a file
	// with one Cookie header value per line.
	URL, Origin, CookiesPath string
	// N sockets, at most PerProc per process. Zero PerProc means 15000
	// (the per-process open-file limit is 20,000 here).
	N, PerProc int
	// Group and Each as in ClientConfig.
	Group string
	Each  bool
	// Concurrency is handshakes in flight per process. Zero means 100.
	Concurrency int
	// SourceIPs, when true, binds process k's sockets round robin to its
	// own SourcesPerProc loopback addresses, 127.0.0.(2+8k) to
	// 127.0.0.(9+8k). Linux picks a connect()'s source port among those
	// not in use with the same source and destination: with one source
	// address per process, a process's ~14,000 even ephemeral ports fill up
	// towards the end of a large storm and each connect() then probes
	// many taken ports (__inet_check_established) in the client's kernel
	// time, slowing the clients, not the server.
	SourceIPs bool
	// Retry503 as in ClientConfig.
	Retry503 int
	// CPUProfile, when not empty, makes client process k write its CPU
	// profile (from its start to its stop) to CPUProfile+"<k>.pprof".
	CPUProfile string
}

// Fleet is a set of running client processes.
type Fleet struct {
	procs []*worker
	// firstConnect is the earliest Line.ConnectStart of the processes'
	// "connected" lines (unix ns), set by WaitConnected.
	firstConnect int64
}

type worker struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	last  Line
	conn  chan Line
	final chan Line
}

// StartFleet starts the client processes; they connect immediately.
func StartFleet(ctx context.Context, s FleetSpec) (*Fleet, error) {
	if s.PerProc <= 0 {
		s.PerProc = 15000
	}
	if s.Concurrency <= 0 {
		s.Concurrency = 100
	}
	f := &Fleet{}
	for off, k := 0, 0; off < s.N; off, k = off+s.PerProc, k+1 {
		n := min(s.PerProc, s.N-off)
		args := []string{"clients", "-url", s.URL, "-origin", s.Origin, "-cookies", s.CookiesPath,
			"-n", fmt.Sprint(n), "-offset", fmt.Sprint(off), "-group", s.Group,
			"-concurrency", fmt.Sprint(s.Concurrency)}
		if s.Each {
			args = append(args, "-each")
		}
		if s.Retry503 > 0 {
			args = append(args, "-retry-503", fmt.Sprint(s.Retry503))
		}
		if s.SourceIPs {
			args = append(args, "-source", sourceAddrs(k))
		}
		if s.CPUProfile != "" {
			args = append(args, "-cpuprofile", fmt.Sprintf("%s%d.pprof", s.CPUProfile, k))
		}
		cmd := exec.CommandContext(ctx, s.Exe, args...) //nolint:gosec // our own binary, re-executed
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			f.Stop()
			return nil, err
		}
		w := &worker{cmd: cmd, stdin: stdin, conn: make(chan Line, 1), final: make(chan Line, 1)}
		go w.readLines(stdout)
		f.procs = append(f.procs, w)
	}
	return f, nil
}

func (w *worker) readLines(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	defer close(w.final)
	for sc.Scan() {
		var l Line
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		w.mu.Lock()
		w.last = l
		w.mu.Unlock()
		switch l.Type {
		case "connected":
			w.conn <- l
		case "report":
			w.final <- l
			return
		}
	}
}

// WaitConnected waits until every process attempted all its sockets and
// returns the totals. It is not safe for concurrent use with FirstConnect.
func (f *Fleet) WaitConnected(ctx context.Context) (connected, failed int, err error) {
	for _, w := range f.procs {
		select {
		case l := <-w.conn:
			connected += l.Connected
			failed += l.Failed
			f.firstConnect = minNonZero(f.firstConnect, l.ConnectStart)
		case <-ctx.Done():
			return connected, failed, ctx.Err()
		}
	}
	return connected, failed, nil
}

// FirstConnect is when the fleet began its first handshake (the earliest
// process's ClientReport.ConnectStart), known once WaitConnected returned
// without error.
func (f *Fleet) FirstConnect() time.Time { return time.Unix(0, f.firstConnect) }

// Received is the latest progress total of frames received.
func (f *Fleet) Received() int64 {
	var n int64
	for _, w := range f.procs {
		w.mu.Lock()
		n += w.last.Received
		w.mu.Unlock()
	}
	return n
}

// PIDs are the client processes' ids.
func (f *Fleet) PIDs() []int {
	var out []int
	for _, w := range f.procs {
		out = append(out, w.cmd.Process.Pid)
	}
	return out
}

// Primed is the latest progress total of sockets that received a probe
// frame (Line.Primed).
func (f *Fleet) Primed() int64 {
	var n int64
	for _, w := range f.procs {
		w.mu.Lock()
		n += w.last.Primed
		w.mu.Unlock()
	}
	return n
}

// WaitReceived waits until want frames arrived, or no frame arrived for
// quiet, or max elapsed. It returns the last total.
func (f *Fleet) WaitReceived(want int64, quiet, maxWait time.Duration) int64 {
	deadline := time.Now().Add(maxWait)
	last, lastChange := f.Received(), time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		n := f.Received()
		if n >= want {
			return n
		}
		if n != last {
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) > quiet {
			return n
		}
	}
	return f.Received()
}

// Stop tells every process to close its sockets and report; it merges
// the reports.
func (f *Fleet) Stop() ClientReport {
	var total ClientReport
	for _, w := range f.procs {
		_, _ = io.WriteString(w.stdin, "stop\n")
		_ = w.stdin.Close()
	}
	for _, w := range f.procs {
		var l Line
		select {
		case l = <-w.final:
		case <-time.After(60 * time.Second):
		}
		_ = w.cmd.Wait()
		r := l.Report
		if r == nil {
			total.FirstError = firstNonEmpty(total.FirstError, "client process gave no report")
			continue
		}
		total.Attempted += r.Attempted
		total.Connected += r.Connected
		total.Failed += r.Failed
		total.FirstError = firstNonEmpty(total.FirstError, r.FirstError)
		total.Received += r.Received
		total.OutOfOrder += r.OutOfOrder
		total.Other += r.Other
		total.Primed += r.Primed
		total.Retried += r.Retried
		total.ClosedByServer += r.ClosedByServer
		total.CloseError = firstNonEmpty(total.CloseError, r.CloseError)
		total.Dropped += r.Dropped
		total.DropError = firstNonEmpty(total.DropError, r.DropError)
		total.ConnectStart = minNonZero(total.ConnectStart, r.ConnectStart)
		total.ConnectEnd = max(total.ConnectEnd, r.ConnectEnd)
		total.FirstRecv = minNonZero(total.FirstRecv, r.FirstRecv)
		total.LastRecv = max(total.LastRecv, r.LastRecv)
		total.Latency.Merge(r.Latency)
		total.Handshake.Merge(r.Handshake)
	}
	return total
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func minNonZero(a, b int64) int64 {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}

// SourcesPerProc is how many loopback source addresses each client process
// binds its sockets to with FleetSpec.SourceIPs.
const SourcesPerProc = 8

// sourceAddrs lists client process k's source addresses, comma-separated.
func sourceAddrs(k int) string {
	addrs := make([]string, SourcesPerProc)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("127.0.0.%d", 2+SourcesPerProc*k+i)
	}
	return strings.Join(addrs, ",")
}
