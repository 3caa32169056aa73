"""The suite's own comparison and codec must be able to fail: strict() tells
apart what plain == conflates, and tag()/untag() is lossless."""

from __future__ import annotations

import pytest

from channelsproto.cases import VALUE_SAMPLES
from channelsproto.client import strict, tag, untag


@pytest.mark.parametrize(
    "a, b",
    [
        (1, 1.0), (1, True), (0, False), (b"a", "a"), ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
        ([1, [2]], [1, [2.0]]), (0.0, -0.0), (None, False), ({"a": None}, {"a": 0}),
    ],
)
def test_strict_tells_apart(a, b):
    assert strict(a) != strict(b)


def test_strict_nan_equals_nan():
    assert strict(float("nan")) == strict(float("nan"))


@pytest.mark.parametrize("msg", VALUE_SAMPLES.values(), ids=VALUE_SAMPLES.keys())
def test_tag_round_trip(msg):
    assert strict(untag(tag(msg))) == strict(msg)
