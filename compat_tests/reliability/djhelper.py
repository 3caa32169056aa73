"""Django-side actions for the reliability suite, run as a subprocess with the djproject settings.

    python djhelper.py session USERNAME...   create/reset each user, log it in; print one session key a line
    python djhelper.py logout SESSION_KEY    delete the session (what django.contrib.auth.logout does)
    python djhelper.py setpassword USERNAME  change the password (the session hash no longer matches)
    python djhelper.py deactivate USERNAME   is_active = False

Everything goes through Django's own APIs (SessionStore, auth.login's session keys, set_password),
so laurel reads exactly what Django wrote.
"""

from __future__ import annotations

import os
import sys

import django


def main() -> None:
    django.setup()

    cmd, args = sys.argv[1], sys.argv[2:]
    for arg in args:
        run(cmd, arg)


def run(cmd: str, arg: str) -> None:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    User = get_user_model()
    if cmd == "session":
        user, _ = User.objects.get_or_create(username=arg)
        user.set_password(arg + "-pw-" + os.urandom(4).hex())
        user.is_active = True
        user.save()
        s = SessionStore()
        s[SESSION_KEY] = str(user.pk)
        s[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        s[HASH_SESSION_KEY] = user.get_session_auth_hash()
        s.create()
        print(s.session_key)
    elif cmd == "logout":
        SessionStore(session_key=arg).delete()
    elif cmd == "setpassword":
        user = User.objects.get(username=arg)
        user.set_password("changed-" + os.urandom(4).hex())
        user.save()
    elif cmd == "deactivate":
        User.objects.filter(username=arg).update(is_active=False)
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
