package djangoauth

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

type dbScenario struct {
	Name          string `json:"name"`
	SessionKey    string `json:"session_key"`
	Reason        Reason `json:"reason"`
	Authenticated bool   `json:"authenticated"`
	UserID        string `json:"user_id"`
	Username      string `json:"username"`
	IsStaff       bool   `json:"is_staff"`
	IsSuperuser   bool   `json:"is_superuser"`
	DjangoError   string `json:"django_error"`
}

type dbFixture struct {
	Settings  map[string]any `json:"settings"`
	Scenarios []dbScenario   `json:"scenarios"`
}

// copySQLite copies the Django-generated database into a temp dir (laurel
// opens it read-only, but tests must never touch testdata).
func copySQLite(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "django.sqlite3"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "django.sqlite3")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func sqliteAuthenticator(t testing.TB, mutate func(*Config)) (*Authenticator, dbFixture) {
	t.Helper()
	var fx dbFixture
	loadFixture(t, "db_scenarios.json", &fx)
	cfg := Config{
		SecretKey:              testSecret,
		SecretKeyFallbacks:     []string{testOldKey},
		UseTZ:                  true,
		AuthenticationBackends: []string{"django.contrib.auth.backends.ModelBackend", "django.contrib.auth.backends.AllowAllUsersModelBackend"},
		Database:               DatabaseConfig{Engine: "django.db.backends.sqlite3", Name: copySQLite(t)},
		VerdictTTL:             -1,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	a, err := New(cfg, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a, fx
}

func checkVerdict(t *testing.T, got Verdict, sc dbScenario) {
	t.Helper()
	want := Verdict{Authenticated: sc.Authenticated, UserID: sc.UserID, Username: sc.Username, IsStaff: sc.IsStaff, IsSuperuser: sc.IsSuperuser, Reason: sc.Reason}
	got.Cached = false
	if got != want {
		t.Fatalf("%s: got %+v, want %+v", sc.Name, got, want)
	}
}

// TestSQLiteScenarios replays the get_user scenarios of
// gen_djangoauth_fixtures.py: "authenticated", "user_id", "username" and the
// flags are real Django's answers on the same database.
func TestSQLiteScenarios(t *testing.T) {
	t.Parallel()
	a, fx := sqliteAuthenticator(t, nil)
	if len(fx.Scenarios) < 20 {
		t.Fatalf("only %d scenarios", len(fx.Scenarios))
	}
	ctx := context.Background()
	for _, sc := range fx.Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			checkVerdict(t, a.VerdictForSessionKey(ctx, sc.SessionKey), sc)
			checkVerdict(t, a.Authenticate(ctx, "csrftoken=x; sessionid="+sc.SessionKey+"; other=y"), sc)
		})
	}
}

func TestSQLiteNoFallbacks(t *testing.T) {
	t.Parallel()
	a, fx := sqliteAuthenticator(t, func(c *Config) { c.SecretKeyFallbacks = nil })
	want := map[string]Reason{"fallback_signed": ReasonBadSignature, "fallback_hash": ReasonHashMismatch, "valid": ReasonOK}
	for _, sc := range fx.Scenarios {
		if r, ok := want[sc.Name]; ok {
			if got := a.VerdictForSessionKey(context.Background(), sc.SessionKey); got.Reason != r {
				t.Errorf("%s: got %s, want %s", sc.Name, got.Reason, r)
			}
		}
	}
}

func TestAuthenticateCookieHandling(t *testing.T) {
	t.Parallel()
	a, fx := sqliteAuthenticator(t, nil)
	var valid string
	for _, sc := range fx.Scenarios {
		if sc.Name == "valid" {
			valid = sc.SessionKey
		}
	}
	ctx := context.Background()
	tests := []struct {
		name   string
		header string
		want   Reason
	}{
		{"no header", "", ReasonNoCookie},
		{"other cookies", "a=b; c=d", ReasonNoCookie},
		{"last duplicate wins", "sessionid=" + valid + "; sessionid=nosuchkey12345", ReasonNoSession},
		{"last duplicate wins ok", "sessionid=nosuchkey12345; sessionid=" + valid, ReasonOK},
		{"quoted", `sessionid="` + valid + `"`, ReasonOK},
		{"spaces", "  sessionid =  " + valid + "  ", ReasonOK},
		{"empty", "sessionid=", ReasonNoSession},
		{"short", "sessionid=1234567", ReasonNoSession},
	}
	for _, tc := range tests {
		if got := a.Authenticate(ctx, tc.header); got.Reason != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got.Reason, tc.want)
		}
	}
}
