"""Lets Django 6.x import on the suite's Python 3.11 (see docs/djangoauth-compat.md).

Django 6 declares Python >= 3.12; the compat venvs are built with the machine's python3 (3.11).
The only 3.12-only names Django needs on the paths this suite exercises are
inspect.markcoroutinefunction and an inspect.iscoroutinefunction that honours its marker. This
installs them the way asyncio itself marks coroutine functions on 3.11, and only when the
installed Django is 6 or newer on a Python older than 3.12; otherwise it does nothing.
"""

from __future__ import annotations

import sys


def install() -> bool:
    """Install the shim if needed; return whether it was installed."""
    if sys.version_info >= (3, 12):
        return False
    import importlib.metadata

    if int(importlib.metadata.version("django").split(".")[0]) < 6:
        return False
    import asyncio.coroutines
    import inspect

    orig = inspect.iscoroutinefunction

    def iscoroutinefunction(func):
        return orig(func) or getattr(func, "_is_coroutine", None) is asyncio.coroutines._is_coroutine

    def markcoroutinefunction(func):
        func._is_coroutine = asyncio.coroutines._is_coroutine
        return func

    inspect.iscoroutinefunction = iscoroutinefunction
    inspect.markcoroutinefunction = markcoroutinefunction
    return True
