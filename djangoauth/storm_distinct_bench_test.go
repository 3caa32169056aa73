package djangoauth

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/laurel-server/laurel/channelsproto"
	"github.com/laurel-server/laurel/internal/cpuclock"
)

// stormDistinctUsers is how many users, each with one session, the
// distinct-users storm benchmark spreads its verdicts over: laurel-bench's
// connect storm opens 10,000 sockets, each with its own session of its own
// user.
const stormDistinctUsers = 10000

// stormDistinctFixture adds n users to the fixture database (engine
// "sqlite" or "postgres"), each with one session written as Django's
// login() writes it (_auth_user_id, _auth_user_backend, _auth_user_hash,
// signed and zlib-compressed as SessionStore.encode does), and returns an
// Authenticator with the pool size pool and no verdict cache, and the
// session keys in a shuffled order.
//
// The zlib streams come from Go's compress/zlib, not CPython's zlib: both
// write one dynamic- or fixed-Huffman block for such a payload, of about the
// same size, so inflate does the same work.
func stormDistinctFixture(b testing.TB, engine string, n, pool int) (*Authenticator, []string) {
	b.Helper()
	d := openBenchDB(b, engine)
	cfg := d.cfg
	cfg.SecretKeyFallbacks = nil
	cfg.AuthenticationBackends = []string{"django.contrib.auth.backends.ModelBackend"}
	session, users, param := cfg.SessionTable, cfg.User.Table, d.param
	if session == "" {
		session, users = "django_session", "auth_user"
	}
	cfg.MaxOpenConns = pool
	db, err := sql.Open(d.driver, d.dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	insUser := fmt.Sprintf(`INSERT INTO "%s" (id, password, last_login, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
		VALUES (%s, %s, NULL, false, %s, '', '', '', false, true, %s)`, users, param(1), param(2), param(3), param(4))
	insSession := fmt.Sprintf(`INSERT INTO "%s" (session_key, session_data, expire_date) VALUES (%s, %s, %s)`,
		session, param(1), param(2), param(3))
	joined := any(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	expire := any(time.Now().Add(14 * 24 * time.Hour).UTC())
	if engine == "sqlite" {
		// Django's SQLite backend stores naive UTC text
		joined = joined.(time.Time).Format("2006-01-02 15:04:05.000000")
		expire = expire.(time.Time).Format("2006-01-02 15:04:05.000000")
	}
	keys := make([]string, n)
	for i := range keys {
		id := int64(100000 + i)
		// set_unusable_password: "!" and 40 random characters
		pw := "!" + randomText(b, 40)
		if _, err := tx.Exec(insUser, id, pw, fmt.Sprintf("storm%d", i), joined); err != nil {
			b.Fatal(err)
		}
		data := channelsproto.Map{
			{Key: "_auth_user_id", Value: strconv.FormatInt(id, 10)},
			{Key: "_auth_user_backend", Value: "django.contrib.auth.backends.ModelBackend"},
			{Key: "_auth_user_hash", Value: SessionAuthHash(pw, testSecret)},
		}
		enc, err := Dumps(data, testSecret, "django.contrib.sessions.SessionStore", true)
		if err != nil {
			b.Fatal(err)
		}
		if !strings.HasPrefix(enc, ".") {
			b.Fatalf("session %d not compressed", i)
		}
		keys[i] = randomText(b, 32) // get_random_string(32, "a-z0-9")
		if _, err := tx.Exec(insSession, keys[i], enc, expire); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	mrand.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	if engine == "postgres" {
		if _, err := db.Exec(fmt.Sprintf(`ANALYZE "%s", "%s"`, session, users)); err != nil {
			b.Fatal(err)
		}
	}
	return newBenchAuth(b, cfg), keys
}

// randomText returns n random characters of [a-z0-9].
func randomText(b testing.TB, n int) string {
	b.Helper()
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		b.Fatal(err)
	}
	for i, c := range buf {
		buf[i] = alphabet[int(c)%len(alphabet)]
	}
	return string(buf)
}

// readSyscalls is this process's read-family system calls so far
// (/proc/self/io syscr: read, pread64, readv...), or -1 when unavailable.
// On SQLite nearly all of a verdict's are preads of database pages.
func readSyscalls() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscr: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// BenchmarkStormDistinctUsers is the connect storm's verdict: 10,000 users
// with one session each, every verdict a different session (no verdict
// cache), from 1 or 64 concurrent callers on the default pool of 8
// connections. Keys are taken in a shuffled order, cycling when b.N is
// larger. It reports wall ns/op, cpu-ns/op (the process's user + system
// time: on a saturated machine a verdict costs its CPU), allocs/op and
// read-syscalls/op (/proc/self/io syscr; mostly SQLite's page preads).
// PostgreSQL needs LAUREL_TEST_POSTGRES.
func BenchmarkStormDistinctUsers(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		for _, conc := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/conc%d", engine, conc), func(b *testing.B) {
				a, keys := stormDistinctFixture(b, engine, stormDistinctUsers, 8)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				work := make(chan string, conc)
				var wg sync.WaitGroup
				var bad, done atomic.Int64
				for range conc {
					wg.Go(func() {
						for k := range work {
							if v := a.VerdictForSessionKey(ctx, k); !v.Authenticated || v.Cached {
								bad.Add(1)
							}
							done.Add(1)
						}
					})
				}
				b.ReportAllocs()
				cpu0, sys0 := cpuclock.Benchmark(b), readSyscalls()
				i := 0
				for b.Loop() {
					work <- keys[i%len(keys)]
					i++
				}
				close(work)
				wg.Wait()
				cpu, sys := cpuclock.Benchmark(b)-cpu0, readSyscalls()-sys0
				if n := bad.Load(); n != 0 {
					b.Fatalf("%d of %d verdicts not authenticated", n, done.Load())
				}
				b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
				if sys0 >= 0 {
					b.ReportMetric(float64(sys)/float64(b.N), "read-syscalls/op")
				}
			})
		}
	}
}

// BenchmarkVerdictSQLiteReopen is a verdict after the fast pool has closed
// its idle connections (liteMaxIdle): it opens a connection, maps the file
// and prepares its statements again. Compare with BenchmarkVerdictSQLite,
// a verdict on a connection already open.
func BenchmarkVerdictSQLiteReopen(b *testing.B) {
	a, fx := sqliteAuthenticator(b, nil)
	a.db.lite.maxIdle = 0 // every connection given back is stale when next taken
	key := validKey(b, fx)
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := cpuclock.Benchmark(b)
	for b.Loop() {
		if v := a.VerdictForSessionKey(ctx, key); !v.Authenticated {
			b.Fatalf("%+v", v)
		}
	}
	b.ReportMetric(float64(cpuclock.Benchmark(b)-cpu0)/float64(b.N), "cpu-ns/op")
}
