package djangoauth

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// mysqlTestDSN returns LAUREL_TEST_MYSQL (a go-sql-driver/mysql DSN naming
// a database, e.g. root@tcp(127.0.0.1:3306)/laurel_test), skipping when
// unset and failing when set but unreachable.
func mysqlTestDSN(t testing.TB) *mysql.Config {
	t.Helper()
	dsn := os.Getenv("LAUREL_TEST_MYSQL")
	if dsn == "" {
		t.Skip("LAUREL_TEST_MYSQL not set")
	}
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("LAUREL_TEST_MYSQL: %v", err)
	}
	if mc.DBName == "" {
		t.Fatal("LAUREL_TEST_MYSQL must name a database")
	}
	requireReachable(t, "LAUREL_TEST_MYSQL", "mysql", dsn)
	return mc
}

// mysqlTables are the uniquely named copies of Django's tables one test
// created.
type mysqlTables struct {
	sessions, users string
}

// mysqlFromSQLite creates uniquely named copies of django_session and
// auth_user with the DDL Django 5.2's MySQL backend generates (datetime(6)
// expire_date, longtext session_data, bool columns, utf8mb4), filled with
// the rows real Django wrote to the SQLite fixture. Naive datetimes are
// written in loc, as Django writes them (UTC when USE_TZ=True, TIME_ZONE
// otherwise).
func mysqlFromSQLite(t testing.TB, mc *mysql.Config, loc *time.Location) mysqlTables {
	t.Helper()
	const charset = " DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"
	sessions, users := copyFixture(t, fixtureTables{
		driver: "mysql", dsn: mc.FormatDSN(),
		create: func(sessions, users string) []string {
			return []string{
				"CREATE TABLE `" + sessions + "` (`session_key` varchar(40) NOT NULL PRIMARY KEY, `session_data` longtext NOT NULL, `expire_date` datetime(6) NOT NULL)" + charset,
				"CREATE INDEX `" + sessions + "_expire_date` ON `" + sessions + "` (`expire_date`)",
				"CREATE TABLE `" + users + "` (`id` integer AUTO_INCREMENT NOT NULL PRIMARY KEY, `password` varchar(128) NOT NULL, `last_login` datetime(6) NULL, `is_superuser` bool NOT NULL, " +
					"`username` varchar(150) NOT NULL UNIQUE, `first_name` varchar(150) NOT NULL, `last_name` varchar(150) NOT NULL, `email` varchar(254) NOT NULL, " +
					"`is_staff` bool NOT NULL, `is_active` bool NOT NULL, `date_joined` datetime(6) NOT NULL)" + charset,
			}
		},
		drop:          func(sessions, users string) string { return "DROP TABLE IF EXISTS `" + sessions + "`, `" + users + "`" },
		insertSession: func(sessions string) string { return "INSERT INTO `" + sessions + "` VALUES (?, ?, ?)" },
		insertUser: func(users string) string {
			return "INSERT INTO `" + users + "` VALUES (?, ?, NULL, ?, ?, '', '', '', ?, ?, NOW(6))"
		},
		expire: func(t time.Time) any { return t.In(loc).Format("2006-01-02 15:04:05.000000") },
	})
	return mysqlTables{sessions: sessions, users: users}
}

// mysqlConfig is the Config of a site on the DSN's server reading tb.
func mysqlConfig(mc *mysql.Config, tb mysqlTables, useTZ bool, tz string) Config {
	host, port, _ := net.SplitHostPort(mc.Addr)
	if mc.Net == "unix" {
		host, port = mc.Addr, ""
	}
	return Config{
		SecretKey:              testSecret,
		SecretKeyFallbacks:     []string{testOldKey},
		UseTZ:                  useTZ,
		TimeZone:               tz,
		AuthenticationBackends: []string{"django.contrib.auth.backends.ModelBackend", "django.contrib.auth.backends.AllowAllUsersModelBackend"},
		Database: DatabaseConfig{Engine: "django.db.backends.mysql", Name: mc.DBName, User: mc.User, Password: mc.Passwd,
			Host: host, Port: port},
		SessionTable: tb.sessions,
		User:         UserConfig{Table: tb.users},
		VerdictTTL:   -1,
	}
}

// mysqlChecksum is CHECKSUM TABLE of each table: any write laurel made
// would change it.
func mysqlChecksum(t testing.TB, mc *mysql.Config, tables ...string) []int64 {
	t.Helper()
	db, err := sql.Open("mysql", mc.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []int64
	for _, tbl := range tables {
		var name string
		var sum sql.NullInt64
		if err := db.QueryRow("CHECKSUM TABLE `"+tbl+"` EXTENDED").Scan(&name, &sum); err != nil {
			t.Fatal(err)
		}
		if !sum.Valid {
			t.Fatalf("CHECKSUM TABLE %s: NULL (no such table)", tbl)
		}
		out = append(out, sum.Int64)
	}
	return out
}

// TestMySQLScenarios replays the Django get_user scenarios against a real
// MySQL/MariaDB server (datetime(6) expire_date read as naive text, integer
// pk, tinyint(1) booleans): with USE_TZ=True (naive UTC) and with
// USE_TZ=False in a zone far from UTC (naive local time), laurel must
// decide each scenario as Django did.
func TestMySQLScenarios(t *testing.T) {
	t.Parallel()
	mc := mysqlTestDSN(t)
	var fx dbFixture
	loadFixture(t, "db_scenarios.json", &fx)
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		useTZ bool
		tz    string
		loc   *time.Location
	}{
		{"use_tz", true, "America/New_York", time.UTC},
		{"naive_tokyo", false, "Asia/Tokyo", tokyo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := mysqlFromSQLite(t, mc, tc.loc)
			a, err := New(mysqlConfig(mc, tb, tc.useTZ, tc.tz), WithLogger(quietLogger()))
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			ctx := context.Background()
			if err := a.Ping(ctx); err != nil {
				t.Fatal(err)
			}
			before := mysqlChecksum(t, mc, tb.sessions, tb.users)
			for _, sc := range fx.Scenarios {
				t.Run(sc.Name, func(t *testing.T) {
					checkVerdict(t, a.VerdictForSessionKey(ctx, sc.SessionKey), sc)
				})
			}
			// ids beyond int32 are looked up, not rejected by the server
			if _, err := lookupUser(ctx, a, int64(1)<<40); err != nil {
				t.Fatalf("bigint pk lookup: %v", err)
			}
			if after := mysqlChecksum(t, mc, tb.sessions, tb.users); after[0] != before[0] || after[1] != before[1] {
				t.Fatalf("laurel changed the tables: checksums %v -> %v", before, after)
			}
		})
	}
}

// TestMySQLNaiveExpiry pins the naive expire_date reading at the
// boundary: a row expiring one minute from now is live, one a minute ago
// is expired, whichever zone Django wrote it in.
func TestMySQLNaiveExpiry(t *testing.T) {
	t.Parallel()
	mc := mysqlTestDSN(t)
	var fx dbFixture
	loadFixture(t, "db_scenarios.json", &fx)
	var valid dbScenario
	for _, sc := range fx.Scenarios {
		if sc.Name == "valid" {
			valid = sc
		}
	}
	if valid.SessionKey == "" {
		t.Fatal("fixture has no valid scenario")
	}
	for _, tz := range []string{"UTC", "Asia/Tokyo", "America/New_York"} {
		t.Run(tz, func(t *testing.T) {
			loc, err := time.LoadLocation(tz)
			if err != nil {
				t.Fatal(err)
			}
			tb := mysqlFromSQLite(t, mc, loc)
			a, err := New(mysqlConfig(mc, tb, tz == "UTC", tz), WithLogger(quietLogger()))
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			db, err := sql.Open("mysql", mc.FormatDSN())
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			ctx := context.Background()
			for _, c := range []struct {
				offset time.Duration
				want   Reason
			}{{time.Minute, ReasonOK}, {-time.Minute, ReasonExpired}} {
				exp := time.Now().Add(c.offset).In(loc).Format("2006-01-02 15:04:05.000000")
				if _, err := db.ExecContext(ctx, "UPDATE `"+tb.sessions+"` SET expire_date = ? WHERE session_key = ?", exp, valid.SessionKey); err != nil {
					t.Fatal(err)
				}
				if v := a.VerdictForSessionKey(ctx, valid.SessionKey); v.Reason != c.want {
					t.Errorf("expire_date %s (%s, %+v): %+v, want %s", exp, tz, c.offset, v, c.want)
				}
			}
		})
	}
}

// TestMySQLSelectOnlyGrant: the deployment docs tell operators to grant
// laurel SELECT only. A user with nothing but SELECT on the two tables
// gets every verdict right, and its connection cannot write.
func TestMySQLSelectOnlyGrant(t *testing.T) {
	t.Parallel()
	mc := mysqlTestDSN(t)
	tb := mysqlFromSQLite(t, mc, time.UTC)
	root, err := sql.Open("mysql", mc.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	user := strings.TrimSuffix(tb.sessions, "_session") + "_ro"
	const password = "laurel-ro-pw"
	if _, err := root.Exec("CREATE USER '" + user + "'@'%' IDENTIFIED BY '" + password + "'"); err != nil {
		t.Fatalf("LAUREL_TEST_MYSQL's user must be able to CREATE USER: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("mysql", mc.FormatDSN())
		if err == nil {
			_, _ = db.Exec("DROP USER IF EXISTS '" + user + "'@'%'")
			db.Close()
		}
	})
	for _, tbl := range []string{tb.sessions, tb.users} {
		if _, err := root.Exec("GRANT SELECT ON `" + mc.DBName + "`.`" + tbl + "` TO '" + user + "'@'%'"); err != nil {
			t.Fatal(err)
		}
	}
	ro := *mc
	ro.User, ro.Passwd = user, password
	a, err := New(mysqlConfig(&ro, tb, true, "UTC"), WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	if err := a.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	var fx dbFixture
	loadFixture(t, "db_scenarios.json", &fx)
	for _, sc := range fx.Scenarios {
		checkVerdict(t, a.VerdictForSessionKey(ctx, sc.SessionKey), sc)
	}
	if _, err := a.db.db.ExecContext(ctx, "DELETE FROM `"+tb.sessions+"`"); err == nil {
		t.Fatal("a SELECT-only MySQL user could delete sessions: the grant test proves nothing")
	}
}

// TestMySQLUnreachable: a MySQL server that is not there makes the store
// unavailable (ErrStoreUnavailable from Ping, store_unavailable verdicts),
// never an authenticated or anonymous-by-absence verdict.
func TestMySQLUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close() // nothing listens there now
	a, err := New(Config{SecretKey: testSecret, UseTZ: true, VerdictTTL: -1,
		Database: DatabaseConfig{Engine: "django.db.backends.mysql", Name: "x", User: "root", Host: "127.0.0.1", Port: port}},
		WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Ping(ctx); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("Ping: %v, want ErrStoreUnavailable", err)
	}
	if v := a.VerdictForSessionKey(ctx, "e2obu4574fb7gy88d0fxwve00v6csv2a"); v.Authenticated || v.Reason != ReasonStoreUnavailable {
		t.Fatalf("%+v, want store_unavailable", v)
	}
}
