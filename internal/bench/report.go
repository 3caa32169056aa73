package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Headline is one compared figure of a scenario: which metric, and whether
// lower is better (latency, memory) or higher (rates).
type Headline struct {
	Metric      string
	Label       string
	LowerBetter bool
	// Info marks a figure shown for both servers but not compared (it
	// measures the publisher, not the server).
	Info bool
}

// Headlines lists the figures the report compares, per scenario kind (the
// scenario name's prefix up to the first "-").
var Headlines = map[string][]Headline{
	"fanout": {
		{MetricP50, "p50 latency (ms)", true, false}, {MetricP99, "p99 latency (ms)", true, false},
		{MetricMax, "max latency (ms)", true, false},
		{MetricSendP50, "of which group_send call p50 (ms)", true, true},
		{MetricSendP99, "of which group_send call p99 (ms)", true, true},
		{MetricServerP99, "of which in laurel (Redis → socket write) p99, at most (ms)", true, true},
		{MetricLost, "frames lost", true, false},
		{MetricCPU, "server CPU (%)", true, false},
		{MetricClientCPU, "client processes' CPU (%)", true, true},
		{MetricRedisCPU, "Redis CPU (%)", true, true},
	},
	"throughput": {
		{MetricDeliveriesPS, "deliveries/s", false, false}, {MetricLost, "frames lost", true, false},
		{MetricCPU, "server CPU (%)", true, true}, {MetricClientCPU, "client processes' CPU (%)", true, true},
		{MetricRedisCPU, "Redis CPU (%)", true, true},
	},
	"many": {
		{MetricDeliveriesPS, "deliveries/s", false, false}, {MetricLost, "frames lost", true, false},
		{MetricCPU, "server CPU (%)", true, true}, {MetricClientCPU, "client processes' CPU (%)", true, true},
		{MetricRedisCPU, "Redis CPU (%)", true, true},
	},
	"storm": {
		{MetricConnectsPS, "connect+auth+subscribe/s", false, false}, {MetricFailures, "failures", true, false},
		{MetricRuns, "runs (the median one is shown)", true, true},
		{MetricSockets, "sockets, each with its own session", true, true},
		{MetricInFlight, "handshakes in flight", true, true},
		{MetricHandshakeP99, "handshake p99 (ms)", true, false},
		{MetricCPU, "server CPU (%)", true, true},
		{MetricDBCPU, "PostgreSQL CPU (%)", true, true},
		{MetricRedisCPU, "Redis CPU (%)", true, true},
		{MetricClientCPU, "client processes' CPU (%)", true, true},
		{MetricServerMSPerConnect, "server CPU per connect (ms)", true, false},
		{MetricClientMSPerConnect, "client processes' CPU per connect (ms)", true, true},
		{MetricTotalMSPerConnect, "CPU per connect, all processes (ms)", true, true},
	},
	"idle": {
		{MetricRSSPerSocket, "RSS per socket (KB)", true, false}, {MetricRSS, "server RSS (MB)", true, false},
		{MetricCPU, "CPU at rest (%)", true, false}, {MetricGoroutines, "goroutines", true, false},
		{MetricHeapPerSocket, "Go heap in use per socket (KB)", true, false},
		{MetricStackPerSocket, "goroutine stacks per socket (KB)", true, false},
		{MetricFailures, "sockets not open", true, false},
		{MetricDropped, "sockets dropped without a close frame", true, false},
		{MetricRetried, "handshakes retried after a 503", true, false},
		{MetricServerProcs, "server processes", true, true},
		{MetricMaxProcSockets, "most sockets in one server process", true, true},
		{MetricMaxProcRSS, "largest server process RSS (MB)", true, true},
		{MetricClientProcs, "client processes", true, true},
		{MetricClientRSS, "client processes' RSS (MB)", true, true},
		{MetricClientCPU, "client processes' CPU at rest (%)", true, true},
		{MetricRedisRSS, "Redis RSS (MB)", true, true},
		{MetricMachineRSS, "machine: server + clients + Redis RSS (MB)", true, false},
	},
}

// Kind is the scenario kind of a scenario name ("fanout-1k" → "fanout").
func Kind(scenario string) string {
	k, _, _ := strings.Cut(scenario, "-")
	return k
}

// Pair is one scenario's results on both servers (either may be nil).
type Pair struct {
	Scenario       string
	Daphne, Laurel *Result
	// DaphneFrom, when not empty, says that Daphne is the result of another
	// scenario, named here: a laurel-only variant compared with Daphne's run
	// of its base scenario (WithBaseDaphne). Daphne's notes, conditions and
	// losses are then reported with that scenario only.
	DaphneFrom string
}

// LaurelOnlySuffix ends the name of a scenario variant Daphne cannot run:
// laurel in process mode (MembershipProcess).
const LaurelOnlySuffix = "/" + MembershipProcess

// WithBaseDaphne returns pairs where each laurel-only variant (a scenario
// ending in LaurelOnlySuffix, e.g. fanout-1k/process) without a Daphne
// result of its own gets Daphne's result of the same scenario without the
// suffix (fanout-1k), if pairs has one, and DaphneFrom naming it. Daphne has
// no process mode, and what a Django user compares is the whole system's
// latency or rate, publisher included, with either server as it can be run.
func WithBaseDaphne(pairs []Pair) []Pair {
	out := slices.Clone(pairs)
	for i, p := range out {
		base, ok := strings.CutSuffix(p.Scenario, LaurelOnlySuffix)
		if !ok || p.Daphne != nil {
			continue
		}
		for _, q := range pairs {
			if q.Scenario == base && q.Daphne != nil && q.DaphneFrom == "" {
				out[i].Daphne, out[i].DaphneFrom = q.Daphne, base
			}
		}
	}
	return out
}

// Ratio is how many times better laurel is on h (>1 is better), or 0 when
// it cannot be computed (missing or zero values).
func (p Pair) Ratio(h Headline) float64 {
	if p.Daphne == nil || p.Laurel == nil || h.Info {
		return 0
	}
	d, okd := p.Daphne.Values[h.Metric]
	l, okl := p.Laurel.Values[h.Metric]
	if !okd || !okl {
		return 0
	}
	if h.LowerBetter {
		if l <= 0 {
			return 0
		}
		return d / l
	}
	if d <= 0 {
		return 0
	}
	return l / d
}

// own returns the pair's results measured in its own scenario: both, less
// Daphne's when it is borrowed (DaphneFrom), less the missing ones.
func (p Pair) own() []*Result {
	var out []*Result
	if p.Daphne != nil && p.DaphneFrom == "" {
		out = append(out, p.Daphne)
	}
	if p.Laurel != nil {
		out = append(out, p.Laurel)
	}
	return out
}

func fmtVal(r *Result, m string) string {
	if r == nil {
		return "—"
	}
	v, ok := r.Values[m]
	if !ok {
		return "—"
	}
	switch {
	case v == 0:
		return "0"
	case v >= 100 || v == float64(int64(v)):
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// WriteTable writes the laurel-vs-Daphne markdown table.
func WriteTable(w io.Writer, pairs []Pair) error {
	var b strings.Builder
	b.WriteString("| scenario | figure | Daphne | laurel | laurel vs Daphne |\n| --- | --- | ---: | ---: | ---: |\n")
	for _, p := range pairs {
		for _, h := range Headlines[Kind(p.Scenario)] {
			if fmtVal(p.Daphne, h.Metric) == "—" && fmtVal(p.Laurel, h.Metric) == "—" {
				continue // measured on neither server in this run
			}
			ratio := "—"
			if x := p.Ratio(h); x > 0 {
				ratio = fmt.Sprintf("%.1f× better", x)
				if x < 1 {
					ratio = fmt.Sprintf("%.2f× (worse)", x)
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", p.Scenario, h.Label, fmtVal(p.Daphne, h.Metric),
				fmtVal(p.Laurel, h.Metric), ratio)
		}
	}
	for _, p := range pairs {
		if p.DaphneFrom != "" {
			fmt.Fprintf(&b, "\n- %s: Daphne's figures are those of its %s run (Daphne has no such mode); the ratio compares laurel in this mode with Daphne as it runs", p.Scenario, p.DaphneFrom)
		}
		for _, r := range p.own() {
			if r.Note != "" {
				fmt.Fprintf(&b, "\n- %s on %s: %s", p.Scenario, r.Server, r.Note)
			}
		}
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}
