package djangoauth

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/laurel-server/laurel/internal/cpuclock"
)

// Benchmarks of the connect-storm paths (issue #6): verdict-cache hits and
// misses on the db engine over SQLite and PostgreSQL, one user's 1,000
// sockets connecting at once, and many users' handshakes at 50 and 200
// concurrent callers with several pool sizes. PostgreSQL runs need
// LAUREL_TEST_POSTGRES (a DSN); they skip with that message when unset.

// countingSessions counts the loads that reach the real store under it.
type countingSessions struct {
	sessionStore
	n atomic.Int64
}

func (c *countingSessions) load(ctx context.Context, rd *dbRead, key string) (map[string]any, error) {
	c.n.Add(1)
	return c.sessionStore.load(ctx, rd, key)
}

// benchBackend builds an authenticator on engine ("sqlite" or "postgres")
// whose session table also holds n extra copies of the valid session
// (distinct keys, same user), and returns it with those keys.
func benchBackend(b *testing.B, engine string, n int, mutate func(*Config)) (*Authenticator, string, []string) {
	b.Helper()
	var fx dbFixture
	loadFixture(b, "db_scenarios.json", &fx)
	valid := validKey(b, fx)
	d := openBenchDB(b, engine)
	cfg := d.cfg
	if n > 0 {
		db, err := sql.Open(d.driver, d.dsn)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		table := cfg.SessionTable
		if table == "" {
			table = "django_session"
		}
		q := fmt.Sprintf(`INSERT INTO "%s" (session_key, session_data, expire_date) SELECT %s, session_data, expire_date FROM "%s" WHERE session_key = %s`,
			table, d.param(1), table, d.param(2))
		keys := make([]string, n)
		for i := range keys {
			keys[i] = fmt.Sprintf("benchstorm%022d", i)
			if _, err := tx.Exec(q, keys[i], valid); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		if mutate != nil {
			mutate(&cfg)
		}
		return newBenchAuth(b, cfg), valid, keys
	}
	if mutate != nil {
		mutate(&cfg)
	}
	return newBenchAuth(b, cfg), valid, nil
}

// benchDB is a benchmark's database: a copy of the SQLite fixture, or the
// test PostgreSQL loaded from it, with the Config that reads it and what
// database/sql needs to write to it directly.
type benchDB struct {
	cfg    Config
	driver string
	dsn    string
	param  func(int) string // the i-th placeholder
}

// openBenchDB prepares engine's database ("sqlite" or "postgres"); its
// Config has no verdict cache.
func openBenchDB(b testing.TB, engine string) benchDB {
	b.Helper()
	var d benchDB
	switch engine {
	case "sqlite":
		path := copySQLite(b)
		d.cfg = Config{
			SecretKey:              testSecret,
			SecretKeyFallbacks:     []string{testOldKey},
			UseTZ:                  true,
			AuthenticationBackends: []string{"django.contrib.auth.backends.ModelBackend", "django.contrib.auth.backends.AllowAllUsersModelBackend"},
			Database:               DatabaseConfig{Engine: "django.db.backends.sqlite3", Name: path},
		}
		d.driver, d.dsn = "sqlite", "file:"+path
		d.param = func(int) string { return "?" }
	case "postgres":
		d.dsn = postgresTestDSN(b)
		d.cfg = postgresFromSQLite(b, d.dsn)
		d.driver = "pgx"
		d.param = func(i int) string { return "$" + strconv.Itoa(i) }
	default:
		b.Fatalf("unknown engine %q", engine)
	}
	d.cfg.VerdictTTL = -1
	return d
}

func newBenchAuth(b testing.TB, cfg Config) *Authenticator {
	b.Helper()
	a, err := New(cfg, WithLogger(quietLogger()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = a.Close() })
	return a
}

// BenchmarkVerdictDB is one verdict on the db engine: a verdict-cache hit,
// and a miss (session row + user row, signature and hash checked).
func BenchmarkVerdictDB(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine+"/hit", func(b *testing.B) {
			a, valid, _ := benchBackend(b, engine, 0, func(c *Config) { c.VerdictTTL = time.Hour })
			ctx := context.Background()
			if v := a.VerdictForSessionKey(ctx, valid); !v.Authenticated {
				b.Fatalf("%+v", v)
			}
			b.ReportAllocs()
			for b.Loop() {
				if v := a.VerdictForSessionKey(ctx, valid); !v.Cached {
					b.Fatal("not cached")
				}
			}
		})
		b.Run(engine+"/miss", func(b *testing.B) {
			a, valid, _ := benchBackend(b, engine, 0, nil)
			// A handshake's ctx can be cancelled (the client may leave),
			// which makes the drivers watch it.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			b.ReportAllocs()
			cpu0 := cpuclock.Benchmark(b)
			for b.Loop() {
				if v := a.VerdictForSessionKey(ctx, valid); !v.Authenticated || v.Cached {
					b.Fatalf("%+v", v)
				}
			}
			b.ReportMetric(float64(cpuclock.Benchmark(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkVerdictDBFreshGoroutine is BenchmarkVerdictDB's miss run, each
// verdict on a new goroutine, as a handshake's is on its connection's new
// goroutine: the difference is the cost of growing a fresh goroutine's stack
// for the database driver's deep calls (runtime.newstack, copystack).
func BenchmarkVerdictDBFreshGoroutine(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine+"/miss", func(b *testing.B) {
			a, valid, _ := benchBackend(b, engine, 0, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan Verdict)
			b.ReportAllocs()
			cpu0 := cpuclock.Benchmark(b)
			for b.Loop() {
				go func() { done <- a.VerdictForSessionKey(ctx, valid) }()
				if v := <-done; !v.Authenticated || v.Cached {
					b.Fatalf("%+v", v)
				}
			}
			b.ReportMetric(float64(cpuclock.Benchmark(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkStormOneUser: 1,000 sockets of one user authenticate at once,
// starting with an empty verdict cache (default TTL). One iteration is the
// whole wave; store-loads/op should be 1: the callers that arrive while the
// query runs share it (single flight), the later ones hit the cache.
func BenchmarkStormOneUser(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			a, valid, _ := benchBackend(b, engine, 0, func(c *Config) { c.VerdictTTL = 0 })
			cs := &countingSessions{sessionStore: a.store}
			a.store = cs
			ctx := context.Background()
			const callers = 1000
			var wg sync.WaitGroup
			var bad atomic.Int64
			b.ReportAllocs()
			for b.Loop() {
				a.verdicts.mu.Lock()
				clear(a.verdicts.entries)
				a.verdicts.mu.Unlock()
				start := make(chan struct{})
				for range callers {
					wg.Go(func() {
						<-start
						if v := a.VerdictForSessionKey(ctx, valid); !v.Authenticated {
							bad.Add(1)
						}
					})
				}
				close(start)
				wg.Wait()
			}
			if bad.Load() != 0 {
				b.Fatalf("%d callers not authenticated", bad.Load())
			}
			b.ReportMetric(float64(cs.n.Load())/float64(b.N), "store-loads/op")
		})
	}
}

// BenchmarkStormManyUsers: handshakes of distinct sessions (all cache
// misses) from 50 or 200 concurrent callers, with pool sizes 8 (the
// default), 16 and 32. One op is one verdict.
func BenchmarkStormManyUsers(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		for _, pool := range []int{4, 8, 16, 32} {
			for _, conc := range []int{50, 200} {
				b.Run(fmt.Sprintf("%s/pool%d/conc%d", engine, pool, conc), func(b *testing.B) {
					const sessions = 2000
					a, _, keys := benchBackend(b, engine, sessions, func(c *Config) { c.MaxOpenConns = pool })
					ctx := context.Background()
					var next atomic.Int64
					var bad atomic.Int64
					var wg sync.WaitGroup
					b.ReportAllocs()
					b.ResetTimer()
					cpu0 := cpuclock.Benchmark(b)
					for range conc {
						wg.Go(func() {
							for {
								i := next.Add(1) - 1
								if i >= int64(b.N) {
									return
								}
								if v := a.VerdictForSessionKey(ctx, keys[i%sessions]); !v.Authenticated {
									bad.Add(1)
								}
							}
						})
					}
					wg.Wait()
					b.StopTimer()
					if bad.Load() != 0 {
						b.Fatalf("%d verdicts not authenticated", bad.Load())
					}
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verdicts/s")
					b.ReportMetric(float64(cpuclock.Benchmark(b)-cpu0)/float64(b.N), "cpu-ns/op")
				})
			}
		}
	}
}
