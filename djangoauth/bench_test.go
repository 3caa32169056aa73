package djangoauth

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func validKey(t testing.TB, fx dbFixture) string {
	t.Helper()
	for _, sc := range fx.Scenarios {
		if sc.Name == "valid" {
			return sc.SessionKey
		}
	}
	t.Fatal("no valid scenario")
	return ""
}

// BenchmarkVerdictCached: a reconnect served from the verdict cache.
func BenchmarkVerdictCached(b *testing.B) {
	a, fx := sqliteAuthenticator(b, func(c *Config) { c.VerdictTTL = time.Hour })
	header := "csrftoken=abc; sessionid=" + validKey(b, fx)
	ctx := context.Background()
	if v := a.Authenticate(ctx, header); !v.Authenticated {
		b.Fatalf("%+v", v)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if v := a.Authenticate(ctx, header); !v.Cached {
			b.Fatal("not cached")
		}
	}
}

// BenchmarkVerdictSQLite: session row + user row from SQLite, signature and
// hash checked, no verdict cache.
func BenchmarkVerdictSQLite(b *testing.B) {
	a, fx := sqliteAuthenticator(b, nil)
	header := "sessionid=" + validKey(b, fx)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if v := a.Authenticate(ctx, header); !v.Authenticated || v.Cached {
			b.Fatalf("%+v", v)
		}
	}
}

// BenchmarkVerdictPostgres: the same against PostgreSQL
// (LAUREL_TEST_POSTGRES).
func BenchmarkVerdictPostgres(b *testing.B) {
	dsn := postgresTestDSN(b)
	cfg := postgresFromSQLite(b, dsn)
	a, err := New(cfg, WithLogger(quietLogger()))
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	var fx dbFixture
	loadFixture(b, "db_scenarios.json", &fx)
	header := "sessionid=" + validKey(b, fx)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if v := a.Authenticate(ctx, header); !v.Authenticated || v.Cached {
			b.Fatalf("%+v", v)
		}
	}
}

func BenchmarkLoadsSession(b *testing.B) {
	const v9 = ".eJxVjEEOgjAQRe_StWlmSodSl-49QzPTDoIaSCisjHdXEha6_e-9_zKJt3VIW9UljcWcDZrT7yacHzrtoNx5us02z9O6jGJ3xR602utc9Hk53L-DgevwrRWiZGJog2DrOuXeEUZP5COUXpB9CEEaIAUXPDog3xfqwKGX3EQ07w_G_zad:1r31eq:fQSFmQdJFaw5JCc5DyD90mJVZmhH2y6qVGQOrsXWbCU"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Loads(v9, testSecret, nil, "django.contrib.sessions.SessionStore", 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOriginAllow(b *testing.B) {
	v := NewOriginValidator([]string{".example.com", "https://app.example.org"}, false)
	h := []string{"https://www.example.com"}
	b.ReportAllocs()
	for b.Loop() {
		if !v.Allow(h) {
			b.Fatal("denied")
		}
	}
}

// djangoEnvelopeZlib is the zlib stream inside the valid scenario's
// session_data in testdata/django.sqlite3, as Django 5.2's
// SessionStore.encode wrote it (signing.dumps with compress=True): the
// bytes inflate sees on every verdict-cache miss.
func djangoEnvelopeZlib(b testing.TB) []byte {
	b.Helper()
	var fx dbFixture
	loadFixture(b, "db_scenarios.json", &fx)
	db, err := sql.Open("sqlite", "file:"+copySQLite(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var data string
	if err := db.QueryRow(`SELECT session_data FROM django_session WHERE session_key = ?`, validKey(b, fx)).Scan(&data); err != nil {
		b.Fatal(err)
	}
	payload, _, _ := strings.Cut(data, ":") // payload:timestamp:signature
	if !strings.HasPrefix(payload, ".") {
		b.Fatalf("session_data %q is not compressed", data)
	}
	z, err := b64Decode(payload[1:])
	if err != nil {
		b.Fatal(err)
	}
	return z
}

// BenchmarkInflate: decompressing a real Django session envelope (about
// 150 bytes of zlib), the part of unsignObject a compressed payload adds.
func BenchmarkInflate(b *testing.B) {
	z := djangoEnvelopeZlib(b)
	out, err := inflate(z)
	if err != nil || !json.Valid(out) {
		b.Fatalf("inflate = %q, %v", out, err)
	}
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := inflate(z); err != nil {
			b.Fatal(err)
		}
	}
}
