package djangoauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// ErrSettings reports an invalid or unsupported setting; the message names
// the setting key.
var ErrSettings = errors.New("djangoauth: bad setting")

// Session engines laurel understands, named as in SESSION_ENGINE.
const (
	EngineDB            = "django.contrib.sessions.backends.db"
	EngineCache         = "django.contrib.sessions.backends.cache"
	EngineCachedDB      = "django.contrib.sessions.backends.cached_db"
	EngineFile          = "django.contrib.sessions.backends.file"
	EngineSignedCookies = "django.contrib.sessions.backends.signed_cookies"
)

// Backends whose get_user skips the is_active check.
var allowAllBackends = map[string]bool{
	"django.contrib.auth.backends.AllowAllUsersModelBackend":      true,
	"django.contrib.auth.backends.AllowAllUsersRemoteUserBackend": true,
}

// Config is the part of a Django settings module laurel needs, plus
// laurel-only options. Build it with FromSettings or fill it directly; New
// applies the documented defaults on a copy. Durations are time.Duration.
type Config struct {
	// SecretKey is SECRET_KEY. Required.
	SecretKey string
	// SecretKeyFallbacks is SECRET_KEY_FALLBACKS, tried in order after
	// SecretKey for session signatures and session auth hashes.
	SecretKeyFallbacks []string
	// SessionEngine is SESSION_ENGINE, one of the Engine* constants. Empty
	// means EngineDB.
	SessionEngine string
	// SessionCookieName is SESSION_COOKIE_NAME. Empty means "sessionid".
	SessionCookieName string
	// SessionCookieAge is SESSION_COOKIE_AGE. Zero means 1209600 s (two
	// weeks). Used as max_age by signed_cookies and for file expiry.
	SessionCookieAge time.Duration
	// SessionFilePath is SESSION_FILE_PATH. Empty means os.TempDir(), as
	// Python's tempfile.gettempdir() on the same machine.
	SessionFilePath string
	// SessionSerializer is SESSION_SERIALIZER. Empty means
	// "django.contrib.sessions.serializers.JSONSerializer"; the 4.2
	// PickleSerializer is also understood.
	SessionSerializer string
	// SessionCacheAlias is SESSION_CACHE_ALIAS. Empty means "default".
	SessionCacheAlias string
	// SessionStoreClass is the class name of the project's SessionStore,
	// which determines the signing salt "django.contrib.sessions.<class>".
	// Empty means "SessionStore" (every built-in store).
	SessionStoreClass string
	// SessionTable is the session model's table. Empty means "django_session".
	SessionTable string
	// Database is DATABASES["default"], used for db/cached_db sessions and
	// for users.
	Database DatabaseConfig
	// Caches is CACHES, keyed by alias; used by cache/cached_db sessions.
	Caches map[string]CacheConfig
	// AuthenticationBackends is AUTHENTICATION_BACKENDS. Nil means
	// ["django.contrib.auth.backends.ModelBackend"].
	AuthenticationBackends []string
	// User describes AUTH_USER_MODEL's table and columns.
	User UserConfig
	// UseTZ is USE_TZ: naive datetimes in SQLite/MySQL are UTC when true,
	// TimeZone local time when false.
	UseTZ bool
	// TimeZone is TIME_ZONE. Empty means "America/Chicago", Django's default.
	TimeZone string
	// AllowedHosts is ALLOWED_HOSTS, for the Origin check.
	AllowedHosts []string
	// Debug is DEBUG, for the Origin check's fallback list.
	Debug bool
	// VerdictTTL is how long a verdict is reused for the same session key.
	// Zero means 2 s; a negative value disables the verdict cache.
	VerdictTTL time.Duration
	// MaxOpenConns bounds each SQL connection pool. Zero means 8. On
	// SQLite there are two pools of this size: the fast one verdicts use,
	// and database/sql's, used by Ping and when a fast connection fails.
	MaxOpenConns int
}

// DatabaseConfig is one entry of DATABASES.
type DatabaseConfig struct {
	// Engine is ENGINE: django.db.backends.sqlite3, .postgresql or .mysql.
	Engine string
	// Name is NAME: the file for SQLite, the database otherwise.
	Name string
	// User, Password, Host and Port are USER, PASSWORD, HOST and PORT.
	User, Password, Host, Port string
	// Options is OPTIONS; for PostgreSQL "sslmode" and friends are passed
	// through as connection parameters. MySQL's OPTIONS (mysqlclient
	// connect arguments) are not applied.
	Options map[string]any
}

// CacheConfig is one entry of CACHES.
type CacheConfig struct {
	// Backend is BACKEND: django.core.cache.backends.redis.RedisCache or
	// django_redis.cache.RedisCache.
	Backend string
	// Location is LOCATION split into servers; reads use the first.
	Location []string
	// KeyPrefix is KEY_PREFIX.
	KeyPrefix string
	// Version is VERSION. Zero means 1.
	Version int
	// Options is OPTIONS (django-redis: SERIALIZER, COMPRESSOR, PASSWORD...).
	Options map[string]any
}

// UserConfig names AUTH_USER_MODEL's table and columns.
type UserConfig struct {
	// Table is the user table. Empty means the table Django derives from
	// AUTH_USER_MODEL ("auth.User" → "auth_user").
	Table string
	// PKColumn, PasswordColumn, UsernameColumn default to "id", "password",
	// "username".
	PKColumn, PasswordColumn, UsernameColumn string
	// ActiveColumn, StaffColumn, SuperuserColumn default to "is_active",
	// "is_staff", "is_superuser"; "-" means the model has no such column
	// (active: true, staff and superuser: false).
	ActiveColumn, StaffColumn, SuperuserColumn string
	// PKType is how _auth_user_id is converted, as the pk field's
	// to_python: "int" (AutoField/BigAutoField, the default), "uuid" or
	// "str".
	PKType string
}

// LogValue implements slog.LogValuer without secrets or passwords.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("session_engine", c.SessionEngine),
		slog.String("database_engine", c.Database.Engine),
		slog.Int("secret_key_fallbacks", len(c.SecretKeyFallbacks)),
		slog.Duration("verdict_ttl", c.VerdictTTL),
	)
}

// withDefaults returns a copy of c with defaults applied.
func (c Config) withDefaults() Config {
	c.SecretKeyFallbacks = append([]string(nil), c.SecretKeyFallbacks...)
	c.AllowedHosts = append([]string(nil), c.AllowedHosts...)
	if c.SessionEngine == "" {
		c.SessionEngine = EngineDB
	}
	if c.SessionCookieName == "" {
		c.SessionCookieName = "sessionid"
	}
	if c.SessionCookieAge == 0 {
		c.SessionCookieAge = 1209600 * time.Second
	}
	if c.SessionFilePath == "" {
		c.SessionFilePath = os.TempDir()
	}
	if c.SessionSerializer == "" {
		c.SessionSerializer = "django.contrib.sessions.serializers.JSONSerializer"
	}
	if c.SessionCacheAlias == "" {
		c.SessionCacheAlias = "default"
	}
	if c.SessionStoreClass == "" {
		c.SessionStoreClass = "SessionStore"
	}
	if c.SessionTable == "" {
		c.SessionTable = "django_session"
	}
	if c.AuthenticationBackends == nil {
		c.AuthenticationBackends = []string{"django.contrib.auth.backends.ModelBackend"}
	} else {
		c.AuthenticationBackends = append([]string(nil), c.AuthenticationBackends...)
	}
	u := &c.User
	if u.Table == "" {
		u.Table = "auth_user"
	}
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&u.PKColumn, "id")
	def(&u.PasswordColumn, "password")
	def(&u.UsernameColumn, "username")
	def(&u.ActiveColumn, "is_active")
	def(&u.StaffColumn, "is_staff")
	def(&u.SuperuserColumn, "is_superuser")
	def(&u.PKType, "int")
	if c.TimeZone == "" {
		c.TimeZone = "America/Chicago"
	}
	if c.VerdictTTL == 0 {
		c.VerdictTTL = 2 * time.Second
	}
	if c.MaxOpenConns == 0 {
		c.MaxOpenConns = 8
	}
	return c
}

// UserTableForModel returns the table Django creates for AUTH_USER_MODEL
// "app_label.ModelName" without Meta.db_table: "app_label_modelname"
// (django/db/models/options.py). Database-specific truncation of names
// longer than 63 (PostgreSQL) or 64 (MySQL) characters is not applied; set
// LAUREL_USER_TABLE for such models.
func UserTableForModel(model string) (string, error) {
	app, name, ok := strings.Cut(model, ".")
	if !ok || app == "" || name == "" || strings.Contains(name, ".") {
		return "", fmt.Errorf("%w: AUTH_USER_MODEL must be of the form 'app_label.model_name'", ErrSettings)
	}
	return app + "_" + strings.ToLower(name), nil
}

// FromSettings builds a Config from the JSON form of a Django settings
// module: an object whose keys are the setting names (SECRET_KEY,
// SECRET_KEY_FALLBACKS, SESSION_ENGINE, SESSION_COOKIE_NAME,
// SESSION_COOKIE_AGE, SESSION_FILE_PATH, SESSION_SERIALIZER,
// SESSION_CACHE_ALIAS, DATABASES, CACHES, AUTHENTICATION_BACKENDS,
// AUTH_USER_MODEL, USE_TZ, TIME_ZONE, ALLOWED_HOSTS, DEBUG) plus the
// laurel-only keys LAUREL_USER_TABLE, LAUREL_SESSION_TABLE,
// LAUREL_SESSION_STORE_CLASS, LAUREL_VERDICT_TTL (seconds; 0 disables the
// verdict cache), LAUREL_USER_PK_TYPE, and LAUREL_USER_<X>_COLUMN for X in
// PK, PASSWORD, USERNAME, ACTIVE, STAFF, SUPERUSER. Unknown keys are ignored.
// A missing key takes Django's default (USE_TZ: true, the 5.0+ default).
// A value of the wrong type fails with an error wrapping ErrSettings that
// names the key.
func FromSettings(settingsJSON []byte) (Config, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(settingsJSON))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return Config{}, fmt.Errorf("%w: settings are not a JSON object: %w", ErrSettings, err)
	}
	c := Config{UseTZ: true}
	p := settingsParser{raw: raw}
	p.str("SECRET_KEY", &c.SecretKey)
	p.strList("SECRET_KEY_FALLBACKS", &c.SecretKeyFallbacks)
	p.str("SESSION_ENGINE", &c.SessionEngine)
	p.str("SESSION_COOKIE_NAME", &c.SessionCookieName)
	p.seconds("SESSION_COOKIE_AGE", &c.SessionCookieAge)
	p.str("SESSION_FILE_PATH", &c.SessionFilePath)
	p.str("SESSION_SERIALIZER", &c.SessionSerializer)
	p.str("SESSION_CACHE_ALIAS", &c.SessionCacheAlias)
	p.strList("AUTHENTICATION_BACKENDS", &c.AuthenticationBackends)
	p.boolean("USE_TZ", &c.UseTZ)
	p.str("TIME_ZONE", &c.TimeZone)
	p.strList("ALLOWED_HOSTS", &c.AllowedHosts)
	p.boolean("DEBUG", &c.Debug)
	var model string
	p.str("AUTH_USER_MODEL", &model)
	if model != "" {
		t, err := UserTableForModel(model)
		if err != nil {
			p.fail("AUTH_USER_MODEL", "must be 'app_label.ModelName'")
		}
		c.User.Table = t
	}
	p.str("LAUREL_USER_TABLE", &c.User.Table)
	p.str("LAUREL_SESSION_TABLE", &c.SessionTable)
	p.str("LAUREL_SESSION_STORE_CLASS", &c.SessionStoreClass)
	p.str("LAUREL_USER_PK_TYPE", &c.User.PKType)
	p.str("LAUREL_USER_PK_COLUMN", &c.User.PKColumn)
	p.str("LAUREL_USER_PASSWORD_COLUMN", &c.User.PasswordColumn)
	p.str("LAUREL_USER_USERNAME_COLUMN", &c.User.UsernameColumn)
	p.str("LAUREL_USER_ACTIVE_COLUMN", &c.User.ActiveColumn)
	p.str("LAUREL_USER_STAFF_COLUMN", &c.User.StaffColumn)
	p.str("LAUREL_USER_SUPERUSER_COLUMN", &c.User.SuperuserColumn)
	if _, ok := raw["LAUREL_VERDICT_TTL"]; ok {
		var ttl time.Duration
		p.seconds("LAUREL_VERDICT_TTL", &ttl)
		if ttl == 0 {
			ttl = -1
		}
		c.VerdictTTL = ttl
	}
	if r, ok := raw["DATABASES"]; ok {
		var dbs map[string]map[string]json.RawMessage
		if err := json.Unmarshal(r, &dbs); err != nil {
			p.fail("DATABASES", "must be an object of objects")
		} else if d, ok := dbs["default"]; ok {
			q := settingsParser{raw: d, prefix: "DATABASES.default."}
			q.str("ENGINE", &c.Database.Engine)
			q.str("NAME", &c.Database.Name)
			q.str("USER", &c.Database.User)
			q.str("PASSWORD", &c.Database.Password)
			q.str("HOST", &c.Database.Host)
			q.str("PORT", &c.Database.Port)
			q.object("OPTIONS", &c.Database.Options)
			p.errs = append(p.errs, q.errs...)
		}
	}
	if r, ok := raw["CACHES"]; ok {
		var caches map[string]map[string]json.RawMessage
		if err := json.Unmarshal(r, &caches); err != nil {
			p.fail("CACHES", "must be an object of objects")
		}
		c.Caches = make(map[string]CacheConfig, len(caches))
		for alias, cr := range caches {
			q := settingsParser{raw: cr, prefix: "CACHES." + alias + "."}
			var cc CacheConfig
			q.str("BACKEND", &cc.Backend)
			q.strOrList("LOCATION", &cc.Location)
			q.str("KEY_PREFIX", &cc.KeyPrefix)
			q.integer("VERSION", &cc.Version)
			q.object("OPTIONS", &cc.Options)
			if _, ok := cr["KEY_FUNCTION"]; ok {
				q.fail("KEY_FUNCTION", "custom cache key functions are not supported")
			}
			p.errs = append(p.errs, q.errs...)
			c.Caches[alias] = cc
		}
	}
	if len(p.errs) > 0 {
		return Config{}, errors.Join(p.errs...)
	}
	return c, nil
}

type settingsParser struct {
	raw    map[string]json.RawMessage
	prefix string
	errs   []error
}

func (p *settingsParser) fail(key, msg string) {
	p.errs = append(p.errs, fmt.Errorf("%w: %s%s %s", ErrSettings, p.prefix, key, msg))
}

func (p *settingsParser) get(key string) (any, bool) {
	r, ok := p.raw[key]
	if !ok {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(r))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		p.fail(key, "is not valid JSON")
		return nil, false
	}
	return v, true
}

func (p *settingsParser) str(key string, dst *string) {
	v, ok := p.get(key)
	if !ok || v == nil {
		return
	}
	switch x := v.(type) {
	case string:
		*dst = x
	case json.Number:
		if key != "PORT" { // PORT may be an int
			p.fail(key, "must be a string")
			return
		}
		*dst = x.String()
	default:
		p.fail(key, "must be a string")
	}
}

func (p *settingsParser) strList(key string, dst *[]string) {
	v, ok := p.get(key)
	if !ok {
		return
	}
	l, ok := v.([]any)
	if !ok {
		p.fail(key, "must be a list of strings")
		return
	}
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, ok := e.(string)
		if !ok {
			p.fail(key, "must be a list of strings")
			return
		}
		out = append(out, s)
	}
	*dst = out
}

// strOrList accepts a string (split on ";" and "," as Django's RedisCache
// does) or a list of strings.
func (p *settingsParser) strOrList(key string, dst *[]string) {
	v, ok := p.get(key)
	if !ok {
		return
	}
	if s, ok := v.(string); ok {
		*dst = strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' })
		return
	}
	p.strList(key, dst)
}

func (p *settingsParser) boolean(key string, dst *bool) {
	v, ok := p.get(key)
	if !ok {
		return
	}
	b, ok := v.(bool)
	if !ok {
		p.fail(key, "must be a boolean")
		return
	}
	*dst = b
}

func (p *settingsParser) integer(key string, dst *int) {
	v, ok := p.get(key)
	if !ok {
		return
	}
	n, ok := v.(json.Number)
	if !ok {
		p.fail(key, "must be an integer")
		return
	}
	i, err := strconv.Atoi(n.String())
	if err != nil {
		p.fail(key, "must be an integer")
		return
	}
	*dst = i
}

func (p *settingsParser) seconds(key string, dst *time.Duration) {
	v, ok := p.get(key)
	if !ok {
		return
	}
	n, ok := v.(json.Number)
	if !ok {
		p.fail(key, "must be a number of seconds")
		return
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > math.MaxInt64/float64(time.Second) {
		p.fail(key, "must be a non-negative number of seconds")
		return
	}
	*dst = time.Duration(f * float64(time.Second))
}

func (p *settingsParser) object(key string, dst *map[string]any) {
	v, ok := p.get(key)
	if !ok || v == nil {
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		p.fail(key, "must be an object")
		return
	}
	*dst = m
}
