package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// StackOptions says how to start compat_tests/bench/stack.py.
type StackOptions struct {
	// Root is the repository root; Python is the interpreter with Django,
	// Channels and Daphne (Root/.venv/bin/python when empty).
	Root   string
	Python string
	// LaurelBin is the laurel binary to serve with.
	LaurelBin string
	// DB is "sqlite" or "postgres".
	DB string
	// Backend is the channel layer both servers use: BackendCore or
	// BackendPubSub. Zero value means BackendCore.
	Backend string
	// Keep leaves stack.py's temporary directory (server logs, settings,
	// database) in place after Close.
	Keep bool
	// LaurelArgs are extra arguments to every `laurel serve` (e.g. --pprof).
	LaurelArgs []string
	// GroupMembership is laurel's group membership mode
	// (`laurel serve --group-membership`): MembershipSocket or
	// MembershipProcess. Zero value means MembershipSocket, laurel's default,
	// and passes no flag. Daphne has no such mode: it is unaffected.
	GroupMembership string
	// Users and Sessions: sessions are spread over users round robin.
	Users, Sessions int
	// LaurelProcs is the number of laurel processes sharing the port.
	// Zero value means 1.
	LaurelProcs int
	// Log receives stack.py's stderr. Nil means os.Stderr.
	Log io.Writer
}

// Channel layer backends (StackOptions.Backend): channels_redis'
// RedisChannelLayer and RedisPubSubChannelLayer.
const (
	BackendCore   = "core"
	BackendPubSub = "pubsub"
)

// laurel's group membership modes (StackOptions.GroupMembership): each
// socket's channel is a member of its groups in Redis, as under Daphne; or
// one channel per laurel process and group is, and laurel hands each message
// to its local subscribers.
const (
	MembershipSocket  = "socket"
	MembershipProcess = "process"
)

// Server is one server under test as stack.py describes it.
type Server struct {
	Name    string   `json:"-"`
	Port    int      `json:"port"`
	PIDs    []int    `json:"pids"`
	Metrics []string `json:"metrics"`
	Log     string   `json:"log"`
}

// URL is the WebSocket URL of path on s.
func (s *Server) URL(path string) string { return fmt.Sprintf("ws://127.0.0.1:%d%s", s.Port, path) }

// Origin is the Origin header a browser on s's page sends.
func (s *Server) Origin() string { return fmt.Sprintf("http://127.0.0.1:%d", s.Port) }

// Stack is a running stack.py: Redis, Daphne and laurel.
type Stack struct {
	Dir      string `json:"dir"`
	RedisURL string `json:"redis_url"`
	RedisPID int    `json:"redis_pid"`
	// PGPID is the PostgreSQL postmaster's pid (DB "postgres"), else 0.
	PGPID       int    `json:"pg_pid"`
	CookiesPath string `json:"cookies"`
	Users       []int  `json:"users"`
	DB          string `json:"db"`
	Backend     string `json:"backend"`
	// GroupMembership is laurel's mode (StackOptions.GroupMembership, never
	// empty once started).
	GroupMembership string  `json:"-"`
	Daphne          *Server `json:"daphne"`
	Laurel          *Server `json:"laurel"`

	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// stackArgs are stack.py's arguments for o, its defaults applied: laurel's
// group membership mode becomes a --group-membership flag of laurel serve.
func (o StackOptions) stackArgs() ([]string, error) {
	laurelArgs := slices.Clone(o.LaurelArgs)
	switch o.GroupMembership {
	case MembershipSocket:
	case MembershipProcess:
		laurelArgs = append(laurelArgs, "--group-membership="+MembershipProcess)
	default:
		return nil, fmt.Errorf("%w: group membership %q: want %q or %q", ErrStack, o.GroupMembership, MembershipSocket, MembershipProcess)
	}
	args := []string{filepath.Join(o.Root, "compat_tests", "bench", "stack.py"), "--db", o.DB,
		"--users", fmt.Sprint(o.Users), "--sessions", fmt.Sprint(o.Sessions),
		"--laurel-bin", o.LaurelBin, "--laurel-procs", fmt.Sprint(o.LaurelProcs), "--backend", o.Backend}
	if o.Keep {
		args = append(args, "--keep")
	}
	for _, a := range laurelArgs {
		args = append(args, "--laurel-arg="+a)
	}
	return args, nil
}

// StartStack runs stack.py and waits for its description line. Close
// stops it.
func StartStack(ctx context.Context, o StackOptions) (*Stack, error) {
	if o.Python == "" {
		o.Python = filepath.Join(o.Root, ".venv", "bin", "python")
	}
	if o.LaurelProcs == 0 {
		o.LaurelProcs = 1
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
	if o.Backend == "" {
		o.Backend = BackendCore
	}
	if o.GroupMembership == "" {
		o.GroupMembership = MembershipSocket
	}
	args, err := o.stackArgs()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.Python, args...) //nolint:gosec // the venv's python running stack.py
	cmd.Stderr = o.Log
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStack, err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var line string
	var ok bool
	select {
	case line, ok = <-lines:
	case <-ctx.Done():
	case <-time.After(10 * time.Minute):
	}
	if !ok {
		_ = stdin.Close()
		_ = cmd.Wait()
		return nil, fmt.Errorf("%w: stack.py gave no description (see its output above)", ErrStack)
	}
	s := &Stack{cmd: cmd, stdin: stdin, GroupMembership: o.GroupMembership}
	if err := json.Unmarshal([]byte(line), s); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("%w: %w", ErrStack, err)
	}
	if s.Daphne != nil {
		s.Daphne.Name = "daphne"
	}
	if s.Laurel != nil {
		s.Laurel.Name = "laurel"
	}
	return s, nil
}

// Cookies reads the Cookie header values stack.py created.
func (s *Stack) Cookies() ([]string, error) {
	b, err := os.ReadFile(s.CookiesPath)
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(b)), nil
}

// Close stops the stack and waits for it.
func (s *Stack) Close() error {
	_ = s.stdin.Close()
	return s.cmd.Wait()
}
