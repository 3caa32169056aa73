package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, 100 on every Linux this tool targets.
const clockTicks = 100

// ProcSample is what /proc says about one process at one instant.
type ProcSample struct {
	// RSS is the resident set size in bytes (VmRSS).
	RSS int64
	// CPUSeconds is user+system CPU time consumed so far.
	CPUSeconds float64
	// Threads is the number of OS threads.
	Threads int
}

// SampleProc reads /proc/<pid>/status and /proc/<pid>/stat.
func SampleProc(pid int) (ProcSample, error) {
	var s ProcSample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			s.RSS = kb * 1024
		case "Threads:":
			s.Threads, _ = strconv.Atoi(f[1])
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// Fields after the ")" closing comm: state is field 3; utime 14, stime 15.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("bench: malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("bench: short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	s.CPUSeconds = (ut + st) / clockTicks
	return s, nil
}

// SampleProcs sums SampleProc over pids (a server made of several processes).
func SampleProcs(pids []int) (ProcSample, error) {
	var total ProcSample
	for _, pid := range pids {
		s, err := SampleProc(pid)
		if err != nil {
			return total, err
		}
		total.RSS += s.RSS
		total.CPUSeconds += s.CPUSeconds
		total.Threads += s.Threads
	}
	return total, nil
}

// WithChildren returns pid and the pids of its direct children (a
// PostgreSQL postmaster and its backends), from /proc/*/stat.
func WithChildren(pid int) []int {
	out := []int{pid}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		// After ")": state, ppid.
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// cpuMeter measures the CPU share of a set of processes over an interval.
// Processes that exit in between are left out of both samples.
type cpuMeter struct {
	pids   func() []int
	before map[int]float64
	start  time.Time
}

func newCPUMeter(pids func() []int) *cpuMeter {
	m := &cpuMeter{pids: pids, before: map[int]float64{}, start: time.Now()}
	for _, pid := range pids() {
		if s, err := SampleProc(pid); err == nil {
			m.before[pid] = s.CPUSeconds
		}
	}
	return m
}

// pct is the CPU used since newCPUMeter, in % of one core. Processes
// started since count from zero.
func (m *cpuMeter) pct() float64 {
	return 100 * m.seconds() / time.Since(m.start).Seconds()
}

// seconds is the CPU time used since newCPUMeter. Processes started since
// count from zero.
func (m *cpuMeter) seconds() float64 {
	used := 0.0
	for _, pid := range m.pids() {
		if s, err := SampleProc(pid); err == nil {
			used += s.CPUSeconds - m.before[pid]
		}
	}
	return used
}
