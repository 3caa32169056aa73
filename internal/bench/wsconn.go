package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/laurel-server/laurel/internal/wsproto"
)

// A minimal client side of the RFC 6455 framing (§5) for the load
// generator: it reads the server's unmasked frames, reassembles fragmented
// data messages, answers pings and close frames, and writes masked frames.
// No extension is negotiated (wshandshake.go refuses any), so reserved bits
// are protocol errors.

// Opcodes (RFC 6455 §5.2), from internal/wsproto.
const (
	opContinuation = wsproto.OpContinuation
	opText         = wsproto.OpText
	opBinary       = wsproto.OpBinary
	opClose        = wsproto.OpClose
	opPing         = wsproto.OpPing
	opPong         = wsproto.OpPong
)

// Close codes (RFC 6455 §7.4.1) the client sends or reports.
const (
	closeNormal        = wsproto.CloseNormal
	closeProtocolError = wsproto.CloseProtocolError
	closeNoStatus      = wsproto.CloseNoStatus
	closeMessageTooBig = wsproto.CloseMessageTooBig
)

// readLimit bounds one data message (all its fragments): a larger one is
// refused with close code 1009. The consumers' frames are a few hundred
// bytes.
const readLimit = 1 << 20

// maxReadBufSize bounds the growth of a busy socket's read buffer (a read
// that fills the buffer doubles it, so one read syscall takes several
// frames).
const maxReadBufSize = 16 << 10

// errProtocol reports a frame that breaks RFC 6455; the socket was closed
// with code 1002.
var errProtocol = errors.New("websocket: protocol error")

// errReadLimit reports a message larger than readLimit; the socket was
// closed with code 1009.
var errReadLimit = errors.New("websocket: read limit exceeded")

// closeError is a close frame received from the server (already answered).
type closeError struct {
	// Code is the close code, closeNoStatus when the frame had none.
	Code int
	// Text is the close reason.
	Text string
}

// closeNames are the names gorilla/websocket gives close codes, so reports
// keep their wording.
var closeNames = map[int]string{1000: "normal", 1001: "going away", 1002: "protocol error",
	1003: "unsupported data", 1005: "no status", 1006: "abnormal closure", 1007: "invalid payload data",
	1008: "policy violation", 1009: "message too big", 1010: "mandatory extension missing",
	1011: "internal server error", 1012: "service restart", 1013: "try again later", 1015: "TLS handshake error"}

func (e *closeError) Error() string {
	s := "websocket: close " + strconv.Itoa(e.Code)
	if n, ok := closeNames[e.Code]; ok {
		s += " (" + n + ")"
	}
	if e.Text != "" {
		s += ": " + e.Text
	}
	return s
}

// validCloseCode reports whether a server may send code (RFC 6455 §7.4).
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	}
	return code >= 3000 && code <= 4999
}

// conn is a client socket's connection: an *os.File on Linux (dialTCP),
// a net.Conn elsewhere and in tests.
type conn interface {
	io.ReadWriteCloser
	SetDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}

// wsConn is one client socket after a successful handshake. Reading and
// writing happen on one goroutine (the socket's reader: pongs and close
// replies are written from readMessage); close may be called from any
// goroutine, and makes a blocked readMessage return an error.
type wsConn struct {
	nc conn
	// buf[r:w] is received and not yet parsed.
	buf  []byte
	r, w int
	// frag assembles a fragmented data message; fragOp is its opcode, 0
	// when none is in progress.
	frag   []byte
	fragOp byte
	// busy is set when the last read filled the buffer.
	busy bool
	// small is buf's first array (one allocation per socket, not two).
	small [readBufSize]byte
}

// newWSConn returns a wsConn on nc with the initial read buffer.
func newWSConn(nc conn) *wsConn {
	c := &wsConn{nc: nc}
	c.buf = c.small[:]
	return c
}

// close closes the TCP connection without a close frame (the benchmark's
// end: the server sees EOF, as it did with gorilla's Conn.Close).
func (c *wsConn) close() error { return c.nc.Close() }

// buffered reports whether a whole frame is already in the read buffer, so
// the next readMessage returns (or handles a control frame) without a read
// syscall.
func (c *wsConn) buffered() bool {
	n := c.w - c.r
	if n < 2 {
		return false
	}
	hlen, plen := 2, int64(c.buf[c.r+1]&0x7f)
	switch plen {
	case 126:
		hlen = 4
		if n < hlen {
			return false
		}
		plen = int64(binary.BigEndian.Uint16(c.buf[c.r+2:]))
	case 127:
		hlen = 10
		if n < hlen {
			return false
		}
		plen = int64(binary.BigEndian.Uint64(c.buf[c.r+2:]) & (1<<63 - 1))
	}
	return int64(n-hlen) >= plen
}

// fill makes sure at least n unparsed bytes are buffered, reading as
// needed. The unparsed bytes move to the buffer's start before a read; the
// buffer doubles (up to maxReadBufSize) after a read that filled it, so a
// busy socket takes several frames per read syscall, and grows to n when a
// frame needs it.
func (c *wsConn) fill(n int) error {
	if c.w-c.r >= n {
		return nil
	}
	size := len(c.buf)
	if c.busy && size < maxReadBufSize {
		size *= 2
	}
	size = max(size, n)
	if size != len(c.buf) {
		nb := make([]byte, size)
		copy(nb, c.buf[c.r:c.w])
		c.buf = nb
	} else if c.r > 0 {
		copy(c.buf, c.buf[c.r:c.w])
	}
	c.r, c.w = 0, c.w-c.r
	for c.w < n {
		m, err := c.nc.Read(c.buf[c.w:])
		c.w += m
		c.busy = c.w == len(c.buf)
		if err != nil && c.w < n {
			return err
		}
	}
	return nil
}

// readMessage returns the next data message (text or binary; the opcode is
// not reported, the consumers send text). The payload is valid until the
// next call. Pings are answered with pongs, pongs ignored. A close frame is
// answered with a close frame echoing its code and returned as a
// *closeError. A frame breaking RFC 6455 closes the socket with 1002 and
// returns an error wrapping errProtocol; a message over readLimit closes it
// with 1009 and returns errReadLimit. Any other error is the connection's.
func (c *wsConn) readMessage() ([]byte, error) {
	for {
		if err := c.fill(2); err != nil {
			return nil, err
		}
		b0, b1 := c.buf[c.r], c.buf[c.r+1]
		fin, op := b0&0x80 != 0, b0&0x0f
		if b0&0x70 != 0 {
			return nil, c.fail(closeProtocolError, fmt.Errorf("%w: reserved bits set", errProtocol))
		}
		if b1&0x80 != 0 {
			return nil, c.fail(closeProtocolError, fmt.Errorf("%w: masked server frame", errProtocol))
		}
		hlen, plen := 2, int64(b1&0x7f)
		switch plen {
		case 126:
			hlen = 4
		case 127:
			hlen = 10
		}
		if err := c.fill(hlen); err != nil {
			return nil, err
		}
		switch hlen {
		case 4:
			plen = int64(binary.BigEndian.Uint16(c.buf[c.r+2:]))
		case 10:
			v := binary.BigEndian.Uint64(c.buf[c.r+2:])
			if v > readLimit {
				return nil, c.fail(closeMessageTooBig, errReadLimit)
			}
			plen = int64(v)
		}
		control := op&0x8 != 0
		switch {
		case control && (!fin || plen > 125):
			return nil, c.fail(closeProtocolError, fmt.Errorf("%w: fragmented or long control frame", errProtocol))
		case !control && int64(len(c.frag))+plen > readLimit:
			return nil, c.fail(closeMessageTooBig, errReadLimit)
		}
		if err := c.fill(hlen + int(plen)); err != nil {
			return nil, err
		}
		payload := c.buf[c.r+hlen : c.r+hlen+int(plen)]
		c.r += hlen + int(plen)
		switch op {
		case opText, opBinary:
			if c.fragOp != 0 {
				return nil, c.fail(closeProtocolError, fmt.Errorf("%w: data frame inside a fragmented message", errProtocol))
			}
			if fin {
				return payload, nil
			}
			c.frag, c.fragOp = append(c.frag[:0], payload...), op
		case opContinuation:
			if c.fragOp == 0 {
				return nil, c.fail(closeProtocolError, fmt.Errorf("%w: continuation without a message", errProtocol))
			}
			c.frag = append(c.frag, payload...)
			if fin {
				c.fragOp = 0
				return c.frag, nil
			}
		case opPing:
			if err := c.writeControl(opPong, payload); err != nil {
				return nil, err
			}
		case opPong:
		case opClose:
			return nil, c.handleClose(payload)
		default:
			return nil, c.fail(closeProtocolError, fmt.Errorf("%w: opcode %d", errProtocol, op))
		}
	}
}

// handleClose parses a close frame's payload, answers it and returns the
// error readMessage reports.
func (c *wsConn) handleClose(payload []byte) error {
	ce := &closeError{Code: closeNoStatus}
	switch {
	case len(payload) == 1:
		return c.fail(closeProtocolError, fmt.Errorf("%w: one-byte close payload", errProtocol))
	case len(payload) >= 2:
		ce.Code = int(binary.BigEndian.Uint16(payload))
		if !validCloseCode(ce.Code) {
			return c.fail(closeProtocolError, fmt.Errorf("%w: bad close code %d", errProtocol, ce.Code))
		}
		if !utf8.Valid(payload[2:]) {
			return c.fail(closeProtocolError, fmt.Errorf("%w: invalid utf8 close reason", errProtocol))
		}
		ce.Text = string(payload[2:])
	}
	// Echo the code (none for "no status"), as gorilla's default close
	// handler did; a failed reply does not hide the server's close.
	var reply []byte
	if ce.Code != closeNoStatus {
		reply = binary.BigEndian.AppendUint16(nil, uint16(ce.Code)) //nolint:gosec // validCloseCode: < 5000
	}
	_ = c.writeControl(opClose, reply)
	return ce
}

// fail sends a close frame with code (best effort), closes the connection
// and returns err.
func (c *wsConn) fail(code int, err error) error {
	_ = c.writeControl(opClose, binary.BigEndian.AppendUint16(nil, uint16(code))) //nolint:gosec // our constants
	_ = c.nc.Close()
	return err
}

// writeControl writes a masked control frame, bounded by pongWriteTimeout
// (the server's pong timeout is tens of seconds; on a loaded machine one
// second was sometimes not enough).
func (c *wsConn) writeControl(op byte, payload []byte) error {
	var b [2 + 4 + 125]byte
	frame := appendFrame(b[:0], op, payload)
	if err := c.nc.SetWriteDeadline(time.Now().Add(pongWriteTimeout)); err != nil {
		return err
	}
	_, err := c.nc.Write(frame)
	return err
}

// appendFrame appends a final, masked frame of opcode op carrying payload
// to dst. The mask key comes from math/rand/v2: masking (RFC 6455 §5.3)
// protects intermediaries from crafted bytes, not secrets, and a load
// generator on loopback has none to protect.
func appendFrame(dst []byte, op byte, payload []byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(payload); {
	case n <= 125:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x80|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], rand.Uint32()) //nolint:gosec // not security-relevant, see above
	dst = append(dst, key[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	maskBytes(dst[start:], key)
	return dst
}

// maskBytes XORs b with the mask key, from the key's first byte (RFC 6455
// §5.3).
func maskBytes(b []byte, key [4]byte) {
	for i := range b {
		b[i] ^= key[i&3]
	}
}

// writeText writes one masked text message (the subscribe frame), under
// whatever write deadline the connection has. The frame is built in the
// read buffer's free tail when it fits (the socket's reader is not running
// yet, or is this goroutine), so that it is not allocated.
func (c *wsConn) writeText(payload []byte) error {
	var frame []byte
	if n := 14 + len(payload); len(c.buf)-c.w >= n {
		frame = appendFrame(c.buf[c.w:c.w], opText, payload)
	} else {
		frame = appendFrame(make([]byte, 0, n), opText, payload)
	}
	_, err := c.nc.Write(frame)
	return err
}
