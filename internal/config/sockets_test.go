package config

import (
	"math"
	"testing"
)

func limitOf(n uint64, ok bool) FileLimitFunc {
	return func() (uint64, bool) { return n, ok }
}

func TestResolveMaxSockets(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		configured int
		pools      int
		limit      FileLimitFunc
		want       SocketCap
	}{
		{"auto, 20000: 10% reserve", 0, 40, limitOf(20000, true),
			SocketCap{Max: 18000, Auto: true, FileLimit: 20000, Reserve: 2000, Allowed: 18000}},
		{"auto, 1024: 256 floor", 0, 40, limitOf(1024, true),
			SocketCap{Max: 768, Auto: true, FileLimit: 1024, Reserve: 256, Allowed: 768}},
		{"auto, large pools", 0, 900, limitOf(4096, true),
			SocketCap{Max: 4096 - 964, Auto: true, FileLimit: 4096, Reserve: 964, Allowed: 4096 - 964}},
		{"auto, limit below reserve", 0, 40, limitOf(100, true),
			SocketCap{Max: 50, Auto: true, FileLimit: 100, Reserve: 256, Allowed: 50}},
		{"auto, no rlimit", 0, 40, limitOf(0, false), SocketCap{Auto: true}},
		{"auto, unlimited", 0, 40, limitOf(math.MaxUint64, true), SocketCap{Auto: true}},
		{"explicit within limit", 5000, 40, limitOf(20000, true),
			SocketCap{Max: 5000, FileLimit: 20000, Reserve: 2000, Allowed: 18000}},
		{"explicit over limit", 30000, 40, limitOf(20000, true),
			SocketCap{Max: 30000, FileLimit: 20000, Reserve: 2000, Allowed: 18000, OverLimit: true}},
		{"explicit, no rlimit", 30000, 40, limitOf(0, false), SocketCap{Max: 30000}},
		{"negative: no cap", -1, 40, limitOf(20000, true),
			SocketCap{FileLimit: 20000, Reserve: 2000, Allowed: 18000}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ResolveMaxSockets(tc.configured, tc.pools, tc.limit); got != tc.want {
				t.Fatalf("ResolveMaxSockets(%d, %d) = %+v, want %+v", tc.configured, tc.pools, got, tc.want)
			}
		})
	}
}

// FileLimit reads this process's real limit where laurel reads one.
func TestFileLimitReadsThisProcess(t *testing.T) {
	t.Parallel()
	limit, ok := FileLimit()
	if ok && limit == 0 {
		t.Fatal("FileLimit reported a zero limit as known")
	}
}

func TestMaxSocketsSetting(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		doc  string
		env  []string
		want int
	}{
		{"default automatic", base, nil, 0},
		{"toml", base + "[laurel]\nmax_sockets = 15000\n", nil, 15000},
		{"toml negative: no cap", base + "[laurel]\nmax_sockets = -1\n", nil, -1},
		{"env", base, []string{"LAUREL_MAX_SOCKETS=12000"}, 12000},
		{"env over toml", base + "[laurel]\nmax_sockets = 15000\n", []string{"LAUREL_MAX_SOCKETS=9"}, 9},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := Parse([]byte(tc.doc), tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if s.Laurel.MaxSockets != tc.want {
				t.Fatalf("max_sockets = %d, want %d", s.Laurel.MaxSockets, tc.want)
			}
		})
	}
}
