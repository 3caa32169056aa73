package consumer

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"
)

// frameReadTimeout bounds the reading of one frame once its first bytes have
// arrived: a client that starts a frame and then dribbles (slowloris) is
// dropped. An idle socket has no read deadline; the sweeper handles idleness.
const frameReadTimeout = 10 * time.Second

// frameStarted is called by the frame reader when a frame's first bytes
// have arrived: it bounds the rest of the frame and counts the socket as
// alive.
func (sk *socket) frameStarted() {
	if sk.deadlineFresh {
		// onReadable has just set it: the unit's first frame needs no
		// other.
		sk.deadlineFresh = false
	} else {
		_ = sk.conn.SetReadDeadline(time.Now().Add(frameReadTimeout))
	}
	sk.lastRead.Store(sk.srv.clock())
}

// onReadable is the poller's handler: it reads up to the end of one message
// (or one control frame), handles it, and re-arms the registration.
func (sk *socket) onReadable() {
	if !sk.begin() {
		return
	}
	defer sk.finish()
	// The poller said readable, but a frame may still arrive a byte at a
	// time: never wait longer than a frame may take.
	_ = sk.conn.SetReadDeadline(time.Now().Add(frameReadTimeout))
	sk.deadlineFresh = true
	if !sk.readUnit() {
		return
	}
	if err := sk.reg.Rearm(); err != nil {
		sk.log(slog.LevelWarn, "poller re-arm failed", slog.Any("err", err))
		sk.end()
	}
}

// readLoop reads the socket on its own goroutine, for connections the poller
// cannot watch (no file descriptor, or no poller on this system). start has
// counted it in inflight.
func (sk *socket) readLoop() {
	defer sk.finish()
	for {
		// Idle between messages: no deadline (the sweeper closes sockets
		// that stay silent); frameStarted bounds each frame.
		_ = sk.conn.SetReadDeadline(time.Time{})
		if !sk.readUnit() {
			return
		}
	}
}

// readUnit reads and handles frames until no message is in progress and no
// byte read ahead is pending (readAhead), at least one frame. It returns false when the socket must not be read again:
// it has ended, or it is closing and waits for its close frame to be written.
func (sk *socket) readUnit() bool {
	for {
		op, data, err := sk.fr.next()
		if err != nil {
			if !sk.readFailed(err) {
				return false
			}
			if sk.ra.pending() {
				continue // the poller cannot see bytes already read
			}
			return true
		}
		switch op {
		case opPing:
			sk.enqueueControl(serverFrame(opPong, data))
		case opPong:
		case opClose:
			sk.clientClosed(data)
			return false
		default:
			if sk.closeAt.Load() == 0 {
				sk.handle(int(op), data)
			}
			// Closing: what the client sends before its close frame is
			// read and dropped.
		}
		if !sk.fr.inMessage() && !sk.ra.pending() {
			return true
		}
	}
}

// readFailed answers a read error: a refused frame gets its close code; a
// closed, reset or timed-out connection ends the socket. It reports whether
// the socket is still read: after a message refused as invalid UTF-8 the
// frames are intact, so the client's answer to the close is read as usual.
func (sk *socket) readFailed(err error) bool {
	pe, ok := errors.AsType[*protocolError](err)
	if !ok {
		if sk.srv.log.Enabled(context.Background(), slog.LevelDebug) && isTimeout(err) {
			sk.log(slog.LevelDebug, "frame read timed out")
		}
		sk.end()
		return false
	}
	sk.srv.m.closes.WithLabelValues(strconv.Itoa(pe.code)).Inc()
	if pe.code == CloseMessageTooBig {
		sk.log(slog.LevelInfo, "message too big; closed with 1009")
	} else {
		sk.log(slog.LevelInfo, "protocol error; closing", slog.Int("code", pe.code), slog.String("reason", pe.reason))
	}
	reason := pe.reason
	if pe.code == closeInvalidPayload || pe.code == CloseMessageTooBig {
		reason = ""
	}
	sk.queueClose(closeFrame(pe.code, reason), false)
	if pe.code == closeInvalidPayload && !pe.inClose {
		return true
	}
	if !pe.inClose {
		// The client is still sending: the rest of an oversized message,
		// more frames, or its answer to the close. Closing with those bytes
		// unread would send a TCP reset, which can destroy the close frame
		// before the client reads it.
		lingerAfterClose(sk.conn)
	}
	sk.stopReading()
	return false
}

// clientClosed answers a client's close frame: the reply to our own close
// ends the socket once ours is written; otherwise the close is echoed (with
// its code and no reason, as gorilla/websocket and autobahn do).
func (sk *socket) clientClosed(payload []byte) {
	sk.queueClose(closeFrame(closeCode(payload), ""), false)
	sk.stopReading()
}

// stopReading marks the read side finished; the socket ends as soon as its
// close frame is written (or at closeGrace).
func (sk *socket) stopReading() {
	sk.readDone.Store(true)
	if sk.closeWritten.Load() {
		sk.end()
	}
}
