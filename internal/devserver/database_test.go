package devserver

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/laurel-server/laurel/djangoauth"
)

const testSecret = "django-insecure-test-secret-key-for-devserver-tests"

// openTestDB opens a fresh database whose new users get cheap hashes.
func openTestDB(t *testing.T) *Database {
	t.Helper()
	d, err := OpenDatabase(context.Background(), filepath.Join(t.TempDir(), "sub", "db.sqlite3"), testSecret)
	if err != nil {
		t.Fatal(err)
	}
	d.iterations = 1000
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// testAuthenticator is the real djangoauth Authenticator laurel would use on
// the database, with the verdict cache off.
func testAuthenticator(t *testing.T, d *Database) *djangoauth.Authenticator {
	t.Helper()
	a, err := djangoauth.New(djangoauth.Config{
		SecretKey:  testSecret,
		Database:   djangoauth.DatabaseConfig{Engine: "django.db.backends.sqlite3", Name: d.Path()},
		UseTZ:      true,
		VerdictTTL: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func TestDatabaseUsers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := openTestDB(t)
	u, err := d.EnsureUser(ctx, "demo", "demo")
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != 1 || u.Username != "demo" || !CheckPassword("demo", u.Password) {
		t.Fatalf("EnsureUser = %+v", u)
	}
	again, err := d.EnsureUser(ctx, "demo", "other password")
	if err != nil {
		t.Fatal(err)
	}
	if again != u {
		t.Fatalf("second EnsureUser changed the user: %+v, was %+v", again, u)
	}

	tests := []struct {
		name, username, password string
		wantErr                  error
	}{
		{name: "right", username: "demo", password: "demo"},
		{name: "wrong password", username: "demo", password: "Demo", wantErr: ErrBadCredentials},
		{name: "unknown user", username: "nobody", password: "demo", wantErr: ErrBadCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.CheckCredentials(ctx, tc.username, tc.password)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("CheckCredentials error = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && got != u {
				t.Fatalf("CheckCredentials = %+v, want %+v", got, u)
			}
		})
	}

	// A second process (fresh memory) verifies with PBKDF2 itself.
	d2, err := OpenDatabase(ctx, d.Path(), testSecret)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if _, err := d2.CheckCredentials(ctx, "demo", "demo"); err != nil {
		t.Fatalf("reopened database: %v", err)
	}
	if _, err := d2.CheckCredentials(ctx, "demo", "nope"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("reopened database, wrong password: %v", err)
	}
	if _, err := d2.db.ExecContext(ctx, `UPDATE auth_user SET is_active = 0`); err != nil {
		t.Fatal(err)
	}
	if _, err := d2.CheckCredentials(ctx, "demo", "demo"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("inactive user: %v", err)
	}
}

func TestSessionsAuthenticateWithDjangoauth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := openTestDB(t)
	u, err := d.EnsureUser(ctx, "demo", "demo")
	if err != nil {
		t.Fatal(err)
	}
	auth := testAuthenticator(t, d)

	key, err := d.CreateSession(ctx, u, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != 32 {
		t.Fatalf("session key %q is not 32 characters", key)
	}
	v := auth.Authenticate(ctx, "csrftoken=x; sessionid="+key)
	if !v.Authenticated || v.UserID != "1" || v.Username != "demo" {
		t.Fatalf("verdict for a new session = %+v", v)
	}

	data, err := d.SessionData(u)
	if err != nil {
		t.Fatal(err)
	}
	got, err := djangoauth.Loads(data, testSecret, nil, SessionSalt, 0)
	if err != nil {
		t.Fatal(err)
	}
	m := got.(map[string]any)
	if m["_auth_user_id"] != "1" || m["_auth_user_backend"] != ModelBackend ||
		m["_auth_user_hash"] != djangoauth.SessionAuthHash(u.Password, testSecret) {
		t.Fatalf("session data = %v", m)
	}

	if err := d.DeleteSession(ctx, key); err != nil {
		t.Fatal(err)
	}
	if v := auth.Authenticate(ctx, "sessionid="+key); v.Authenticated {
		t.Fatalf("deleted session still authenticates: %+v", v)
	}

	expired, err := d.CreateSession(ctx, u, -time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if v := auth.Authenticate(ctx, "sessionid="+expired); v.Authenticated {
		t.Fatalf("expired session authenticates: %+v", v)
	}
}

func TestOpenDatabaseIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db.sqlite3")
	for i := range 2 {
		d, err := OpenDatabase(ctx, path, testSecret)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		var n int
		if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM django_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 15 {
			t.Fatalf("open %d: %d django_migrations rows, want the 15 of auth, contenttypes and sessions", i, n)
		}
		_ = d.Close()
	}
	if _, err := OpenDatabase(ctx, path, ""); err == nil {
		t.Fatal("empty secret key accepted")
	}
}
