package bench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// tcpPair returns the server end of a loopback TCP connection and a wsConn
// on its client end (TCP, not net.Pipe: the client writes pongs and close
// replies while the test is not reading).
func tcpPair(t *testing.T) (net.Conn, *wsConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close(); _ = sc.Close() })
	for _, c := range []net.Conn{cc, sc} {
		if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	return sc, &wsConn{nc: cc, buf: make([]byte, readBufSize)}
}

// serverFrame encodes a server frame: fin, rsv (the three reserved bits,
// already shifted), opcode, payload, optionally masked (which a server must
// not do).
func serverFrame(fin bool, rsv, op byte, payload []byte, masked bool) []byte {
	b0 := op | rsv
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	var m byte
	if masked {
		m = 0x80
	}
	switch n := len(payload); {
	case n <= 125:
		out = append(out, m|byte(n))
	case n <= 0xffff:
		out = append(out, m|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, m|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if masked {
		key := [4]byte{1, 2, 3, 4}
		out = append(out, key[:]...)
		p := append([]byte(nil), payload...)
		maskBytes(p, key)
		return append(out, p...)
	}
	return append(out, payload...)
}

// readClientFrame reads one frame the client wrote, checks that it is
// final and masked, and returns its opcode and unmasked payload.
func readClientFrame(t *testing.T, c net.Conn) (byte, []byte) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		t.Fatalf("reading the client's frame: %v", err)
	}
	if h[0]&0x80 == 0 || h[0]&0x70 != 0 {
		t.Fatalf("client frame header %#x: want FIN and no reserved bit", h[0])
	}
	if h[1]&0x80 == 0 {
		t.Fatal("client frame not masked")
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		_, _ = io.ReadFull(c, l[:])
		n = int(binary.BigEndian.Uint16(l[:]))
	case 127:
		t.Fatal("unexpected 64-bit length from the client")
	}
	var key [4]byte
	if _, err := io.ReadFull(c, key[:]); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c, p); err != nil {
		t.Fatal(err)
	}
	maskBytes(p, key)
	return h[0] & 0x0f, p
}

// write sends frames as one write; a failure is reported with t.Error (it
// runs on other goroutines too).
func write(t *testing.T, c net.Conn, frames ...[]byte) {
	t.Helper()
	if _, err := c.Write(bytes.Join(frames, nil)); err != nil {
		t.Error(err)
	}
}

func TestReadMessage(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("0123456789"), 7000) // 70,000 bytes: 64-bit length, larger than the buffer
	mid := bytes.Repeat([]byte("x"), 300)           // 16-bit length
	tests := []struct {
		name   string
		frames [][]byte
		want   []string
	}{
		{"one text frame", [][]byte{serverFrame(true, 0, opText, []byte(`{"seq": 1}`), false)}, []string{`{"seq": 1}`}},
		{"several in one segment", [][]byte{
			serverFrame(true, 0, opText, []byte("a"), false),
			serverFrame(true, 0, opBinary, []byte("bb"), false),
			serverFrame(true, 0, opText, nil, false),
			serverFrame(true, 0, opText, []byte("ccc"), false),
		}, []string{"a", "bb", "", "ccc"}},
		{"16-bit length", [][]byte{serverFrame(true, 0, opText, mid, false)}, []string{string(mid)}},
		{"64-bit length", [][]byte{serverFrame(true, 0, opText, big, false), serverFrame(true, 0, opText, []byte("after"), false)},
			[]string{string(big), "after"}},
		{"fragmented", [][]byte{
			serverFrame(false, 0, opText, []byte("he"), false),
			serverFrame(false, 0, opContinuation, []byte("ll"), false),
			serverFrame(true, 0, opContinuation, []byte("o"), false),
			serverFrame(true, 0, opText, []byte("next"), false),
		}, []string{"hello", "next"}},
		{"pong ignored", [][]byte{serverFrame(true, 0, opPong, []byte("p"), false), serverFrame(true, 0, opText, []byte("t"), false)},
			[]string{"t"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, c := tcpPair(t)
			go write(t, srv, tc.frames...)
			for _, want := range tc.want {
				got, err := c.readMessage()
				if err != nil {
					t.Fatalf("readMessage: %v", err)
				}
				if string(got) != want {
					t.Fatalf("message %.40q (%d bytes), want %.40q (%d bytes)", got, len(got), want, len(want))
				}
			}
		})
	}
}

// TestReadMessageByteByByte feeds frames one byte per segment: every
// partial header and payload must be waited for.
func TestReadMessageByteByByte(t *testing.T) {
	t.Parallel()
	srv, c := tcpPair(t)
	stream := bytes.Join([][]byte{
		serverFrame(true, 0, opText, bytes.Repeat([]byte("y"), 200), false),
		serverFrame(false, 0, opText, []byte("ab"), false),
		serverFrame(true, 0, opContinuation, []byte("cd"), false),
	}, nil)
	go func() {
		for i := range stream {
			if _, err := srv.Write(stream[i : i+1]); err != nil {
				return
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	for _, want := range []string{strings.Repeat("y", 200), "abcd"} {
		got, err := c.readMessage()
		if err != nil || string(got) != want {
			t.Fatalf("readMessage = %.20q, %v; want %.20q", got, err, want)
		}
	}
}

// TestReadMessagePing checks that a ping, also one between two fragments,
// is answered by a masked pong with its payload.
func TestReadMessagePing(t *testing.T) {
	t.Parallel()
	srv, c := tcpPair(t)
	write(t, srv,
		serverFrame(false, 0, opText, []byte("fr"), false),
		serverFrame(true, 0, opPing, []byte("are you there"), false),
		serverFrame(true, 0, opContinuation, []byte("ag"), false))
	got, err := c.readMessage()
	if err != nil || string(got) != "frag" {
		t.Fatalf("readMessage = %q, %v; want frag", got, err)
	}
	if op, p := readClientFrame(t, srv); op != opPong || string(p) != "are you there" {
		t.Fatalf("client answered op %d %q, want a pong with the ping's payload", op, p)
	}
}

func TestReadMessageClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		payload   []byte
		wantCode  int
		wantText  string
		wantReply []byte
	}{
		{"code and reason", append(binary.BigEndian.AppendUint16(nil, 4003), "forbidden"...), 4003, "forbidden",
			binary.BigEndian.AppendUint16(nil, 4003)},
		{"code only", binary.BigEndian.AppendUint16(nil, 1001), 1001, "", binary.BigEndian.AppendUint16(nil, 1001)},
		{"no status", nil, closeNoStatus, "", []byte{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, c := tcpPair(t)
			write(t, srv, serverFrame(true, 0, opClose, tc.payload, false))
			_, err := c.readMessage()
			var ce *closeError
			if !errors.As(err, &ce) || ce.Code != tc.wantCode || ce.Text != tc.wantText {
				t.Fatalf("readMessage error %v, want close %d %q", err, tc.wantCode, tc.wantText)
			}
			if op, p := readClientFrame(t, srv); op != opClose || !bytes.Equal(p, tc.wantReply) {
				t.Fatalf("client replied op %d %x, want close %x", op, p, tc.wantReply)
			}
		})
	}
}

// TestReadMessageErrors checks every protocol violation and the read
// limit: readMessage fails with the right error and the client sends the
// right close code, then closes.
func TestReadMessageErrors(t *testing.T) {
	t.Parallel()
	hugeHeader := []byte{0x81, 127}
	hugeHeader = binary.BigEndian.AppendUint64(hugeHeader, readLimit+1)
	tests := []struct {
		name     string
		frames   [][]byte
		want     error
		wantCode uint16
	}{
		{"masked server frame", [][]byte{serverFrame(true, 0, opText, []byte("m"), true)}, errProtocol, closeProtocolError},
		{"reserved bit", [][]byte{serverFrame(true, 0x40, opText, []byte("r"), false)}, errProtocol, closeProtocolError},
		{"unknown opcode", [][]byte{serverFrame(true, 0, 0x3, []byte("?"), false)}, errProtocol, closeProtocolError},
		{"unknown control opcode", [][]byte{serverFrame(true, 0, 0xB, nil, false)}, errProtocol, closeProtocolError},
		{"continuation first", [][]byte{serverFrame(true, 0, opContinuation, []byte("c"), false)}, errProtocol, closeProtocolError},
		{"text inside a fragmented message", [][]byte{serverFrame(false, 0, opText, []byte("a"), false),
			serverFrame(true, 0, opText, []byte("b"), false)}, errProtocol, closeProtocolError},
		{"fragmented ping", [][]byte{serverFrame(false, 0, opPing, nil, false)}, errProtocol, closeProtocolError},
		{"long ping", [][]byte{serverFrame(true, 0, opPing, make([]byte, 126), false)}, errProtocol, closeProtocolError},
		{"one-byte close", [][]byte{serverFrame(true, 0, opClose, []byte{3}, false)}, errProtocol, closeProtocolError},
		{"close code 1005 sent", [][]byte{serverFrame(true, 0, opClose, binary.BigEndian.AppendUint16(nil, 1005), false)}, errProtocol, closeProtocolError},
		{"close code 999", [][]byte{serverFrame(true, 0, opClose, binary.BigEndian.AppendUint16(nil, 999), false)}, errProtocol, closeProtocolError},
		{"close reason not utf8", [][]byte{serverFrame(true, 0, opClose, append(binary.BigEndian.AppendUint16(nil, 1000), 0xff), false)}, errProtocol, closeProtocolError},
		{"frame over the limit", [][]byte{hugeHeader}, errReadLimit, closeMessageTooBig},
		// Only the header of the fragment going over: the client reads
		// everything sent before it fails, so its close is not a reset.
		{"fragments over the limit", [][]byte{serverFrame(false, 0, opText, make([]byte, readLimit-10), false),
			{0x80 | opContinuation, 20}}, errReadLimit, closeMessageTooBig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, c := tcpPair(t)
			go write(t, srv, tc.frames...)
			_, err := c.readMessage()
			if !errors.Is(err, tc.want) {
				t.Fatalf("readMessage error %v, want %v", err, tc.want)
			}
			op, p := readClientFrame(t, srv)
			if op != opClose || len(p) != 2 || binary.BigEndian.Uint16(p) != tc.wantCode {
				t.Fatalf("client sent op %d %x, want close %d", op, p, tc.wantCode)
			}
			if _, err := c.nc.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("client connection still open after a protocol error (read: %v)", err)
			}
		})
	}
}

func TestBuffered(t *testing.T) {
	t.Parallel()
	srv, c := tcpPair(t)
	write(t, srv, serverFrame(true, 0, opText, []byte("one"), false), serverFrame(true, 0, opText, []byte("two"), false))
	// Both frames are 10 bytes on the wire; wait until both arrived.
	if err := c.fill(10); err != nil {
		t.Fatal(err)
	}
	if !c.buffered() {
		t.Fatal("buffered() false with two whole frames in the buffer")
	}
	if m, err := c.readMessage(); err != nil || string(m) != "one" {
		t.Fatalf("readMessage = %q, %v", m, err)
	}
	if !c.buffered() {
		t.Fatal("buffered() false with the second frame in the buffer")
	}
	if m, err := c.readMessage(); err != nil || string(m) != "two" {
		t.Fatalf("readMessage = %q, %v", m, err)
	}
	if c.buffered() {
		t.Fatal("buffered() true with an empty buffer")
	}
	half := serverFrame(true, 0, opText, []byte("three"), false)
	write(t, srv, half[:4])
	if err := c.fill(4); err != nil {
		t.Fatal(err)
	}
	if c.buffered() {
		t.Fatal("buffered() true with half a frame")
	}
}

func TestAppendFrame(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 125, 126, 300, 0xffff, 0x10000} {
		payload := bytes.Repeat([]byte{'z'}, n)
		f := appendFrame(nil, opText, payload)
		if f[0] != 0x80|opText || f[1]&0x80 == 0 {
			t.Fatalf("n=%d: header %x, want final text, masked", n, f[:2])
		}
		hlen, plen := 2, int(f[1]&0x7f)
		switch plen {
		case 126:
			hlen, plen = 4, int(binary.BigEndian.Uint16(f[2:]))
		case 127:
			hlen, plen = 10, int(binary.BigEndian.Uint64(f[2:]))
		}
		if plen != n || len(f) != hlen+4+n {
			t.Fatalf("n=%d: length field %d, frame %d bytes", n, plen, len(f))
		}
		key := [4]byte(f[hlen : hlen+4])
		p := append([]byte(nil), f[hlen+4:]...)
		maskBytes(p, key)
		if !bytes.Equal(p, payload) {
			t.Fatalf("n=%d: unmasked payload differs", n)
		}
	}
}

func BenchmarkReadMessage(b *testing.B) {
	b.ReportAllocs()
	frame := serverFrame(true, 0, opText, []byte(`{"type": "task_update", "task_id": "task_bench-1", "status": "processing", "seq": 42, "ts": 1764123456789012345}`), false)
	stream := bytes.Repeat(frame, 64)
	c := &wsConn{nc: &replayConn{data: stream}, buf: make([]byte, readBufSize)}
	for b.Loop() {
		if _, err := c.readMessage(); err != nil {
			b.Fatal(err)
		}
	}
}

// replayConn is a net.Conn whose reads return data over and over.
type replayConn struct {
	net.Conn
	data []byte
	off  int
}

func (r *replayConn) Read(p []byte) (int, error) {
	n := copy(p, r.data[r.off:])
	r.off = (r.off + n) % len(r.data)
	return n, nil
}
