package bench

import (
	"bytes"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func samplePairs() []Pair {
	return []Pair{
		{Scenario: "fanout-1k",
			Daphne: &Result{Server: "daphne", Values: map[string]float64{MetricP99: 3000, MetricLost: 10}},
			Laurel: &Result{Server: "laurel", Values: map[string]float64{MetricP99: 15, MetricLost: 0}}},
		{Scenario: "storm-sqlite",
			Daphne: &Result{Server: "daphne", Values: map[string]float64{MetricConnectsPS: 100}, Note: "slow"},
			Laurel: &Result{Server: "laurel", Values: map[string]float64{MetricConnectsPS: 50}}},
	}
}

func TestPairRatio(t *testing.T) {
	t.Parallel()
	p := samplePairs()
	for _, tc := range []struct {
		name string
		pair Pair
		h    Headline
		want float64
	}{
		{"lower is better", p[0], Headline{Metric: MetricP99, LowerBetter: true}, 200},
		{"zero on laurel", p[0], Headline{Metric: MetricLost, LowerBetter: true}, 0},
		{"higher is better, worse", p[1], Headline{Metric: MetricConnectsPS}, 0.5},
		{"missing", p[1], Headline{Metric: MetricP50, LowerBetter: true}, 0},
		{"one side only", Pair{Laurel: p[0].Laurel}, Headline{Metric: MetricP99, LowerBetter: true}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.pair.Ratio(tc.h); got != tc.want {
				t.Errorf("Ratio = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWriteTable(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	if err := WriteTable(&b, samplePairs()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| fanout-1k | p99 latency (ms) | 3000 | 15 | 200.0× better |",
		"| fanout-1k | frames lost | 10 | 0 | — |",
		"| storm-sqlite | connect+auth+subscribe/s | 100 | 50 | 0.50× (worse) |",
		"- storm-sqlite on daphne: slow",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestWriteChartIsPNG(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := WriteChart(&b, samplePairs()); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&b)
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Dx() < 640 || img.Bounds().Dy() < 50 {
		t.Errorf("chart is %v", img.Bounds())
	}
}

func TestUpdateDoc(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "b.md")
	doc := "# head\n" + DocBegin + "\nold\n" + DocEnd + "\nmiddle\n" + DocTargetsBegin + "\nold targets\n" + DocTargetsEnd + "\ntail\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	pairs := samplePairs()
	pairs[0].Laurel.Start, pairs[0].Laurel.Seconds, pairs[0].Laurel.Load1Start, pairs[0].Laurel.Load1End = "2026-11-26T06:15:00Z", 42, 0.5, 1.25
	if err := UpdateDoc(path, pairs, RunInfo{Command: "compare -x", Date: "2026-11-26T06:14:00Z", Laurel: "commit abc"}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	s := string(got)
	if strings.Contains(s, "old") || !strings.HasPrefix(s, "# head\n") || !strings.HasSuffix(s, DocTargetsEnd+"\ntail\n") ||
		!strings.Contains(s, DocEnd+"\nmiddle\n"+DocTargetsBegin) ||
		!strings.Contains(s, "`laurel-bench compare -x`") || !strings.Contains(s, "200.0× better") ||
		!strings.Contains(s, "- laurel: commit abc") ||
		!strings.Contains(s, "| fanout-1k | laurel | 2026-11-26T06:15:00Z | 42 | 0.5 → 1.2 |") ||
		!strings.Contains(s, "| p99 ≤ 20 ms at 1k subscribers × 20 msg/s | fanout-1k: laurel 15 ms (Daphne 3000 ms) | **met** |") {
		t.Errorf("doc not rewritten as expected:\n%s", s)
	}
	if err := os.WriteFile(path, []byte("no markers"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := UpdateDoc(path, nil, RunInfo{}); err == nil {
		t.Error("UpdateDoc without markers succeeded")
	}
}

func TestScrapeGauge(t *testing.T) {
	t.Parallel()
	text := "# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines 1234\ngo_threads 9\n"
	if v, ok := scrapeGauge(strings.NewReader(text), "go_goroutines"); !ok || v != 1234 {
		t.Errorf("scrapeGauge = %v, %v", v, ok)
	}
	if _, ok := scrapeGauge(strings.NewReader(text), "nope"); ok {
		t.Error("found a missing gauge")
	}
}

func TestSampleProcSelf(t *testing.T) {
	t.Parallel()
	s, err := SampleProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS <= 0 || s.Threads <= 0 || s.CPUSeconds < 0 {
		t.Errorf("implausible sample %+v", s)
	}
	if _, err := SampleProc(-1); err == nil {
		t.Error("sampled pid -1")
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `# HELP laurel_handshakes_total x
laurel_handshakes_total{reason="ok",result="accepted"} 99000
laurel_handshakes_total{reason="layer_unavailable",result="unavailable"} 121
laurel_handshakes_total{reason="no_session",result="forbidden"} 0
laurel_handshakes_total{reason="bad_origin",result="forbidden"} 2
`)
	}))
	t.Cleanup(srv.Close)
	s := &Server{Metrics: []string{srv.URL, srv.URL}}
	if got, want := refusals(s), "forbidden/bad_origin 4, unavailable/layer_unavailable 242"; got != want {
		t.Errorf("refusals = %q, want %q", got, want)
	}
	if got := refusals(&Server{}); got != "" {
		t.Errorf("refusals without metrics = %q", got)
	}
}

func TestHistogramQuantile(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `laurel_delivery_latency_seconds_bucket{le="0.001"} 50
laurel_delivery_latency_seconds_bucket{le="0.005"} 90
laurel_delivery_latency_seconds_bucket{le="0.025"} 100
laurel_delivery_latency_seconds_bucket{le="+Inf"} 100
laurel_delivery_latency_seconds_sum 1
laurel_delivery_latency_seconds_count 100
`)
	}))
	t.Cleanup(srv.Close)
	h := scrapeHistogram(&Server{Metrics: []string{srv.URL}}, "laurel_delivery_latency_seconds")
	before := histogram{0.001: 40, 0.005: 40, 0.025: 40, math.Inf(1): 40}
	// Since before: 10 in ≤1 ms, 50 in ≤5 ms, 60 in ≤25 ms.
	for _, tc := range []struct {
		q    float64
		want float64
	}{{0.1, 0.001}, {0.5, 0.005}, {0.99, 0.025}} {
		if got, ok := h.quantileSince(before, tc.q); !ok || got != tc.want {
			t.Errorf("quantile %v = %v, %v; want %v", tc.q, got, ok, tc.want)
		}
	}
	if _, ok := h.quantileSince(h, 0.99); ok {
		t.Error("a quantile of no observations")
	}
}

func TestWithBaseDaphne(t *testing.T) {
	t.Parallel()
	d := &Result{Server: "daphne", Scenario: "fanout-1k", Values: map[string]float64{MetricP99: 3000, MetricLost: 10},
		Note: "slow", Start: "2026-11-26T06:15:00Z"}
	l := &Result{Server: "laurel", Scenario: "fanout-1k", Values: map[string]float64{MetricP99: 20, MetricLost: 0}}
	lp := &Result{Server: "laurel", Scenario: "fanout-1k/process", Values: map[string]float64{MetricP99: 10, MetricLost: 0}}
	lt := &Result{Server: "laurel", Scenario: "throughput-1k/process", Values: map[string]float64{MetricDeliveriesPS: 9}}
	lps := &Result{Server: "laurel", Scenario: "fanout-1k/pubsub", Values: map[string]float64{MetricP99: 9}}
	in := []Pair{{Scenario: "fanout-1k", Daphne: d, Laurel: l}, {Scenario: "fanout-1k/pubsub", Laurel: lps},
		{Scenario: "fanout-1k/process", Laurel: lp}, {Scenario: "throughput-1k/process", Laurel: lt}}
	pairs := WithBaseDaphne(in)
	if in[2].Daphne != nil {
		t.Error("WithBaseDaphne changed its argument")
	}
	for _, tc := range []struct {
		i      int
		daphne *Result
		from   string
	}{{0, d, ""}, {1, nil, ""}, {2, d, "fanout-1k"}, {3, nil, ""}} {
		if p := pairs[tc.i]; p.Daphne != tc.daphne || p.DaphneFrom != tc.from {
			t.Errorf("%s: Daphne %v from %q, want %v from %q", p.Scenario, p.Daphne, p.DaphneFrom, tc.daphne, tc.from)
		}
	}
	var b strings.Builder
	if err := WriteTable(&b, pairs); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	for _, want := range []string{
		"| fanout-1k/process | p99 latency (ms) | 3000 | 10 | 300.0× better |",
		"- fanout-1k/process: Daphne's figures are those of its fanout-1k run",
		"| throughput-1k/process | deliveries/s | — | 9 | — |",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q:\n%s", want, s)
		}
	}
	if n := strings.Count(s, "on daphne: slow"); n != 1 {
		t.Errorf("Daphne's note appears %d times, want once (with its own scenario):\n%s", n, s)
	}
	var c strings.Builder
	writeConditions(&c, pairs)
	if n := strings.Count(c.String(), "| daphne |"); n != 1 {
		t.Errorf("Daphne's run conditions appear %d times, want once:\n%s", n, c.String())
	}
	for _, r := range Targets(pairs) {
		if strings.Contains(r.Target, "frame lost") && !strings.Contains(r.Measured, "Daphne lost 10") {
			t.Errorf("Daphne's losses counted more than once: %s", r.Measured)
		}
		if strings.Contains(r.Target, "p99") && !strings.Contains(r.Measured, "fanout-1k/process: laurel 10 ms (Daphne 3000 ms)") {
			t.Errorf("p99 target ignores the process row: %s", r.Measured)
		}
	}
}
