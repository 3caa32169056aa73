package djangoauth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sqliteWriter opens a read-write connection to the authenticator's SQLite
// file (as Django's would be) and takes an EXCLUSIVE lock on it; the
// returned func releases it.
func sqliteWriter(t *testing.T, a *Authenticator) (unlock func()) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+a.cfg.Database.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	done := false
	unlock = func() {
		if done {
			return
		}
		done = true
		if _, err := c.ExecContext(context.Background(), "COMMIT"); err != nil {
			t.Error(err)
		}
		_ = c.Close()
	}
	t.Cleanup(unlock)
	return unlock
}

// A verdict asked while Django holds the write lock waits for it (the fast
// path cannot, so database/sql's path with busy_timeout takes over).
func TestSQLiteWaitsForWriter(t *testing.T) {
	t.Parallel()
	a, fx := sqliteAuthenticator(t, nil)
	key := validKey(t, fx)
	unlock := sqliteWriter(t, a)
	time.AfterFunc(200*time.Millisecond, unlock)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if v := a.VerdictForSessionKey(ctx, key); !v.Authenticated {
		t.Fatalf("verdict under a writer's lock: %+v", v)
	}
}

// A caller whose ctx ends while the database is locked is answered
// promptly (busy_timeout is 5 s), and the pool still works afterwards.
func TestSQLiteLockWaitCancelled(t *testing.T) {
	t.Parallel()
	a, fx := sqliteAuthenticator(t, nil)
	key := validKey(t, fx)
	unlock := sqliteWriter(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if v := a.VerdictForSessionKey(ctx, key); v.Reason != ReasonStoreUnavailable {
		t.Fatalf("verdict under a writer's lock with a short ctx: %+v", v)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("cancelled verdict took %v: the lock wait ignored ctx", d)
	}
	unlock()
	for range 3 {
		if v := a.VerdictForSessionKey(context.Background(), key); !v.Authenticated {
			t.Fatalf("verdict after the lock: %+v", v)
		}
	}
}

// The session and user rows of one verdict are read in one read
// transaction: a writer cannot take the lock between them, and can once the
// read is released.
func TestSQLiteOneReadTransaction(t *testing.T) {
	t.Parallel()
	a, fx := sqliteAuthenticator(t, nil)
	key := validKey(t, fx)
	ctx := context.Background()
	rd := a.db.read()
	defer rd.release()
	if _, err := a.store.load(ctx, &rd, key); err != nil {
		t.Fatal(err)
	}
	w, err := sql.Open("sqlite", "file:"+a.cfg.Database.Name) // busy_timeout 0
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Exec("BEGIN EXCLUSIVE; COMMIT"); err == nil {
		t.Fatal("a writer took the lock in the middle of a verdict's read")
	}
	if u, err := a.users.get(ctx, &rd, int64(1)); err != nil || u == nil {
		t.Fatalf("user row: %v, %v", u, err)
	}
	rd.release()
	if _, err := w.Exec("BEGIN EXCLUSIVE; COMMIT"); err != nil {
		t.Fatalf("writer after the read: %v", err)
	}
}

// The pool closes connections given back after Close and refuses new
// requests.
func TestLitePoolClose(t *testing.T) {
	t.Parallel()
	a, _ := sqliteAuthenticator(t, nil)
	p := a.db.lite
	c1, err := p.get(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c2, err := p.get(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p.put(c2)
	if got := len(p.slots); got != 2 {
		t.Fatalf("%d open connections, want 2", got)
	}
	if err := p.close(); err != nil {
		t.Fatal(err)
	}
	if got := len(p.slots); got != 1 {
		t.Fatalf("%d open connections after close, want the one in use", got)
	}
	p.put(c1)
	if got := len(p.slots); got != 0 {
		t.Fatalf("%d open connections, want 0", got)
	}
	if _, err := p.get(time.Now()); !errors.Is(err, errPoolClosed) {
		t.Fatalf("get after close: %v", err)
	}
}

// textValue and boolValue convert as database/sql scans into NullString
// and NullBool.
func TestColumnConversionsMatchDatabaseSQL(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, v := range []any{nil, "", "x", []byte("pw"), int64(-3), float64(1.5), 1e21, true, false, ts,
		"1", "0", "t", "FALSE", "yes", int64(1), int64(0), int64(2), []byte("true"), float64(1)} {
		var ns sql.NullString
		serr := ns.Scan(v)
		s, ok, err := textValue(v)
		if (serr == nil) != (err == nil) || serr == nil && (ns.String != s || ns.Valid != ok) {
			t.Errorf("text %#v: got (%q, %v, %v), database/sql (%q, %v, %v)", v, s, ok, err, ns.String, ns.Valid, serr)
		}
		var nb sql.NullBool
		berr := nb.Scan(v)
		b, ok, err := boolValue(v)
		if (berr == nil) != (err == nil) || berr == nil && (nb.Bool != b || nb.Valid != ok) {
			t.Errorf("bool %#v: got (%v, %v, %v), database/sql (%v, %v, %v)", v, b, ok, err, nb.Bool, nb.Valid, berr)
		}
	}
}

// A connection idle for longer than maxIdle is replaced when next taken
// (it may be reading a database file that has since been replaced), even if
// the reaper has not closed it yet.
func TestLitePoolIdleExpiry(t *testing.T) {
	t.Parallel()
	a, _ := sqliteAuthenticator(t, nil)
	p := a.db.lite
	// The reaper's timer, armed by the first put, runs in real time:
	// an hour keeps it out of the test, which moves a fake clock.
	p.maxIdle = time.Hour
	now := time.Now()
	p.now = func() time.Time { return now }
	c1, err := p.get(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p.put(c1)
	now = now.Add(p.maxIdle)
	if c, err := p.get(time.Now()); err != nil || c != c1 {
		t.Fatalf("connection idle for maxIdle not reused: %p %v", c, err)
	} else {
		p.put(c)
	}
	now = now.Add(p.maxIdle + time.Nanosecond)
	c2, err := p.get(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if c2 == c1 {
		t.Fatal("a connection idle for longer than maxIdle was reused")
	}
	if got := len(p.slots); got != 1 {
		t.Fatalf("%d open connections, want 1 (the stale one closed)", got)
	}
	p.put(c2)
}

// TestSQLiteFastPoolSeesWrites: the fast pool's connections, which keep
// their page cache between verdicts, see what Django writes: rows added past
// the file's former end, rows deleted, and the file shrunk by VACUUM.
func TestSQLiteFastPoolSeesWrites(t *testing.T) {
	t.Parallel()
	a, fx := sqliteAuthenticator(t, nil)
	key := validKey(t, fx)
	ctx := context.Background()
	if v := a.VerdictForSessionKey(ctx, key); !v.Authenticated {
		t.Fatalf("before any write: %+v", v)
	}
	w, err := sql.Open("sqlite", "file:"+a.cfg.Database.Name+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	size := func() int64 {
		fi, err := os.Stat(a.cfg.Database.Name)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	const copies = 3000
	if _, err := w.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < ?)
		INSERT INTO django_session (session_key, session_data, expire_date)
		SELECT printf('mmapcopy%024d', i), session_data, expire_date FROM django_session, n WHERE session_key = ?`, copies, key); err != nil {
		t.Fatal(err)
	}
	grown := size()
	if grown <= before {
		t.Fatalf("file did not grow: %d then %d bytes", before, grown)
	}
	last := fmt.Sprintf("mmapcopy%024d", copies)
	if v := a.VerdictForSessionKey(ctx, last); !v.Authenticated {
		t.Fatalf("row written after the first verdict: %+v", v)
	}
	if _, err := w.Exec(`DELETE FROM django_session WHERE session_key LIKE 'mmapcopy%' OR session_key = ?`, key); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec(`VACUUM`); err != nil {
		t.Fatal(err)
	}
	if shrunk := size(); shrunk >= grown {
		t.Fatalf("VACUUM did not shrink the file: %d then %d bytes", grown, shrunk)
	}
	for _, k := range []string{key, last} {
		if v := a.VerdictForSessionKey(ctx, k); v.Reason != ReasonNoSession {
			t.Fatalf("deleted session after VACUUM: %+v", v)
		}
	}
}

// TestLitePoolHandoffFreshness: a connection given back in its read
// transaction to a waiting verdict keeps that transaction only for a verdict
// whose read began before the transaction did. On a WAL database (where
// Django's writes commit under a reader's snapshot) a verdict that began
// after a session was deleted must not see it in an older snapshot.
func TestLitePoolHandoffFreshness(t *testing.T) {
	t.Parallel()
	a, fx := sqliteAuthenticator(t, func(c *Config) { c.MaxOpenConns = 1 })
	key := validKey(t, fx)
	ctx := context.Background()
	w, err := sql.Open("sqlite", "file:"+a.cfg.Database.Name+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	if _, err := w.Exec(`PRAGMA journal_mode=WAL`); err != nil {
		t.Fatal(err)
	}
	p := a.db.lite
	// handOff gives rd's connection, in its read transaction, to the load
	// of key that load runs on another goroutine once it waits for it.
	handOff := func(rd *dbRead, load func() error) error {
		done := make(chan error, 1)
		go func() { done <- load() }()
		select {
		case p.handoff <- rd.lite:
			rd.lite = nil
		case <-time.After(10 * time.Second):
			t.Fatal("no verdict waited for the connection")
		}
		return <-done
	}

	// A verdict that began before the transaction keeps it.
	early := a.db.read()
	first := a.db.read()
	if _, err := a.store.load(ctx, &first, key); err != nil {
		t.Fatal(err)
	}
	if u, err := a.users.get(ctx, &first, int64(1)); err != nil || u == nil {
		t.Fatalf("user row: %v, %v", u, err)
	}
	err = handOff(&first, func() error {
		defer early.release()
		_, err := a.store.load(ctx, &early, key)
		return err
	})
	if err != nil || p.reused.Load() != 1 {
		t.Fatalf("verdict begun before the transaction: %v, %d reused", err, p.reused.Load())
	}

	// One that began after it, and after a delete committed, gets a fresh
	// one and does not see the session.
	held := a.db.read()
	if _, err := a.store.load(ctx, &held, key); err != nil {
		t.Fatal(err)
	}
	// The user row read last, as in a verdict: the session query that
	// follows does not end the transaction by running the same statement.
	if u, err := a.users.get(ctx, &held, int64(1)); err != nil || u == nil {
		t.Fatalf("user row: %v, %v", u, err)
	}
	if _, err := w.Exec(`DELETE FROM django_session WHERE session_key = ?`, key); err != nil {
		t.Fatal(err)
	}
	late := a.db.read()
	err = handOff(&held, func() error {
		defer late.release()
		_, err := a.store.load(ctx, &late, key)
		return err
	})
	if !errors.Is(err, errNoSession) {
		t.Fatalf("verdict begun after the delete read %v, want errNoSession", err)
	}
	if p.reused.Load() != 1 {
		t.Fatalf("%d reused, want still 1", p.reused.Load())
	}
}

// procStatusKB reads a "Name:   N kB" line of /proc/self/status.
func procStatusKB(t *testing.T, name string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("%s: %q", name, line)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/self/status", name)
	return 0
}

// TestLitePoolReleasesMapsAtRest: the fast pool's memory-mapped connections
// grow laurel's RSS while verdicts run (each map counts the pages it
// touched), and give it all back once idle: the reaper closes them after
// maxIdle, so RSS at rest is what it was before the verdicts. Not
// parallel: RSS is the whole process's.
func TestLitePoolReleasesMapsAtRest(t *testing.T) {
	a, keys := stormDistinctFixture(t, "sqlite", 3000, 8)
	p := a.db.lite
	p.maxIdle = 100 * time.Millisecond // before any verdict arms the reaper
	verdicts := func() {
		t.Helper()
		ctx := context.Background()
		var wg sync.WaitGroup
		var bad atomic.Int64
		for w := range 16 {
			wg.Go(func() {
				for i := w; i < len(keys); i += 16 {
					if v := a.VerdictForSessionKey(ctx, keys[i]); !v.Authenticated {
						bad.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if n := bad.Load(); n != 0 {
			t.Fatalf("%d verdicts not authenticated", n)
		}
	}
	atRest := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(p.slots) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d fast-pool connections still open at rest", len(p.slots))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	verdicts() // code and the file's pages in the system cache, once
	atRest()
	fi, err := os.Stat(a.cfg.Database.Name)
	if err != nil {
		t.Fatal(err)
	}
	base, baseAnon := procStatusKB(t, "RssFile"), procStatusKB(t, "RssAnon")
	verdicts()
	busy := procStatusKB(t, "RssFile")
	open := len(p.slots)
	atRest()
	rest, restAnon := procStatusKB(t, "RssFile"), procStatusKB(t, "RssAnon")
	t.Logf("database %d KiB; RssFile %d KiB before, %d KiB after verdicts (%d connections open), %d KiB at rest; RssAnon %d then %d KiB",
		fi.Size()>>10, base, busy, open, rest, baseAnon, restAnon)
	if busy-base < fi.Size()>>10 {
		t.Errorf("verdicts grew RssFile by %d KiB only: the connections do not map the %d KiB file", busy-base, fi.Size()>>10)
	}
	if rest-base > fi.Size()>>11 {
		t.Errorf("RssFile at rest is %d KiB above what it was before the verdicts (the database is %d KiB)", rest-base, fi.Size()>>10)
	}
}
