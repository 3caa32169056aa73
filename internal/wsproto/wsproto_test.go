package wsproto

import (
	"strings"
	"testing"
)

// The example of RFC 6455 §1.3, then a key longer than a valid one (hashed
// on the slow path), checked against the same formula computed by hand.
func TestAccept(t *testing.T) {
	if got := Accept("dGhlIHNhbXBsZSBub25jZQ=="); string(got[:]) != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("Accept(RFC example) = %s", got)
	}
	if got := Accept([]byte("dGhlIHNhbXBsZSBub25jZQ==")); string(got[:]) != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("Accept([]byte RFC example) = %s", got)
	}
	long := strings.Repeat("k", 40)
	short, long2 := Accept(long[:24]), Accept(long)
	if short == long2 {
		t.Fatal("a longer key hashed like its first 24 bytes")
	}
	// SHA-1("k"*40 + GUID), base64, computed with Python's hashlib.
	if string(long2[:]) != "GVvUU5IihR2eT0KQ2Ib+uuN3v3c=" {
		t.Fatalf("Accept(40-byte key) = %s", long2)
	}
}

func TestAcceptAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = Accept("dGhlIHNhbXBsZSBub25jZQ==") }); n != 0 {
		t.Fatalf("Accept allocates %v times", n)
	}
}
