package ctlwire

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/laurel-server/laurel/channelsproto"
)

type testRequest struct {
	ID int64  `json:"id"`
	Op string `json:"op"`
}

func (r testRequest) RequestID() int64 { return r.ID }

func TestServe(t *testing.T) {
	t.Parallel()
	handle := func(ctx context.Context, req testRequest) (map[string]any, error) {
		switch req.Op {
		case "empty":
			return nil, nil
		case "echo":
			return map[string]any{"op": req.Op, "raw": json.RawMessage(`{"int":"1"}`)}, nil
		case "full":
			return nil, fmt.Errorf("send: %w", channelsproto.ErrChannelFull)
		case "deadline":
			c, cancel := context.WithTimeout(ctx, time.Nanosecond)
			defer cancel()
			<-c.Done()
			return nil, c.Err()
		case "tagged":
			_, err := DecodeValue(json.RawMessage(`1`))
			return nil, err
		case "bad":
			return nil, fmt.Errorf("x: %w", ErrBadRequest)
		}
		return nil, io.ErrUnexpectedEOF
	}
	in := strings.Join([]string{
		`{"id": 1, "op": "empty"}`, ``, `{"id": 2, "op": "echo"}`, `{"id": 3, "op": "full"}`,
		`{"id": 4, "op": "deadline"}`, `{"id": 5, "op": "tagged"}`, `{"id": 6, "op": "bad"}`,
		`{"id": 7, "op": "other"}`, `not json`,
	}, "\n")
	var out bytes.Buffer
	srv := NewServer(&out, slog.New(slog.DiscardHandler), handle)
	if err := srv.Serve(t.Context(), strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	sort.Strings(lines)
	want := []string{
		`{"id":-1,"ok":false,"error":"invalid character 'o' in literal null (expecting 'u')","kind":"bad_request"}`,
		`{"id":1,"ok":true}`,
		`{"id":2,"ok":true,"result":{"op":"echo","raw":{"int":"1"}}}`,
		`{"id":3,"ok":false,"error":"send: channelsproto: channel over capacity","kind":"channel_full"}`,
		`{"id":4,"ok":false,"error":"context deadline exceeded","kind":"timeout"}`,
		`{"id":5,"ok":false,"error":"ctlwire: bad tagged value: untagged number 1","kind":"bad_request"}`,
		`{"id":6,"ok":false,"error":"x: bad request","kind":"bad_request"}`,
		`{"id":7,"ok":false,"error":"unexpected EOF","kind":"error"}`,
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines:\n%s", len(lines), out.String())
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, lines[i], want[i])
		}
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   float64
		want time.Duration
	}{{0, 5 * time.Second}, {-1, 5 * time.Second}, {0.25, 250 * time.Millisecond}, {30, 30 * time.Second}} {
		if got := Timeout(tt.in); got != tt.want {
			t.Errorf("Timeout(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
