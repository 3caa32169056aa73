package djangoauth

import (
	"reflect"
	"testing"
)

func TestGoldenParseCookie(t *testing.T) {
	t.Parallel()
	var fx []struct {
		Header string            `json:"header"`
		Result map[string]string `json:"result"`
	}
	loadFixture(t, "cookies.json", &fx)
	if len(fx) < 10 {
		t.Fatal("fixture too small")
	}
	for _, c := range fx {
		t.Run(c.Header, func(t *testing.T) {
			want := map[string]string{}
			for k, v := range c.Result {
				want[toLatin1(t, k)] = toLatin1(t, v)
			}
			h := toLatin1(t, c.Header)
			got := ParseCookie(h)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("ParseCookie(%q) = %q, want %q", h, got, want)
			}
			for k, v := range want {
				if gv, ok := cookieValue(h, k); !ok || gv != v {
					t.Fatalf("cookieValue(%q) = %q %v, want %q", k, gv, ok, v)
				}
			}
		})
	}
}

func TestCookieValueMissing(t *testing.T) {
	t.Parallel()
	if v, ok := cookieValue("a=1; b=2", "sessionid"); ok || v != "" {
		t.Fatalf("got %q %v", v, ok)
	}
}
