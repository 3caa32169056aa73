"""laurel's Origin check must equal Channels' AllowedHostsOriginValidator (channels 4.3.2,
channels/security/websocket.py) run as a real ASGI app on a websocket scope.

Each case: the Origin header values in order (none, one, or several: Channels uses the last),
ALLOWED_HOSTS and DEBUG. `want` is what Channels decides by construction (checked, so a case that
stops testing what it says fails); laurel is compared with Channels' actual answer.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from djangoauth_harness import ORIGIN_HELPER, authcheck, write_settings

DEBUG_LIST = []  # ALLOWED_HOSTS empty + DEBUG=True -> ["localhost", "127.0.0.1", "[::1]"]

# name, origin header values, ALLOWED_HOSTS, DEBUG, Channels' verdict by construction
ORIGIN_CASES = [
    ("bare_host_https", ["https://example.com"], ["example.com"], False, True),
    ("bare_host_other_port", ["http://example.com:8080"], ["example.com"], False, True),
    ("bare_host_case_insensitive", ["wss://EXAMPLE.com"], ["example.com"], False, True),
    ("pattern_case_insensitive", ["https://EXAMPLE.COM"], ["Example.Com"], False, True),
    ("bare_host_no_subdomain", ["https://sub.example.com"], ["example.com"], False, False),
    ("origin_trailing_dot", ["https://example.com."], ["example.com"], False, False),
    ("dot_pattern_bare_domain", ["https://example.com"], [".example.com"], False, True),
    ("dot_pattern_deep_subdomain", ["https://a.b.example.com"], [".example.com"], False, True),
    ("dot_pattern_suffix_attack", ["https://badexample.com"], [".example.com"], False, False),
    ("suffix_attack_other_domain", ["https://example.com.evil.org"], ["example.com"], False, False),
    ("wildcard_star_label_is_literal", ["https://a.example.com"], ["*.example.com"], False, False),
    ("scheme_pattern_default_port", ["https://example.com:443"], ["https://example.com"], False, True),
    ("scheme_pattern_wrong_scheme", ["http://example.com"], ["https://example.com"], False, False),
    ("scheme_pattern_wrong_port", ["https://example.com:8443"], ["https://example.com"], False, False),
    ("scheme_pattern_upper_origin", ["HTTPS://EXAMPLE.COM"], ["https://example.com"], False, True),
    ("scheme_pattern_explicit_port", ["https://example.com:443"], ["https://example.com:443"], False, True),
    ("scheme_pattern_ws_vs_http", ["http://example.com:80"], ["ws://example.com"], False, False),
    ("scheme_pattern_dot_subdomain", ["http://a.example.com"], ["http://.example.com"], False, True),
    ("scheme_pattern_port_out_of_range", ["https://example.com:99999"], ["https://example.com"],
     False, False),
    ("bare_pattern_port_out_of_range", ["https://example.com:99999"], ["example.com"], False, True),
    ("host_port_pattern_trap", ["https://example.com"], ["example.com:8000"], False, False),
    ("ip_port_pattern_matches_host", ["https://127.0.0.1"], ["127.0.0.1:8000"], False, True),
    ("no_origin", [], ["example.com"], False, False),
    ("no_origin_star", [], ["*"], False, True),
    ("null_origin_star", ["null"], ["*"], False, True),
    ("null_origin", ["null"], ["example.com"], False, False),
    ("empty_origin", [""], ["example.com"], False, False),
    ("empty_origin_star", [""], ["*"], False, True),
    ("schemeless_origin", ["example.com"], ["example.com"], False, False),
    ("star_any_origin", ["https://anything.invalid"], ["*"], False, True),
    ("empty_allowed_hosts", ["https://example.com"], [], False, False),
    ("debug_list_ipv6", ["http://[::1]:8000"], DEBUG_LIST, True, True),
    ("debug_list_localhost", ["http://localhost:3000"], DEBUG_LIST, True, True),
    ("debug_list_loopback", ["http://127.0.0.1:8000"], DEBUG_LIST, True, True),
    ("debug_list_no_subdomain", ["http://sub.localhost:3000"], DEBUG_LIST, True, False),
    ("debug_list_other_host", ["https://example.com"], DEBUG_LIST, True, False),
    ("debug_with_hosts_uses_hosts", ["https://example.com"], ["example.com"], True, True),
    ("debug_with_hosts_no_localhost", ["http://localhost"], ["example.com"], True, False),
    ("userinfo_ignored", ["https://user@example.com"], ["example.com"], False, True),
    ("path_and_query_ignored", ["https://example.com/chat?room=1"], ["example.com"], False, True),
    ("ipv6_bare_pattern", ["https://[::1]:8443"], ["[::1]"], False, True),
    ("several_patterns", ["https://other.org"], [".example.com", "other.org"], False, True),
    ("idna_host", ["https://xn--bcher-kva.example"], ["xn--bcher-kva.example"], False, True),
    ("two_headers_last_allowed", ["https://evil.com", "https://example.com"], ["example.com"],
     False, True),
    ("two_headers_last_denied", ["https://example.com", "https://evil.com"], ["example.com"],
     False, False),
]

IDS = [c[0] for c in ORIGIN_CASES]

# The production path: laurel takes ALLOWED_HOSTS and DEBUG from settings.json (the request line
# carries only the Origin values). settings group -> (ALLOWED_HOSTS, DEBUG, [(origins, want)]).
SETTINGS_GROUPS = {
    "hosts": ([".example.com", "https://app.example.org"], False, [
        (["https://example.com"], True),
        (["https://chat.example.com:8443"], True),
        (["https://app.example.org"], True),
        (["http://app.example.org"], False),
        (["https://evil.org"], False),
        ([], False),
    ]),
    "debug": ([], True, [
        (["http://localhost:8000"], True),
        (["http://[::1]"], True),
        (["https://example.com"], False),
    ]),
    "star": (["*"], False, [
        ([], True),
        (["null"], True),
    ]),
}
SETTINGS_CASES = [(f"settings_{g}_{i}", g, origins, want)
                  for g, (_, _, items) in SETTINGS_GROUPS.items()
                  for i, (origins, want) in enumerate(items)]
SETTINGS_IDS = [c[0] for c in SETTINGS_CASES]


@pytest.fixture(scope="module")
def origin_results(tmp_path_factory, authcheck_binary):
    workdir = str(tmp_path_factory.mktemp("djangoauth-origin"))
    cases = [{"name": n, "origin": o, "allowed_hosts": h, "debug": d}
             for n, o, h, d, _ in ORIGIN_CASES]
    cases += [{"name": n, "origin": o, "allowed_hosts": SETTINGS_GROUPS[g][0],
               "debug": SETTINGS_GROUPS[g][1]} for n, g, o, _ in SETTINGS_CASES]
    out = subprocess.run([sys.executable, ORIGIN_HELPER], input=json.dumps(
        {"workdir": workdir, "cases": cases}), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-4000:]
    channels = json.loads(out.stdout)
    laurel: dict = {}
    laurel_error = None
    try:
        settings = dict(channels["settings"], LAUREL_VERDICT_TTL=0)
        proc = authcheck(authcheck_binary(), write_settings(settings, workdir, "origin"),
                         workdir, "origin")
        try:
            for n, o, h, d, _ in ORIGIN_CASES:
                laurel[n] = proc.ask({"origin": o, "allowed_hosts": h, "debug": d})
        finally:
            proc.close()
        for group, (hosts, debug, _) in SETTINGS_GROUPS.items():
            gs = dict(settings, ALLOWED_HOSTS=hosts, DEBUG=debug)
            proc = authcheck(authcheck_binary(), write_settings(gs, workdir, f"origin-{group}"),
                             workdir, f"origin-{group}")
            try:
                for n, g, o, _ in SETTINGS_CASES:
                    if g == group:
                        laurel[n] = proc.ask({"origin": o})
            finally:
                proc.close()
    except Exception as e:  # noqa: BLE001 - every laurel comparison fails with it
        laurel_error = f"{type(e).__name__}: {e}"
    return channels, laurel, laurel_error


def test_enough_origin_cases():
    assert len(ORIGIN_CASES) >= 25
    assert len(set(IDS)) == len(IDS)


@pytest.mark.parametrize("case", ORIGIN_CASES, ids=IDS)
def test_channels_decides_as_constructed(origin_results, case):
    name, _, _, _, want = case
    got = origin_results[0]["results"][name]
    assert got["allowed"] is want, got


@pytest.mark.parametrize("case", ORIGIN_CASES, ids=IDS)
def test_laurel_origin_matches_channels(origin_results, case):
    channels, laurel, laurel_error = origin_results
    if laurel_error:
        pytest.fail(f"authcheck did not run: {laurel_error}")
    name = case[0]
    got = laurel[name]
    assert set(got) >= {"origin_allowed"}, f"malformed reply {got!r}"
    assert got["origin_allowed"] is channels["results"][name]["allowed"], (
        f"laurel {got!r}, Channels {channels['results'][name]!r}")


@pytest.mark.parametrize("case", SETTINGS_CASES, ids=SETTINGS_IDS)
def test_channels_decides_as_constructed_settings(origin_results, case):
    name, _, _, want = case
    got = origin_results[0]["results"][name]
    assert got["allowed"] is want, got


@pytest.mark.parametrize("case", SETTINGS_CASES, ids=SETTINGS_IDS)
def test_laurel_origin_from_settings_matches_channels(origin_results, case):
    """ALLOWED_HOSTS and DEBUG read from settings.json, as laurel does in production."""
    channels, laurel, laurel_error = origin_results
    if laurel_error:
        pytest.fail(f"authcheck did not run: {laurel_error}")
    name = case[0]
    assert laurel[name].get("origin_allowed") is channels["results"][name]["allowed"], (
        f"laurel {laurel[name]!r}, Channels {channels['results'][name]!r}")
