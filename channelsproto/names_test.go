package channelsproto

import (
	"errors"
	"hash/crc32"
	"testing"
)

type namesGolden struct {
	Names []struct {
		Name     string
		Channel  bool
		Group    bool
		NonLocal string `json:"non_local"`
	}
	Hashes []struct {
		Value string
		CRC   uint32
		Index []int
	}
	RingSizes []int `json:"ring_sizes"`
}

func TestNamesGolden(t *testing.T) {
	t.Parallel()
	var g namesGolden
	loadGolden(t, "names.json", &g)
	for _, c := range g.Names {
		if err := ValidateChannelName(c.Name); (err == nil) != c.Channel {
			t.Errorf("ValidateChannelName(%q) = %v, python valid=%v", c.Name, err, c.Channel)
		} else if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateChannelName(%q) error %v does not wrap ErrInvalidName", c.Name, err)
		}
		if err := ValidateGroupName(c.Name); (err == nil) != c.Group {
			t.Errorf("ValidateGroupName(%q) = %v, python valid=%v", c.Name, err, c.Group)
		}
		if got := NonLocalName(c.Name); got != c.NonLocal {
			t.Errorf("NonLocalName(%q) = %q, want %q", c.Name, got, c.NonLocal)
		}
	}
	for _, h := range g.Hashes {
		if got := crc32.ChecksumIEEE([]byte(h.Value)); got != h.CRC {
			t.Errorf("crc(%q) = %x, want %x", h.Value, got, h.CRC)
		}
		for i, n := range g.RingSizes {
			if got := ConsistentHash(h.Value, n); got != h.Index[i] {
				t.Errorf("ConsistentHash(%q, %d) = %d, want %d", h.Value, n, got, h.Index[i])
			}
		}
	}
}

func TestConsistentHashReferenceVectors(t *testing.T) {
	t.Parallel()
	// Reference sheet §1.5: indexes for 2, 3 and 4 hosts.
	tests := []struct {
		name string
		want [3]int
	}{
		{"specific.0123456789abcdef0123456789abcdef!", [3]int{0, 1, 1}},
		{"tasks", [3]int{0, 1, 1}},
	}
	for _, tt := range tests {
		for i, n := range []int{2, 3, 4} {
			if got := ConsistentHash(tt.name, n); got != tt.want[i] {
				t.Errorf("ConsistentHash(%q, %d) = %d, want %d", tt.name, n, got, tt.want[i])
			}
		}
	}
}

type capacityGolden struct {
	Default int
	Rules   []struct {
		Pattern  string
		Regex    bool
		Capacity int
	}
	Cases []struct {
		Name     string
		Capacity int
	}
}

func TestCapacityGolden(t *testing.T) {
	t.Parallel()
	var g capacityGolden
	loadGolden(t, "capacity.json", &g)
	cfg := Config{Capacity: g.Default, Hosts: []Host{{Addr: "127.0.0.1:1"}}}
	for _, r := range g.Rules {
		cfg.ChannelCapacity = append(cfg.ChannelCapacity, CapacityRule{Pattern: r.Pattern, Regex: r.Regex, Capacity: r.Capacity})
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	for _, c := range g.Cases {
		if got := l.CapacityFor(c.Name); got != c.Capacity {
			t.Errorf("CapacityFor(%q) = %d, python get_capacity = %d", c.Name, got, c.Capacity)
		}
	}
}
