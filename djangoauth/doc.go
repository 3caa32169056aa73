// Package djangoauth decides, exactly as Django would, whether the Cookie
// header of a WebSocket handshake belongs to a logged-in user, and checks the
// Origin header as Channels' AllowedHostsOriginValidator does.
//
// The behaviour reproduced is that of Django 4.2 LTS through 6.0
// (django.core.signing, django.contrib.sessions.backends.*,
// django.contrib.auth.get_user) and of channels 4.3.2
// (channels.security.websocket.OriginValidator). The reference versions used
// for the golden files in testdata are Django 5.2.19, channels 4.3.2,
// django-redis 7.0.0 on CPython 3.11.
//
// # Flow
//
// [Authenticator.Authenticate] parses the Cookie header with Django's
// parse_cookie ([ParseCookie], last duplicate wins), takes SESSION_COOKIE_NAME,
// validates the key as SessionBase._validate_session_key does (truthy and at
// least 8 characters), loads the session dict from the configured
// SESSION_ENGINE and applies get_user (django/contrib/auth/__init__.py):
//
//  1. _auth_user_id is converted with Python int() semantics (" 1 ", "1_0",
//     "+1" are valid); a value Django cannot convert makes Django raise (a
//     500), which laurel answers with an anonymous [ReasonBadSession].
//  2. _auth_user_backend must be exactly one of AUTHENTICATION_BACKENDS.
//  3. The user row is read from AUTH_USER_MODEL's table and must be active
//     unless the backend is one of the AllowAllUsers* backends. Every listed
//     backend is assumed to load users as ModelBackend.get_user does; a
//     project backend with its own get_user is not reproduced.
//  4. _auth_user_hash is compared in constant time with the session auth hash
//     computed with SECRET_KEY, then with every SECRET_KEY_FALLBACKS entry.
//     This is Django's rule (ticket #34384, 4.1.8+); channels.auth.get_user
//     ignores the fallbacks and would log such users out. laurel follows
//     Django, so rotating SECRET_KEY does not disconnect WebSocket users.
//
// # Session engines
//
// SESSION_ENGINE is honoured as Django names it:
//
//   - db: the django_session table (LAUREL_SESSION_TABLE for a custom
//     model) in SQLite (modernc.org/sqlite, opened mode=ro, not immutable),
//     PostgreSQL (pgx, default_transaction_read_only=on) or MySQL/MariaDB
//     (go-sql-driver/mysql; SELECT only; no server was available to test it).
//     A session is expired unless expire_date > now; naive datetimes (SQLite,
//     MySQL) are UTC under USE_TZ and TIME_ZONE local time otherwise.
//   - cache: the unsigned session dict, pickled, under
//     KEY_PREFIX:VERSION:django.contrib.sessions.cache<key> in Django's
//     RedisCache (protocol 5, ints stored as text) or django-redis
//     DefaultClient (pickle of any protocol, json or msgpack serializers;
//     identity, zlib and gzip compressors). The lzma, lz4 and zstd
//     compressors, HerdClient, ShardedClient and custom KEY_FUNCTIONs need
//     code laurel does not ship and are rejected by New. Pickles are decoded
//     with nlpodyssey/gopickle; globals outside a small allowlist (datetime,
//     Decimal, UUID, sets...) make the session undecodable.
//   - cached_db: the cache first (…cached_db<key>), then the db, as Django;
//     the cache is never written back. A failing cache falls back to the db,
//     as Django's cache.get exception handling does.
//   - file: SESSION_FILE_PATH/<SESSION_COOKIE_NAME><key>, key limited to
//     a-z0-9, expired per _session_expiry or mtime + SESSION_COOKIE_AGE.
//   - signed_cookies: the cookie is the signed payload, max_age
//     SESSION_COOKIE_AGE.
//
// SESSION_SERIALIZER may be the JSON serializer or Django 4.2's deprecated
// PickleSerializer. The signing salt is "django.contrib.sessions." plus the
// store class name (LAUREL_SESSION_STORE_CLASS, default "SessionStore").
//
// Users come from AUTH_USER_MODEL's table ("app.Model" → "app_model", or
// LAUREL_USER_TABLE) with configurable columns; a custom default manager
// that filters users, and database-specific truncation of long table names,
// are not reproduced.
//
// # Verdict cache
//
// Verdicts are cached per session key for Config.VerdictTTL (default 2 s)
// so a reconnect storm costs one query per key; concurrent lookups of one
// key share a single query. ReasonStoreUnavailable is never cached.
// Expired verdicts are swept about once per TTL, so the cache shrinks back
// once the handshakes stop.
//
// # Database reads
//
// A verdict reads the session row, then the user row, on one connection.
// On SQLite both come from one read transaction (one SHARED lock) on a
// connection that never waits inside the driver: while Django holds the
// write lock, the verdict retries on SQLite's busy schedule for up to 5 s
// and gives up as soon as its context ends. On PostgreSQL the rows are read
// through pgx; while consecutive verdicts are of one user, that user's row
// is asked in the same round trip as the session row and used only if the
// session names that user. Either way each verdict reads both rows afresh,
// as Django's get_user does.
//
// # laurel never writes
//
// laurel opens every store read-only. Where Django would modify a store
// (flush on a missing or stale hash, cycle_key on a fallback-hash match,
// expiry extension, writing the cache back in cached_db) laurel only reaches
// the same accept/reject decision: a session Django would flush is answered
// anonymous ([ReasonHashMismatch]) and left in place; the next HTTP request
// to Django flushes it.
//
// # Failures
//
// A store that cannot be reached yields [ReasonStoreUnavailable]: never a
// panic and never a false "authenticated". Such verdicts are not put in the
// verdict cache. Undecodable session data (bad signature, corrupt payload,
// unknown pickle globals) is an empty session, as in Django, and yields
// [ReasonBadSignature] or [ReasonBadSession].
//
// Secrets, session keys and password hashes never appear in errors or log
// records: [Verdict.LogValue] and [Config.LogValue] redact them.
package djangoauth
