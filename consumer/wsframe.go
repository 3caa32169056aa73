package consumer

import (
	"encoding/binary"
	"errors"
	"io"
	"unicode/utf8"

	"github.com/laurel-server/laurel/internal/wsproto"
)

// The server side of RFC 6455 framing. Reads never buffer beyond the current
// frame: the header is read field by field and the payload straight into the
// message being assembled, so whatever the client sends next stays in the
// kernel, where the readiness poller sees it.

// Opcodes (RFC 6455 §5.2), from internal/wsproto.
const (
	opContinuation = wsproto.OpContinuation
	opText         = wsproto.OpText
	opBinary       = wsproto.OpBinary
	opClose        = wsproto.OpClose
	opPing         = wsproto.OpPing
	opPong         = wsproto.OpPong
)

// RFC 6455 §7.4.1 close codes used by the framer.
const (
	closeNoStatus       = wsproto.CloseNoStatus
	closeProtocolError  = wsproto.CloseProtocolError
	closeInvalidPayload = wsproto.CloseInvalidPayload
)

// maxControlPayload is the largest control frame payload (RFC 6455 §5.5).
const maxControlPayload = 125

// readChunk bounds how much of a payload is allocated ahead of the bytes
// actually received, so a header announcing 1 MiB costs nothing until the
// client sends it.
const readChunk = 32 << 10

// protocolError is a client frame the framer refuses; the socket answers with
// a close frame carrying code and reason, then ends.
type protocolError struct {
	code   int
	reason string
	// inClose: the refused frame was the client's close frame, so the client
	// sends nothing more.
	inClose bool
}

func (e *protocolError) Error() string { return "consumer: websocket: " + e.reason }

func protoErr(code int, reason string) error { return &protocolError{code: code, reason: reason} }

// frameReader reads client frames from r and assembles messages. It is not
// safe for concurrent use; one read handler uses it at a time.
type frameReader struct {
	r io.Reader
	// limit is the largest message in bytes, summed over fragments; zero
	// or negative means no limit.
	limit int64
	// arm, when non-nil, is told once the first two header bytes of a
	// frame have arrived (the socket sets its per-frame read deadline).
	arm frameArmer

	hdr   [12]byte
	msgOp byte   // opcode of the message being assembled; 0 when none
	msg   []byte // the fragments received so far
}

// frameArmer is told when a frame starts arriving.
type frameArmer interface{ frameStarted() }

// inMessage reports whether a fragmented message has started and not ended.
func (fr *frameReader) inMessage() bool { return fr.msgOp != 0 }

// next reads frames until it has a whole message or a control frame and
// returns its opcode and payload. A text message is valid UTF-8. A close
// frame's payload has been checked (length, code, UTF-8 reason). The payload
// is owned by the caller. Errors are *protocolError for frames the client
// must be told about (1002, 1007, 1009), or the connection's read error.
func (fr *frameReader) next() (byte, []byte, error) {
	for {
		if _, err := io.ReadFull(fr.r, fr.hdr[:2]); err != nil {
			return 0, nil, err
		}
		if fr.arm != nil {
			fr.arm.frameStarted()
		}
		b0, b1 := fr.hdr[0], fr.hdr[1]
		fin, rsv, op := b0&0x80 != 0, b0&0x70, b0&0x0f
		masked, n := b1&0x80 != 0, int64(b1&0x7f)
		if rsv != 0 {
			return 0, nil, protoErr(closeProtocolError, "RSV bits set without an extension")
		}
		if !masked {
			return 0, nil, protoErr(closeProtocolError, "client frame not masked")
		}
		control := op&0x8 != 0
		switch op {
		case opContinuation, opText, opBinary, opClose, opPing, opPong:
		default:
			return 0, nil, protoErr(closeProtocolError, "unknown opcode")
		}
		if control && (!fin || n > maxControlPayload) {
			return 0, nil, protoErr(closeProtocolError, "fragmented or oversized control frame")
		}
		ext := 0
		switch n {
		case 126:
			ext = 2
		case 127:
			ext = 8
		}
		if _, err := io.ReadFull(fr.r, fr.hdr[:ext+4]); err != nil {
			return 0, nil, err
		}
		switch ext {
		case 2:
			n = int64(binary.BigEndian.Uint16(fr.hdr[:2]))
		case 8:
			u := binary.BigEndian.Uint64(fr.hdr[:8])
			if u>>63 != 0 {
				return 0, nil, protoErr(closeProtocolError, "frame length has its high bit set")
			}
			n = int64(u)
		}
		var key [4]byte
		copy(key[:], fr.hdr[ext:ext+4])

		if control {
			p := make([]byte, n)
			if _, err := io.ReadFull(fr.r, p); err != nil {
				return 0, nil, err
			}
			maskBytes(key, p)
			if op == opClose {
				if err := checkClosePayload(p); err != nil {
					return 0, nil, err
				}
			}
			return op, p, nil
		}

		switch {
		case op == opContinuation && fr.msgOp == 0:
			return 0, nil, protoErr(closeProtocolError, "continuation frame without a message")
		case op != opContinuation && fr.msgOp != 0:
			return 0, nil, protoErr(closeProtocolError, "new message inside a fragmented message")
		}
		if fr.limit > 0 && int64(len(fr.msg))+n > fr.limit {
			fr.reset()
			return 0, nil, protoErr(CloseMessageTooBig, "")
		}
		if op != opContinuation {
			fr.msgOp = op
		}
		if err := fr.readPayload(n, key); err != nil {
			return 0, nil, err
		}
		if !fin {
			continue
		}
		op, msg := fr.msgOp, fr.msg
		fr.msgOp, fr.msg = 0, nil
		if op == opText && !utf8.Valid(msg) {
			return 0, nil, protoErr(closeInvalidPayload, "text message is not valid UTF-8")
		}
		return op, msg, nil
	}
}

// readPayload appends n payload bytes to fr.msg, unmasked, growing the buffer
// no faster than the bytes arrive.
func (fr *frameReader) readPayload(n int64, key [4]byte) error {
	if fr.msg == nil && n > 0 {
		fr.msg = make([]byte, 0, min(n, readChunk))
	}
	for n > 0 {
		c := int(min(n, readChunk))
		start := len(fr.msg)
		if cap(fr.msg)-start < c {
			grown := make([]byte, start, max(2*cap(fr.msg), start+c))
			copy(grown, fr.msg)
			fr.msg = grown
		}
		fr.msg = fr.msg[:start+c]
		if _, err := io.ReadFull(fr.r, fr.msg[start:]); err != nil {
			return err
		}
		// Chunks are multiples of 4 bytes, so each starts at key offset 0.
		maskBytes(key, fr.msg[start:])
		n -= int64(c)
	}
	return nil
}

// reset forgets a partly assembled message.
func (fr *frameReader) reset() { fr.msgOp, fr.msg = 0, nil }

// checkClosePayload validates a client close frame (RFC 6455 §5.5.1, §7.4):
// empty, or a valid code followed by a UTF-8 reason.
func checkClosePayload(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if len(p) == 1 {
		return &protocolError{code: closeProtocolError, reason: "close frame with a 1-byte payload", inClose: true}
	}
	if !validReceivedCloseCode(int(binary.BigEndian.Uint16(p))) {
		return &protocolError{code: closeProtocolError, reason: "invalid close code", inClose: true}
	}
	if !utf8.Valid(p[2:]) {
		return &protocolError{code: closeInvalidPayload, reason: "close reason is not valid UTF-8", inClose: true}
	}
	return nil
}

// validReceivedCloseCode is gorilla/websocket's rule for codes a peer may
// send: the defined RFC 6455 codes other than 1004–1006 and 1015, and the
// registered and private ranges 3000–4999.
func validReceivedCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	}
	return code >= 3000 && code <= 4999
}

// closeCode returns the code of a checked close payload (1005 when empty).
func closeCode(p []byte) int {
	if len(p) < 2 {
		return closeNoStatus
	}
	return int(binary.BigEndian.Uint16(p))
}

// maskBytes XORs b with key (RFC 6455 §5.3), b starting at key offset 0.
func maskBytes(key [4]byte, b []byte) {
	k := uint64(binary.LittleEndian.Uint32(key[:]))
	k |= k << 32
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k)
	}
	for ; i < len(b); i++ {
		b[i] ^= key[i&3]
	}
}

// serverFrame returns a whole unmasked, unfragmented server frame: header
// and payload in one slice, ready to be shared by every recipient.
func serverFrame(op byte, payload []byte) []byte {
	n := len(payload)
	var f []byte
	switch {
	case n <= 125:
		f = make([]byte, 2, 2+n)
		f[1] = byte(n)
	case n <= 0xffff:
		f = make([]byte, 4, 4+n)
		f[1] = 126
		binary.BigEndian.PutUint16(f[2:], uint16(n))
	default:
		f = make([]byte, 10, 10+n)
		f[1] = 127
		binary.BigEndian.PutUint64(f[2:], uint64(n))
	}
	f[0] = 0x80 | op
	return append(f, payload...)
}

// closeFrame returns a server close frame. Code 1005 (no status) gives an
// empty payload, as gorilla/websocket's FormatCloseMessage does; the reason
// is cut to fit a control frame.
func closeFrame(code int, reason string) []byte {
	if code == closeNoStatus {
		return serverFrame(opClose, nil)
	}
	p := make([]byte, 2, 2+len(reason))
	binary.BigEndian.PutUint16(p, uint16(code)) //nolint:gosec // close codes fit 16 bits
	p = append(p, reason...)
	if len(p) > maxControlPayload {
		p = p[:maxControlPayload]
	}
	return serverFrame(opClose, p)
}

// pingFrame is the server's empty ping.
var pingFrame = serverFrame(opPing, nil)

// isTimeout reports whether err is a deadline expiry.
func isTimeout(err error) bool {
	t, ok := errors.AsType[interface {
		error
		Timeout() bool
	}](err)
	return ok && t.Timeout()
}
