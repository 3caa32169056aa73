"""Channel and group name validation agrees with channels' BaseChannelLayer.

Python's check is len(name) < 100 plus the regexes
^[a-zA-Z\\d\\-_.]+(\\![\\d\\w\\-_.]*)?$ (channels) and ^[a-zA-Z\\d\\-_.]+$
(groups) with Python's semantics: Unicode \\d and \\w, and $ matching before
one trailing newline. Each name is checked by the Python layer's own
validator and by a laurel call that validates it (group_discard, which
changes nothing in Redis); both must accept or both reject.
"""

from __future__ import annotations

import pytest

from channelsproto.client import GoError

pytestmark = pytest.mark.wire

CHANNELS = [
    "a", "a" * 99, "a" * 100, "ABC-xyz_0.9", "specific.abc!", "specific.abc!def", "specific.abc!-_.",
    "abc\n", "abc\n\n", "abc\r", "\nabc", "١٢٣", "a!é", "a!١", "a!ǅ", "a!Ⅻ", "a!½", "a!e\u0301", "a²", "a!²",
    "é", "a b", "a:b", "", "a!b!c", "!a", "a!" + "é" * 97, "a!" + "é" * 98, "a\x00", "a!\t", "a$b", "a/b",
]
GROUPS = [
    "grp", "g" * 99, "g" * 100, "a.b-c_d", "a:b", "a!b", "a b", "grp\n", "grp\n\n", "١", "é", "", "a\u0301", "a²",
]


def python_accepts(layer, kind: str, name: str) -> bool:
    fn = getattr(layer, f"require_valid_{kind}_name", None) or getattr(layer, f"valid_{kind}_name")
    try:
        return bool(fn(name))
    except TypeError:
        return False


def go_accepts(call) -> bool:
    try:
        call()
        return True
    except GoError as e:
        assert e.kind == "invalid_name", e
        return False


@pytest.mark.parametrize("name", CHANNELS, ids=[repr(n)[:40] for n in CHANNELS])
def test_channel_names(layers, name):
    py, go = layers
    assert go_accepts(lambda: go.group_discard("valid-group", name)) == python_accepts(py, "channel", name)


@pytest.mark.parametrize("name", GROUPS, ids=[repr(n)[:40] for n in GROUPS])
def test_group_names(layers, name):
    py, go = layers
    assert go_accepts(lambda: go.group_discard(name, "valid.channel")) == python_accepts(py, "group", name)
