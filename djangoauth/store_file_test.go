package djangoauth

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// envelopeFor returns the db-salt envelope real Django produced for the
// fixture dict whose keys are exactly keys.
func envelopeFor(t testing.TB, keys ...string) string {
	t.Helper()
	var fx struct {
		Envelopes []struct {
			Class   string         `json:"class"`
			Dict    map[string]any `json:"dict"`
			Encoded string         `json:"encoded"`
		} `json:"envelopes"`
	}
	loadFixture(t, "sessions.json", &fx)
next:
	for _, e := range fx.Envelopes {
		if e.Class != "SessionStore" || e.Encoded == "" || len(e.Dict) != len(keys) {
			continue
		}
		for _, k := range keys {
			if _, ok := e.Dict[k]; !ok {
				continue next
			}
		}
		return e.Encoded
	}
	t.Fatalf("no envelope with keys %v", keys)
	return ""
}

func TestFileEngine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := envelopeFor(t, "_auth_user_id", "_auth_user_backend", "_auth_user_hash")
	withExpiry := envelopeFor(t, "_auth_user_id", "_auth_user_backend", "_auth_user_hash", "_session_expiry", "cart")
	now := time.Now()
	age := 1209600 * time.Second
	write := func(key, content string, mtime time.Time) {
		p := filepath.Join(dir, "laurel_sid"+key)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	write("freshsession0000000000000000000a", s, now)
	write("oldsession00000000000000000000ab", s, now.Add(-age-2*time.Second))
	write("intexpiry000000000000000000000ac", withExpiry, now.Add(-age-time.Hour))
	write("tampered0000000000000000000000ad", s+"x", now)
	write("emptyfile000000000000000000000ae", "", now)
	write("UPPERCASE00000000000000000000000", s, now)
	a, _ := sqliteAuthenticator(t, func(c *Config) {
		c.SessionEngine = EngineFile
		c.SessionFilePath = dir
		c.SessionCookieName = "laurel_sid"
	})
	tests := map[string]Reason{
		"freshsession0000000000000000000a": ReasonOK,
		"oldsession00000000000000000000ab": ReasonExpired,
		"intexpiry000000000000000000000ac": ReasonOK, // an int _session_expiry is an age: never expired at load
		"tampered0000000000000000000000ad": ReasonBadSignature,
		"emptyfile000000000000000000000ae": ReasonNoSession,
		"UPPERCASE00000000000000000000000": ReasonNoSession, // InvalidSessionKey
		"missing0000000000000000000000000": ReasonNoSession,
		"../../etc/passwd":                 ReasonNoSession,
	}
	ctx := context.Background()
	for key, want := range tests {
		if got := a.Authenticate(ctx, "laurel_sid="+key); got.Reason != want {
			t.Errorf("%s: got %+v, want %s", key, got, want)
		}
	}
	if err := a.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestSignedCookiesEngine(t *testing.T) {
	t.Parallel()
	var fx struct {
		SignedCookies []struct {
			Dict   map[string]any `json:"dict"`
			Cookie string         `json:"cookie"`
			TS     int64          `json:"ts"`
		} `json:"signed_cookies"`
	}
	loadFixture(t, "sessions.json", &fx)
	ctx := context.Background()
	for _, c := range fx.SignedCookies {
		if len(c.Dict) != 3 {
			continue
		}
		for _, tc := range []struct {
			now  int64
			want Reason
		}{{c.TS + 10, ReasonOK}, {c.TS + 1209601, ReasonExpired}} {
			a, _ := sqliteAuthenticator(t, func(cfg *Config) { cfg.SessionEngine = EngineSignedCookies })
			a.store.(*signedCookieStore).codec.signer.now = fixedClock(tc.now)
			if got := a.Authenticate(ctx, "sessionid="+c.Cookie); got.Reason != tc.want {
				t.Errorf("now=%d: got %+v, want %s", tc.now, got, tc.want)
			}
		}
		a, _ := sqliteAuthenticator(t, func(cfg *Config) { cfg.SessionEngine = EngineSignedCookies })
		if got := a.Authenticate(ctx, "sessionid="+c.Cookie[:len(c.Cookie)-1]+"A"); got.Reason != ReasonBadSignature && c.Cookie[len(c.Cookie)-1] != 'A' {
			t.Errorf("tampered: %+v", got)
		}
		return
	}
	t.Fatal("no signed cookie for S in fixture")
}
