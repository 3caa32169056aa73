package djangoauth

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dbRead is one verdict's access to the database: the session row and then
// the user row, both read on one connection. On SQLite that is a connection
// of the fast pool (litePool), and both rows are read inside one read
// transaction: one SHARED lock, taken and released once, instead of one per
// statement, and the two rows come from the same snapshot. On PostgreSQL the
// rows are read through pgx directly (its statement cache, its
// context.AfterFunc cancellation), not through database/sql, whose Rows
// start a goroutine per query to watch a cancellable ctx. A dbRead is used
// by one goroutine; release must be called when the verdict is decided.
type dbRead struct {
	db    *sqlDB
	since time.Time // when the verdict's read began: no row read is older
	lite  *liteConn // held fast-pool connection (SQLite), nil until first use
	pg    *sql.Conn // held connection (PostgreSQL), nil until first use
	vals  [6]driver.Value
	spec  pgSpeculation
	// cols is where the callers of row have it put a row's values: in the
	// dbRead, which is on the heap already, rather than in an array of
	// their own that would escape there (an allocation per query).
	cols [6]any
}

// pgSpeculation is a user-row query sent to PostgreSQL together with the
// session-row query, in one round trip, because the verdict will most
// likely ask for that row next (see speculate). Its result is used only if
// the very same query, with the same argument, is asked; otherwise it is
// dropped and the query asked is run.
type pgSpeculation struct {
	state int // specNone, specPending, specSent
	query string
	arg   any
	vals  [6]any
	n     int
	err   error
}

const (
	specNone = iota
	specPending
	specSent
)

// speculate asks row to send query(arg), a one-row lookup of at most 6
// columns, along with the next PostgreSQL query. On other engines it does
// nothing.
func (r *dbRead) speculate(query string, arg any, columns int) {
	if r.db.dialect != dialectPostgres || columns > len(r.spec.vals) {
		return
	}
	r.spec = pgSpeculation{state: specPending, query: query, arg: arg, n: columns}
}

// read starts a verdict's access to s.
func (s *sqlDB) read() dbRead { return dbRead{db: s, since: time.Now()} }

// row reads the first row of query into dest (len(dest) values, as the
// driver returns them: nil, int64, float64, bool, []byte, string or
// time.Time). It returns sql.ErrNoRows when there is none, or the driver's
// error.
//
// On SQLite it uses the fast pool, whose connections never wait for a lock
// (busy_timeout 0) and so run without watching ctx: a watched statement
// costs two goroutines (database/sql's and modernc's) per query, as much CPU
// as the lookup itself. When a writer holds the lock (SQLITE_BUSY), row
// waits and retries on SQLite's own busy schedule for up to sqliteBusyTimeout,
// and stops as soon as ctx is done (modernc's busy handler, which
// database/sql's path relies on, sleeps out the whole busy_timeout whatever
// ctx does). Any other failure of the fast path (a broken connection, or a
// query it does not take, errLiteUnsupported) is retried once through
// database/sql.
func (r *dbRead) row(ctx context.Context, query string, dest []any, args ...any) error {
	if r.db.lite != nil {
		err := r.liteRow(ctx, query, dest, args)
		if err == nil || errors.Is(err, sql.ErrNoRows) || isSQLiteBusy(err) || ctx.Err() != nil {
			return err
		}
	}
	ptrs := make([]any, len(dest))
	for i := range dest {
		ptrs[i] = &dest[i]
	}
	if r.db.dialect == dialectPostgres {
		return r.pgRow(ctx, query, ptrs, args)
	}
	return r.db.queryRow(ctx, query, args...).Scan(ptrs...)
}

// pgRow runs query on the verdict's connection with pgx, scanning into
// ptrs (each a *any). pgx's own types come back (int32 for integer
// columns, [16]byte for uuid), which the callers' conversions accept.
func (r *dbRead) pgRow(ctx context.Context, query string, ptrs []any, args []any) error {
	if r.pg == nil {
		c, err := r.db.db.Conn(ctx)
		if err != nil {
			return err
		}
		r.pg = c
	}
	sp := &r.spec
	if sp.state == specSent {
		sp.state = specNone
		if sp.query == query && len(args) == 1 && sameArg(sp.arg, args[0]) && len(ptrs) == sp.n {
			for i, p := range ptrs {
				*p.(*any) = sp.vals[i]
			}
			return sp.err
		}
	}
	return r.pg.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("djangoauth: unexpected PostgreSQL driver connection %T", dc)
		}
		if sp.state != specPending || sp.query == query {
			return pc.Conn().QueryRow(ctx, query, args...).Scan(ptrs...)
		}
		sp.state = specSent
		b := &pgx.Batch{}
		b.Queue(query, args...)
		b.Queue(sp.query, sp.arg)
		res := pc.Conn().SendBatch(ctx, b)
		err := res.QueryRow().Scan(ptrs...)
		var sptrs [len(sp.vals)]any
		for i := range sp.n {
			sptrs[i] = &sp.vals[i]
		}
		sp.err = res.QueryRow().Scan(sptrs[:sp.n]...)
		if cerr := res.Close(); cerr != nil {
			sp.state = specNone // the batch failed: ask again if needed
			if err == nil || errors.Is(err, sql.ErrNoRows) {
				err = cerr
			}
		}
		return err
	})
}

// sameArg reports whether two query arguments (int64 or string, as toPK
// makes them) are equal.
func sameArg(a, b any) bool {
	switch x := a.(type) {
	case int64:
		y, ok := b.(int64)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	}
	return false
}

// sqliteBusyDelays is sqliteDefaultBusyCallback's schedule (sqlite3.c):
// the wait before each retry, the last one repeated.
var sqliteBusyDelays = [...]time.Duration{1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100}

// sqliteBusyTimeout is how long a verdict waits for a writer's lock, as
// PRAGMA busy_timeout(5000) does on the database/sql connections.
const sqliteBusyTimeout = 5 * time.Second

func (r *dbRead) liteRow(ctx context.Context, query string, dest []any, args []any) error {
	var waited time.Duration
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := r.fastRow(query, dest, args)
		if !isSQLiteBusy(err) {
			return err
		}
		d := sqliteBusyDelays[min(i, len(sqliteBusyDelays)-1)] * time.Millisecond
		if waited+d > sqliteBusyTimeout {
			return err
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		waited += d
	}
}

// isSQLiteBusy reports SQLITE_BUSY (or one of its extended codes).
func isSQLiteBusy(err error) bool {
	if err == nil {
		return false
	}
	var se *sqlite.Error // database/sql's driver
	if errors.As(err, &se) {
		return se.Code()&0xff == sqlite3.SQLITE_BUSY
	}
	var le *liteError // the fast pool's
	return errors.As(err, &le) && le.code&0xff == sqlite3.SQLITE_BUSY
}

func (r *dbRead) fastRow(query string, dest []any, args []any) (err error) {
	if r.lite == nil {
		if r.lite, err = r.db.lite.get(r.since); err != nil {
			return err
		}
	}
	if err = r.lite.row(query, r.vals[:len(dest)], args); err != nil && !errors.Is(err, sql.ErrNoRows) {
		// Give the connection back (or drop it), its read transaction
		// ended: the slow path takes over.
		r.db.lite.putIdle(r.lite)
		r.lite = nil
		r.release()
		return err
	}
	for i, v := range r.vals[:len(dest)] {
		dest[i] = v // a []byte is the row's own copy (liteConn.value)
		r.vals[i] = nil
	}
	return err
}

// release ends the read transaction and returns the connection to the pool.
func (r *dbRead) release() {
	if r.lite != nil {
		r.db.lite.put(r.lite)
		r.lite = nil
	}
	if r.pg != nil {
		_ = r.pg.Close()
		r.pg = nil
	}
}

// textValue converts a column value as database/sql scans it into a
// sql.NullString (convertAssign's rules for the types drivers return).
func textValue(v any) (s string, valid bool, err error) {
	switch x := v.(type) {
	case nil:
		return "", false, nil
	case string:
		return x, true, nil
	case []byte:
		return string(x), true, nil
	case int64:
		return strconv.FormatInt(x, 10), true, nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true, nil
	case bool:
		return strconv.FormatBool(x), true, nil
	case time.Time:
		return x.Format(time.RFC3339Nano), true, nil
	}
	return "", false, fmt.Errorf("djangoauth: unsupported text column type %T", v)
}

// boolValue converts a column value as database/sql scans it into a
// sql.NullBool (driver.Bool's rules).
func boolValue(v any) (b, valid bool, err error) {
	if v == nil {
		return false, false, nil
	}
	bv, err := driver.Bool.ConvertValue(v)
	if err != nil {
		return false, false, err
	}
	return bv.(bool), true, nil
}
