package djangoauth

import (
	"context"
	"database/sql"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgresDSN returns LAUREL_TEST_POSTGRES, skipping when unset and failing
// when set but unreachable.
func postgresTestDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("LAUREL_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("LAUREL_TEST_POSTGRES not set")
	}
	requireReachable(t, "LAUREL_TEST_POSTGRES", "pgx", dsn)
	return dsn
}

// requireReachable fails the test when the database named by the environment
// variable env cannot be opened and pinged within 5 s.
func requireReachable(t testing.TB, env, driver, dsn string) {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("%s: %v", env, err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("%s set but unreachable: %v", env, err)
	}
}

// fixtureTables describes uniquely named copies of django_session and
// auth_user in another database: how to create and drop them and how to
// insert a row in each.
type fixtureTables struct {
	driver, dsn string
	// create returns the DDL of the two tables.
	create func(sessions, users string) []string
	// drop returns the statement dropping both.
	drop func(sessions, users string) string
	// insertSession takes (session_key, session_data, expire_date).
	insertSession func(sessions string) string
	// insertUser takes (id, password, is_superuser, username, is_staff, is_active).
	insertUser func(users string) string
	// expire converts an expire_date (UTC) into the value to insert.
	expire func(time.Time) any
}

// copyFixture creates the tables ft describes (dropped at cleanup), fills
// them with the rows real Django wrote to the SQLite fixture and returns
// their names.
func copyFixture(t testing.TB, ft fixtureTables) (sessions, users string) {
	t.Helper()
	ctx := context.Background()
	src, err := sql.Open("sqlite", "file:"+copySQLite(t)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := sql.Open(ft.driver, ft.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	prefix := uniquePrefix(t)
	prefix = "t_" + prefix[len("laurel-test-"):]
	sessions, users = prefix+"_session", prefix+"_user"
	mustExec := func(q string, args ...any) {
		t.Helper()
		if _, err := dst.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, q := range ft.create(sessions, users) {
		mustExec(q)
	}
	t.Cleanup(func() {
		db, err := sql.Open(ft.driver, ft.dsn)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.Exec(ft.drop(sessions, users))
	})
	rows, err := src.QueryContext(ctx, `SELECT session_key, session_data, CAST(expire_date AS TEXT) FROM django_session`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k, d, e string
		if err := rows.Scan(&k, &d, &e); err != nil {
			t.Fatal(err)
		}
		exp, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", e, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		mustExec(ft.insertSession(sessions), k, d, ft.expire(exp))
	}
	rows.Close()
	urows, err := src.QueryContext(ctx, `SELECT id, password, is_superuser, username, is_staff, is_active FROM auth_user`)
	if err != nil {
		t.Fatal(err)
	}
	for urows.Next() {
		var id int64
		var pw, name string
		var su, staff, active bool
		if err := urows.Scan(&id, &pw, &su, &name, &staff, &active); err != nil {
			t.Fatal(err)
		}
		mustExec(ft.insertUser(users), id, pw, su, name, staff, active)
	}
	urows.Close()
	return sessions, users
}

// postgresFromSQLite creates uniquely named copies of django_session
// (timestamptz expire_date, as Django's migration creates it) and auth_user
// in the PostgreSQL database, filled with the rows real Django wrote to the
// SQLite fixture, and returns a Config reading them.
func postgresFromSQLite(t testing.TB, dsn string) Config {
	t.Helper()
	sessions, users := copyFixture(t, fixtureTables{
		driver: "pgx", dsn: dsn,
		create: func(sessions, users string) []string {
			return []string{
				`CREATE TABLE "` + sessions + `" (session_key varchar(40) PRIMARY KEY, session_data text NOT NULL, expire_date timestamp with time zone NOT NULL)`,
				`CREATE TABLE "` + users + `" (id integer PRIMARY KEY, password varchar(128) NOT NULL, last_login timestamptz NULL, is_superuser boolean NOT NULL,
		username varchar(150) NOT NULL UNIQUE, first_name varchar(150) NOT NULL, last_name varchar(150) NOT NULL, email varchar(254) NOT NULL,
		is_staff boolean NOT NULL, is_active boolean NOT NULL, date_joined timestamptz NOT NULL)`,
			}
		},
		drop:          func(sessions, users string) string { return `DROP TABLE IF EXISTS "` + sessions + `", "` + users + `"` },
		insertSession: func(sessions string) string { return `INSERT INTO "` + sessions + `" VALUES ($1, $2, $3)` },
		insertUser: func(users string) string {
			return `INSERT INTO "` + users + `" VALUES ($1, $2, NULL, $3, $4, '', '', '', $5, $6, now())`
		},
		expire: func(t time.Time) any { return t },
	})
	pc, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		SecretKey:              testSecret,
		SecretKeyFallbacks:     []string{testOldKey},
		UseTZ:                  true,
		TimeZone:               "America/New_York",
		AuthenticationBackends: []string{"django.contrib.auth.backends.ModelBackend", "django.contrib.auth.backends.AllowAllUsersModelBackend"},
		Database: DatabaseConfig{Engine: "django.db.backends.postgresql", Name: pc.Database, User: pc.User, Password: pc.Password,
			Host: pc.Host, Port: strconv.Itoa(int(pc.Port))},
		SessionTable: sessions,
		User:         UserConfig{Table: users},
		VerdictTTL:   -1,
	}
}

// lookupUser is one user-row lookup, on a connection of its own.
func lookupUser(ctx context.Context, a *Authenticator, pk any) (*userRow, error) {
	rd := a.db.read()
	defer rd.release()
	return a.users.get(ctx, &rd, pk)
}

// TestPostgresScenarios replays the Django get_user scenarios against
// PostgreSQL (timestamptz expire_date, integer pk, boolean columns).
func TestPostgresScenarios(t *testing.T) {
	t.Parallel()
	a, cfg, _ := postgresAuthenticator(t)
	ctx := context.Background()
	if err := a.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	var fx dbFixture
	loadFixture(t, "db_scenarios.json", &fx)
	for _, sc := range fx.Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			checkVerdict(t, a.VerdictForSessionKey(ctx, sc.SessionKey), sc)
		})
	}
	// huge ids must not reach an int4 comparison error
	if v := a.users; v != nil {
		if _, err := lookupUser(ctx, a, int64(1)<<40); err != nil {
			t.Fatalf("bigint pk lookup: %v", err)
		}
	}
	// the pool is read-only
	if _, err := a.db.db.ExecContext(ctx, `CREATE TABLE "`+cfg.SessionTable+`_w" (x int)`); err == nil {
		t.Fatal("laurel's PostgreSQL connection accepted a write")
	}
}

func TestSQLiteIsReadOnly(t *testing.T) {
	t.Parallel()
	a, _ := sqliteAuthenticator(t, nil)
	if _, err := a.db.db.Exec(`DELETE FROM django_session`); err == nil {
		t.Fatal("laurel's SQLite connection accepted a write")
	}
}

// TestSQLitePageCacheIsSmall checks that every pooled SQLite connection
// has laurel's page cache, not SQLite's 2 MiB default.
func TestSQLitePageCacheIsSmall(t *testing.T) {
	t.Parallel()
	a, _ := sqliteAuthenticator(t, nil)
	ctx := context.Background()
	// Hold several connections at once so the check is not of one only.
	var conns []*sql.Conn
	for range 3 {
		c, err := a.db.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		var n int
		if err := c.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if want := -64; n != want {
			t.Errorf("connection %d: cache_size %d, want %d", i, n, want)
		}
		_ = c.Close()
	}
}

// TestSQLiteNaiveLocalTime: with USE_TZ=False Django stores expire_date as
// naive local time in TIME_ZONE.
func TestSQLiteNaiveLocalTime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		tz   string
		want bool
	}{{"UTC", true}, {"Asia/Tokyo", false}, {"America/New_York", true}} {
		loc, _ := time.LoadLocation(tc.tz)
		s := &sqlDB{naiveTZ: loc}
		// a naive value one hour ahead of UTC now
		text := time.Now().UTC().Add(time.Hour).Format("2006-01-02 15:04:05.000000")
		exp, err := s.parseNaive(text)
		if err != nil {
			t.Fatal(err)
		}
		if got := exp.After(time.Now()); got != tc.want {
			t.Errorf("%s: not-expired = %v, want %v", tc.tz, got, tc.want)
		}
	}
}

// A SQLite NAME with characters that need URI escaping still opens.
func TestSQLiteOddPath(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/django.sqlite3")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir() + "/with space?and#hash%41"
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := dir + "/db.sqlite3"
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{SecretKey: testSecret, Database: DatabaseConfig{Engine: "django.db.backends.sqlite3", Name: p}}, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := a.VerdictForSessionKey(context.Background(), "nosuchsessionkey000"); v.Reason != ReasonNoSession {
		t.Fatalf("%+v", v)
	}
}

// On PostgreSQL a verdict sends the user-row query of the last user along
// with the session query once two verdicts in a row were of that user. The
// speculated row is used only for that same user, and it is read at the
// same time as the session row, never reused from an earlier verdict: a
// change to the user is seen by the next verdict.
func TestPostgresUserSpeculation(t *testing.T) {
	t.Parallel()
	a, cfg, dsn := postgresAuthenticator(t)
	var fx dbFixture
	loadFixture(t, "db_scenarios.json", &fx)
	key := validKey(t, fx)
	ctx := context.Background()
	for range 2 {
		if v := a.VerdictForSessionKey(ctx, key); !v.Authenticated {
			t.Fatalf("%+v", v)
		}
	}
	pk, ok := a.users.guess.next()
	if !ok || pk != int64(1) {
		t.Fatalf("guess %v %v after two verdicts of user 1", pk, ok)
	}

	// The speculated row answers the same lookup, and only that one.
	for _, tc := range []struct {
		ask      int64
		wantUsed bool
	}{{1, true}, {2, false}} {
		rd := a.db.read()
		rd.speculate(a.users.query, int64(1), userColumns)
		if _, err := a.store.load(ctx, &rd, key); err != nil {
			t.Fatal(err)
		}
		if rd.spec.state != specSent {
			t.Fatalf("speculation state %d after the session query, want sent", rd.spec.state)
		}
		u, err := a.users.get(ctx, &rd, tc.ask)
		if err != nil {
			t.Fatal(err)
		}
		want, err := lookupUser(ctx, a, tc.ask)
		if err != nil {
			t.Fatal(err)
		}
		if (u == nil) != (want == nil) || u != nil && *u != *want {
			t.Errorf("user %d through the speculation: %+v, want %+v", tc.ask, u, want)
		}
		rd.release()
	}

	// Changes to the user are seen at once.
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct {
		active bool
		want   Reason
	}{{false, ReasonInactive}, {true, ReasonOK}, {false, ReasonInactive}} {
		if _, err := db.ExecContext(ctx, `UPDATE "`+cfg.User.Table+`" SET is_active = $1 WHERE id = 1`, tc.active); err != nil {
			t.Fatal(err)
		}
		if v := a.VerdictForSessionKey(ctx, key); v.Reason != tc.want {
			t.Fatalf("is_active=%v: %+v, want %s", tc.active, v, tc.want)
		}
	}
}

// postgresAuthenticator is an Authenticator on a PostgreSQL copy of the
// SQLite fixture database (skipping without PostgreSQL), closed with t;
// also its configuration and the database's DSN.
func postgresAuthenticator(t *testing.T) (*Authenticator, Config, string) {
	t.Helper()
	dsn := postgresTestDSN(t)
	cfg := postgresFromSQLite(t, dsn)
	a, err := New(cfg, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a, cfg, dsn
}
