package devserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	_ "embed" // schema.sql
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/laurel-server/laurel/channelsproto"
	"github.com/laurel-server/laurel/djangoauth"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// schemaSQL is what `manage.py migrate` of django.contrib.auth,
// contenttypes and sessions creates in SQLite, generated from real Django by
// compat_tests/browser/gen_devserver_files.py.
//
//go:embed schema.sql
var schemaSQL string

// Django names reproduced when writing sessions (Django 4.2–6.x).
const (
	// SessionSalt is the signing salt of
	// django.contrib.sessions.backends.db.SessionStore:
	// "django.contrib.sessions." + the class's __qualname__.
	SessionSalt = "django.contrib.sessions.SessionStore"
	// ModelBackend is the auth backend recorded in the session.
	ModelBackend = "django.contrib.auth.backends.ModelBackend"
	// sessionKeyChars is SessionBase's VALID_KEY_CHARS.
	sessionKeyChars = "abcdefghijklmnopqrstuvwxyz0123456789"
	// djangoTime is how Django's SQLite backend stores a UTC datetime
	// (str() of a naive datetime with microseconds).
	djangoTime = "2006-01-02 15:04:05.000000"
)

// ErrBadCredentials is returned by Database.CheckCredentials when the
// username does not exist, the user is inactive or the password is wrong.
var ErrBadCredentials = errors.New("devserver: invalid username or password")

// User is a row of auth_user.
type User struct {
	// ID is the primary key.
	ID int64
	// Username is the username column.
	Username string
	// Password is the encoded password hash (pbkdf2_sha256$...).
	Password string
}

// Database is a SQLite file holding Django's auth and session tables. It is
// safe for concurrent use.
type Database struct {
	db     *sql.DB
	path   string
	secret string
	now    func() time.Time
	// iterations is the PBKDF2 iteration count for new users; tests lower it.
	iterations int

	// verified remembers, per encoded hash, the SHA-256 of a password
	// already checked against it, so that signing in again (and signing in
	// as the user just created) does not pay the PBKDF2 cost again.
	mu       sync.Mutex
	verified map[string][32]byte
}

// OpenDatabase opens (creating it and its directory when missing) the SQLite
// file at path and creates Django's auth, contenttypes and sessions tables
// when django_session does not exist yet. secretKey is the SECRET_KEY that
// signs sessions and session auth hashes. Cancelling ctx abandons the schema
// creation.
func OpenDatabase(ctx context.Context, path, secretKey string) (_ *Database, err error) {
	if secretKey == "" {
		return nil, errors.New("devserver: empty secret key")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("devserver: database path: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("devserver: database directory: %w", err)
	}
	dsn := (&url.URL{Scheme: "file", Path: abs, RawQuery: "_pragma=busy_timeout(5000)"}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("devserver: open %s: %w", abs, err)
	}
	d := &Database{db: db, path: abs, secret: secretKey, now: time.Now, iterations: PBKDF2Iterations}
	defer func() {
		if err != nil {
			_ = db.Close()
		}
	}()
	var n int
	if err := db.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'django_session'`).Scan(&n); err != nil {
		return nil, fmt.Errorf("devserver: %s: %w", abs, err)
	}
	if n == 0 {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("devserver: %s: %w", abs, err)
		}
		if _, err := tx.ExecContext(ctx, schemaSQL); err != nil {
			_ = tx.Rollback()
			return nil, fmt.Errorf("devserver: creating Django's tables in %s: %w", abs, err)
		}
		if err := tx.Commit(); err != nil {
			return nil, fmt.Errorf("devserver: creating Django's tables in %s: %w", abs, err)
		}
	}
	return d, nil
}

// Path returns the absolute path of the SQLite file.
func (d *Database) Path() string { return d.path }

// Close closes the database.
func (d *Database) Close() error { return d.db.Close() }

// EnsureUser returns the user named username, creating it (active, not staff)
// with password hashed by MakePassword when it does not exist. An existing
// user is returned unchanged, whatever its password.
func (d *Database) EnsureUser(ctx context.Context, username, password string) (User, error) {
	u, err := d.user(ctx, username)
	if err == nil {
		return u, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return User{}, err
	}
	hash := MakePassword(password, NewSalt(), d.iterations)
	now := d.now().UTC().Format(djangoTime)
	_, err = d.db.ExecContext(ctx, `INSERT INTO "auth_user" ("password", "last_login", "is_superuser", "username",
		"last_name", "email", "is_staff", "is_active", "date_joined", "first_name")
		VALUES (?, NULL, 0, ?, '', '', 0, 1, ?, '')`, hash, username, now)
	if err != nil {
		return User{}, fmt.Errorf("devserver: creating user %q: %w", username, err)
	}
	d.remember(hash, password)
	return d.user(ctx, username)
}

func (d *Database) user(ctx context.Context, username string) (User, error) {
	var u User
	err := d.db.QueryRowContext(ctx, `SELECT "id", "username", "password" FROM "auth_user" WHERE "username" = ?`,
		username).Scan(&u.ID, &u.Username, &u.Password)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		err = fmt.Errorf("devserver: reading user %q: %w", username, err)
	}
	return u, err
}

// CheckCredentials is what ModelBackend.authenticate decides for an active
// user with a pbkdf2_sha256 password: the user, or ErrBadCredentials.
func (d *Database) CheckCredentials(ctx context.Context, username, password string) (User, error) {
	var (
		u      User
		active bool
	)
	err := d.db.QueryRowContext(ctx, `SELECT "id", "username", "password", "is_active" FROM "auth_user" WHERE "username" = ?`,
		username).Scan(&u.ID, &u.Username, &u.Password, &active)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, fmt.Errorf("devserver: reading user %q: %w", username, err)
	}
	if !active || !d.checkPassword(password, u.Password) {
		return User{}, ErrBadCredentials
	}
	return u, nil
}

// checkPassword is CheckPassword with a memory of successful checks.
func (d *Database) checkPassword(password, encoded string) bool {
	sum := sha256.Sum256([]byte(password))
	d.mu.Lock()
	known, ok := d.verified[encoded]
	d.mu.Unlock()
	if ok && subtle.ConstantTimeCompare(known[:], sum[:]) == 1 {
		return true
	}
	if !CheckPassword(password, encoded) {
		return false
	}
	d.remember(encoded, password)
	return true
}

func (d *Database) remember(encoded, password string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.verified == nil {
		d.verified = map[string][32]byte{}
	}
	d.verified[encoded] = sha256.Sum256([]byte(password))
}

// SessionData returns the session_data Django's db SessionStore saves after
// django.contrib.auth.login(request, u) with ModelBackend: signing.dumps of
// {"_auth_user_id": "<id>", "_auth_user_backend": ModelBackend,
// "_auth_user_hash": <session auth hash>} (in that order) with the JSON
// serializer, compress=True and the salt SessionSalt.
func (d *Database) SessionData(u User) (string, error) {
	sess := channelsproto.Map{
		{Key: "_auth_user_id", Value: fmt.Sprint(u.ID)},
		{Key: "_auth_user_backend", Value: ModelBackend},
		{Key: "_auth_user_hash", Value: djangoauth.SessionAuthHash(u.Password, d.secret)},
	}
	return djangoauth.Dumps(sess, d.secret, SessionSalt, true)
}

// CreateSession signs u in the way django.contrib.auth.login does with the
// db session engine: it inserts a django_session row with a new 32-character
// session key, SessionData(u) and an expire_date age from now, and sets
// last_login. It returns the session key, the value of the sessionid cookie.
func (d *Database) CreateSession(ctx context.Context, u User, age time.Duration) (string, error) {
	data, err := d.SessionData(u)
	if err != nil {
		return "", fmt.Errorf("devserver: signing session: %w", err)
	}
	now := d.now().UTC()
	key := RandomString(32, sessionKeyChars)
	if _, err := d.db.ExecContext(ctx,
		`INSERT INTO "django_session" ("session_key", "session_data", "expire_date") VALUES (?, ?, ?)`,
		key, data, now.Add(age).Format(djangoTime)); err != nil {
		return "", fmt.Errorf("devserver: saving session: %w", err)
	}
	if _, err := d.db.ExecContext(ctx, `UPDATE "auth_user" SET "last_login" = ? WHERE "id" = ?`,
		now.Format(djangoTime), u.ID); err != nil {
		return "", fmt.Errorf("devserver: updating last_login: %w", err)
	}
	return key, nil
}

// DeleteSession deletes a session row, as logout does (flush). Deleting a
// missing session is not an error.
func (d *Database) DeleteSession(ctx context.Context, key string) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM "django_session" WHERE "session_key" = ?`, key); err != nil {
		return fmt.Errorf("devserver: deleting session: %w", err)
	}
	return nil
}
