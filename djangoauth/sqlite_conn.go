package djangoauth

import (
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"modernc.org/libc"
	"modernc.org/libc/sys/types"
	sqlite3 "modernc.org/sqlite/lib"
)

// liteConn is one fast-pool connection: the SQLite library (modernc's
// translation of its C source, the engine database/sql's "sqlite" driver
// runs) called directly, without the driver. A verdict's lookup through the
// driver paid for the driver's layer more than for SQLite's own work: for
// every query it read each column's name and declared type into Go strings
// (and upper-cased those), boxed its arguments and values, and locked the
// connection's mutex (the driver opens connections in SQLite's serialized
// mode) around every call; about 25 of a verdict's 61 allocations. Here a
// statement is prepared once per connection with its column count and
// declared types, text arguments are copied into a C buffer of the
// statement's own, and the connection is opened in multi-thread mode
// (SQLITE_OPEN_NOMUTEX): the pool never lets two goroutines use one at once.
//
// Values come back as the driver returns them (driverValue), so that the
// database/sql path, used when this one fails, converts them the same way.
// A statement with a column declared DATE, DATETIME or TIMESTAMP, which the
// driver parses into time.Time by its own rules, is refused
// (errLiteUnsupported) and goes through database/sql: laurel's queries have
// none (the session's expire_date is read CAST AS TEXT).
//
// The read transaction that spans a verdict's two lookups is held by
// keeping the last statement active: its row has been read but the
// statement is not reset until the next one has run (or finish), and SQLite
// keeps a connection's read transaction, and its SHARED lock, while any of
// its statements is active. That costs nothing, where BEGIN and COMMIT are
// two more statements to run.
//
// Not safe for concurrent use.
type liteConn struct {
	tls   *libc.TLS
	db    uintptr // sqlite3*
	stmts map[string]*liteStmt

	held      *liteStmt // the last statement, still active; nil when none
	txStart   time.Time // taken (time.Now) before the statement that began the read transaction held
	idleSince time.Time // when it was last put back
}

// liteStmt is a statement prepared on a liteConn.
type liteStmt struct {
	p    uintptr // sqlite3_stmt*
	cols int
	// timeCol is a column declared DATE, DATETIME or TIMESTAMP.
	timeCol bool
	// arg is a C buffer of argCap bytes holding the statement's text
	// arguments, bound in place (SQLITE_STATIC): it is rewritten only when
	// the statement is bound again, which resets it first.
	arg    uintptr
	argCap int
}

// errLiteUnsupported reports a query or an argument the fast path does not
// handle; dbRead.row then uses database/sql.
var errLiteUnsupported = errors.New("djangoauth: not for the SQLite fast path")

// liteError is an SQLite result code other than SQLITE_OK, SQLITE_ROW or
// SQLITE_DONE, with the connection's message.
type liteError struct {
	code int32
	msg  string
}

func (e *liteError) Error() string {
	return "sqlite: " + e.msg + " (" + strconv.Itoa(int(e.code)) + ")"
}

// Code is the (extended) result code.
func (e *liteError) Code() int { return int(e.code) }

// liteFastPragmas are run on every fast-pool connection as it opens: it
// only reads, with a small page cache (sqlitePageCache) and the file
// memory-mapped (sqliteFastMmap). It has no busy_timeout: a statement that
// would wait for a lock fails at once with SQLITE_BUSY (see dbRead.row).
var liteFastPragmas = []string{
	"PRAGMA query_only = 1",
	"PRAGMA cache_size = " + sqlitePageCache,
	"PRAGMA mmap_size = " + sqliteFastMmap,
}

// ptrSize is the size of a C pointer: Go's int has the size of a pointer
// on every platform Go supports.
const ptrSize = strconv.IntSize / 8

// openLiteConn opens uri (an SQLite URI filename, file:...?mode=ro) and
// runs liteFastPragmas on it.
func openLiteConn(uri string) (_ *liteConn, err error) {
	c := &liteConn{tls: libc.NewTLS(), stmts: make(map[string]*liteStmt, 4)}
	defer func() {
		if err != nil {
			_ = c.close()
		}
	}()
	name, pdb, err := c.cArgs(uri)
	if err != nil {
		return nil, err
	}
	defer c.freeArgs(name, pdb)
	rc := sqlite3.Xsqlite3_open_v2(c.tls, name, pdb,
		sqlite3.SQLITE_OPEN_READONLY|sqlite3.SQLITE_OPEN_URI|sqlite3.SQLITE_OPEN_NOMUTEX, 0)
	// On failure too, SQLite may have made a handle, which holds the
	// message and must be closed.
	c.db = readPtr(pdb)
	if rc != sqlite3.SQLITE_OK {
		return nil, c.err(rc)
	}
	if rc := sqlite3.Xsqlite3_extended_result_codes(c.tls, c.db, 1); rc != sqlite3.SQLITE_OK {
		return nil, c.err(rc)
	}
	for _, p := range liteFastPragmas {
		if err := c.exec(p); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return c, nil
}

// readPtr reads the C pointer stored at p.
func readPtr(p uintptr) uintptr {
	b := libc.GoBytes(p, ptrSize)
	if ptrSize == 4 {
		return uintptr(binary.NativeEndian.Uint32(b))
	}
	return uintptr(binary.NativeEndian.Uint64(b))
}

// cArgs returns s as a C string and a pointer-sized slot for a C
// function's out parameter (sqlite3_open_v2's and sqlite3_prepare_v3's);
// freeArgs releases both.
func (c *liteConn) cArgs(s string) (z, slot uintptr, err error) {
	if z, err = libc.CString(s); err != nil {
		return 0, 0, err
	}
	if slot, err = c.malloc(ptrSize); err != nil {
		libc.Xfree(c.tls, z)
		return 0, 0, err
	}
	return z, slot, nil
}

func (c *liteConn) freeArgs(z, slot uintptr) {
	libc.Xfree(c.tls, z)
	libc.Xfree(c.tls, slot)
}

func (c *liteConn) malloc(n int) (uintptr, error) {
	p := libc.Xmalloc(c.tls, types.Size_t(n)) //nolint:gosec // n is a small positive size
	if p == 0 {
		return 0, fmt.Errorf("sqlite: cannot allocate %d bytes", n)
	}
	return p, nil
}

// err makes rc an error, with the connection's message when it has one.
func (c *liteConn) err(rc int32) error {
	msg := libc.GoString(sqlite3.Xsqlite3_errstr(c.tls, rc))
	if c.db != 0 {
		if m := libc.GoString(sqlite3.Xsqlite3_errmsg(c.tls, c.db)); m != "" && m != msg {
			msg += ": " + m
		}
	}
	return &liteError{code: rc, msg: msg}
}

// exec runs sql, one statement without a result that matters.
func (c *liteConn) exec(sql string) error {
	z, err := libc.CString(sql)
	if err != nil {
		return err
	}
	defer libc.Xfree(c.tls, z)
	if rc := sqlite3.Xsqlite3_exec(c.tls, c.db, z, 0, 0, 0); rc != sqlite3.SQLITE_OK {
		return c.err(rc)
	}
	return nil
}

// stmt returns query prepared, from the connection's cache or prepared now.
func (c *liteConn) stmt(query string) (*liteStmt, error) {
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	z, pp, err := c.cArgs(query)
	if err != nil {
		return nil, err
	}
	defer c.freeArgs(z, pp)
	if rc := sqlite3.Xsqlite3_prepare_v3(c.tls, c.db, z, -1, sqlite3.SQLITE_PREPARE_PERSISTENT, pp, 0); rc != sqlite3.SQLITE_OK {
		return nil, c.err(rc)
	}
	st := &liteStmt{p: readPtr(pp)}
	if st.p == 0 { // only a comment or white space
		return nil, fmt.Errorf("djangoauth: no SQL statement in %q", query)
	}
	st.cols = int(sqlite3.Xsqlite3_column_count(c.tls, st.p))
	for i := range st.cols {
		switch strings.ToUpper(libc.GoString(sqlite3.Xsqlite3_column_decltype(c.tls, st.p, int32(i)))) {
		case "DATE", "DATETIME", "TIMESTAMP":
			st.timeCol = true
		}
	}
	c.stmts[query] = st
	return st, nil
}

// bind binds args (int64 or string values) to st's parameters 1, 2, ...
func (c *liteConn) bind(st *liteStmt, args []any) error {
	size := 0
	for _, a := range args {
		if s, ok := a.(string); ok {
			size += len(s)
		}
	}
	if size > st.argCap || st.arg == 0 {
		size = max(size, 1) // a NULL pointer would bind NULL, not ""
		p, err := c.malloc(size)
		if err != nil {
			return err
		}
		if st.arg != 0 {
			libc.Xfree(c.tls, st.arg)
		}
		st.arg, st.argCap = p, size
	}
	off := 0
	for i, a := range args {
		idx := int32(i + 1) //nolint:gosec // a handful of parameters
		var rc int32
		switch v := a.(type) {
		case int64:
			rc = sqlite3.Xsqlite3_bind_int64(c.tls, st.p, idx, v)
		case string:
			p := st.arg + uintptr(off)
			copy(libc.GoBytes(p, len(v)), v)
			off += len(v)
			// SQLITE_STATIC (0): the buffer outlives the binding.
			rc = sqlite3.Xsqlite3_bind_text(c.tls, st.p, idx, p, int32(len(v)), 0) //nolint:gosec // a session key or a user's pk
		case nil:
			rc = sqlite3.Xsqlite3_bind_null(c.tls, st.p, idx)
		default:
			return fmt.Errorf("%w: argument of type %T", errLiteUnsupported, a)
		}
		if rc != sqlite3.SQLITE_OK {
			return c.err(rc)
		}
	}
	return nil
}

// row runs query and reads its first row into dest; sql.ErrNoRows when
// there is none. The statement stays active (see liteConn) when it found a
// row.
func (c *liteConn) row(query string, dest []driver.Value, args []any) error {
	st, err := c.stmt(query)
	if err != nil {
		return err
	}
	if st.timeCol || st.cols != len(dest) {
		return fmt.Errorf("%w: %d columns, %d wanted, or a date column", errLiteUnsupported, st.cols, len(dest))
	}
	if c.held == st {
		// the same statement cannot run again while active
		if err := c.finish(); err != nil {
			return err
		}
	}
	if err := c.bind(st, args); err != nil {
		return err
	}
	if c.held == nil {
		// This statement begins a read transaction: its snapshot is
		// taken after this instant.
		c.txStart = time.Now()
	}
	switch rc := sqlite3.Xsqlite3_step(c.tls, st.p); rc {
	case sqlite3.SQLITE_ROW:
	case sqlite3.SQLITE_DONE:
		sqlite3.Xsqlite3_reset(c.tls, st.p)
		return sql.ErrNoRows
	default:
		err := c.err(rc)
		sqlite3.Xsqlite3_reset(c.tls, st.p)
		return err
	}
	for i := range dest {
		dest[i] = c.value(st.p, int32(i)) //nolint:gosec // a handful of columns
	}
	prev := c.held
	c.held = st
	if prev != nil {
		return c.reset(prev) // the new statement holds the transaction now
	}
	return nil
}

// value is column i of the current row as the database/sql driver gives
// it: int64, float64, string, []byte or nil.
func (c *liteConn) value(p uintptr, i int32) driver.Value {
	switch sqlite3.Xsqlite3_column_type(c.tls, p, i) {
	case sqlite3.SQLITE_INTEGER:
		return sqlite3.Xsqlite3_column_int64(c.tls, p, i)
	case sqlite3.SQLITE_FLOAT:
		return sqlite3.Xsqlite3_column_double(c.tls, p, i)
	case sqlite3.SQLITE_TEXT:
		t := sqlite3.Xsqlite3_column_text(c.tls, p, i)
		n := int(sqlite3.Xsqlite3_column_bytes(c.tls, p, i))
		if t == 0 || n == 0 {
			return ""
		}
		return string(libc.GoBytes(t, n))
	case sqlite3.SQLITE_BLOB:
		b := sqlite3.Xsqlite3_column_blob(c.tls, p, i)
		n := int(sqlite3.Xsqlite3_column_bytes(c.tls, p, i))
		if b == 0 || n == 0 {
			return []byte(nil)
		}
		return append([]byte(nil), libc.GoBytes(b, n)...)
	}
	return nil
}

// reset ends st's run: an active statement then no longer holds the read
// transaction.
func (c *liteConn) reset(st *liteStmt) error {
	if rc := sqlite3.Xsqlite3_reset(c.tls, st.p); rc != sqlite3.SQLITE_OK {
		return c.err(rc)
	}
	return nil
}

// finish resets the active statement, which ends the read transaction and
// releases the SHARED lock.
func (c *liteConn) finish() error {
	if c.held == nil {
		return nil
	}
	st := c.held
	c.held = nil
	return c.reset(st)
}

// close finalizes the statements and closes the connection.
func (c *liteConn) close() error {
	if c.tls == nil {
		return nil
	}
	c.held = nil
	for q, st := range c.stmts {
		sqlite3.Xsqlite3_finalize(c.tls, st.p)
		if st.arg != 0 {
			libc.Xfree(c.tls, st.arg)
		}
		delete(c.stmts, q)
	}
	var err error
	if c.db != 0 {
		if rc := sqlite3.Xsqlite3_close_v2(c.tls, c.db); rc != sqlite3.SQLITE_OK {
			err = c.err(rc)
		}
		c.db = 0
	}
	c.tls.Close()
	c.tls = nil
	return err
}
