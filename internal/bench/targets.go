package bench

import (
	"fmt"
	"io"
	"strings"
)

// The targets (docs/benchmarks.md "Targets"), checked against a
// run's results.
const (
	targetDeliveries     = 200000 // fan-out deliveries/s
	targetDeliveriesX    = 100    // × Daphne's
	targetConnectsX      = 50     // × Daphne's connect+auth+subscribe rate
	targetRSSKB          = 12     // RSS per idle socket, KB
	targetRSSX           = 8      // Daphne's RSS per socket / laurel's
	targetSockets        = 100000 // concurrent sockets on one machine
	targetP99ms          = 20     // p99 at 1k subscribers × 20 msg/s
	targetFanoutScenario = "fanout-1k"
)

// TargetRow is one target, what the run measured for it, and the verdict:
// "met", "missed" or "not measured". A target is met only if the recorded
// run meets it.
type TargetRow struct {
	Target, Measured, Verdict string
}

func verdict(measured, ok bool) string {
	switch {
	case !measured:
		return "not measured"
	case ok:
		return "met"
	}
	return "missed"
}

// Targets checks the targets against pairs.
func Targets(pairs []Pair) []TargetRow {
	val := func(r *Result, m string) (float64, bool) {
		if r == nil {
			return 0, false
		}
		v, ok := r.Values[m]
		return v, ok
	}
	var rows []TargetRow

	// Fan-out deliveries/s: laurel's best lossless throughput figure vs
	// Daphne's best.
	var lBest, dBest float64
	var lName, dName string
	for _, p := range pairs {
		if Kind(p.Scenario) != "throughput" {
			continue
		}
		if v, ok := val(p.Laurel, MetricDeliveriesPS); ok && v > lBest {
			if lost, _ := val(p.Laurel, MetricLost); lost == 0 {
				lBest, lName = v, p.Scenario
			}
		}
		if v, ok := val(p.Daphne, MetricDeliveriesPS); ok && v > dBest {
			dBest, dName = v, p.Scenario
		}
	}
	m := "—"
	if lBest > 0 {
		m = fmt.Sprintf("laurel %s/s (%s, nothing lost)", num(lBest), lName)
		if dBest > 0 {
			m += fmt.Sprintf("; Daphne %s/s (%s): %.0f×", num(dBest), dName, lBest/dBest)
		}
	}
	rows = append(rows, TargetRow{"fan-out deliveries/s ≥ 100× Daphne's and ≥ 200k/s", m,
		verdict(lBest > 0 && dBest > 0, lBest >= targetDeliveries && lBest/dBest >= targetDeliveriesX)})

	// Connect storms: every storm pair at ≥ 50×.
	var parts []string
	measured, ok := false, true
	for _, p := range pairs {
		if Kind(p.Scenario) != "storm" {
			continue
		}
		l, okl := val(p.Laurel, MetricConnectsPS)
		d, okd := val(p.Daphne, MetricConnectsPS)
		if !okl || !okd || d <= 0 {
			continue
		}
		measured = true
		ok = ok && l/d >= targetConnectsX
		parts = append(parts, fmt.Sprintf("%s: laurel %s/s, Daphne %s/s (%.1f×)", p.Scenario, num(l), num(d), l/d))
	}
	rows = append(rows, TargetRow{"connect+auth+subscribe rate ≥ 50× Daphne's", orDash(parts), verdict(measured, ok)})

	// Idle RSS per socket.
	parts, measured, ok = nil, false, true
	for _, p := range pairs {
		if Kind(p.Scenario) != "idle" {
			continue
		}
		l, okl := val(p.Laurel, MetricRSSPerSocket)
		if !okl {
			continue
		}
		measured = true
		ok = ok && l <= targetRSSKB
		part := fmt.Sprintf("%s: laurel %s KB", p.Scenario, num(l))
		if d, okd := val(p.Daphne, MetricRSSPerSocket); okd && l > 0 {
			part += fmt.Sprintf(", Daphne %s KB (1/%.1f)", num(d), d/l)
			ok = ok && d/l >= targetRSSX
		}
		parts = append(parts, part)
	}
	rows = append(rows, TargetRow{"RSS per idle socket ≤ 12 KB and ≤ 1/8 of Daphne's", orDash(parts), verdict(measured, ok)})

	// 100k concurrent sockets.
	m, measured, ok = "—", false, false
	for _, p := range pairs {
		n, okn := val(p.Laurel, MetricSockets)
		if Kind(p.Scenario) != "idle" || !okn || n < targetSockets {
			continue
		}
		c, _ := val(p.Laurel, MetricConnected)
		dropped, _ := val(p.Laurel, MetricDropped)
		procs, _ := val(p.Laurel, MetricServerProcs)
		most, _ := val(p.Laurel, MetricMaxProcSockets)
		clients, _ := val(p.Laurel, MetricClientProcs)
		machine, _ := val(p.Laurel, MetricMachineRSS)
		retried, _ := val(p.Laurel, MetricRetried)
		measured, ok = true, c >= targetSockets && dropped == 0
		m = fmt.Sprintf("%s: %s of %s sockets subscribed (%s handshakes retried after a 503), %s dropped; %s laurel processes (most sockets in one: %s), %s client processes; RSS of laurel + clients + Redis %s MB",
			p.Scenario, num(c), num(n), num(retried), num(dropped), num(procs), num(most), num(clients), num(machine))
	}
	rows = append(rows, TargetRow{"≥ 100k concurrent sockets on one machine", m, verdict(measured, ok)})

	// p99 at 1k subscribers × 20 msg/s, both layers and both membership
	// modes: each configuration is judged on its own.
	parts, measured, ok = nil, false, true
	var p99Missed []string
	p99Rows := 0
	for _, p := range pairs {
		base, _, _ := strings.Cut(p.Scenario, "/")
		if base != targetFanoutScenario {
			continue
		}
		l, okl := val(p.Laurel, MetricP99)
		if !okl {
			continue
		}
		measured = true
		ok = ok && l <= targetP99ms
		p99Rows++
		if l > targetP99ms {
			p99Missed = append(p99Missed, p.Scenario)
		}
		part := fmt.Sprintf("%s: laurel %s ms", p.Scenario, num(l))
		if d, okd := val(p.Daphne, MetricP99); okd {
			part += fmt.Sprintf(" (Daphne %s ms)", num(d))
		}
		parts = append(parts, part)
	}
	p99Verdict := verdict(measured, ok)
	if measured && !ok && len(p99Missed) < p99Rows {
		p99Verdict = fmt.Sprintf("met in %d of %d configurations (missed: %s)", p99Rows-len(p99Missed), p99Rows, strings.Join(p99Missed, ", "))
	}
	rows = append(rows, TargetRow{"p99 ≤ 20 ms at 1k subscribers × 20 msg/s", orDash(parts), p99Verdict})

	// No frame lost.
	var lost, dLost float64
	var lossy []string
	n := 0
	for _, p := range pairs {
		if v, okv := val(p.Laurel, MetricLost); okv {
			n++
			lost += v
			if v > 0 {
				lossy = append(lossy, p.Scenario)
			}
		}
		if v, okv := val(p.Daphne, MetricLost); okv && p.DaphneFrom == "" {
			dLost += v
		}
	}
	m = fmt.Sprintf("laurel lost %s frames in %d delivery scenarios", num(lost), n)
	if len(lossy) > 0 {
		m += " (" + strings.Join(lossy, ", ") + ")"
	}
	m += fmt.Sprintf("; Daphne lost %s", num(dLost))
	rows = append(rows, TargetRow{"no frame lost below capacity", m, verdict(n > 0, lost == 0)})
	return rows
}

func orDash(parts []string) string {
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, "; ")
}

// num formats a figure as the results table does.
func num(v float64) string { return fmtVal(&Result{Values: map[string]float64{"v": v}}, "v") }

// WriteTargets writes the targets as a markdown table.
func WriteTargets(w io.Writer, pairs []Pair) error {
	var b strings.Builder
	b.WriteString("| target (issue \"Performance\") | measured in this run | verdict |\n| --- | --- | --- |\n")
	for _, r := range Targets(pairs) {
		fmt.Fprintf(&b, "| %s | %s | **%s** |\n", r.Target, r.Measured, r.Verdict)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
