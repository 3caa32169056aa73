package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// frameServer answers each subscribe with frames seq 0..frames-1 (the last
// one sent twice, to be counted out of order), checking the cookie.
func frameServer(t *testing.T, frames int) (*httptest.Server, *sync.Map) {
	t.Helper()
	var subs sync.Map
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Cookie"), "sessionid=") {
			http.Error(w, "no session", http.StatusForbidden)
			return
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer func() { _ = c.Close() }()
		var sub struct {
			Action string `json:"action"`
			TaskID string `json:"task_id"`
		}
		if err := c.ReadJSON(&sub); err != nil {
			return
		}
		if sub.Action != "subscribe" {
			return
		}
		subs.Store(sub.TaskID, true)
		for i := range frames {
			msg := fmt.Sprintf(`{"type": "task_update", "task_id": %q, "seq": %d, "ts": %d}`, sub.TaskID, i, time.Now().UnixNano())
			if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
				return
			}
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"seq": %d, "ts": %d}`, frames-1, time.Now().UnixNano())))
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"type": "hello"}`))
		_, _, _ = c.ReadMessage() // until the client closes
	}))
	t.Cleanup(srv.Close)
	return srv, &subs
}

func TestRunClients(t *testing.T) {
	t.Parallel()
	const n, frames = 20, 5
	srv, subs := frameServer(t, frames)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- RunClients(ctx, ClientConfig{
			URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Origin: srv.URL, Cookies: []string{"sessionid=a", "sessionid=b"},
			N: n, Offset: 100, Group: "g", Each: true, Concurrency: 4, Progress: 20 * time.Millisecond,
		}, pw)
		_ = pw.Close()
	}()
	var final *ClientReport
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		var l Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("bad line %q: %v", sc.Text(), err)
		}
		if l.Type == "progress" && l.Received == n*(frames+1) && l.Primed == n {
			cancel()
		}
		if l.Type == "report" {
			final = l.Report
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if final == nil {
		t.Fatal("no report line")
	}
	if final.Connected != n || final.Failed != 0 {
		t.Errorf("connected %d failed %d (%s)", final.Connected, final.Failed, final.FirstError)
	}
	if final.Received != n*(frames+1) || final.OutOfOrder != n || final.Other != n || final.Primed != n {
		t.Errorf("received %d out-of-order %d other %d primed %d", final.Received, final.OutOfOrder, final.Other, final.Primed)
	}
	if final.Latency.Count() != final.Received || final.Handshake.Count() != n {
		t.Errorf("latency count %d handshake count %d", final.Latency.Count(), final.Handshake.Count())
	}
	for i := range n {
		if _, ok := subs.Load(fmt.Sprintf("g%d", 100+i)); !ok {
			t.Errorf("no subscribe for g%d", 100+i)
		}
	}
}

func TestRunClientsRefused(t *testing.T) {
	t.Parallel()
	srv, _ := frameServer(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	go func() {
		_ = RunClients(ctx, ClientConfig{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Origin: srv.URL,
			Cookies: []string{"other=1"}, N: 3, Group: "g"}, pw)
		_ = pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		var l Line
		_ = json.Unmarshal(sc.Bytes(), &l)
		if l.Type == "connected" {
			if l.Connected != 0 || l.Failed != 3 {
				t.Errorf("connected %d failed %d, want 0 and 3", l.Connected, l.Failed)
			}
			cancel()
		}
		if l.Type == "report" && !strings.Contains(l.Report.FirstError, "403") {
			t.Errorf("first error %q does not name the 403", l.Report.FirstError)
		}
	}
}

// TestRunClientsReadsWhileConnecting checks that a socket answers the
// server's pings while later sockets are still connecting: the server
// holds the second handshake until the first socket answered a ping.
func TestRunClientsReadsWhileConnecting(t *testing.T) {
	t.Parallel()
	ponged := make(chan struct{})
	var once sync.Once
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := r.Header.Get("Cookie") == "sessionid=first"
		if !first {
			select {
			case <-ponged:
			case <-time.After(5 * time.Second):
				http.Error(w, "the first socket never answered its ping", http.StatusServiceUnavailable)
				return
			}
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer func() { _ = c.Close() }()
		if first {
			c.SetPongHandler(func(string) error { once.Do(func() { close(ponged) }); return nil })
			if err := c.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second)); err != nil {
				return
			}
		}
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	go func() {
		_ = RunClients(ctx, ClientConfig{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Origin: srv.URL,
			Cookies: []string{"sessionid=first", "sessionid=second"}, N: 2, Group: "g", Concurrency: 1}, pw)
		_ = pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		var l Line
		_ = json.Unmarshal(sc.Bytes(), &l)
		if l.Type == "connected" {
			if l.Connected != 2 || l.Failed != 0 {
				t.Errorf("connected %d failed %d, want 2 and 0", l.Connected, l.Failed)
			}
			cancel()
		}
	}
}

// TestRunClientsRetry503 checks that a handshake refused with 503 is tried
// again after Retry-After when Retry503 allows it, and counted.
func TestRunClientsRetry503(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	refused := map[string]bool{}
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := !refused[r.Header.Get("Cookie")]
		refused[r.Header.Get("Cookie")] = true
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer func() { _ = c.Close() }()
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	run := func(retry int) *ClientReport {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		pr, pw := io.Pipe()
		go func() {
			_ = RunClients(ctx, ClientConfig{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Origin: srv.URL,
				Cookies: []string{fmt.Sprintf("sessionid=r%d-a", retry), fmt.Sprintf("sessionid=r%d-b", retry)}, N: 2,
				Group: "g", Retry503: retry}, pw)
			_ = pw.Close()
		}()
		var rep *ClientReport
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var l Line
			_ = json.Unmarshal(sc.Bytes(), &l)
			if l.Type == "connected" {
				cancel()
			}
			if l.Type == "report" {
				rep = l.Report
			}
		}
		return rep
	}
	if rep := run(0); rep == nil || rep.Connected != 0 || rep.Failed != 2 || rep.Retried != 0 {
		t.Errorf("without retries: %+v, want 2 failures", rep)
	}
	if rep := run(2); rep == nil || rep.Connected != 2 || rep.Failed != 0 || rep.Retried != 2 {
		t.Errorf("with retries: %+v, want 2 connected after 2 retries", rep)
	}
}

// TestRunClientsServerCloses checks how sockets the server ends during the
// run are counted: with a close frame (closed_by_server, its code in
// close_error) or without one (dropped, drop_error); and that sockets we
// close at the end count as neither.
func TestRunClientsServerCloses(t *testing.T) {
	t.Parallel()
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer func() { _ = c.Close() }()
		if _, _, err := c.ReadMessage(); err != nil { // the subscribe
			return
		}
		switch r.Header.Get("Cookie") {
		case "sessionid=close":
			_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4003, "denied"), time.Now().Add(time.Second))
			_, _, _ = c.ReadMessage() // our close reply
		case "sessionid=drop":
			_ = c.NetConn().Close() // no close frame
		default:
			_, _, _ = c.ReadMessage() // until the client closes
		}
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	go func() {
		_ = RunClients(ctx, ClientConfig{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Origin: srv.URL,
			Cookies: []string{"sessionid=close", "sessionid=drop", "sessionid=stay"}, N: 6, Group: "g",
			Progress: 20 * time.Millisecond}, pw)
		_ = pw.Close()
	}()
	var rep *ClientReport
	sc := bufio.NewScanner(pr)
	stopAt := time.Time{}
	for sc.Scan() {
		var l Line
		_ = json.Unmarshal(sc.Bytes(), &l)
		switch {
		case l.Type == "connected":
			stopAt = time.Now().Add(300 * time.Millisecond) // time for the server's closes to arrive
		case l.Type == "progress" && !stopAt.IsZero() && time.Now().After(stopAt):
			cancel()
		case l.Type == "report":
			rep = l.Report
		}
	}
	if rep == nil {
		t.Fatal("no report")
	}
	if rep.Connected != 6 || rep.ClosedByServer != 2 || rep.Dropped != 2 {
		t.Errorf("connected %d closed by server %d dropped %d, want 6, 2 and 2", rep.Connected, rep.ClosedByServer, rep.Dropped)
	}
	if !strings.Contains(rep.CloseError, "4003") || !strings.Contains(rep.CloseError, "denied") {
		t.Errorf("close error %q, want the server's 4003 denied", rep.CloseError)
	}
	if rep.DropError == "" {
		t.Error("no drop error")
	}
}
