package djangoauth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver
)

// SQL dialects.
const (
	dialectSQLite   = "sqlite"
	dialectPostgres = "postgres"
	dialectMySQL    = "mysql"
)

// sqlitePageCache is each SQLite connection's page cache (PRAGMA cache_size;
// negative is KiB). laurel only looks rows up by key, and the system's page
// cache already holds the file, so SQLite's default of 2 MiB per connection
// would only grow the process by up to 2 MiB × the pool size as sessions are
// read: at 10k sockets that was about 2 KB of RSS per socket.
const sqlitePageCache = "-64"

// sqliteFastMmap is the fast pool's PRAGMA mmap_size: its connections read
// the database file through a memory map, which saves a pread per page
// missing the page cache (about 4.7 per verdict on a storm of 10,000
// distinct sessions and users, and 10 to 15% of a verdict's CPU,
// BenchmarkStormDistinctUsers). SQLite maps at most the file's size.
//
// Every connection maps the file on its own, and the pages its map has
// touched count in laurel's RSS once per connection: with connections kept
// open at rest that took idle-10k from 4.3 to 8.3 KB of RSS per socket. So
// the fast pool closes a connection idle for liteMaxIdle (one second),
// which unmaps the file: a storm keeps the connections busy, and at rest
// there is none (TestLitePoolReleasesMapsAtRest).
const sqliteFastMmap = "1073741824"

// sqlDB is a read-only connection pool to DATABASES["default"].
type sqlDB struct {
	db      *sql.DB
	dialect string
	naiveTZ *time.Location // location of naive datetimes (SQLite, MySQL)

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt // SQLite statements, prepared on first use

	lite *litePool // SQLite's fast path (see dbRead.row); nil on other engines
}

// openSQL opens a pooled, read-only handle:
//   - SQLite (modernc.org/sqlite, no cgo): file URI with mode=ro (not
//     immutable, so Django's concurrent writes are seen), a busy timeout and
//     a small page cache (sqlitePageCache).
//   - PostgreSQL (pgx): default_transaction_read_only=on on every connection.
//   - MySQL/MariaDB (go-sql-driver/mysql): plain connection; laurel only
//     issues SELECT statements (grant it SELECT only). Tested against
//     MariaDB 10.11 (sqldb_mysql_test.go with LAUREL_TEST_MYSQL, and the
//     compat suite's db_mysql profiles); OPTIONS are not applied.
func openSQL(cfg Config) (*sqlDB, error) {
	d := cfg.Database
	s := &sqlDB{naiveTZ: time.UTC}
	if !cfg.UseTZ {
		loc, err := time.LoadLocation(cfg.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("%w: TIME_ZONE %q: %w", ErrSettings, cfg.TimeZone, err)
		}
		s.naiveTZ = loc
	}
	var driver, dsn, fastURI string
	switch d.Engine {
	case "django.db.backends.sqlite3":
		s.dialect, driver = dialectSQLite, "sqlite"
		if d.Name == "" {
			return nil, fmt.Errorf("%w: DATABASES.default.NAME is required for SQLite", ErrSettings)
		}
		fastURI = "file:" + (&url.URL{Path: d.Name}).EscapedPath() + "?mode=ro" // pragmas: liteFastPragmas
		dsn = fastURI + "&_pragma=query_only(1)&_pragma=cache_size(" + sqlitePageCache + ")&_pragma=busy_timeout(5000)"
	case "django.db.backends.postgresql", "django.db.backends.postgresql_psycopg2":
		s.dialect, driver = dialectPostgres, "pgx"
		dsn = postgresDSN(d)
	case "django.db.backends.mysql":
		s.dialect, driver = dialectMySQL, "mysql"
		mc := mysql.NewConfig()
		mc.User, mc.Passwd, mc.DBName = d.User, d.Password, d.Name
		host, port := d.Host, d.Port
		switch {
		case strings.HasPrefix(host, "/"):
			mc.Net, mc.Addr = "unix", host
		default:
			if host == "" {
				host = "localhost"
			}
			if port == "" {
				port = "3306"
			}
			mc.Net, mc.Addr = "tcp", net.JoinHostPort(host, port)
		}
		mc.ParseTime = false
		dsn = mc.FormatDSN()
	case "":
		return nil, fmt.Errorf("%w: DATABASES.default.ENGINE is required", ErrSettings)
	default:
		return nil, fmt.Errorf("%w: DATABASES.default.ENGINE %q is not supported", ErrSettings, d.Engine)
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: DATABASES.default: %w", ErrSettings, err)
	}
	db.SetMaxOpenConns(cfg.MaxOpenConns)
	db.SetMaxIdleConns(cfg.MaxOpenConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s.db = db
	if fastURI != "" {
		s.lite = newLitePool(fastURI, cfg.MaxOpenConns)
	}
	return s, nil
}

// postgresDSN builds a libpq keyword/value string from Django's settings.
func postgresDSN(d DatabaseConfig) string {
	kv := map[string]string{}
	for k, v := range d.Options {
		switch k {
		case "sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "application_name",
			"target_session_attrs", "service", "passfile", "sslpassword":
			kv[k] = fmt.Sprint(v)
		}
	}
	set := func(k, v string) {
		if v != "" {
			kv[k] = v
		}
	}
	set("host", d.Host)
	set("port", d.Port)
	set("user", d.User)
	set("password", d.Password)
	set("dbname", d.Name)
	kv["default_transaction_read_only"] = "on"
	if _, ok := kv["connect_timeout"]; !ok {
		kv["connect_timeout"] = "5"
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(kv[k])
		fmt.Fprintf(&b, "%s='%s' ", k, v)
	}
	return strings.TrimSpace(b.String())
}

// quote quotes an SQL identifier for the dialect. Identifiers containing
// quote characters or NUL are rejected by validIdent at construction.
func (s *sqlDB) quote(ident string) string {
	if s.dialect == dialectMySQL {
		return "`" + ident + "`"
	}
	return `"` + ident + `"`
}

func validIdent(name string) bool {
	return name != "" && !strings.ContainsAny(name, "\"`\x00")
}

// param returns the n-th (1-based) placeholder.
func (s *sqlDB) param(n int) string {
	if s.dialect == dialectPostgres {
		return fmt.Sprintf("$%d", n)
	}
	return "?"
}

// parseDBTime converts an expire_date value as scanned into an instant.
func (s *sqlDB) parseDBTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		if s.dialect == dialectPostgres {
			return x, nil // timestamptz: an instant
		}
		// drivers that parse naive values assume UTC; reinterpret
		return time.Date(x.Year(), x.Month(), x.Day(), x.Hour(), x.Minute(), x.Second(), x.Nanosecond(), s.naiveTZ), nil
	case []byte:
		return s.parseNaive(string(x))
	case string:
		return s.parseNaive(x)
	}
	return time.Time{}, fmt.Errorf("djangoauth: unexpected expire_date type %T", v)
}

func (s *sqlDB) parseNaive(text string) (time.Time, error) {
	text = strings.TrimSpace(text)
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00"} {
		if t, err := time.ParseInLocation(layout, text, s.naiveTZ); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("djangoauth: unparsable datetime")
}

func (s *sqlDB) ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: database: %v", ErrStoreUnavailable, redactErr(err))
	}
	return nil
}

func (s *sqlDB) close() error {
	s.stmtMu.Lock()
	for _, st := range s.stmts {
		_ = st.Close()
	}
	clear(s.stmts)
	s.stmtMu.Unlock()
	var lerr error
	if s.lite != nil {
		lerr = s.lite.close()
	}
	return errors.Join(lerr, s.db.Close())
}

// queryRow runs query. On SQLite it goes through a statement prepared once
// per pooled connection: modernc's driver otherwise compiles the SQL on
// every call, a large part of a verdict's cost. pgx caches its statements
// by itself; MySQL keeps plain queries. A statement that cannot be prepared
// (database unreachable) is not cached and the plain query reports the
// error.
func (s *sqlDB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if s.dialect != dialectSQLite {
		return s.db.QueryRowContext(ctx, query, args...)
	}
	s.stmtMu.Lock()
	st, ok := s.stmts[query]
	s.stmtMu.Unlock()
	if !ok {
		var err error
		if st, err = s.db.PrepareContext(ctx, query); err != nil {
			return s.db.QueryRowContext(ctx, query, args...)
		}
		s.stmtMu.Lock()
		if prev, ok := s.stmts[query]; ok {
			_ = st.Close()
			st = prev
		} else {
			if s.stmts == nil {
				s.stmts = make(map[string]*sql.Stmt)
			}
			s.stmts[query] = st
		}
		s.stmtMu.Unlock()
	}
	return st.QueryRowContext(ctx, args...)
}

// redactErr keeps driver errors out of logs in full: only the error's type
// and a generic text survive, since driver messages may echo DSNs or values.
func redactErr(err error) string {
	if err == nil {
		return ""
	}
	return fmt.Sprintf("%T", err)
}

// dbSessionStore is the db engine (django.contrib.sessions.backends.db):
// SELECT session_data, expire_date FROM django_session WHERE session_key =
// ?, expired unless expire_date > now (Django's filter), then
// SessionBase.decode.
type dbSessionStore struct {
	db    *sqlDB
	query string
	codec *envelopeCodec
	now   func() time.Time
}

func newDBSessionStore(db *sqlDB, table string, codec *envelopeCodec, now func() time.Time) (*dbSessionStore, error) {
	if !validIdent(table) {
		return nil, fmt.Errorf("%w: LAUREL_SESSION_TABLE %q is not a valid identifier", ErrSettings, table)
	}
	exp := db.quote("expire_date")
	if db.dialect == dialectSQLite {
		exp = "CAST(" + exp + " AS TEXT)" // keep the naive text as stored
	}
	q := fmt.Sprintf("SELECT %s, %s FROM %s WHERE %s = %s", db.quote("session_data"), exp, db.quote(table), db.quote("session_key"), db.param(1))
	return &dbSessionStore{db: db, query: q, codec: codec, now: now}, nil
}

// row loads the raw envelope, without decoding.
func (s *dbSessionStore) row(ctx context.Context, rd *dbRead, key string) (string, time.Time, error) {
	vals := rd.cols[:2]
	err := rd.row(ctx, s.query, vals, key)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, errNoSession
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: session query: %s", ErrStoreUnavailable, redactErr(err))
	}
	data, ok, err := textValue(vals[0])
	if err != nil || !ok {
		// database/sql cannot scan NULL or such a value into a string
		return "", time.Time{}, fmt.Errorf("%w: session query: %s", ErrStoreUnavailable, "bad session_data")
	}
	t, err := s.db.parseDBTime(vals[1])
	if err != nil {
		return "", time.Time{}, errBadSession
	}
	return data, t, nil
}

func (s *dbSessionStore) load(ctx context.Context, rd *dbRead, key string) (map[string]any, error) {
	data, exp, err := s.row(ctx, rd, key)
	if err != nil {
		return nil, err
	}
	if !exp.After(s.now()) {
		return nil, errExpired
	}
	return s.codec.decode(data, 0)
}

func (s *dbSessionStore) ping(ctx context.Context) error { return s.db.ping(ctx) }
func (s *dbSessionStore) close() error                   { return nil } // the pool is closed by the Authenticator
