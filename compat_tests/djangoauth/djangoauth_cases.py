"""The djangoauth compat matrix: which profiles (session engine + database + user model) run, and
which cases each one builds.

Pure data, no Django import: the pytest side uses it to parametrize, the Django helper
(djangoauth_helper.py, run in a subprocess under the venv's own Django) to build the cases.

A *profile* is one Django configuration: a session engine with its stores. A *variant* is a small
settings override under which a case is judged (and sometimes created), e.g. a rotated SECRET_KEY.
A *case* is one cookie a browser could present; both Django and laurel's authcheck judge it.

`reasons` pins laurel's reason where the construction of the case determines it. Each entry is a
set of acceptable reasons (documented in docs/djangoauth-compat.md); the authenticated / user
fields are always compared with Django's own verdict, never with this table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The settings keys authcheck reads (the contract in compat_tests/cmd/authcheck), exported from
# the live django.conf.settings under each variant.
EXPORTED_SETTINGS = [
    "SECRET_KEY", "SECRET_KEY_FALLBACKS", "SESSION_ENGINE", "SESSION_COOKIE_NAME",
    "SESSION_COOKIE_AGE", "SESSION_FILE_PATH", "SESSION_SERIALIZER", "SESSION_CACHE_ALIAS",
    "DATABASES", "CACHES", "AUTHENTICATION_BACKENDS", "AUTH_USER_MODEL", "USE_TZ", "TIME_ZONE",
    "ALLOWED_HOSTS", "DEBUG",
]

# Secrets used by every profile. NEW is the current SECRET_KEY; OLD is the key sessions of the
# rotation cases were created under; UNRELATED is a fallback that matches nothing.
SECRET_NEW = "laurel-compat-new-secret-key-8f3b1c0e5d7a49e2b6c4"
SECRET_OLD = "laurel-compat-old-secret-key-1a2b3c4d5e6f7a8b9c0d"
SECRET_UNRELATED = "laurel-compat-unrelated-fallback-key-77aa88bb99cc"

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
CACHE_DOWN = "_LAUREL_COMPAT_CACHE_DOWN"
DEAD_REDIS = "redis://127.0.0.1:1"
ALLOW_ALL_BACKEND = "django.contrib.auth.backends.AllowAllUsersModelBackend"

# Settings overrides per variant (applied with django.test.override_settings). `create` is the
# override in force while the case's session is created, `judge` while it is judged (by Django and
# in the settings.json given to authcheck).
VARIANTS: dict[str, dict[str, dict]] = {
    "base": {"create": {}, "judge": {}},
    # SECRET_KEY rotated after login, old key kept in SECRET_KEY_FALLBACKS (behind an unrelated one).
    "rotated": {
        "create": {"SECRET_KEY": SECRET_OLD},
        "judge": {"SECRET_KEY": SECRET_NEW, "SECRET_KEY_FALLBACKS": [SECRET_UNRELATED, SECRET_OLD]},
    },
    # SECRET_KEY rotated after login, old key dropped.
    "rotated_nofallback": {
        "create": {"SECRET_KEY": SECRET_OLD},
        "judge": {"SECRET_KEY": SECRET_NEW, "SECRET_KEY_FALLBACKS": [SECRET_UNRELATED]},
    },
    # The backend the user logged in with was removed from AUTHENTICATION_BACKENDS.
    "backend_removed": {"create": {}, "judge": {"AUTHENTICATION_BACKENDS": [ALLOW_ALL_BACKEND]}},
    # A site that lets inactive users log in (AllowAllUsersModelBackend first).
    "allow_all": {
        "create": {"AUTHENTICATION_BACKENDS": [ALLOW_ALL_BACKEND, MODEL_BACKEND]},
        "judge": {"AUTHENTICATION_BACKENDS": [ALLOW_ALL_BACKEND, MODEL_BACKEND]},
    },
    # A site whose sessions last one second: db expire_date, cache TTL, file mtime + age and the
    # signed_cookies max_age all run out before laurel and Django judge.
    "short_age": {"create": {"SESSION_COOKIE_AGE": 1}, "judge": {"SESSION_COOKIE_AGE": 1}},
    # The session cache's LOCATION points at a port where nothing listens (127.0.0.1:1). The
    # helper fills in CACHES from the profile's own (CACHE_DOWN marks the override).
    "cache_down": {"create": {}, "judge": {CACHE_DOWN: True}},
}

# Seconds to wait after creating the short_age cases before anyone judges them.
SHORT_AGE_WAIT = 2.2

SERVER_ENGINES = ("db", "cache", "cached_db", "file")
ALL_ENGINES = SERVER_ENGINES + ("signed_cookies",)


@dataclass(frozen=True)
class Profile:
    """One Django configuration under test.

    engine: short SESSION_ENGINE name (db, cache, cached_db, file, signed_cookies).
    database: "sqlite", "postgres" or "mysql" (MariaDB; holds the users, and the sessions for
    db/cached_db).
    cache: None, "redis" (django.core.cache.backends.redis.RedisCache) or "django_redis".
    user_model: "default" (auth.User), "custom" (laurelaccounts.Member, table laurel_members) or
    "uuid" (laurelaccounts.UuidMember: UUID pk "uid", email username, active column "enabled", no
    staff/superuser columns; table laurel_uuid_members).
    """

    name: str
    engine: str
    database: str = "sqlite"
    cache: str | None = None
    user_model: str = "default"
    use_tz: bool = True
    time_zone: str = "UTC"
    cookie_name: str = "sessionid"
    session_cache_alias: str = "default"
    redis_db: int = 0
    key_prefix: str = ""
    cache_version: int = 1
    cache_options: dict = field(default_factory=dict)
    serializer: str = "django.contrib.sessions.serializers.JSONSerializer"
    # "builtin", or "custom": SESSION_ENGINE = "laurelaccounts.sessions" (a db SessionStore
    # subclass named LaurelSessionStore with its own model/table laurel_sessions).
    session_store: str = "builtin"
    # Newest Django major.minor the profile applies to (None: all).
    django_max: tuple[int, int] | None = None

    def applies_to(self, django_version: tuple[int, int]) -> bool:
        return self.django_max is None or django_version <= self.django_max


PROFILES: list[Profile] = [
    Profile("db_sqlite", "db"),
    # USE_TZ=False: expire_date is naive local time in TIME_ZONE (UTC+9), not UTC.
    Profile("db_sqlite_naive_tokyo", "db", use_tz=False, time_zone="Asia/Tokyo"),
    Profile("db_postgres", "db", database="postgres", time_zone="America/New_York"),
    # Django's own RedisCache, on a non-default alias, with KEY_PREFIX and VERSION.
    Profile("cache_redis", "cache", cache="redis", session_cache_alias="sessions", redis_db=1,
            key_prefix="laurel-cr", cache_version=2),
    Profile("cache_django_redis", "cache", cache="django_redis", redis_db=2, key_prefix="laurel-dr"),
    # django-redis with its zlib compressor: session pickles are > 15 bytes, so they are compressed.
    Profile("cache_django_redis_zlib", "cache", cache="django_redis", redis_db=5,
            key_prefix="laurel-dz",
            cache_options={"COMPRESSOR": "django_redis.compressors.zlib.ZlibCompressor"}),
    Profile("cached_db", "cached_db", cache="redis", redis_db=3, key_prefix="laurel-cdb"),
    Profile("file", "file", cookie_name="laurel_sid"),
    Profile("signed_cookies", "signed_cookies"),
    # Django 4.2's deprecated PickleSerializer (removed in 5.0): the signed payload is a pickle.
    Profile("db_sqlite_pickle_serializer", "db",
            serializer="django.contrib.sessions.serializers.PickleSerializer",
            django_max=(4, 2)),
    # A custom user model with its own table (laurelaccounts.Member, db_table laurel_members).
    Profile("custom_user_db_sqlite", "db", user_model="custom"),
    # A project SessionStore subclass (own class name => own signing salt) and session table.
    Profile("custom_session_store_db", "db", session_store="custom"),
    # A UUID-pk user model (char(32) hex in SQLite, uuid in PostgreSQL) with renamed columns.
    Profile("uuid_user_db_sqlite", "db", user_model="uuid"),
    Profile("uuid_user_signed_cookies_postgres", "signed_cookies", database="postgres",
            user_model="uuid"),
    Profile("custom_user_cache_postgres", "cache", database="postgres", cache="django_redis",
            user_model="custom", redis_db=4, key_prefix="laurel-cu"),
    # MariaDB through Django's MySQL backend (mysqlclient): expire_date is a naive datetime(6),
    # UTC under USE_TZ=True (TIME_ZONE must not matter), local time in TIME_ZONE under USE_TZ=False.
    Profile("db_mysql", "db", database="mysql", time_zone="America/New_York"),
    Profile("db_mysql_naive_tokyo", "db", database="mysql", use_tz=False, time_zone="Asia/Tokyo"),
    # UUID pk on MariaDB: Django >= 5.0 uses MariaDB's native uuid type (10.7+), 4.2 char(32).
    Profile("uuid_user_signed_cookies_mysql", "signed_cookies", database="mysql",
            user_model="uuid"),
]

PROFILES_BY_NAME = {p.name: p for p in PROFILES}


@dataclass(frozen=True)
class Case:
    """One cookie to judge.

    reasons: engine -> acceptable laurel reasons ("*" is the default for engines not listed).
    engines: the engines this case applies to.
    expect_django: what Django must decide, by construction (checked too, so a broken case
    construction fails loudly instead of comparing two wrong answers). None = engine-dependent,
    given by `expect_django_by_engine`.
    """

    name: str
    variant: str
    reasons: dict[str, frozenset[str]]
    expect_django: bool | None
    expect_django_by_engine: dict[str, bool] = field(default_factory=dict)
    engines: tuple[str, ...] = ALL_ENGINES

    def expected_reasons(self, engine: str) -> frozenset[str]:
        return self.reasons.get(engine, self.reasons["*"])

    def expected_django(self, engine: str) -> bool:
        if self.expect_django is not None:
            return self.expect_django
        return self.expect_django_by_engine[engine]


def _r(*names: str) -> frozenset[str]:
    return frozenset(names)


OK = {"*": _r("ok")}
# A store read that finds nothing (no row / no key / no file): laurel may call a dead row
# "expired" if it reads it before filtering, or "no_session".
GONE = _r("no_session", "expired")

CASES: list[Case] = [
    Case("valid", "base", OK, True),
    Case("valid_staff", "base", OK, True),
    Case("valid_superuser", "base", OK, True),
    Case("non_ascii_username", "base", OK, True),
    Case("cookie_among_others", "base", OK, True),
    Case("quoted_cookie_value", "base", OK, True),
    # Blanks around names and values, a chunk without "=", an empty chunk: parse_cookie strips and
    # skips them.
    Case("spaced_cookie", "base", OK, True),
    # A latin-1 character in another cookie (the ASGI header bytes are latin-1 decoded).
    Case("non_ascii_other_cookie", "base", OK, True),
    # Cookie names are case-sensitive.
    Case("cookie_name_wrong_case", "base", {"*": _r("no_cookie")}, False),
    # Django's parse_cookie keeps the LAST duplicate.
    Case("duplicate_cookie_last_valid", "base", OK, True),
    Case("duplicate_cookie_last_garbage", "base",
         {"*": _r("no_session"), "signed_cookies": _r("bad_signature", "bad_session")}, False),
    Case("no_cookie_header", "base", {"*": _r("no_cookie")}, False),
    Case("other_cookies_only", "base", {"*": _r("no_cookie")}, False),
    # Shorter than 8 characters: SessionBase._validate_session_key turns it into None.
    Case("short_cookie", "base", {"*": _r("no_cookie", "no_session"),
                                  "signed_cookies": _r("no_cookie", "no_session", "bad_signature",
                                                       "bad_session")}, False),
    Case("garbage_cookie", "base",
         {"*": _r("no_session"), "signed_cookies": _r("bad_signature", "bad_session")}, False),
    # A signed value whose signature was altered: the signed_cookies cookie itself, or the
    # session_data stored by db / file / cached_db (cache entry dropped so the db row is read).
    # The cache engine stores an unsigned pickle, so there is no signature to tamper with.
    Case("tampered_signature", "base", {"*": _r("bad_signature")}, False,
         engines=("db", "cached_db", "file", "signed_cookies")),
    # The payload changed to another user's id, the old signature kept.
    Case("forged_payload", "base", {"*": _r("bad_signature")}, False,
         engines=("db", "file", "signed_cookies")),
    Case("expired", "short_age",
         {"*": GONE, "file": _r("expired", "no_session"), "signed_cookies": _r("expired")}, False),
    # The cookie replayed after logout: server stores deleted the session; a signed cookie is
    # self-contained, so Django still accepts the replayed value.
    Case("logged_out", "base", {"*": _r("no_session"), "signed_cookies": _r("ok")}, None,
         expect_django_by_engine={**{e: False for e in SERVER_ENGINES}, "signed_cookies": True}),
    Case("password_changed", "base", {"*": _r("hash_mismatch")}, False),
    Case("rotated_with_fallback", "rotated", OK, True),
    # Signed stores fail the signature with the new key; the cache engines keep an unsigned dict
    # whose _auth_user_hash no longer matches.
    Case("rotated_without_fallback", "rotated_nofallback",
         {"*": _r("bad_signature"), "cache": _r("hash_mismatch"), "cached_db": _r("hash_mismatch")},
         False),
    Case("inactive_user", "base", {"*": _r("inactive")}, False),
    Case("inactive_allow_all_backend", "allow_all", OK, True),
    Case("deleted_user", "base", {"*": _r("no_user")}, False),
    Case("backend_removed", "backend_removed", {"*": _r("backend_not_allowed")}, False),
    # The session cache cannot be reached: Django's cache SessionStore.load swallows the error
    # (anonymous); laurel must not authenticate either, and says why.
    Case("cache_unreachable", "cache_down", {"*": _r("store_unavailable")}, False,
         engines=("cache",)),
    # cached_db whose cache entry was evicted: the db row decides.
    Case("cached_db_cache_evicted", "base", OK, True, engines=("cached_db",)),
]

CASES_BY_NAME = {c.name: c for c in CASES}


def cases_for(profile: Profile) -> list[Case]:
    return [c for c in CASES if profile.engine in c.engines]


def installed_django() -> tuple[int, int]:
    """major.minor of the Django installed in this interpreter's environment."""
    import importlib.metadata

    major, minor = importlib.metadata.version("django").split(".")[:2]
    return int(major), int(minor)


def active_profiles() -> list[Profile]:
    """The profiles that apply to the installed Django."""
    v = installed_django()
    return [p for p in PROFILES if p.applies_to(v)]
