package consumer

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"
)

// chunkReader returns its chunks one Read at a time, then err, counting
// the reads.
type chunkReader struct {
	chunks [][]byte
	err    error
	reads  int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	c.reads++
	if len(c.chunks) == 0 {
		return 0, c.err
	}
	n := copy(p, c.chunks[0])
	if c.chunks[0] = c.chunks[0][n:]; len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

func TestReadAhead(t *testing.T) {
	t.Parallel()
	frame := clientFrame(0x81, []byte(`{"action":"subscribe","task_id":"1"}`))
	boom := errors.New("boom")
	src := &chunkReader{chunks: [][]byte{frame}, err: boom}
	ra := &readAhead{r: src}
	fr := frameReader{r: ra}
	op, p, err := fr.next()
	if err != nil || op != opText || string(p) != `{"action":"subscribe","task_id":"1"}` {
		t.Fatalf("next: %d %q %v", op, p, err)
	}
	if src.reads != 1 {
		t.Fatalf("%d reads of the connection for one small frame, want 1", src.reads)
	}
	if ra.pending() {
		t.Fatal("pending after the whole frame was consumed")
	}
	if _, _, err := fr.next(); !errors.Is(err, boom) {
		t.Fatalf("next after the frame: %v, want the connection's error", err)
	}

	// Two frames and part of a third in one read: the surplus stays pending
	// until consumed; the rest of the third comes from the connection.
	third := clientFrame(0x81, []byte(`{"c":3}`))
	src = &chunkReader{chunks: [][]byte{cat(frame, frame, third[:3]), third[3:]}, err: io.EOF}
	ra = &readAhead{r: src}
	fr = frameReader{r: ra}
	for i := range 3 {
		if _, _, err := fr.next(); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if want := i < 2; ra.pending() != want {
			t.Fatalf("after frame %d pending=%v", i, ra.pending())
		}
	}
	if src.reads != 2 {
		t.Fatalf("%d reads, want 2", src.reads)
	}

	// A read at least readAheadSize long goes to the connection directly.
	big := bytes.Repeat([]byte{'x'}, 2*readAheadSize)
	src = &chunkReader{chunks: [][]byte{big}}
	ra = &readAhead{r: src}
	buf := make([]byte, readAheadSize)
	if n, err := ra.Read(buf); n != readAheadSize || err != nil || ra.pending() {
		t.Fatalf("direct read: %d %v pending=%v", n, err, ra.pending())
	}
}

// TestCoalescedFrames sends several messages in one TCP write: all are
// handled although the poller reports the connection readable once.
func TestCoalescedFrames(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.rawSocket(aliceCookie)
	in := cat(
		clientFrame(0x81, []byte(`{"action":"subscribe","task_id":"a"}`)),
		clientFrame(0x81, []byte(`{"action":"subscribe","task_id":"b"}`)),
		clientFrame(0x80|opPing, []byte("p")),
	)
	if _, err := c.Write(in); err != nil {
		t.Fatal(err)
	}
	if op, p := readServerFrame(t, c); op != opPong || string(p) != "p" {
		t.Fatalf("op %d %q, want pong", op, p)
	}
	eventually(t, "both subscriptions", func() bool {
		return len(e.layer.members("task_a")) == 1 && len(e.layer.members("task_b")) == 1
	})
}

// TestInvalidUTF8WithCloseInOneWrite: the client's answer to the 1007 close
// came in the same read as the refused message; the server still reads it
// and ends at once, not at closeGrace.
func TestInvalidUTF8WithCloseInOneWrite(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.rawSocket(aliceCookie)
	bad := clientFrame(0x81, []byte("{\"action\": \"\xff\"}"))
	start := time.Now()
	if _, err := c.Write(cat(bad, clientFrame(0x80|opClose, []byte{0x03, 0xef}))); err != nil {
		t.Fatal(err)
	}
	if op, p := readServerFrame(t, c); op != opClose || closeCode(p) != 1007 {
		t.Fatalf("frame op %d % x, want close 1007", op, p)
	}
	expectEOF(t, c)
	if d := time.Since(start); d >= closeGrace {
		t.Fatalf("connection ended after %v: the pending close was not read", d)
	}
}
