package djangoauth

import (
	"fmt"
	"testing"
)

func TestGoldenOrigins(t *testing.T) {
	t.Parallel()
	var fx []struct {
		AllowedHosts []string `json:"allowed_hosts"`
		Debug        bool     `json:"debug"`
		Origin       []string `json:"origin"`
		Result       any      `json:"result"`
	}
	loadFixture(t, "origins.json", &fx)
	if len(fx) < 25 {
		t.Fatalf("only %d origin cases", len(fx))
	}
	for i, c := range fx {
		t.Run(fmt.Sprintf("%d", i), func(t *testing.T) {
			want := c.Result == true // "error" (Channels raises) is a denial
			hs := make([]string, len(c.Origin))
			for j, o := range c.Origin {
				hs[j] = toLatin1(t, o)
			}
			if got := NewOriginValidator(c.AllowedHosts, c.Debug).Allow(hs); got != want {
				t.Fatalf("allowed=%q debug=%v origin=%q: got %v, want %v (python %v)", c.AllowedHosts, c.Debug, c.Origin, got, want, c.Result)
			}
		})
	}
}

// Reference sheet §7.2 table.
func TestOriginReferenceTable(t *testing.T) {
	t.Parallel()
	debug := NewOriginValidator(nil, true)
	tests := []struct {
		allowed []string
		v       *OriginValidator
		origin  []string
		want    bool
	}{
		{allowed: []string{"example.com"}, origin: []string{"https://example.com"}, want: true},
		{allowed: []string{"example.com"}, origin: []string{"http://example.com:8080"}, want: true},
		{allowed: []string{"example.com"}, origin: []string{"wss://EXAMPLE.com"}, want: true},
		{allowed: []string{"example.com"}, origin: []string{"https://sub.example.com"}, want: false},
		{allowed: []string{"example.com"}, origin: []string{"https://example.com."}, want: false},
		{allowed: []string{".example.com"}, origin: []string{"https://example.com"}, want: true},
		{allowed: []string{".example.com"}, origin: []string{"https://a.b.example.com"}, want: true},
		{allowed: []string{".example.com"}, origin: []string{"https://badexample.com"}, want: false},
		{allowed: []string{"https://example.com"}, origin: []string{"https://example.com:443"}, want: true},
		{allowed: []string{"https://example.com"}, origin: []string{"http://example.com"}, want: false},
		{allowed: []string{"https://example.com"}, origin: []string{"https://example.com:8443"}, want: false},
		{allowed: []string{"example.com"}, origin: nil, want: false},
		{allowed: []string{"*"}, origin: nil, want: true},
		{allowed: []string{"*"}, origin: []string{"null"}, want: true},
		{allowed: []string{"example.com"}, origin: []string{"null"}, want: false},
		{allowed: []string{}, origin: []string{"https://example.com"}, want: false},
		{v: debug, origin: []string{"http://[::1]:8000"}, want: true},
		{v: debug, origin: []string{"http://sub.localhost:3000"}, want: false},
		{allowed: []string{"example.com"}, origin: []string{"https://user@example.com"}, want: true},
		{allowed: []string{"example.com:8000"}, origin: []string{"http://example.com:8000"}, want: false},
	}
	for _, tc := range tests {
		v := tc.v
		if v == nil {
			v = NewOriginValidator(tc.allowed, false)
		}
		if got := v.Allow(tc.origin); got != tc.want {
			t.Errorf("%q / %q: got %v, want %v", tc.allowed, tc.origin, got, tc.want)
		}
	}
}
