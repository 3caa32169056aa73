package djangoauth

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"database/sql"
	"encoding/binary"
	"errors"
	"hash/adler32"
	"io"
	"strings"
	"testing"
)

// inflate verifies the checksum, stops at maxDecompressed bytes (the
// decompression-bomb bound) and recovers from a bad stream, pooled state
// and all.
func TestInflateLimits(t *testing.T) {
	t.Parallel()
	deflate := func(b []byte) []byte {
		var buf bytes.Buffer
		w := zlib.NewWriter(&buf)
		_, _ = w.Write(b)
		_ = w.Close()
		return buf.Bytes()
	}
	atLimit := deflate(make([]byte, maxDecompressed))
	overLimit := deflate(make([]byte, maxDecompressed+1))
	small := deflate([]byte(`{"a":"b"}`))
	corrupt := bytes.Clone(small)
	corrupt[len(corrupt)-1] ^= 1 // Adler-32
	for i := range 2 {           // the second round runs on recycled state
		if out, err := inflate(atLimit); err != nil || len(out) != maxDecompressed {
			t.Fatalf("round %d: at the limit: %d bytes, %v", i, len(out), err)
		}
		if _, err := inflate(overLimit); !errors.Is(err, ErrBadPayload) {
			t.Fatalf("round %d: over the limit: %v, want ErrBadPayload", i, err)
		}
		if _, err := inflate(corrupt); err == nil {
			t.Fatalf("round %d: bad checksum accepted", i)
		}
		if _, err := inflate([]byte("not zlib")); err == nil {
			t.Fatalf("round %d: bad header accepted", i)
		}
		if out, err := inflate(small); err != nil || string(out) != `{"a":"b"}` {
			t.Fatalf("round %d: %q, %v", i, out, err)
		}
	}
}

// stdInflate is inflate done with the standard library's compress/zlib, the
// decoder laurel used before: FuzzInflate's reference.
func stdInflate(data []byte) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxDecompressed+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxDecompressed {
		return nil, ErrBadPayload
	}
	return out, nil
}

// FuzzInflate checks inflate against the standard library's decoder on
// arbitrary bytes (seeded with a real Django session envelope and streams of
// each block type): both accept the same streams with the same output, and
// reject the same ones. inflate's input is untrusted when it comes from a
// django-redis cache entry, which is not signed.
func FuzzInflate(f *testing.F) {
	f.Add(djangoEnvelopeZlib(f))
	payload := []byte(`{"_auth_user_id":"1","_auth_user_backend":"django.contrib.auth.backends.ModelBackend"}`)
	for _, level := range []int{flate.NoCompression, flate.BestSpeed, flate.DefaultCompression, flate.HuffmanOnly} {
		var buf bytes.Buffer
		w, err := zlib.NewWriterLevel(&buf, level)
		if err != nil {
			f.Fatal(err)
		}
		_, _ = w.Write(payload)
		_ = w.Close()
		f.Add(buf.Bytes())
	}
	f.Add([]byte{})
	f.Add([]byte{0x78, 0x9c})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := inflate(data)
		want, wantErr := stdInflate(data)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("inflate error %v, compress/zlib's %v", err, wantErr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("inflate = %q, compress/zlib's %q", got, want)
		}
		// With its checksum made right, every stream inflateSmall decodes
		// must be one compress/zlib decodes to the same bytes: this reaches
		// the streams a wrong checksum would otherwise turn away.
		var s smallInflater
		if out, end, ok := s.stream(data, nil); ok {
			fixed := binary.BigEndian.AppendUint32(bytes.Clone(data[:end]), adler32.Checksum(out))
			want, err := stdInflate(fixed)
			if err != nil || !bytes.Equal(out, want) {
				t.Fatalf("inflateSmall decoded %q, compress/zlib %q, %v", out, want, err)
			}
			if got, err := inflate(fixed); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("inflate = %q, %v; compress/zlib's %q", got, err, want)
			}
		}
	})
}

// TestInflateSmallDecodesDjango: inflateSmall itself (not the general
// decoder it falls back on) decodes what Django's zlib writes: every
// compressed session_data in the fixture database, real Django's, and
// compress/zlib's streams of a session at every level but NoCompression
// (stored blocks, which it leaves to the general decoder).
func TestInflateSmallDecodesDjango(t *testing.T) {
	t.Parallel()
	db, err := sql.Open("sqlite", "file:"+copySQLite(t)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT session_data FROM django_session`)
	if err != nil {
		t.Fatal(err)
	}
	var streams [][]byte
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			t.Fatal(err)
		}
		if payload, _, _ := strings.Cut(data, ":"); strings.HasPrefix(payload, ".") {
			z, err := b64Decode(payload[1:])
			if err != nil {
				t.Fatal(err)
			}
			streams = append(streams, z)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(streams) == 0 {
		t.Fatal("no compressed session in the fixture")
	}
	payload := []byte(`{"_auth_user_id":"42","_auth_user_backend":"django.contrib.auth.backends.ModelBackend","_auth_user_hash":"0c4f2d1e9b8a7f6e5d4c3b2a19080706f5e4d3c2b1a09f8e7d6c5b4a39281706"}`)
	for _, level := range []int{flate.BestSpeed, 2, 3, 4, 5, flate.DefaultCompression, 7, 8, flate.BestCompression, flate.HuffmanOnly} {
		var buf bytes.Buffer
		w, err := zlib.NewWriterLevel(&buf, level)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(payload)
		_ = w.Close()
		streams = append(streams, buf.Bytes())
	}
	var s smallInflater
	for i, z := range streams {
		want, err := stdInflate(z)
		if err != nil {
			t.Fatalf("stream %d: compress/zlib: %v", i, err)
		}
		got, ok := s.inflateSmall(z, nil)
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("stream %d: inflateSmall = %q, %v; want %q", i, got, ok, want)
		}
	}
}
