package main

import (
	"slices"
	"testing"

	"github.com/laurel-server/laurel/internal/bench"
)

func TestNextToBase(t *testing.T) {
	t.Parallel()
	names := func(ps []bench.Pair) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Scenario)
		}
		return out
	}
	pairs := func(names ...string) []bench.Pair {
		var out []bench.Pair
		for _, n := range names {
			out = append(out, bench.Pair{Scenario: n})
		}
		return out
	}
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"variant after base", []string{"fanout-1k/pubsub", "storm-sqlite", "fanout-1k"},
			[]string{"storm-sqlite", "fanout-1k", "fanout-1k/pubsub"}},
		{"already in place", []string{"fanout-1k", "fanout-1k/pubsub", "idle-10k"},
			[]string{"fanout-1k", "fanout-1k/pubsub", "idle-10k"}},
		{"variant without base stays", []string{"throughput-go-1k/pubsub", "idle-10k"},
			[]string{"throughput-go-1k/pubsub", "idle-10k"}},
		{"no variants", []string{"b", "a"}, []string{"b", "a"}},
		{"process variants after base", []string{"fanout-1k/process", "fanout-1k", "fanout-1k/pubsub", "fanout-1k/pubsub/process"},
			[]string{"fanout-1k", "fanout-1k/process", "fanout-1k/pubsub", "fanout-1k/pubsub/process"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := names(nextToBase(pairs(tt.in...))); !slices.Equal(got, tt.want) {
				t.Errorf("nextToBase(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"1k": 1000, "10k": 10000, "500": 500, "100k": 100000} {
		if got, err := size(in); err != nil || got != want {
			t.Errorf("size(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := size("x"); err == nil {
		t.Error("size(\"x\") succeeded")
	}
}

func TestParseScenario(t *testing.T) {
	t.Parallel()
	both := []string{"daphne", "laurel"}
	tests := []struct {
		entry, backend                 string
		name, layer, membership, label string
		servers                        []string
	}{
		{"fanout-1k", "core", "fanout-1k", "core", "socket", "fanout-1k", both},
		{"fanout-1k/pubsub@laurel", "core", "fanout-1k", "pubsub", "socket", "fanout-1k/pubsub", []string{"laurel"}},
		{"fanout-1k", "pubsub", "fanout-1k", "pubsub", "socket", "fanout-1k/pubsub", both},
		{"fanout-1k/core", "pubsub", "fanout-1k", "core", "socket", "fanout-1k", both},
		{"fanout-1k/process", "core", "fanout-1k", "core", "process", "fanout-1k/process", []string{"laurel"}},
		{"throughput-go-1k/process@laurel", "core", "throughput-go-1k", "core", "process", "throughput-go-1k/process", []string{"laurel"}},
		{"fanout-1k/pubsub/process", "core", "fanout-1k", "pubsub", "process", "fanout-1k/pubsub/process", []string{"laurel"}},
		{"fanout-1k/process", "pubsub", "fanout-1k", "pubsub", "process", "fanout-1k/pubsub/process", []string{"laurel"}},
	}
	for _, tt := range tests {
		t.Run(tt.entry+" "+tt.backend, func(t *testing.T) {
			t.Parallel()
			s, err := parseScenario(tt.entry, tt.backend, both)
			if err != nil {
				t.Fatal(err)
			}
			if s.name != tt.name || s.backend != tt.layer || s.membership != tt.membership || s.label != tt.label ||
				!slices.Equal(s.servers, tt.servers) {
				t.Errorf("parseScenario(%q) = %+v, want %s %s %s %s %v", tt.entry, s, tt.name, tt.layer, tt.membership, tt.label, tt.servers)
			}
		})
	}
	for _, bad := range []string{"fanout-1k/sentinel", "fanout-1k/pubsub/core", "fanout-1k/process/process", "fanout-1k/process@daphne"} {
		if s, err := parseScenario(bad, "core", both); err == nil {
			t.Errorf("parseScenario(%q) = %+v, want an error", bad, s)
		}
	}
}
