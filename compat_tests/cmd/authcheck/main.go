// Command authcheck lets the Python compat suite ask djangoauth for verdicts.
//
//	authcheck --settings settings.json
//
// It reads one JSON object per stdin line and writes one JSON line per input:
//
//	{"cookie": "<raw Cookie header>"}      → {"authenticated":…,"user_id":…,"username":…,"is_staff":…,"is_superuser":…,"reason":…}
//	{"session_key": "…"}                   → the same shape
//	{"origin": ["…"], "allowed_hosts": […], "debug": false} → {"origin_allowed": bool}
//
// Strings whose characters are all below U+0100 are passed on as latin-1
// bytes (what an ASGI server receives). "origin" null or absent means no
// Origin header; "allowed_hosts" absent means the settings' ALLOWED_HOSTS
// and DEBUG. All logic lives in package djangoauth.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/laurel-server/laurel/djangoauth"
)

type request struct {
	Cookie       *string   `json:"cookie"`
	SessionKey   *string   `json:"session_key"`
	Origin       []string  `json:"origin"`
	AllowedHosts *[]string `json:"allowed_hosts"`
	Debug        *bool     `json:"debug"`
}

type verdictOut struct {
	Authenticated bool   `json:"authenticated"`
	UserID        string `json:"user_id"`
	Username      string `json:"username"`
	IsStaff       bool   `json:"is_staff"`
	IsSuperuser   bool   `json:"is_superuser"`
	Reason        string `json:"reason"`
}

func main() {
	settings := flag.String("settings", "", "path to the JSON form of the Django settings")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *settings, os.Stdin, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "authcheck:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, settingsPath string, in io.Reader, out io.Writer) error {
	if settingsPath == "" {
		return errors.New("--settings is required")
	}
	raw, err := os.ReadFile(settingsPath)
	if err != nil {
		return err
	}
	cfg, err := djangoauth.FromSettings(raw)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := djangoauth.New(cfg, djangoauth.WithLogger(logger))
	if err != nil {
		return err
	}
	defer a.Close()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var req request
		var resp any
		switch {
		case json.Unmarshal(sc.Bytes(), &req) != nil:
			resp = map[string]string{"error": "input line is not a JSON object"}
		case req.Cookie != nil:
			resp = toOut(a.Authenticate(ctx, latin1(*req.Cookie)))
		case req.SessionKey != nil:
			resp = toOut(a.VerdictForSessionKey(ctx, latin1(*req.SessionKey)))
		default:
			v := a.OriginValidator()
			if req.AllowedHosts != nil {
				v = djangoauth.NewOriginValidator(*req.AllowedHosts, req.Debug != nil && *req.Debug)
			}
			hs := make([]string, len(req.Origin))
			for i, o := range req.Origin {
				hs[i] = latin1(o)
			}
			resp = map[string]bool{"origin_allowed": v.Allow(hs)}
		}
		if err := enc.Encode(resp); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	return sc.Err()
}

func toOut(v djangoauth.Verdict) verdictOut {
	return verdictOut{Authenticated: v.Authenticated, UserID: v.UserID, Username: v.Username,
		IsStaff: v.IsStaff, IsSuperuser: v.IsSuperuser, Reason: string(v.Reason)}
}

// latin1 returns s as latin-1 bytes when every character fits, else s.
func latin1(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			return s
		}
		b = append(b, byte(r)) //nolint:gosec // r <= 0xff, checked above
	}
	return string(b)
}
