//go:build linux

package netpoll

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// wakeID is the registration id of the Poller's own eventfd.
const wakeID = 0

// maxEvents is how many events one epoll_wait returns at most.
const maxEvents = 256

// maxIdleWorkers bounds the workers kept waiting for handlers; a worker that
// finds this many already waiting ends. A parked worker costs its stack
// (the runtime shrinks unused stacks at each GC).
const maxIdleWorkers = 64

// Poller dispatches read readiness of registered connections to their
// handlers. It is safe for concurrent use.
type Poller struct {
	epfd, wakefd int

	mu     sync.Mutex
	regs   map[uint32]*Registration
	nextID uint32
	closed bool

	done chan struct{} // closed when the waiter goroutine has returned

	// Handlers run on workers: a worker that finished a handler waits on
	// work for the next one (keeping the stack it grew), so a burst of
	// events does not pay a fresh goroutine and its stack growth each.
	// An event finding no idle worker starts a new one: handlers never
	// queue behind each other. Close closes work and waits for workers.
	work    chan func()
	idle    atomic.Int32 // workers waiting on work
	started atomic.Int64 // workers ever started
	workers sync.WaitGroup

	// life guards epfd: epoll_ctl calls hold it for reading, Close holds it
	// for writing while it closes the descriptors, so no call ever reaches
	// a closed (and maybe reused) descriptor number.
	life      sync.RWMutex
	fdsClosed bool
}

// Registration is one connection watched by a Poller.
type Registration struct {
	p       *Poller
	id      uint32
	fd      int
	handler func()

	mu      sync.Mutex // serialises Rearm and Remove
	removed bool
}

// New starts a Poller and its waiter goroutine. Close stops it.
func New() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("netpoll: epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("netpoll: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeID}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(wakefd)
		return nil, fmt.Errorf("netpoll: registering eventfd: %w", err)
	}
	p := &Poller{epfd: epfd, wakefd: wakefd, regs: map[uint32]*Registration{}, done: make(chan struct{}),
		work: make(chan func())}
	go p.wait()
	return p, nil
}

// Add watches c for readability and peer hang-up. Each event runs handler
// once on a goroutine of its own (an idle worker, or a new one); the handler must call Rearm to be told about the
// next one, or Remove before the connection is closed. The first event may
// come before Add returns if c is already readable.
func (p *Poller) Add(c Conn, handler func()) (*Registration, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoFD, err)
	}
	return p.AddRaw(rc, handler)
}

// AddRaw is Add for a connection whose syscall.RawConn the caller already
// has (and may use for its own writes).
func (p *Poller) AddRaw(rc syscall.RawConn, handler func()) (*Registration, error) {
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoFD, err)
	}
	r := &Registration{p: p, fd: fd, handler: handler}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	for {
		p.nextID++
		if _, used := p.regs[p.nextID]; p.nextID != wakeID && !used {
			break
		}
	}
	r.id = p.nextID
	p.regs[r.id] = r
	p.mu.Unlock()

	if err := r.ctl(unix.EPOLL_CTL_ADD); err != nil {
		p.forget(r)
		return nil, fmt.Errorf("netpoll: epoll_ctl add: %w", err)
	}
	return r, nil
}

func (r *Registration) ctl(op int) error {
	r.p.life.RLock()
	defer r.p.life.RUnlock()
	if r.p.fdsClosed {
		return ErrClosed
	}
	if op == unix.EPOLL_CTL_DEL {
		return unix.EpollCtl(r.p.epfd, op, r.fd, nil)
	}
	ev := unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT,
		Fd:     int32(r.id), //nolint:gosec // the id is an opaque 32-bit tag
	}
	return unix.EpollCtl(r.p.epfd, op, r.fd, &ev)
}

// Rearm watches the connection again after an event. It does nothing once
// Remove has been called.
func (r *Registration) Rearm() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.removed {
		return nil
	}
	if err := r.ctl(unix.EPOLL_CTL_MOD); err != nil {
		return fmt.Errorf("netpoll: epoll_ctl mod: %w", err)
	}
	return nil
}

// Remove stops watching the connection. Call it before closing the
// connection: once it returns, no new handler call starts for this
// registration. A handler already running is not waited for. Calling it
// again does nothing.
func (r *Registration) Remove() error {
	r.mu.Lock()
	if r.removed {
		r.mu.Unlock()
		return nil
	}
	r.removed = true
	err := r.ctl(unix.EPOLL_CTL_DEL)
	r.mu.Unlock()
	r.p.forget(r)
	if err != nil && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("netpoll: epoll_ctl del: %w", err)
	}
	return nil
}

func (p *Poller) forget(r *Registration) {
	p.mu.Lock()
	if p.regs[r.id] == r {
		delete(p.regs, r.id)
	}
	p.mu.Unlock()
}

// Len returns the number of live registrations.
func (p *Poller) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.regs)
}

func (p *Poller) wait() {
	defer close(p.done)
	events := make([]unix.EpollEvent, maxEvents)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		for i := range events[:n] {
			id := uint32(events[i].Fd) //nolint:gosec // the tag written by ctl
			if id == wakeID {
				return
			}
			p.mu.Lock()
			r := p.regs[id]
			p.mu.Unlock()
			if r == nil {
				continue // removed meanwhile: the fd may already be reused
			}
			r.mu.Lock()
			live := !r.removed
			r.mu.Unlock()
			if live {
				p.dispatch(r.handler)
			}
		}
	}
}

// dispatch runs h on an idle worker, or on a new one if none is waiting.
// Only the waiter goroutine calls it.
func (p *Poller) dispatch(h func()) {
	select {
	case p.work <- h:
	default:
		p.workers.Add(1)
		p.started.Add(1)
		go p.worker(h)
	}
}

// worker runs h, then waits for more handlers until the Poller closes or
// enough other workers are idle.
func (p *Poller) worker(h func()) {
	defer p.workers.Done()
	for {
		h()
		if p.idle.Add(1) > maxIdleWorkers {
			p.idle.Add(-1)
			return
		}
		var ok bool
		h, ok = <-p.work
		p.idle.Add(-1)
		if !ok {
			return
		}
	}
}

// Close stops the waiter goroutine, waits for it, and releases the epoll
// instance. Registrations left are dropped (their connections are not
// touched). It then waits for the handlers still running to return, so it
// must not be called from a handler. Safe to call more than once.
func (p *Poller) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.done
		return nil
	}
	p.closed = true
	clear(p.regs)
	p.mu.Unlock()
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	if _, err := unix.Write(p.wakefd, one); err != nil {
		return fmt.Errorf("netpoll: waking the waiter: %w", err)
	}
	<-p.done
	close(p.work) // the waiter, its only sender, has returned
	p.workers.Wait()
	p.life.Lock()
	defer p.life.Unlock()
	p.fdsClosed = true
	err1 := unix.Close(p.epfd)
	err2 := unix.Close(p.wakefd)
	if err1 != nil {
		return fmt.Errorf("netpoll: closing epoll: %w", err1)
	}
	if err2 != nil {
		return fmt.Errorf("netpoll: closing eventfd: %w", err2)
	}
	return nil
}
