package consumer

import (
	"net/http"
	"testing"
)

func TestMaxSocketsPerAddress(t *testing.T) {
	tests := []struct {
		name      string
		limit     int
		open      int
		wantLast  int // status of the handshake after `open` sockets
		wantCount float64
	}{
		{"no limit", 0, 20, http.StatusSwitchingProtocols, 0},
		{"limit reached", 3, 3, http.StatusTooManyRequests, 1},
		{"under limit", 3, 2, http.StatusSwitchingProtocols, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.MaxSocketsPerAddress = tc.limit })
			if status := e.statusAfter(tc.open); status != tc.wantLast {
				t.Fatalf("handshake after %d sockets: status %d, want %d", tc.open, status, tc.wantLast)
			}
			got := counterValue(t, e.reg, "laurel_handshakes_total", map[string]string{"result": "rejected", "reason": "address_limit"})
			if got != tc.wantCount {
				t.Fatalf("address_limit refusals = %v, want %v", got, tc.wantCount)
			}
		})
	}
}

func TestMaxSocketsPerAddressFreesOnClose(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxSocketsPerAddress = 1 })
	c := e.mustDial("/ws/tasks/", aliceCookie)
	if _, status, _ := e.dial("/ws/tasks/", aliceCookie); status != http.StatusTooManyRequests {
		t.Fatalf("second socket: status %d, want 429", status)
	}
	_ = c.Close()
	eventually(t, "the address's slot freed", func() bool { return e.srv.OpenSockets() == 0 })
	e.mustDial("/ws/tasks/", aliceCookie)
}
