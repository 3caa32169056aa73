package djangoauth

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net/url"
	"path/filepath"
	"reflect"
	"testing"
)

// liteTestDB makes an SQLite file with a table of every storage class
// (and a DATETIME column) and returns its path and a database/sql handle
// on it through the driver.
func liteTestDB(t *testing.T) (string, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lite.sqlite3")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	for _, q := range []string{
		`CREATE TABLE t (k TEXT PRIMARY KEY, i INTEGER, r REAL, s VARCHAR(40), b BLOB, n TEXT, flag BOOL, d DATETIME)`,
		`INSERT INTO t VALUES ('a', 42, 1.5, 'héllo ✓', X'00FF10', NULL, 1, '2026-01-02 03:04:05.123456')`,
		`INSERT INTO t VALUES ('', -9223372036854775808, -0.0, '', X'', 'x', 0, NULL)`,
		`INSERT INTO t VALUES ('mixed', '17', 'text in a real column', 5, 'text in a blob column', 3.25, 't', 'not a date')`,
		`INSERT INTO t VALUES ('big', 9223372036854775807, 1e300, 'a''quote', NULL, '', NULL, NULL)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return path, db
}

func liteURI(path string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?mode=ro"
}

func openLiteTest(t *testing.T, path string) *liteConn {
	t.Helper()
	c, err := openLiteConn(liteURI(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// The fast path reads every value as database/sql's driver hands it to
// database/sql (the same Go type and value), whatever the column's storage
// class and declared type.
func TestLiteConnValuesMatchDriver(t *testing.T) {
	t.Parallel()
	path, db := liteTestDB(t)
	c := openLiteTest(t, path)
	const query = `SELECT i, r, s, b, n, flag, CAST(d AS TEXT), k FROM t WHERE k = ?`
	for _, key := range []string{"a", "", "mixed", "big"} {
		got := make([]driver.Value, 8)
		if err := c.row(query, got, []any{key}); err != nil {
			t.Fatalf("key %q: %v", key, err)
		}
		want := driverRow(t, db, query, key)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("key %q:\nfast path %#v\ndriver    %#v", key, got, want)
		}
	}
	if err := c.row(query, make([]driver.Value, 8), []any{"absent"}); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("absent key: %v, want sql.ErrNoRows", err)
	}
	// An int64 argument compares as an integer; the empty string binds
	// as "" and not as NULL (which would match nothing).
	got := make([]driver.Value, 1)
	if err := c.row(`SELECT k FROM t WHERE i = ?`, got, []any{int64(42)}); err != nil || got[0] != "a" {
		t.Errorf("int64 argument: %#v, %v", got, err)
	}
	if err := c.row(`SELECT count(*) FROM t WHERE k = ?`, got, []any{""}); err != nil || got[0] != int64(1) {
		t.Errorf("empty string argument: %#v, %v", got, err)
	}
	if err := c.row(`SELECT count(*) FROM t WHERE n IS ?`, got, []any{nil}); err != nil || got[0] != int64(1) {
		t.Errorf("nil argument: %#v, %v", got, err)
	}
}

// driverRow reads query's row through the driver's own Rows.Next, which is
// what database/sql scans from.
func driverRow(t *testing.T, db *sql.DB, query string, args ...any) []driver.Value {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	var vals []driver.Value
	err = conn.Raw(func(dc any) error {
		nv := make([]driver.NamedValue, len(args))
		for i, a := range args {
			nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
		}
		rows, err := dc.(driver.QueryerContext).QueryContext(context.Background(), query, nv)
		if err != nil {
			return err
		}
		defer func() { _ = rows.Close() }()
		vals = make([]driver.Value, len(rows.Columns()))
		return rows.Next(vals)
	})
	if err != nil {
		t.Fatal(err)
	}
	return vals
}

// A column declared DATETIME, which the driver parses into time.Time, is
// refused by the fast path, and dbRead.row reads it through database/sql
// instead, with the driver's conversion.
func TestLiteConnDateColumnFallsBack(t *testing.T) {
	t.Parallel()
	path, _ := liteTestDB(t)
	c := openLiteTest(t, path)
	const query = `SELECT d FROM t WHERE k = ?`
	if err := c.row(query, make([]driver.Value, 1), []any{"a"}); !errors.Is(err, errLiteUnsupported) {
		t.Fatalf("DATETIME column on the fast path: %v, want errLiteUnsupported", err)
	}
	s, err := openSQL(Config{Database: DatabaseConfig{Engine: "django.db.backends.sqlite3", Name: path}, MaxOpenConns: 2, UseTZ: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.close() }()
	rd := s.read()
	defer rd.release()
	dest := make([]any, 1)
	if err := rd.row(context.Background(), query, dest, "a"); err != nil {
		t.Fatal(err)
	}
	if _, ok := dest[0].(interface{ Year() int }); !ok {
		t.Errorf("DATETIME column through dbRead.row: %#v, want the driver's time.Time", dest[0])
	}
}

// A statement that would wait for a writer's lock fails at once with an
// error isSQLiteBusy recognises (dbRead.row then waits and retries).
func TestLiteConnBusy(t *testing.T) {
	t.Parallel()
	path, db := liteTestDB(t)
	c := openLiteTest(t, path)
	w, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Close() }()
	if _, err := w.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	err = c.row(`SELECT k FROM t WHERE k = ?`, make([]driver.Value, 1), []any{"a"})
	if !isSQLiteBusy(err) {
		t.Fatalf("under an exclusive lock: %v, want SQLITE_BUSY", err)
	}
	if _, err := w.ExecContext(context.Background(), "COMMIT"); err != nil {
		t.Fatal(err)
	}
	got := make([]driver.Value, 1)
	if err := c.row(`SELECT k FROM t WHERE k = ?`, got, []any{"a"}); err != nil || got[0] != "a" {
		t.Fatalf("after the lock: %#v, %v", got, err)
	}
}

// Opening fails with SQLite's message for a file that does not exist (the
// fast pool only reads), and a connection is opened read-only.
func TestLiteConnOpen(t *testing.T) {
	t.Parallel()
	_, err := openLiteConn(liteURI(filepath.Join(t.TempDir(), "absent.sqlite3")))
	var le *liteError
	if !errors.As(err, &le) || le.Code()&0xff != 14 { // SQLITE_CANTOPEN
		t.Fatalf("absent file: %v, want SQLITE_CANTOPEN", err)
	}
	path, _ := liteTestDB(t)
	c := openLiteTest(t, path)
	if err := c.exec(`DELETE FROM t`); err == nil {
		t.Fatal("a fast-pool connection could write")
	}
	if err := c.row(`SELECT nope FROM t`, make([]driver.Value, 1), nil); err == nil || isSQLiteBusy(err) {
		t.Fatalf("bad query: %v", err)
	}
}
