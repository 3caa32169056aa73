"""laurel's verdict on a Cookie header must equal django.contrib.auth.get_user's, for every
session engine, database, cache backend and user model in djangoauth_cases.PROFILES, and laurel
must never write to any store while deciding."""

from __future__ import annotations

import pytest

from djangoauth_cases import CASES_BY_NAME, PROFILES_BY_NAME, active_profiles, cases_for
from djangoauth_harness import authcheck, laurel_settings, write_settings

USER_FIELDS = ("user_id", "username", "is_staff", "is_superuser")
REASONS = {"ok", "no_cookie", "bad_signature", "expired", "no_session", "no_user", "inactive",
           "hash_mismatch", "backend_not_allowed", "store_unavailable", "bad_session"}

PROFILES = active_profiles()
CASE_PARAMS = [pytest.param(p.name, c.name, id=f"{p.name}-{c.name}")
               for p in PROFILES for c in cases_for(p)]


@pytest.mark.parametrize("profile_name,case_name", CASE_PARAMS)
def test_django_decides_as_constructed(djangoauth_run, profile_name, case_name):
    """Guards the construction: if a case does not make Django decide what it was built for,
    comparing laurel with it would prove nothing."""
    run = djangoauth_run(profile_name)
    case = CASES_BY_NAME[case_name]
    engine = PROFILES_BY_NAME[profile_name].engine
    assert run.django[case_name]["authenticated"] is case.expected_django(engine), run.django[case_name]


def _check_verdict(got: dict, want: dict, reasons: frozenset[str], what: str) -> None:
    assert isinstance(got, dict) and "authenticated" in got, f"{what}: malformed reply {got!r}"
    assert got.get("reason") in REASONS, f"{what}: unknown reason in {got!r}"
    assert got["authenticated"] is want["authenticated"], f"{what}: laurel {got!r}, Django {want!r}"
    if want["authenticated"]:
        for f in USER_FIELDS:
            assert got.get(f) == want[f], f"{what}: {f}: laurel {got!r}, Django {want!r}"
    assert (got["reason"] == "ok") is got["authenticated"], f"{what}: {got!r}"
    assert got["reason"] in reasons, f"{what}: reason {got['reason']!r} not in {sorted(reasons)}"


@pytest.mark.parametrize("profile_name,case_name", CASE_PARAMS)
def test_laurel_matches_django(djangoauth_run, profile_name, case_name):
    run = djangoauth_run(profile_name)
    if run.laurel_error:
        pytest.fail(f"authcheck did not run: {run.laurel_error}")
    case = CASES_BY_NAME[case_name]
    reasons = case.expected_reasons(PROFILES_BY_NAME[profile_name].engine)
    want = run.django[case_name]
    _check_verdict(run.laurel[case_name], want, reasons, "cookie")
    if case_name in run.laurel_by_key:
        # The same session handed over as a bare key must get the same verdict.
        assert run.laurel_by_key[case_name] == run.laurel[case_name]


def _redis_unchanged(before: dict, after: dict) -> None:
    assert sorted(after) == sorted(before), "laurel added or removed cache keys"
    for key, b in before.items():
        a = after[key]
        assert a["sha256"] == b["sha256"], f"laurel rewrote {key}"
        # TTLs only count down: an EXPIRE/PERSIST/SET by laurel would move them up or drop them.
        assert (a["pttl"] < 0) == (b["pttl"] < 0), f"laurel changed the TTL of {key}"
        assert a["pttl"] <= b["pttl"], f"laurel extended the TTL of {key}"


@pytest.mark.parametrize("profile_name", [p.name for p in PROFILES])
def test_laurel_never_writes(djangoauth_run, profile_name):
    run = djangoauth_run(profile_name)
    if run.laurel_error:
        pytest.fail(f"authcheck did not run: {run.laurel_error}")
    before, after = run.before, run.after
    assert before["users"], "snapshot saw no users: the snapshot is broken"
    assert after["users"] == before["users"], "laurel changed the user table"
    profile = PROFILES_BY_NAME[profile_name]
    if profile.engine in ("db", "cached_db"):
        assert before["sessions"], "snapshot saw no session rows"
        assert after["sessions"] == before["sessions"], "laurel changed django_session"
    if profile.cache is not None:
        assert before["redis"], "snapshot saw no cache keys"
        _redis_unchanged(before["redis"], after["redis"])
    if profile.engine == "file":
        assert before["files"], "snapshot saw no session files"
        assert after["files"] == before["files"], "laurel changed session files"


def test_channels_auth_differs_from_django_only_on_key_fallbacks(djangoauth_run):
    """Pins the deliberate difference documented in docs/djangoauth-compat.md: laurel follows
    django.contrib.auth.get_user, and channels.auth.get_user (AuthMiddlewareStack) agrees with it
    on every case except a session whose hash only matches a SECRET_KEY_FALLBACKS entry, which
    Channels logs out. Judged on signed_cookies, where judging twice cannot change the store."""
    run = djangoauth_run("signed_cookies")
    assert run.channels.keys() == run.django.keys()
    differ = sorted(n for n in run.django if run.channels[n] != run.django[n])
    assert differ == ["rotated_with_fallback"], {n: (run.django[n], run.channels[n]) for n in differ}
    assert run.django["rotated_with_fallback"]["authenticated"] is True
    assert run.channels["rotated_with_fallback"]["authenticated"] is False


def test_comparison_sees_a_settings_change(djangoauth_run, authcheck_binary):
    """Guards the harness itself: laurel given the rotated settings minus the old key must stop
    authenticating the rotated_with_fallback cookie that Django accepts, i.e. laurel's verdicts
    really depend on the settings.json the suite writes, and a wrong verdict would be caught."""
    run = djangoauth_run("signed_cookies")
    if run.laurel_error:
        pytest.fail(f"authcheck did not run: {run.laurel_error}")
    assert run.django["rotated_with_fallback"]["authenticated"] is True
    settings = laurel_settings(PROFILES_BY_NAME["signed_cookies"], run.settings["rotated"])
    settings["SECRET_KEY_FALLBACKS"] = []
    path = write_settings(settings, run.workdir, "rotated-without-old-key")
    proc = authcheck(authcheck_binary(), path, run.workdir, "rotated-without-old-key")
    try:
        got = proc.ask({"cookie": run.cases["rotated_with_fallback"]["cookie"]})
    finally:
        proc.close()
    assert got["authenticated"] is False, got
    assert got["reason"] == "bad_signature", got


# What the session values in Redis must start with, per cache profile: Django's RedisCache pickles
# with HIGHEST_PROTOCOL (5); django-redis with pickle.DEFAULT_PROTOCOL (4 before Python 3.14, 5
# from 3.14); its ZlibCompressor gives a zlib stream (78 9c).
CACHE_VALUE_HEADS = {
    "cache_redis": {"8005"},
    "cached_db": {"8005"},
    "cache_django_redis": {"8004", "8005"},
    "custom_user_cache_postgres": {"8004", "8005"},
    "cache_django_redis_zlib": {"789c"},
}


@pytest.mark.parametrize("profile_name", sorted(CACHE_VALUE_HEADS))
def test_cache_profiles_store_the_format_they_claim(djangoauth_run, profile_name):
    """Guards the matrix: each cache profile really stores the encoding it is meant to cover."""
    heads = {v["head"] for v in djangoauth_run(profile_name).before["redis"].values()}
    assert heads and heads <= CACHE_VALUE_HEADS[profile_name], heads
