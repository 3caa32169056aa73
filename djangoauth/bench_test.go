package djangoauth

import (
	"context"
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
