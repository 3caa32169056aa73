package djangoauth

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// loadFixture decodes testdata/name (written by
// compat_tests/gen_djangoauth_fixtures.py with real Django) into v.
func loadFixture(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode fixture %s: %v", name, err)
	}
}

// toLatin1 turns a Python str of code points <= 0xff (as JSON decodes it)
// into the raw bytes a latin-1 header carries.
func toLatin1(t testing.TB, s string) string {
	t.Helper()
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			t.Fatalf("non-latin-1 rune %U in %q", r, s)
		}
		b = append(b, byte(r))
	}
	return string(b)
}
