package consumer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"unicode/utf8"
)

// clientFrame builds a masked client frame; b0 is the first header byte
// (FIN, RSV and opcode), so tests can set any bit.
func clientFrame(b0 byte, payload []byte) []byte {
	return rawFrame(b0, true, payload)
}

func rawFrame(b0 byte, masked bool, payload []byte) []byte {
	n := len(payload)
	f := []byte{b0, 0}
	switch {
	case n <= 125:
		f[1] = byte(n)
	case n <= 0xffff:
		f[1] = 126
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f[1] = 127
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	if !masked {
		return append(f, payload...)
	}
	f[1] |= 0x80
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	f = append(f, key[:]...)
	p := append([]byte(nil), payload...)
	maskBytes(key, p)
	return append(f, p...)
}

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

func TestFrameReaderHostileFrames(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		in    []byte
		limit int64
		code  int
	}{
		{"unmasked", rawFrame(0x81, false, []byte("hi")), 0, 1002},
		{"rsv1", clientFrame(0x80|0x40|opText, []byte("hi")), 0, 1002},
		{"rsv2", clientFrame(0x80|0x20|opText, []byte("hi")), 0, 1002},
		{"rsv3", clientFrame(0x80|0x10|opBinary, []byte("hi")), 0, 1002},
		{"opcode 3", clientFrame(0x83, nil), 0, 1002},
		{"opcode 0xB", clientFrame(0x8B, nil), 0, 1002},
		{"fragmented ping", clientFrame(opPing, nil), 0, 1002},
		{"fragmented close", clientFrame(opClose, nil), 0, 1002},
		{"126-byte ping", clientFrame(0x80|opPing, make([]byte, 126)), 0, 1002},
		{"continuation first", clientFrame(0x80|opContinuation, []byte("x")), 0, 1002},
		{"text inside fragmented", cat(clientFrame(opText, []byte("a")), clientFrame(0x80|opText, []byte("b"))), 0, 1002},
		{"binary inside fragmented", cat(clientFrame(opBinary, []byte("a")), clientFrame(0x80|opBinary, []byte("b"))), 0, 1002},
		{"length high bit", []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}, 0, 1002},
		{"close 1 byte", clientFrame(0x80|opClose, []byte{3}), 0, 1002},
		{"close code 1005", clientFrame(0x80|opClose, []byte{0x03, 0xed}), 0, 1002},
		{"close code 999", clientFrame(0x80|opClose, []byte{0x03, 0xe7}), 0, 1002},
		{"close code 5000", clientFrame(0x80|opClose, []byte{0x13, 0x88}), 0, 1002},
		{"close reason bad utf8", clientFrame(0x80|opClose, []byte{0x03, 0xe8, 0xff}), 0, 1007},
		{"over limit", clientFrame(0x80|opText, make([]byte, 11)), 10, 1009},
		// The header alone decides: no payload follows.
		{"over limit by header", []byte{0x81, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 1, 1, 2, 3, 4}, 1 << 20, 1009},
		{"fragments over limit", cat(clientFrame(opText, make([]byte, 6)), clientFrame(opContinuation, make([]byte, 6))), 10, 1009},
		{"invalid utf8", clientFrame(0x80|opText, []byte{'{', 0xff, 0xfe, '}'}), 0, 1007},
		{"utf8 split over fragments, truncated", cat(clientFrame(opText, []byte{0xe2, 0x82}), clientFrame(0x80|opContinuation, nil)), 0, 1007},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fr := &frameReader{r: bytes.NewReader(tc.in), limit: tc.limit}
			var err error
			for err == nil {
				_, _, err = fr.next()
			}
			var pe *protocolError
			if !errors.As(err, &pe) {
				t.Fatalf("err %v, want close %d", err, tc.code)
			}
			if pe.code != tc.code {
				t.Fatalf("close %d (%s), want %d", pe.code, pe.reason, tc.code)
			}
		})
	}
}

func TestFrameReaderMessages(t *testing.T) {
	t.Parallel()
	euro := []byte("€ and more")
	type msg struct {
		op   byte
		data string
	}
	cases := []struct {
		name string
		in   []byte
		want []msg
	}{
		{"text", clientFrame(0x81, []byte(`{"a": 1}`)), []msg{{opText, `{"a": 1}`}}},
		{"empty text", clientFrame(0x81, nil), []msg{{opText, ""}}},
		{"binary any bytes", clientFrame(0x82, []byte{0xff, 0}), []msg{{opBinary, "\xff\x00"}}},
		{"16-bit length", clientFrame(0x81, bytes.Repeat([]byte("x"), 300)), []msg{{opText, string(bytes.Repeat([]byte("x"), 300))}}},
		{"64-bit length", clientFrame(0x82, bytes.Repeat([]byte{7}, 70000)), []msg{{opBinary, string(bytes.Repeat([]byte{7}, 70000))}}},
		{"fragments with a ping between", cat(
			clientFrame(opText, euro[:2]),
			clientFrame(0x80|opPing, []byte("p")),
			clientFrame(opContinuation, euro[2:5]),
			clientFrame(0x80|opContinuation, euro[5:]),
		), []msg{{opPing, "p"}, {opText, string(euro)}}},
		{"pong", clientFrame(0x80|opPong, nil), []msg{{opPong, ""}}},
		{"close empty", clientFrame(0x80|opClose, nil), []msg{{opClose, ""}}},
		{"close with reason", clientFrame(0x80|opClose, []byte{0x0f, 0xa0, 'b', 'y', 'e'}), []msg{{opClose, "\x0f\xa0bye"}}},
		{"two messages", cat(clientFrame(0x81, []byte("a")), clientFrame(0x81, []byte("b"))), []msg{{opText, "a"}, {opText, "b"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fr := &frameReader{r: bytes.NewReader(tc.in), limit: 1 << 20}
			for i, w := range tc.want {
				op, data, err := fr.next()
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if op != w.op || string(data) != w.data {
					t.Fatalf("message %d: op %d %q, want op %d %q", i, op, data, w.op, w.data)
				}
			}
			if _, _, err := fr.next(); !errors.Is(err, io.EOF) {
				t.Fatalf("after the messages: %v, want EOF", err)
			}
		})
	}
}

func TestServerFrames(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		p := bytes.Repeat([]byte{'z'}, n)
		f := serverFrame(opText, p)
		// Read it back as a client would: unmasked server frames are what
		// the reader refuses, so check the header by hand.
		if f[0] != 0x81 || f[1]&0x80 != 0 {
			t.Fatalf("n=%d: header % x", n, f[:2])
		}
		var hl int
		switch {
		case n <= 125:
			hl = 2
		case n <= 0xffff:
			hl = 4
		default:
			hl = 10
		}
		if len(f) != hl+n || !bytes.Equal(f[hl:], p) {
			t.Fatalf("n=%d: frame of %d bytes", n, len(f))
		}
	}
	if got := closeFrame(closeNoStatus, "x"); !bytes.Equal(got, []byte{0x88, 0}) {
		t.Fatalf("close 1005: % x", got)
	}
	if got := closeFrame(CloseSlowConsumer, "slow consumer"); !bytes.Equal(got, append([]byte{0x88, 15, 0x0f, 0xa8}, "slow consumer"...)) {
		t.Fatalf("close 4008: % x", got)
	}
	long := closeFrame(1000, string(bytes.Repeat([]byte{'r'}, 200)))
	if long[1] != maxControlPayload || len(long) != 2+maxControlPayload {
		t.Fatalf("long close reason not cut: %d", len(long))
	}
}

// FuzzReadFrame feeds arbitrary bytes to the frame reader: it must never
// panic, never return a message over the limit, only return valid UTF-8 text,
// and only refuse frames with 1002, 1007 or 1009.
func FuzzReadFrame(f *testing.F) {
	f.Add(clientFrame(0x81, []byte(`{"action": "subscribe", "task_id": "t"}`)))
	f.Add(cat(clientFrame(opText, []byte("ab")), clientFrame(0x80|opPing, nil), clientFrame(0x80|opContinuation, []byte("c"))))
	f.Add(clientFrame(0x80|opClose, []byte{0x03, 0xe8}))
	f.Add(clientFrame(0x82, bytes.Repeat([]byte{1}, 300)))
	f.Add(rawFrame(0x81, false, []byte("x")))
	f.Add([]byte{0x81, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4})
	const limit = 4096
	f.Fuzz(func(t *testing.T, in []byte) {
		fr := &frameReader{r: bytes.NewReader(in), limit: limit}
		for range 64 {
			op, data, err := fr.next()
			if err != nil {
				var pe *protocolError
				if errors.As(err, &pe) {
					switch pe.code {
					case closeProtocolError, closeInvalidPayload, CloseMessageTooBig:
					default:
						t.Fatalf("close code %d", pe.code)
					}
				}
				return
			}
			switch op {
			case opText:
				if !utf8.Valid(data) {
					t.Fatal("invalid UTF-8 text returned")
				}
				fallthrough
			case opBinary:
				if len(data) > limit {
					t.Fatalf("message of %d bytes over the limit", len(data))
				}
			case opPing, opPong, opClose:
				if len(data) > maxControlPayload {
					t.Fatalf("control payload of %d bytes", len(data))
				}
			default:
				t.Fatalf("opcode %d returned", op)
			}
		}
	})
}
