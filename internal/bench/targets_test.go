package bench

import (
	"strings"
	"testing"
)

func TestTargets(t *testing.T) {
	t.Parallel()
	res := func(server string, kv ...any) *Result {
		r := &Result{Server: server, Values: map[string]float64{}}
		for i := 0; i < len(kv); i += 2 {
			r.Values[kv[i].(string)] = kv[i+1].(float64)
		}
		return r
	}
	pairs := []Pair{
		{Scenario: "throughput-1k", Daphne: res("daphne", MetricDeliveriesPS, 1500.0, MetricLost, 9.0),
			Laurel: res("laurel", MetricDeliveriesPS, 40000.0, MetricLost, 0.0)},
		{Scenario: "throughput-go-1k", Laurel: res("laurel", MetricDeliveriesPS, 250000.0, MetricLost, 0.0)},
		{Scenario: "throughput-go-1k/pubsub", Laurel: res("laurel", MetricDeliveriesPS, 400000.0, MetricLost, 5.0)},
		{Scenario: "storm-sqlite", Daphne: res("daphne", MetricConnectsPS, 200.0), Laurel: res("laurel", MetricConnectsPS, 12000.0)},
		{Scenario: "storm-postgres", Daphne: res("daphne", MetricConnectsPS, 60.0), Laurel: res("laurel", MetricConnectsPS, 2400.0)},
		{Scenario: "idle-10k", Daphne: res("daphne", MetricRSSPerSocket, 40.0), Laurel: res("laurel", MetricRSSPerSocket, 4.0)},
		{Scenario: "idle-100k", Laurel: res("laurel", MetricRSSPerSocket, 13.0, MetricSockets, 100000.0,
			MetricConnected, 100000.0, MetricDropped, 0.0, MetricServerProcs, 7.0)},
		{Scenario: "fanout-1k", Daphne: res("daphne", MetricP99, 9000.0, MetricLost, 3.0), Laurel: res("laurel", MetricP99, 12.0, MetricLost, 0.0)},
		{Scenario: "fanout-1k/pubsub", Laurel: res("laurel", MetricP99, 25.0, MetricLost, 0.0)},
	}
	want := map[string]struct{ verdict, measured string }{
		"fan-out":    {"met", "laurel 250000/s (throughput-go-1k, nothing lost); Daphne 1500/s (throughput-1k): 167×"},
		"connect":    {"missed", "storm-postgres: laurel 2400/s, Daphne 60/s (40.0×)"},
		"RSS":        {"missed", "idle-100k: laurel 13 KB"},
		"100k":       {"met", "100000 of 100000 sockets subscribed (0 handshakes retried after a 503), 0 dropped; 7 laurel processes"},
		"p99":        {"met in 1 of 2 configurations (missed: fanout-1k/pubsub)", "fanout-1k/pubsub: laurel 25 ms"},
		"frame lost": {"missed", "laurel lost 5 frames in 5 delivery scenarios (throughput-go-1k/pubsub); Daphne lost 12"},
	}
	rows := Targets(pairs)
	if len(rows) != 6 {
		t.Fatalf("%d rows, want 6", len(rows))
	}
	for key, w := range want {
		found := false
		for _, r := range rows {
			if !strings.Contains(r.Target, key) {
				continue
			}
			found = true
			if r.Verdict != w.verdict || !strings.Contains(r.Measured, w.measured) {
				t.Errorf("%s: verdict %q measured %q; want %q containing %q", r.Target, r.Verdict, r.Measured, w.verdict, w.measured)
			}
		}
		if !found {
			t.Errorf("no target row about %q", key)
		}
	}
	// Every configuration over the target: a plain "missed".
	pairs[len(pairs)-2].Laurel.Values[MetricP99] = 21
	for _, r := range Targets(pairs) {
		if strings.Contains(r.Target, "p99") && r.Verdict != "missed" {
			t.Errorf("p99 with every configuration over 20 ms: %q, want missed", r.Verdict)
		}
	}
	for _, r := range Targets(nil) {
		if r.Verdict != "not measured" {
			t.Errorf("%s with no results: %q", r.Target, r.Verdict)
		}
	}
}
