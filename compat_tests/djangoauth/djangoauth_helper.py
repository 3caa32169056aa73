"""The Django side of the djangoauth compat suite, run as a subprocess under a venv's own Django.

settings.configure() can run once per process, so the pytest side starts one helper per profile
(see djangoauth_cases.PROFILES) and talks to it in JSON lines on stdin/stdout:

  -> {"cmd": "setup", "profile": {...}, "workdir": "...", "databases": {...}, "caches": {...}}
  <- {"django": "5.2.19", "python": "3.11.7", "channels": "4.3.2", ...}
  -> {"cmd": "create"}
  <- {"cases": [{"name", "variant", "cookie", "session_key"}...],
      "settings": {variant: <JSON form of the settings authcheck gets>}, "short_age_created": t}
  -> {"cmd": "snapshot"}
  <- {"snapshot": {...}}            every row / key / file of the stores, and the user table
  -> {"cmd": "judge", "cases": [...]}
  <- {"verdicts": {name: {"authenticated", "user_id", "username", "is_staff", "is_superuser"}}}

Every session is created through Django's real login path: django.test.Client().login() (which
calls django.contrib.auth.authenticate and login on a real session store) and Client().logout().
Django judges a cookie exactly as a request would be judged: RequestFactory builds the request with
the raw Cookie header (django.http.parse_cookie), SessionMiddleware.process_request opens the
engine's SessionStore, and django.contrib.auth.get_user decides.

Protocol output goes to the real stdout only; anything Django or a library prints goes to stderr.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "djapp"))

import djangoauth_pyshim  # noqa: E402

PYSHIM = djangoauth_pyshim.install()

from djangoauth_cases import (  # noqa: E402
    CACHE_DOWN,
    DEAD_REDIS,
    EXPORTED_SETTINGS,
    MODEL_BACKEND,
    PROFILES_BY_NAME,
    SECRET_NEW,
    VARIANTS,
    cases_for,
)

PROTO_OUT = sys.stdout
sys.stdout = sys.stderr

ENGINE_MODULES = {
    "db": "django.contrib.sessions.backends.db",
    "cache": "django.contrib.sessions.backends.cache",
    "cached_db": "django.contrib.sessions.backends.cached_db",
    "file": "django.contrib.sessions.backends.file",
    "signed_cookies": "django.contrib.sessions.backends.signed_cookies",
}

PASSWORD = "correct horse battery staple ✓"
NEW_PASSWORD = "a different horse, also ✓"

state: dict = {}


def send(obj) -> None:
    PROTO_OUT.write(json.dumps(obj, default=str) + "\n")
    PROTO_OUT.flush()


def setup(msg: dict) -> dict:
    import django
    from django.conf import settings

    profile = PROFILES_BY_NAME[msg["profile"]]
    state["profile"] = profile
    state["workdir"] = msg["workdir"]
    apps = ["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions"]
    extra = {}
    if profile.user_model != "default" or profile.session_store == "custom":
        apps.append("laurelaccounts")
    if profile.user_model == "custom":
        extra["AUTH_USER_MODEL"] = "laurelaccounts.Member"
    if profile.user_model == "uuid":
        extra["AUTH_USER_MODEL"] = "laurelaccounts.UuidMember"
    engine = ENGINE_MODULES[profile.engine]
    if profile.session_store == "custom":
        engine = "laurelaccounts.sessions"
    if profile.engine == "file":
        path = os.path.join(msg["workdir"], "sessions")
        os.makedirs(path, exist_ok=True)
        extra["SESSION_FILE_PATH"] = path
    # settings.configure() skips what Settings.__init__ does for a settings module in a deployed
    # Django (django/conf/__init__.py): put TIME_ZONE into the process's TZ, so that naive local
    # datetimes (USE_TZ=False) are TIME_ZONE's wall clock and not the machine's.
    os.environ["TZ"] = profile.time_zone
    time.tzset()
    settings.configure(
        DEBUG=False,
        SECRET_KEY=SECRET_NEW,
        SECRET_KEY_FALLBACKS=[],
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=apps,
        MIDDLEWARE=[],
        DATABASES=msg["databases"],
        CACHES=msg["caches"],
        SESSION_ENGINE=engine,
        SESSION_COOKIE_NAME=profile.cookie_name,
        SESSION_CACHE_ALIAS=profile.session_cache_alias,
        SESSION_SERIALIZER=profile.serializer,
        AUTHENTICATION_BACKENDS=[MODEL_BACKEND],
        USE_TZ=profile.use_tz,
        TIME_ZONE=profile.time_zone,
        PASSWORD_HASHERS=["laurel_compat_hashers.FastPBKDF2PasswordHasher"],
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        LOGGING_CONFIG=None,
        **extra,
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    import importlib.metadata as md

    versions = {"django": django.get_version(), "python": platform.python_version()}
    if PYSHIM:
        versions["note"] = "Django >= 6 on Python < 3.12 via djangoauth_pyshim"
    for dist in ("channels", "redis", "django-redis", "psycopg", "mysqlclient"):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    from django.db import connection

    if connection.vendor == "mysql":
        versions["mariadb"] = connection.mysql_server_info
    return versions


# --- creating cases ------------------------------------------------------------------------


def _user_model():
    from django.contrib.auth import get_user_model

    return get_user_model()


def _make_user(name: str, **fields):
    User = _user_model()
    if fields.pop("superuser", False):
        return User.objects.create_superuser(name, password=PASSWORD, **fields)
    return User.objects.create_user(name, password=PASSWORD, **fields)


def _login(username: str):
    """Log in through django.test.Client (authenticate + login + session save); return the client
    and the raw session cookie value it received."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    if not client.login(username=username, password=PASSWORD):
        raise RuntimeError(f"login of {username!r} failed")
    return client, client.cookies[settings.SESSION_COOKIE_NAME].value


def _flip_char(s: str) -> str:
    """Change the last base64url character of a signature so it no longer verifies."""
    last = s[-1]
    return s[:-1] + ("A" if last != "A" else "B")


def _tamper_signature(signed: str) -> str:
    payload, sig = signed.rsplit(":", 1)
    return f"{payload}:{_flip_char(sig)}"


def _forge_payload(signed: str, new_user_id: str) -> str:
    """Replace _auth_user_id inside a signed session value, keeping the original signature."""
    import base64
    import zlib

    payload, ts, sig = signed.rsplit(":", 2)
    compressed = payload.startswith(".")
    raw = base64.urlsafe_b64decode(payload.lstrip(".") + "=" * (-len(payload.lstrip(".")) % 4))
    if compressed:
        raw = zlib.decompress(raw)
    if raw[:1] == b"\x80":  # PickleSerializer (Django 4.2)
        import pickle

        data = pickle.loads(raw)
        data["_auth_user_id"] = new_user_id
        forged = pickle.dumps(data, pickle.HIGHEST_PROTOCOL)
    else:
        data = json.loads(raw.decode("latin-1"))
        data["_auth_user_id"] = new_user_id
        forged = json.dumps(data, separators=(",", ":")).encode("latin-1")
    out = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
    return f"{out}:{ts}:{sig}"


def _stored_session_data(session_key: str) -> str:
    profile = state["profile"]
    if profile.engine == "file":
        with open(_session_file(session_key), encoding="ascii") as f:
            return f.read()
    return _session_model().objects.get(session_key=session_key).session_data


def _store_session_data(session_key: str, data: str) -> None:
    profile = state["profile"]
    if profile.engine == "file":
        path = _session_file(session_key)
        st = os.stat(path)
        with open(path, "w", encoding="ascii") as f:
            f.write(data)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        return
    _session_model().objects.filter(session_key=session_key).update(session_data=data)
    if profile.engine == "cached_db":
        from django.conf import settings
        from django.contrib.sessions.backends.cached_db import KEY_PREFIX
        from django.core.cache import caches

        caches[settings.SESSION_CACHE_ALIAS].delete(KEY_PREFIX + session_key)


def _session_model():
    """The session model of the db-backed engine in use (django_session or a custom one)."""
    from importlib import import_module

    from django.conf import settings

    return import_module(settings.SESSION_ENGINE).SessionStore.get_model_class()


def _session_file(session_key: str) -> str:
    from django.conf import settings

    return os.path.join(settings.SESSION_FILE_PATH, settings.SESSION_COOKIE_NAME + session_key)


def build_case(case, profile) -> dict:
    """Create the user(s) and session for one case; return what a browser would send."""
    from django.conf import settings

    name = settings.SESSION_COOKIE_NAME
    user = f"{case.name}_user"
    out = {"name": case.name, "variant": case.variant, "session_key": None}

    def single(value: str) -> None:
        out["cookie"] = f"{name}={value}"
        out["session_key"] = value

    n = case.name
    if n in ("valid", "expired", "rotated_with_fallback", "rotated_without_fallback"):
        _make_user(user)
        single(_login(user)[1])
    elif n == "valid_staff":
        _make_user(user, is_staff=True)
        single(_login(user)[1])
    elif n == "valid_superuser":
        _make_user(user, superuser=True)
        single(_login(user)[1])
    elif n == "non_ascii_username":
        uname = "Žofie.Ωμέγα_日本語-ß"
        _make_user(uname)
        single(_login(uname)[1])
    elif n == "cookie_among_others":
        _make_user(user)
        value = _login(user)[1]
        out["cookie"] = f"csrftoken=Zk3q9TnX0cMhX2; {name}={value}; theme=dark; _ga=GA1.2.3.4"
    elif n == "quoted_cookie_value":
        _make_user(user)
        value = _login(user)[1]
        out["cookie"] = f'{name}="{value}"'
    elif n == "spaced_cookie":
        _make_user(user)
        value = _login(user)[1]
        out["cookie"] = f"flag;  ; {name} =  {value} ; lang = en"
    elif n == "non_ascii_other_cookie":
        _make_user(user)
        value = _login(user)[1]
        out["cookie"] = f"theme=dunkelgrün; {name}={value}"
    elif n == "cookie_name_wrong_case":
        _make_user(user)
        value = _login(user)[1]
        out["cookie"] = f"{name.upper()}={value}"
    elif n == "duplicate_cookie_last_valid":
        _make_user(user)
        value = _login(user)[1]
        out["cookie"] = f"{name}=0123456789abcdefghijklmnopqrstuv; {name}={value}"
    elif n == "duplicate_cookie_last_garbage":
        _make_user(user)
        value = _login(user)[1]
        out["cookie"] = f"{name}={value}; {name}=0123456789abcdefghijklmnopqrstuv"
    elif n == "no_cookie_header":
        out["cookie"] = ""
    elif n == "other_cookies_only":
        out["cookie"] = "csrftoken=Zk3q9TnX0cMhX2; theme=dark"
    elif n == "short_cookie":
        out["cookie"] = f"{name}=abc1234"
    elif n == "garbage_cookie":
        single("zzzzzzzzzzzzzzzzzzzznotasession")
    elif n == "tampered_signature":
        _make_user(user)
        value = _login(user)[1]
        if profile.engine == "signed_cookies":
            single(_tamper_signature(value))
        else:
            _store_session_data(value, _tamper_signature(_stored_session_data(value)))
            single(value)
    elif n == "forged_payload":
        victim = _make_user(f"{case.name}_victim", superuser=True)
        _make_user(user)
        value = _login(user)[1]
        vid = str(victim.pk)
        if profile.engine == "signed_cookies":
            single(_forge_payload(value, vid))
        else:
            _store_session_data(value, _forge_payload(_stored_session_data(value), vid))
            single(value)
    elif n == "logged_out":
        _make_user(user)
        client, value = _login(user)
        client.logout()
        single(value)
    elif n == "password_changed":
        u = _make_user(user)
        value = _login(user)[1]
        u.set_password(NEW_PASSWORD)
        u.save()
        single(value)
    elif n == "inactive_user":
        u = _make_user(user)
        value = _login(user)[1]
        u.is_active = False
        u.save()
        single(value)
    elif n == "inactive_allow_all_backend":
        _make_user(user, is_active=False)
        single(_login(user)[1])
    elif n == "deleted_user":
        u = _make_user(user)
        value = _login(user)[1]
        u.delete()
        single(value)
    elif n in ("backend_removed", "cache_unreachable"):
        _make_user(user)
        single(_login(user)[1])
    elif n == "cached_db_cache_evicted":
        from django.contrib.sessions.backends.cached_db import KEY_PREFIX
        from django.core.cache import caches

        _make_user(user)
        value = _login(user)[1]
        cache = caches[settings.SESSION_CACHE_ALIAS]
        if not cache.delete(KEY_PREFIX + value):
            raise RuntimeError("cached_db session was not in the cache")
        single(value)
    else:
        raise KeyError(n)
    return out


def overrides(variant: str, phase: str) -> dict:
    """The override_settings kwargs of `variant` for `phase` ("create" or "judge")."""
    from django.conf import settings

    o = dict(VARIANTS[variant][phase])
    if o.pop(CACHE_DOWN, False):
        caches = json.loads(json.dumps(settings.CACHES))
        alias = settings.SESSION_CACHE_ALIAS
        db = caches[alias]["LOCATION"].rsplit("/", 1)[1]
        caches[alias]["LOCATION"] = f"{DEAD_REDIS}/{db}"
        o["CACHES"] = caches
    return o


def _export_settings() -> dict:
    from django.conf import settings

    out = {k: getattr(settings, k) for k in EXPORTED_SETTINGS}
    return json.loads(json.dumps(out, default=str))


def create(_msg: dict) -> dict:
    from django.test import override_settings

    profile = state["profile"]
    cases = cases_for(profile)
    # short_age cases first, so their one-second lifetime runs out while the rest are built.
    cases.sort(key=lambda c: c.variant != "short_age")
    built = []
    short_age_created = None
    for case in cases:
        with override_settings(**overrides(case.variant, "create")):
            built.append(build_case(case, profile))
        if case.variant == "short_age":
            short_age_created = time.time()
    exported = {}
    for variant in sorted({c.variant for c in cases}):
        with override_settings(**overrides(variant, "judge")):
            exported[variant] = _export_settings()
    return {"cases": built, "settings": exported, "short_age_created": short_age_created}


# --- judging -------------------------------------------------------------------------------


def judge_one(cookie: str) -> dict:
    from django.contrib.auth import get_user
    from django.contrib.sessions.middleware import SessionMiddleware
    from django.test import RequestFactory

    headers = {"HTTP_COOKIE": cookie} if cookie else {}
    request = RequestFactory().get("/ws/", **headers)
    SessionMiddleware(lambda r: None).process_request(request)
    return _user_verdict(get_user(request))


def _user_verdict(user) -> dict:
    if not user.is_authenticated:
        return {"authenticated": False}
    return {
        "authenticated": True,
        "user_id": str(user.pk),
        "username": user.get_username(),
        "is_staff": bool(getattr(user, "is_staff", False)),
        "is_superuser": bool(getattr(user, "is_superuser", False)),
    }


def channels_judge_one(cookie: str) -> dict:
    """channels.auth.get_user (what AuthMiddlewareStack runs) on the session Channels'
    CookieMiddleware + SessionMiddleware would open for this Cookie header."""
    import asyncio
    from importlib import import_module

    from channels.auth import get_user
    from django.conf import settings
    from django.http import parse_cookie

    store = import_module(settings.SESSION_ENGINE).SessionStore(
        parse_cookie(cookie).get(settings.SESSION_COOKIE_NAME))
    return _user_verdict(asyncio.run(get_user({"session": store})))


def judge(msg: dict) -> dict:
    """Django's verdict for every case; for signed_cookies (stateless, so judging twice changes
    nothing) also channels.auth.get_user's, to pin the documented difference."""
    from django.test import override_settings

    verdicts, channels = {}, {}
    for case in msg["cases"]:
        with override_settings(**overrides(case["variant"], "judge")):
            verdicts[case["name"]] = judge_one(case["cookie"])
            if state["profile"].engine == "signed_cookies":
                channels[case["name"]] = channels_judge_one(case["cookie"])
    return {"verdicts": verdicts, "channels": channels}


# --- snapshot of every store ---------------------------------------------------------------


def _digest(b) -> str:
    if isinstance(b, str):
        b = b.encode()
    return hashlib.sha256(b).hexdigest()


def snapshot(_msg: dict) -> dict:
    from django.conf import settings
    from django.db import connection

    profile = state["profile"]
    snap: dict = {}
    meta = _user_model()._meta
    q = connection.ops.quote_name
    with connection.cursor() as cur:
        cur.execute(f"SELECT * FROM {q(meta.db_table)} ORDER BY {q(meta.pk.column)}")
        snap["users"] = [[str(v) for v in row] for row in cur.fetchall()]
        if profile.engine in ("db", "cached_db"):
            table = connection.ops.quote_name(_session_model()._meta.db_table)
            cur.execute(f"SELECT session_key, session_data, expire_date FROM {table} "
                        "ORDER BY session_key")
            snap["sessions"] = [[str(v) for v in row] for row in cur.fetchall()]
    if profile.cache is not None:
        import redis

        loc = settings.CACHES[settings.SESSION_CACHE_ALIAS]["LOCATION"]
        r = redis.Redis.from_url(loc)
        keys = {}
        for key in r.scan_iter(match=f"{profile.key_prefix}:*", count=1000):
            value = r.get(key)
            keys[key.decode("latin-1")] = {"sha256": _digest(value or b""), "pttl": r.pttl(key),
                                           "head": (value or b"")[:2].hex()}
        snap["redis"] = keys
        r.close()
    if profile.engine == "file":
        files = {}
        for fn in sorted(os.listdir(settings.SESSION_FILE_PATH)):
            p = os.path.join(settings.SESSION_FILE_PATH, fn)
            with open(p, "rb") as f:
                files[fn] = {"sha256": _digest(f.read()), "mtime_ns": os.stat(p).st_mtime_ns}
        snap["files"] = files
    return {"snapshot": snap}


COMMANDS = {"setup": setup, "create": create, "judge": judge, "snapshot": snapshot}


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        try:
            send(COMMANDS[msg["cmd"]](msg))
        except Exception as e:  # reported to the test, which fails with the traceback
            import traceback

            send({"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()})


if __name__ == "__main__":
    main()
