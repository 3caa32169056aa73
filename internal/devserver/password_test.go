package devserver

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// passwordsGolden is testdata/passwords.json, written by real Django
// (compat_tests/browser/gen_devserver_files.py).
type passwordsGolden struct {
	Django string `json:"django"`
	Encode []struct {
		Password   string `json:"password"`
		Salt       string `json:"salt"`
		Iterations int    `json:"iterations"`
		Encoded    string `json:"encoded"`
	} `json:"encode"`
	Check []struct {
		Password string `json:"password"`
		Encoded  string `json:"encoded"`
		Valid    bool   `json:"valid"`
	} `json:"check"`
}

func loadPasswords(t *testing.T) passwordsGolden {
	t.Helper()
	b, err := os.ReadFile("testdata/passwords.json")
	if err != nil {
		t.Fatal(err)
	}
	var g passwordsGolden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Encode) == 0 || len(g.Check) == 0 {
		t.Fatal("empty golden file")
	}
	return g
}

func TestGoldenMakePassword(t *testing.T) {
	t.Parallel()
	g := loadPasswords(t)
	for _, c := range g.Encode {
		t.Run(c.Salt, func(t *testing.T) {
			t.Parallel()
			if raceEnabled && c.Iterations > 100_000 {
				t.Skipf("%d iterations take too long under -race; run without -race to check", c.Iterations)
			}
			if got := MakePassword(c.Password, c.Salt, c.Iterations); got != c.Encoded {
				t.Fatalf("MakePassword = %q, Django %s encodes %q", got, g.Django, c.Encoded)
			}
			if !CheckPassword(c.Password, c.Encoded) {
				t.Fatalf("CheckPassword refuses Django's own hash %q", c.Encoded)
			}
		})
	}
	if g.Encode[0].Iterations != PBKDF2Iterations {
		t.Fatalf("Django %s's default iterations are %d, PBKDF2Iterations is %d", g.Django, g.Encode[0].Iterations, PBKDF2Iterations)
	}
}

func TestGoldenCheckPassword(t *testing.T) {
	t.Parallel()
	for _, c := range loadPasswords(t).Check {
		t.Run(c.Password+"/"+c.Encoded, func(t *testing.T) {
			t.Parallel()
			if parts := strings.Split(c.Encoded, "$"); raceEnabled && len(parts) == 4 && len(parts[1]) > 6 {
				t.Skipf("%s iterations take too long under -race; run without -race to check", parts[1])
			}
			if got := CheckPassword(c.Password, c.Encoded); got != c.Valid {
				t.Fatalf("CheckPassword(%q, %q) = %v, Django says %v", c.Password, c.Encoded, got, c.Valid)
			}
		})
	}
}

func TestNewSalt(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 50 {
		s := NewSalt()
		if len(s) != 22 || strings.Trim(s, randomStringChars) != "" {
			t.Fatalf("salt %q is not 22 characters of RANDOM_STRING_CHARS", s)
		}
		if seen[s] {
			t.Fatalf("salt %q repeated", s)
		}
		seen[s] = true
	}
}

func FuzzCheckPassword(f *testing.F) {
	f.Add("demo", "pbkdf2_sha256$1$salt$AAAA")
	f.Add("demo", "pbkdf2_sha256$$$")
	f.Add("", "pbkdf2_sha256$-1$x$y")
	f.Fuzz(func(t *testing.T, password, encoded string) {
		// Must not panic nor run for long on any input, and a hash made
		// with few iterations must verify.
		if strings.HasPrefix(encoded, "pbkdf2_sha256$") {
			parts := strings.Split(encoded, "$")
			if len(parts) == 4 && len(parts[1]) > 4 {
				return // bounded below: large iteration counts are slow, not wrong
			}
		}
		_ = CheckPassword(password, encoded)
		if !strings.Contains(encoded, "$") {
			if !CheckPassword(password, MakePassword(password, encoded, 2)) {
				t.Fatalf("MakePassword(%q, %q, 2) does not verify", password, encoded)
			}
		}
	})
}
