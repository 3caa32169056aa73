package djangoauth

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// errPoolClosed reports a fast-pool request after Close.
var errPoolClosed = errors.New("djangoauth: SQLite fast pool closed")

// litePool is SQLite's fast path: at most max connections (liteConn),
// used without database/sql and without watching a context, each with its
// statements prepared once.
//
// A connection given back while a verdict waits for one goes to that
// verdict directly, still in its read transaction, which the verdict keeps
// if the transaction began after the verdict's own read did (get's since):
// the rows it then reads are no older than its request, and it saves taking
// and releasing the file lock (three fcntl, two stat, an fstat and a pread
// of the header per transaction). Such a chain of verdicts ends when the
// next waiter began its read before the transaction did, or when nobody
// waits, so it is bounded by the verdicts in flight when it began and a
// connection never sits idle in a transaction (which would hold off
// Django's writers). Its connections never wait for a lock
// (busy_timeout 0): a query that would wait fails at once with SQLITE_BUSY
// and dbRead.row waits and retries. At most max connections exist, each
// with sqlitePageCache of page cache and the database file memory-mapped
// (sqliteFastMmap). A connection idle for longer than liteMaxIdle is closed
// (by a timer, reap), so that at rest the pool holds no connection, no map
// and no page cache: the pages a connection's map has touched count in
// laurel's RSS once per connection, and while busy they save a pread per
// page read. A connection found idle for longer than that when taken is
// closed too and a fresh one opened (a connection keeps reading the file it
// opened, even after the database is replaced). Safe for concurrent use.
type litePool struct {
	uri     string // the database's URI filename (file:...?mode=ro)
	idle    chan *liteConn
	handoff chan *liteConn // unbuffered: a connection in its read transaction, to a get waiting now
	slots   chan struct{}  // one token per open connection
	now     func() time.Time

	reused atomic.Int64 // gets that kept the read transaction handed to them

	maxIdle time.Duration // liteMaxIdle; tests shorten it

	mu      sync.Mutex
	closed  bool
	reaper  *time.Timer // armed while connections are idle; nil when none
	reaping bool        // reaper is armed
}

// liteMaxIdle is how long a fast-pool connection may sit idle before it is
// closed. During a connect storm the connections never rest that long;
// after it, their maps and page caches are released within two liteMaxIdle.
// Opening a connection again (its pragmas, the schema read and its two
// statements prepared) costs about 0.3 ms of CPU, once per connection after
// a rest (BenchmarkVerdictSQLiteReopen): a verdict on an open connection
// costs about 25 us.
const liteMaxIdle = time.Second

func newLitePool(uri string, maxConns int) *litePool {
	return &litePool{uri: uri, idle: make(chan *liteConn, maxConns), handoff: make(chan *liteConn),
		slots: make(chan struct{}, maxConns), now: time.Now, maxIdle: liteMaxIdle}
}

// get returns an idle connection, opens one when fewer than max are open,
// or waits for one to come back. It does not watch a context: a connection
// is held for two point lookups, so the wait is short. since is when the
// caller's read began (time.Now, monotonic): a connection handed over in a
// read transaction that began after since keeps it; one that began at or
// before since is ended first.
func (p *litePool) get(since time.Time) (*liteConn, error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, errPoolClosed
	}
	for {
		var c *liteConn
		select {
		case c = <-p.idle:
		default:
			select {
			case c = <-p.idle:
			case c = <-p.handoff:
				if c.txStart.After(since) {
					p.reused.Add(1)
					return c, nil
				}
				if err := c.finish(); err != nil {
					_ = c.close()
					<-p.slots
					continue
				}
				return c, nil
			case p.slots <- struct{}{}:
				c, err := openLiteConn(p.uri)
				if err != nil {
					<-p.slots
					return nil, err
				}
				return c, nil
			}
		}
		if p.now().Sub(c.idleSince) <= p.maxIdle {
			return c, nil
		}
		_ = c.close() // idle too long: open a fresh one instead
		<-p.slots
	}
}

// put hands c, in its read transaction, to a get waiting at this moment,
// if there is one; otherwise it ends c's read transaction and makes it idle
// again, or closes it when that fails or the pool is closed.
func (p *litePool) put(c *liteConn) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if c.held != nil && !closed {
		select {
		case p.handoff <- c:
			return
		default:
		}
	}
	p.putIdle(c)
}

// putIdle ends c's read transaction and makes it idle again, or closes it
// when that fails or the pool is closed.
func (p *litePool) putIdle(c *liteConn) {
	ok := c.finish() == nil
	p.mu.Lock()
	if ok && !p.closed {
		c.idleSince = p.now()
		p.idle <- c // never blocks: at most cap(idle) connections exist
		if !p.reaping {
			p.reaping = true
			if p.reaper == nil {
				p.reaper = time.AfterFunc(p.maxIdle, p.reap)
			} else {
				p.reaper.Reset(p.maxIdle)
			}
		}
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	_ = c.close()
	<-p.slots
}

// reap closes the connections idle for longer than maxIdle and runs again
// maxIdle later while some remain idle. It runs on the reaper timer's
// goroutine.
func (p *litePool) reap() {
	var stale []*liteConn
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	now := p.now()
	for range len(p.idle) {
		var c *liteConn
		select {
		case c = <-p.idle:
		default:
		}
		if c == nil {
			break // taken meanwhile by get
		}
		if now.Sub(c.idleSince) > p.maxIdle {
			stale = append(stale, c)
			continue
		}
		p.idle <- c // never blocks: it was just taken out
	}
	p.reaping = len(p.idle) > 0
	if p.reaping {
		p.reaper.Reset(p.maxIdle)
	}
	p.mu.Unlock()
	for _, c := range stale {
		_ = c.close()
		<-p.slots
	}
}

// close closes the idle connections; those in use are closed when put back.
func (p *litePool) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.reaper != nil {
		p.reaper.Stop()
	}
	var errs []error
	for {
		select {
		case c := <-p.idle:
			errs = append(errs, c.close())
			<-p.slots
		default:
			return errors.Join(errs...)
		}
	}
}
