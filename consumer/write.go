package consumer

import (
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"
)

// Write states of a socket: who may write to its connection.
const (
	writeIdle      = iota // nothing queued, nobody writing
	writeScheduled        // on a flusher's list or being flushed by it
	writeSlow             // a slow-path goroutine owns the writes
)

// errNoRawConn marks a connection without non-blocking writes: its queue is
// always written by the slow path.
var errNoRawConn = errors.New("consumer: no raw connection")

// maxIovecs bounds the buffers of one writev (Linux's IOV_MAX is 1024).
const maxIovecs = 1024

// flusher is one of the Server's writer goroutines. Sockets with frames to
// write are listed on the flusher their id selects; a flusher writes each
// socket's whole queue with one non-blocking writev and never waits on a
// client: a socket whose kernel buffer is full moves to the slow path.
type flusher struct {
	mu    sync.Mutex
	cond  *sync.Cond
	ready []*socket
	stop  bool

	spare  []*socket   // the list being flushed, reused
	iov    [][]byte    // scratch buffers of one writev
	frames []*outFrame // scratch data frames of one writev
}

func newFlusher() *flusher {
	f := &flusher{}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// run flushes listed sockets until stopped and the list is empty.
func (f *flusher) run() {
	for {
		f.mu.Lock()
		for len(f.ready) == 0 && !f.stop {
			f.cond.Wait()
		}
		if len(f.ready) == 0 {
			f.mu.Unlock()
			return
		}
		batch := f.ready
		f.ready = f.spare[:0]
		f.mu.Unlock()
		for _, sk := range batch {
			sk.flush(f)
		}
		clear(batch)
		f.spare = batch
	}
}

func (f *flusher) add(sk *socket) {
	f.mu.Lock()
	f.ready = append(f.ready, sk)
	f.mu.Unlock()
	f.cond.Signal()
}

func (f *flusher) shutdown() {
	f.mu.Lock()
	f.stop = true
	f.mu.Unlock()
	f.cond.Broadcast()
}

// enqueue adds a data frame without blocking; a full queue closes the socket
// with CloseSlowConsumer.
func (sk *socket) enqueue(fr *outFrame) {
	sk.wmu.Lock()
	if sk.wdead || sk.closeQueued {
		sk.wmu.Unlock()
		return
	}
	if len(sk.q) >= sk.srv.cfg.QueueSize {
		sk.wmu.Unlock()
		sk.srv.m.dropped(DropQueueFull).Inc()
		if sk.requestClose(CloseSlowConsumer, "slow consumer") {
			sk.log(slog.LevelInfo, "slow consumer: send queue full; closing with 4008", slog.Int("queue_size", sk.srv.cfg.QueueSize))
		}
		return
	}
	sk.q = append(sk.q, fr)
	sk.scheduleLocked()
	sk.wmu.Unlock()
}

// enqueueControl queues a ping or pong ahead of the data frames.
func (sk *socket) enqueueControl(frame []byte) {
	sk.wmu.Lock()
	if !sk.wdead && !sk.closeQueued {
		sk.ctrl = append(sk.ctrl, frame)
		sk.scheduleLocked()
	}
	sk.wmu.Unlock()
}

// requestClose queues a close frame with code and reason after the frames
// already queued; the first close wins and gets true. A slow consumer's queue
// is dropped instead, since its client is not reading it. The connection is
// dropped if the close handshake has not finished within closeGrace.
func (sk *socket) requestClose(code int, reason string) bool {
	if !sk.queueClose(closeFrame(code, reason), code == CloseSlowConsumer) {
		return false
	}
	sk.srv.m.closes.WithLabelValues(strconv.Itoa(code)).Inc()
	sk.log(slog.LevelInfo, "closing socket", slog.Int("code", code), slog.String("reason", reason))
	return true
}

// queueClose queues a close frame unless one already was; it reports
// whether it did.
func (sk *socket) queueClose(frame []byte, dropQueue bool) bool {
	sk.wmu.Lock()
	if sk.wdead || sk.closeQueued {
		sk.wmu.Unlock()
		return false
	}
	sk.closeQueued = true
	sk.closeF = frame
	if dropQueue {
		sk.q = nil
	}
	sk.closeAt.Store(max(sk.srv.clock(), 1))
	sk.scheduleLocked()
	sk.wmu.Unlock()
	return true
}

// scheduleLocked hands the socket to its flusher when it has frames, is
// started, and nobody writes it yet. sk.wmu is held.
func (sk *socket) scheduleLocked() {
	if sk.wstate != writeIdle || !sk.wready || sk.wdead {
		return
	}
	if len(sk.q) == 0 && len(sk.ctrl) == 0 && sk.closeF == nil {
		return
	}
	sk.wstate = writeScheduled
	sk.srv.flusherFor(sk.id).add(sk)
}

// batch is what one flush writes: the buffers, the data frames among them
// (for the delivery metrics) and whether the close frame is last.
type batch struct {
	bufs   net.Buffers
	frames []*outFrame
	close  bool
}

// takeLocked moves everything queued into b (appending to its slices) and
// reports whether there was anything. sk.wmu is held.
func (sk *socket) takeLocked(b *batch) bool {
	if sk.wdead || (len(sk.q) == 0 && len(sk.ctrl) == 0 && sk.closeF == nil) {
		return false
	}
	b.bufs = append(b.bufs, sk.ctrl...)
	for _, fr := range sk.q {
		b.bufs = append(b.bufs, fr.frame)
	}
	b.frames = append(b.frames, sk.q...)
	if sk.closeF != nil {
		b.bufs = append(b.bufs, sk.closeF)
		b.close = true
	}
	sk.ctrl, sk.closeF = nil, nil
	// Keep a small queue's array for the next frames; let a big one go.
	if cap(sk.q) <= 8 {
		clear(sk.q)
		sk.q = sk.q[:0]
	} else {
		sk.q = nil
	}
	return true
}

// flush writes the socket's queue on flusher f without blocking. A socket
// that cannot take it all moves to the slow path.
func (sk *socket) flush(f *flusher) {
	sk.wmu.Lock()
	b := batch{bufs: f.iov[:0], frames: f.frames[:0]}
	if !sk.takeLocked(&b) {
		sk.wstate = writeIdle
		sk.wmu.Unlock()
		return
	}
	sk.wmu.Unlock()

	total := 0
	for _, p := range b.bufs {
		total += len(p)
	}
	n, err := 0, errNoRawConn
	if sk.raw != nil {
		n, err = writeNonBlocking(sk.raw, b.bufs[:min(len(b.bufs), maxIovecs)])
	}
	recycle := func() {
		clear(b.bufs)
		clear(b.frames)
		f.iov, f.frames = b.bufs[:0], b.frames[:0]
	}
	switch {
	case err == nil && n == total:
		sk.written(&b)
		recycle()
		sk.wmu.Lock()
		if sk.wdead || (len(sk.q) == 0 && len(sk.ctrl) == 0 && sk.closeF == nil) {
			sk.wstate = writeIdle
			sk.wmu.Unlock()
			return
		}
		sk.wmu.Unlock()
		f.add(sk) // more came meanwhile: after the others
	case err == nil || errors.Is(err, errNoRawConn):
		// The kernel took part of it (or this connection needs blocking
		// writes): the rest goes to a goroutine of its own.
		rest := batch{
			bufs:   consume(append(net.Buffers(nil), b.bufs...), n),
			frames: append([]*outFrame(nil), b.frames...),
			close:  b.close,
		}
		recycle()
		sk.goSlow(rest)
	default:
		recycle()
		sk.log(slog.LevelDebug, "write failed", slog.Any("err", err))
		sk.end()
	}
}

// goSlow starts the slow path: blocking writes with Config.WriteTimeout until
// the queue is empty.
func (sk *socket) goSlow(rest batch) {
	sk.wmu.Lock()
	sk.wstate = writeSlow
	sk.wmu.Unlock()
	if !sk.begin() {
		return // ended meanwhile
	}
	go sk.slowWrite(rest)
}

func (sk *socket) slowWrite(b batch) {
	defer sk.finish()
	for {
		_ = sk.conn.SetWriteDeadline(time.Now().Add(sk.srv.cfg.WriteTimeout))
		if _, err := b.bufs.WriteTo(sk.conn); err != nil {
			sk.log(slog.LevelDebug, "write failed", slog.Any("err", err))
			sk.end()
			return
		}
		sk.written(&b)
		// The flushers' non-blocking writes must not see this deadline.
		_ = sk.conn.SetWriteDeadline(time.Time{})
		b = batch{}
		sk.wmu.Lock()
		if !sk.takeLocked(&b) {
			sk.wstate = writeIdle
			sk.wmu.Unlock()
			return
		}
		sk.wmu.Unlock()
	}
}

// written records a batch fully written: delivery metrics, and the end of
// the close handshake when the close frame went out.
func (sk *socket) written(b *batch) {
	m := sk.srv.m
	for _, fr := range b.frames {
		m.delivered.Inc()
		if !fr.received.IsZero() {
			m.latency.Observe(time.Since(fr.received).Seconds())
		}
	}
	if b.close {
		sk.closeWritten.Store(true)
		if sk.readDone.Load() {
			sk.end()
		}
	}
}

// consume drops the first n bytes of bufs without touching the shared
// frames they point to.
func consume(bufs net.Buffers, n int) net.Buffers {
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs[0] = nil
		bufs = bufs[1:]
	}
	if len(bufs) > 0 && n > 0 {
		bufs[0] = bufs[0][n:]
	}
	return bufs
}
