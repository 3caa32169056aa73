package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/laurel-server/laurel/djangoauth"
	"github.com/laurel-server/laurel/internal/config"
)

// errNotAuthenticated makes check-session exit 1 after printing a verdict.
var errNotAuthenticated = fmt.Errorf("session not authenticated")

func runCheckSession(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("check-session", flag.ContinueOnError)
	fs.SetOutput(io.stderr)
	cfgPath := fs.String("config", "", "TOML configuration file")
	cookie := fs.String("cookie", "", "the session cookie's value, or a whole Cookie header (name=value; ...)")
	key := fs.String("session-key", "", "a session key, looked up directly in the session store")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if (*cookie == "") == (*key == "") || fs.NArg() > 0 {
		return fmt.Errorf("%w: give exactly one of --cookie and --session-key", errUsage)
	}
	s, err := config.Load(*cfgPath, io.environ)
	if err != nil {
		return err
	}
	djJSON, err := s.DjangoJSON()
	if err != nil {
		return err
	}
	cfg, err := djangoauth.FromSettings(djJSON)
	if err != nil {
		return err
	}
	cfg.VerdictTTL = -1 // always ask the store
	log := newLogger(io.stderr, config.Laurel{LogLevel: "warn"})
	a, err := djangoauth.New(cfg, djangoauth.WithLogger(log))
	if err != nil {
		return err
	}
	defer func() { _ = a.Close() }()
	var v djangoauth.Verdict
	if *key != "" {
		v = a.VerdictForSessionKey(ctx, *key)
	} else {
		header := *cookie
		if !strings.Contains(header, "=") {
			name := cfg.SessionCookieName
			if name == "" {
				name = "sessionid"
			}
			header = name + "=" + header
		}
		v = a.Authenticate(ctx, header)
	}
	verdict := "anonymous"
	if v.Authenticated {
		verdict = "authenticated"
	}
	_, _ = fmt.Fprintf(io.stdout, "verdict: %s\nreason: %s\n", verdict, v.Reason)
	if v.Authenticated {
		_, _ = fmt.Fprintf(io.stdout, "user_id: %s\nusername: %s\nis_staff: %t\nis_superuser: %t\n",
			v.UserID, v.Username, v.IsStaff, v.IsSuperuser)
		return nil
	}
	return errNotAuthenticated
}
