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
