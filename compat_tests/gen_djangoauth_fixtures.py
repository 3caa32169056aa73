"""Generate djangoauth/testdata/*.json (and django.sqlite3) with real Django.

Run from the repository root with the project venv:

    .venv/bin/python compat_tests/gen_djangoauth_fixtures.py

Everything here is computed by the installed Django / Channels / django-redis
code; nothing is hand-written except the inputs. Timestamps are pinned by
patching time.time so the signed values are reproducible.
"""

import datetime
import gzip
import json
import lzma
import os
import pickle
import shutil
import sys
import tempfile
import time
import zlib
from unittest import mock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "djangoauth", "testdata")
TS = 1700000000
SECRET = "django-insecure-test-key"
OLD = "django-insecure-old-key"
WORK = tempfile.mkdtemp(prefix="djangoauth-fixtures-")
DB = os.path.join(WORK, "django.sqlite3")

import django
from django.conf import settings

settings.configure(
    SECRET_KEY=SECRET,
    SECRET_KEY_FALLBACKS=[OLD],
    USE_TZ=True,
    DEBUG=False,
    ALLOWED_HOSTS=["example.com"],
    INSTALLED_APPS=[
        "django.contrib.contenttypes",
        "django.contrib.auth",
        "django.contrib.sessions",
    ],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DB}},
    AUTHENTICATION_BACKENDS=[
        "django.contrib.auth.backends.ModelBackend",
        "django.contrib.auth.backends.AllowAllUsersModelBackend",
    ],
    PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"],
    SESSION_ENGINE="django.contrib.sessions.backends.db",
)
django.setup()

from django.core import signing  # noqa: E402
from django.http.cookie import parse_cookie  # noqa: E402
from django.utils.crypto import salted_hmac  # noqa: E402

S = {
    "_auth_user_id": "1",
    "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
    "_auth_user_hash": "e09bc5a067b1628eaf2519455490dfb1a4777b305e027412054fd580214bc391",
}


def pinned(ts=TS):
    return mock.patch("django.core.signing.time.time", return_value=ts)


def write(name, obj):
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=False, ensure_ascii=True)
        f.write("\n")
    print("wrote", path)


def err_name(e):
    return type(e).__name__


# ---------------------------------------------------------------- signing
def gen_signing():
    objs = [
        "hello",
        {"k": "v"},
        S,
        {"a": [1, 2.5, None, True, False], "u": "\u00e9\u4e2d\U0001f600", "ctl": "\n\t\"\\<>&"},
        {"big": 12345678901234567890, "f": [0.1, 1e16, 1e-05, 0.0001, 100.0, -2.5e-300]},
        {"long": "x" * 500},
        [],
        None,
    ]
    dumps = []
    for obj in objs:
        for compress in (False, True):
            for salt in ("django.core.signing", "django.contrib.sessions.SessionStore"):
                with pinned():
                    out = signing.dumps(obj, key=SECRET, salt=salt, compress=compress)
                dumps.append({"obj": obj, "key": SECRET, "salt": salt, "compress": compress, "ts": TS, "out": out})
    signers = []
    for salt in (None, "my.salt", "django.contrib.sessions.SessionStore"):
        for value in ("hello", "", "a:b:c", "\u00e9t\u00e9"):
            s = signing.Signer(key=SECRET, salt=salt)
            with pinned():
                t = signing.TimestampSigner(key=SECRET, salt=salt)
                ts_out = t.sign(value)
            signers.append({"salt": salt or "", "value": value, "signer": s.sign(value), "timestamp_signer": ts_out, "ts": TS})
    loads = []
    with pinned():
        good = signing.dumps(S, key=SECRET, compress=True)
        old = signing.dumps(S, key=OLD, compress=True)
        plain = signing.dumps({"k": "v"}, key=SECRET)
    tampered = good[:-2] + ("A" if good[-2] != "A" else "B") + good[-1]
    cases = [
        (good, SECRET, [], None, TS),
        (good, SECRET, [], 1209600, TS + 1209600),
        (good, SECRET, [], 1209600, TS + 1209601),
        (good, SECRET, [], 10, TS - 1000),  # future timestamp accepted
        (old, SECRET, [], None, TS),
        (old, SECRET, [OLD], None, TS),
        (old, "other", ["x", OLD], None, TS),
        (tampered, SECRET, [], None, TS),
        (plain, SECRET, [], None, TS),
        ("nocolon", SECRET, [], None, TS),
        ("", SECRET, [], None, TS),
        (good.replace(":", "|", 1), SECRET, [], None, TS),
    ]
    # correctly signed but bad payload / bad timestamp
    ts_signer = signing.TimestampSigner(key=SECRET, salt="django.core.signing")
    with pinned():
        cases.append((ts_signer.sign("!!notbase64"), SECRET, [], None, TS))
        cases.append((ts_signer.sign(".eJzLSM3JyQcABiwCFQ"), SECRET, [], None, TS))
    cases.append((signing.Signer(key=SECRET, salt="django.core.signing").sign("eyJrIjoidiJ9:!!"), SECRET, [], None, TS))
    for s, key, fb, max_age, now in cases:
        with mock.patch("django.core.signing.time.time", return_value=now):
            try:
                res = {"ok": True, "value": signing.loads(s, key=key, fallback_keys=fb, max_age=max_age)}
            except signing.SignatureExpired:
                res = {"ok": False, "error": "SignatureExpired"}
            except signing.BadSignature:
                res = {"ok": False, "error": "BadSignature"}
            except Exception as e:  # noqa: BLE001
                res = {"ok": False, "error": "Payload:" + err_name(e)}
        loads.append({"in": s, "key": key, "fallbacks": fb, "max_age": max_age or 0, "now": now, **res})
    b62 = [{"n": n, "s": signing.b62_encode(n)} for n in (0, 1, 61, 62, 1700000000, -5, 2**40)]
    write("signing.json", {"dumps": dumps, "signers": signers, "loads": loads, "b62": b62})


# ---------------------------------------------------------------- sessions
def gen_sessions():
    from django.contrib.sessions.backends.db import SessionStore as DBStore
    from django.contrib.sessions.backends.signed_cookies import SessionStore as CookieStore

    class MyStore(DBStore):
        pass

    MyStore.__qualname__ = "MyStore"  # as if defined at module level in a project

    envelopes = []
    dicts = [{"k": "v"}, S, {**S, "_session_expiry": 3600, "cart": [1, 2, 3]}, {}]
    for d in dicts:
        for cls, name in ((DBStore, "SessionStore"), (MyStore, "MyStore")):
            with pinned():
                enc = cls().encode(d)
            envelopes.append({"class": name, "key_salt": cls().key_salt, "dict": d, "encoded": enc, "ts": TS})
            with mock.patch("django.conf.settings.SECRET_KEY", OLD):
                with pinned():
                    enc_old = cls().encode(d)
            envelopes.append({"class": name, "key_salt": cls().key_salt, "dict": d, "encoded_old_key": enc_old, "ts": TS})
    cookies = []
    for d in dicts:
        with pinned():
            st = CookieStore()
            st.update(d)
            st._session_key = st._get_session_key()
            cookies.append({"dict": d, "cookie": st.session_key, "ts": TS})
    hashes = []
    for pw in ("pbkdf2_sha256$600000$fixedsalt1234567890abc$k+pVnNw1zKPRlQYPmFZq+Sj8NB78syxA21qqx6a4ElM=", "!unusable", "", "\u00e9"):
        for secret in (SECRET, OLD):
            h = salted_hmac(
                "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash", pw, secret=secret, algorithm="sha256"
            ).hexdigest()
            hashes.append({"password": pw, "secret": secret, "hash": h})
    write("sessions.json", {"envelopes": envelopes, "signed_cookies": cookies, "auth_hashes": hashes})


# ---------------------------------------------------------------- pickles
def gen_pickles():
    from django.core.cache.backends.redis import RedisSerializer
    from django_redis.compressors.gzip import GzipCompressor
    from django_redis.compressors.identity import IdentityCompressor
    from django_redis.compressors.lzma import LzmaCompressor
    from django_redis.compressors.zlib import ZlibCompressor
    from django_redis.serializers.pickle import PickleSerializer

    dicts = {
        "S": S,
        "V13": {**S, "_session_expiry": 3600, "n": 300, "neg": -5, "flag": True},
        "empty": {},
        "one": {"_auth_user_id": "7"},
        "types": {
            **S, "f": 1.5, "none": None, "l": [1, "a", [2]], "big": 2**70, "negbig": -(2**40), "b": b"raw",
            "t": (1, 2), "u": "\u00e9\u4e2d\U0001f600", "long": "y" * 300,
            "same": ["dup", "dup"], "f2": False,
        },
        "datetime": {**S, "last": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
                     "d": datetime.date(2024, 1, 2)},
        "int": 42,
        "bool": True,
    }
    batch = {**S, "lst": list(range(1200)), "many": {"k%d" % i: i for i in range(1100)}}
    exotic = {"set": {**S, "s": {1, 2}}, "frozenset": {**S, "s": frozenset({"a"})}}

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    out = []
    for name, d in dicts.items():
        out.append({"name": name, "source": "django.core.cache.backends.redis", "compressor": "",
                    "hex": (lambda v: v if isinstance(v, bytes) else str(v).encode())(RedisSerializer().dumps(d)).hex(),
                    "value": jsonable(d)})
        for proto in (4, 5):
            ser = PickleSerializer({"PICKLE_VERSION": proto})
            for cname, comp in (("identity", IdentityCompressor({})), ("zlib", ZlibCompressor({})),
                                ("gzip", GzipCompressor({})), ("lzma", LzmaCompressor({}))):
                if isinstance(d, int) and not isinstance(d, bool):
                    raw = str(d).encode()
                else:
                    raw = comp.compress(ser.dumps(d))
                out.append({"name": name, "source": "django_redis", "protocol": proto, "compressor": cname,
                            "hex": raw.hex(), "value": jsonable(d)})
    out.append({"name": "batch", "source": "django.core.cache.backends.redis", "compressor": "",
                "hex": RedisSerializer().dumps(batch).hex(), "value": jsonable(batch)})
    for name, d in exotic.items():
        out.append({"name": name, "source": "django.core.cache.backends.redis", "compressor": "",
                    "hex": pickle.dumps(d, 5).hex(), "value": jsonable(d)})
    out.append({"name": "evil", "source": "pickle", "compressor": "", "hex": pickle.dumps({**S, "x": Evil()}, 5).hex(),
                "value": None, "reject": True})
    write("pickles.json", out)


def jsonable(v):
    """Describe a pickled value as JSON the Go test compares with."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return {"$int": str(v)}
    if isinstance(v, float):
        return {"$float": repr(v)}
    if isinstance(v, bytes):
        return {"$bytes": v.hex()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {"$dict": [[k, jsonable(x)] for k, x in v.items()]}
    if isinstance(v, (set, frozenset)):
        return {"$object": "builtins." + type(v).__name__}
    return {"$object": type(v).__module__ + "." + type(v).__qualname__}


# ---------------------------------------------------------------- cookies
def gen_cookies():
    headers = [
        "sessionid=abcdefghijklmnopqrstuvwxyz012345",
        "a=1; sessionid=first123456; sessionid=second12345",
        "  sessionid = spaced12345 ; x=y",
        'sessionid="quoted123456"',
        'q="a\\"b\\\\c\\012d\\377e\\x"',
        'q="\\400"; r="\\3777"',
        '"lonely"; =nameless; novalue; ;;',
        "a=b=c; d==",
        "",
        ";",
        "sessionid=",
        "sessionid",
        "key\x1c=\xa0val\x85",
        "x=\"unterminated",
        "x=\"",
        "x=\"\"",
        "csrftoken=abc; sessionid=xyz12345678; messages=\"W1siX19q\\054\"",
        "a=1,b=2; c=3",
        "\u00e9=\u00ff",
        'q="back\\\nslash"',
    ]
    write("cookies.json", [{"header": h, "result": parse_cookie(h)} for h in headers])


# ---------------------------------------------------------------- origins
def gen_origins():
    from channels.security.websocket import OriginValidator

    lists = [
        (["example.com"], False),
        ([".example.com"], False),
        (["https://example.com"], False),
        (["http://.example.com:8080"], False),
        (["*"], False),
        ([], False),
        ([], True),
        (["example.com:8000", "localhost:8000"], False),
        (["127.0.0.1:8000"], False),
        (["[::1]", "EXAMPLE.org"], False),
        (["https://example.com", "*"], False),
        (["wss://example.com"], False),
        ([""], False),
        (["[bad"], False),
    ]
    origins = [
        None, ["https://example.com"], ["http://example.com:8080"], ["wss://EXAMPLE.com"],
        ["https://sub.example.com"], ["https://example.com."], ["https://a.b.example.com"], ["https://badexample.com"],
        ["https://example.com:443"], ["http://example.com"], ["https://example.com:8443"], ["null"], [""],
        ["http://[::1]:8000"], ["http://sub.localhost:3000"], ["http://localhost:3000"], ["https://user@example.com"],
        ["https://evil.com", "https://example.com"], ["https://example.com", "https://evil.com"],
        ["example.com"], ["//example.com"], ["https://example.com:99999"], ["https://example.com:abc"],
        ["http://[::1"], ["http://127.0.0.1:8000"], ["https://example.com/path?q#f"], ["HTTPS://Example.COM"],
        ["https://example.org"], ["http://[v1.x]"], ["http://[1.2.3.4]"], ["  https://example.com"],
        ["ht\ttps://exa\nmple.com"], ["https://user:pw@evil.com@example.com"], ["https://ex\u00e4mple.com"],
        ["http://example.com:"], ["ws://example.com:80"], ["https://[::1]:443"],
    ]
    cases = []
    for allowed, debug in lists:
        with mock.patch.object(settings, "ALLOWED_HOSTS", allowed), mock.patch.object(settings, "DEBUG", debug):
            hosts = settings.ALLOWED_HOSTS
            if settings.DEBUG and not hosts:
                hosts = ["localhost", "127.0.0.1", "[::1]"]
            v = OriginValidator(None, hosts)
        for o in origins:
            parsed = None
            try:
                for h in (o or []):
                    from urllib.parse import urlparse
                    parsed = urlparse(h.encode("latin1").decode("latin1"))
                res = v.valid_origin(parsed)
            except ValueError:
                res = "error"
            cases.append({"allowed_hosts": allowed, "debug": debug, "origin": o, "result": res})
    write("origins.json", cases)


# ---------------------------------------------------------------- sqlite db + verdicts
def gen_db():
    from django.contrib.auth import get_user
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.db import connection
    from django.http import HttpRequest

    call_command("migrate", verbosity=0, interactive=False)
    far = datetime.datetime(2099, 1, 1, tzinfo=datetime.timezone.utc)
    past = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)

    def mk(username, **kw):
        u = User(username=username, **{k: v for k, v in kw.items() if k != "pw"})
        u.password = "pbkdf2_sha256$600000$fixedsalt1234567890abc$k+pVnNw1zKPRlQYPmFZq+Sj8NB78syxA21qqx6a4ElM=" + kw.get("pw", "")
        u.save()
        return u

    alice = mk("alice", is_staff=True)
    bob = mk("bob", is_active=False)
    carol = mk("carol", is_superuser=True, is_staff=True, pw="x")
    dave = mk("dave", pw="y")
    gone = mk("gone", pw="z")

    def h(user, secret=SECRET):
        return salted_hmac("django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash", user.password,
                           secret=secret, algorithm="sha256").hexdigest()

    MB = "django.contrib.auth.backends.ModelBackend"
    AA = "django.contrib.auth.backends.AllowAllUsersModelBackend"
    scenarios = []

    def session(name, reason, data, expire=far, key=None, signing_key=None):
        s = SessionStore(session_key=None)
        s.update(data)
        s.set_expiry(expire)
        if signing_key:
            with mock.patch("django.conf.settings.SECRET_KEY", signing_key):
                s.save()
        else:
            s.save()
        sk = s.session_key
        if key:  # rename the row to a chosen key
            connection.cursor().execute("UPDATE django_session SET session_key=%s WHERE session_key=%s", [key, sk])
            sk = key
        scenarios.append({"name": name, "session_key": sk, "reason": reason})
        return sk

    def auth(u, backend=MB, hash_=None, uid=None):
        return {"_auth_user_id": uid if uid is not None else str(u.pk), "_auth_user_backend": backend,
                "_auth_user_hash": hash_ if hash_ is not None else h(u)}

    session("valid", "ok", auth(alice))
    session("superuser", "ok", auth(carol))
    session("expired", "expired", auth(alice), expire=past)
    session("fallback_signed", "ok", auth(alice), signing_key=OLD)
    session("fallback_hash", "ok", auth(alice, hash_=h(alice, OLD)))
    session("stale_hash", "hash_mismatch", auth(alice, hash_=h(dave)))
    session("upper_hash", "hash_mismatch", auth(alice, hash_=h(alice).upper()))
    session("empty_hash", "hash_mismatch", auth(alice, hash_=""))
    nohash = auth(alice)
    del nohash["_auth_user_hash"]
    session("missing_hash", "hash_mismatch", nohash)
    session("inactive", "inactive", auth(bob))
    session("inactive_allow_all", "ok", auth(bob, backend=AA))
    session("backend_not_listed", "backend_not_allowed", auth(alice, backend="django.contrib.auth.backends.RemoteUserBackend"))
    session("backend_near_miss", "backend_not_allowed", auth(alice, backend=MB + " "))
    gone_hash = h(gone)
    session("user_deleted", "no_user", auth(gone, hash_=gone_hash))
    session("spaced_id", "ok", auth(alice, uid=" %d " % alice.pk))
    session("underscore_id", "ok", auth(alice, uid="0_%d" % alice.pk))
    session("underscore_id_no_user", "no_user", auth(alice, uid="%d_0" % alice.pk))
    session("int_id", "ok", auth(alice, uid=alice.pk))
    session("plus_id", "ok", auth(alice, uid="+%d" % alice.pk))
    session("non_numeric_id", "bad_session", auth(alice, uid="abc"))
    session("anonymous_session", "no_user", {"cart": [1, 2]})
    session("password_changed", "hash_mismatch", auth(dave))
    session("short_key", "no_session", auth(alice), key="short12")
    session("eight_char_key", "ok", auth(alice), key="eight123")
    tampered = session("tampered", "bad_signature", auth(alice))
    connection.cursor().execute(
        "UPDATE django_session SET session_data = session_data || 'x' WHERE session_key=%s", [tampered])
    session("expired_then_valid_payload", "expired", auth(alice), expire=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1))
    gone.delete()
    User.objects.filter(pk=dave.pk).update(password=dave.password + "changed")
    scenarios.append({"name": "missing_row", "session_key": "nosuchsessionkey000000000000000", "reason": "no_session"})

    connection.close()
    shutil.copy(DB, os.path.join(OUT, "django.sqlite3"))
    # Verdicts from real Django on a scratch copy (get_user may flush).
    scratch = os.path.join(WORK, "scratch.sqlite3")
    for sc in scenarios:
        shutil.copy(DB, scratch)
        settings.DATABASES["default"]["NAME"] = scratch
        connection.close()
        connection.settings_dict["NAME"] = scratch
        req = HttpRequest()
        req.COOKIES = {"sessionid": sc["session_key"]}
        req.session = SessionStore(sc["session_key"])
        try:
            u = get_user(req)
            sc["authenticated"] = bool(u.is_authenticated)
            sc["user_id"] = str(u.pk) if u.is_authenticated else ""
            sc["username"] = u.username if u.is_authenticated else ""
            sc["is_staff"] = bool(u.is_staff)
            sc["is_superuser"] = bool(u.is_superuser)
        except Exception as e:  # noqa: BLE001 - Django raises (a 500)
            sc["authenticated"] = False
            sc["user_id"] = ""
            sc["username"] = ""
            sc["is_staff"] = sc["is_superuser"] = False
            sc["django_error"] = err_name(e)
        connection.close()
    write("db_scenarios.json", {
        "settings": {
            "SECRET_KEY": SECRET,
            "SECRET_KEY_FALLBACKS": [OLD],
            "USE_TZ": True,
            "SESSION_ENGINE": "django.contrib.sessions.backends.db",
            "AUTHENTICATION_BACKENDS": [MB, AA],
            "DATABASES": {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "django.sqlite3"}},
        },
        "scenarios": scenarios,
    })


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    parts = sys.argv[1:] or ["signing", "sessions", "pickles", "cookies", "origins", "db"]
    for p in parts:
        globals()["gen_" + p]()
    shutil.rmtree(WORK, ignore_errors=True)
