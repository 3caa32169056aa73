"""pytest-side plumbing for the djangoauth compat suite: the Django helper subprocess, the authcheck
subprocess, and the per-profile run that puts them in the order that keeps the comparison fair
(laurel judges first, Django second, because Django's get_user may flush or cycle a session)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from djangoauth_cases import SHORT_AGE_WAIT, Profile

HERE = os.path.dirname(os.path.abspath(__file__))
HELPER = os.path.join(HERE, "djangoauth_helper.py")
ORIGIN_HELPER = os.path.join(HERE, "djangoauth_origin_helper.py")

# Where the reply to one line must arrive (seconds). Generous: authcheck is built with -race and
# the machine is shared.
REPLY_TIMEOUT = 60.0


class LineProcess:
    """A subprocess spoken to in JSON lines: one request line, one reply line."""

    def __init__(self, args: list[str], stderr_path: str, cwd: str | None = None):
        self.args = args
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "wb")
        self.proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            cwd=cwd, text=True, encoding="utf-8", bufsize=1,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def stderr_tail(self, n: int = 4000) -> str:
        self._stderr.flush()
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def ask(self, obj: dict, timeout: float = REPLY_TIMEOUT) -> dict:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(obj, ensure_ascii=False) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError as e:
            raise RuntimeError(f"{self.args[0]} exited: {self.stderr_tail()}") from e
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no reply from {self.args[0]} to {obj!r} in {timeout}s; "
                               f"stderr: {self.stderr_tail()}") from None
        if line is None:
            raise RuntimeError(f"{self.args[0]} exited (rc={self.proc.poll()}) on {obj!r}: "
                               f"{self.stderr_tail()}")
        try:
            reply = json.loads(line)
        except json.JSONDecodeError as e:
            raise RuntimeError(f"{self.args[0]} printed a non-JSON line {line!r}") from e
        if isinstance(reply, dict) and "error" in reply and "traceback" in reply:
            raise RuntimeError(f"helper failed: {reply['error']}\n{reply['traceback']}")
        return reply

    def close_stdin(self) -> None:
        """Signal end of input (the process should exit on its own)."""
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass

    def close(self) -> None:
        """Close stdin and wait for the process to exit (killing it after 15 s)."""
        self.close_stdin()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._stderr.close()


def django_helper(workdir: str, name: str = "helper") -> LineProcess:
    """Start djangoauth_helper.py with the interpreter running pytest (the venv's own Django)."""
    return LineProcess([sys.executable, HELPER], os.path.join(workdir, f"{name}.stderr"), cwd=HERE)


def write_settings(settings: dict, workdir: str, name: str) -> str:
    """Write the settings.json authcheck reads; return its path."""
    path = os.path.join(workdir, f"settings-{name}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(settings, f, indent=1, ensure_ascii=False)
    return path


def authcheck(binary: str, settings_path: str, workdir: str, name: str) -> LineProcess:
    """Start `authcheck --settings <file>`."""
    return LineProcess([binary, "--settings", settings_path],
                       os.path.join(workdir, f"authcheck-{name}.stderr"))


def databases_for(profile: Profile, workdir: str, postgres_server, mariadb_server=None) -> dict:
    if profile.database == "sqlite":
        return {"default": {"ENGINE": "django.db.backends.sqlite3",
                            "NAME": os.path.join(workdir, "db.sqlite3")}}
    dbname = "laurel_" + profile.name
    if profile.database == "mysql":
        mariadb_server.createdb(dbname)
        return {"default": {"ENGINE": "django.db.backends.mysql", "NAME": dbname,
                            "USER": "root", "PASSWORD": "", "HOST": "127.0.0.1",
                            "PORT": str(mariadb_server.port)}}
    postgres_server.createdb(dbname)
    return {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": dbname,
                        "USER": "postgres", "PASSWORD": "", "HOST": "127.0.0.1",
                        "PORT": str(postgres_server.port)}}


def caches_for(profile: Profile, redis_server) -> dict:
    caches = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    if profile.cache is None:
        return caches
    location = f"redis://127.0.0.1:{redis_server.port}/{profile.redis_db}"
    if profile.cache == "redis":
        cfg = {"BACKEND": "django.core.cache.backends.redis.RedisCache"}
    else:
        cfg = {"BACKEND": "django_redis.cache.RedisCache",
               "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient",
                           **profile.cache_options}}
    cfg.update({"LOCATION": location, "KEY_PREFIX": profile.key_prefix,
                "VERSION": profile.cache_version})
    caches[profile.session_cache_alias] = cfg
    return caches


@dataclass
class ProfileRun:
    """Everything one profile produced: the cases as built, laurel's and Django's verdicts, and
    the store snapshots taken around laurel's verdicts."""

    profile: Profile
    versions: dict
    cases: dict[str, dict]
    settings: dict[str, dict]
    laurel: dict[str, dict] = field(default_factory=dict)
    laurel_by_key: dict[str, dict] = field(default_factory=dict)
    laurel_error: str | None = None
    django: dict[str, dict] = field(default_factory=dict)
    channels: dict[str, dict] = field(default_factory=dict)
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)
    workdir: str = ""


def laurel_settings(profile: Profile, django_settings: dict) -> dict:
    """The settings.json authcheck gets: Django's own values plus the laurel-only keys."""
    s = dict(django_settings)
    s["LAUREL_VERDICT_TTL"] = 0
    if profile.user_model == "custom":
        s["LAUREL_USER_TABLE"] = "laurel_members"
    if profile.user_model == "uuid":
        s.update({
            "LAUREL_USER_TABLE": "laurel_uuid_members",
            "LAUREL_USER_PK_TYPE": "uuid",
            "LAUREL_USER_PK_COLUMN": "uid",
            "LAUREL_USER_USERNAME_COLUMN": "email",
            "LAUREL_USER_ACTIVE_COLUMN": "enabled",
            "LAUREL_USER_STAFF_COLUMN": "-",
            "LAUREL_USER_SUPERUSER_COLUMN": "-",
        })
    if profile.session_store == "custom":
        # laurel reads the project's store as the built-in engine it extends; the class name
        # gives Django's signing salt, the table the custom session model's.
        s["SESSION_ENGINE"] = "django.contrib.sessions.backends.db"
        s["LAUREL_SESSION_STORE_CLASS"] = "LaurelSessionStore"
        s["LAUREL_SESSION_TABLE"] = "laurel_sessions"
    return s


def run_profile(profile: Profile, workdir: str, postgres_server, redis_server,
                authcheck_binary, mariadb_server=None) -> ProfileRun:
    """Build every case of `profile` with real Django, let laurel judge them (store snapshots
    around it), then let Django judge them. `authcheck_binary` is a callable returning the path
    (it may raise: the Django side still runs, and the laurel comparisons fail with the error)."""
    os.makedirs(workdir, exist_ok=True)
    helper = django_helper(workdir)
    try:
        versions = helper.ask({
            "cmd": "setup", "profile": profile.name, "workdir": workdir,
            "databases": databases_for(profile, workdir, postgres_server, mariadb_server),
            "caches": caches_for(profile, redis_server),
        }, timeout=180)
        created = helper.ask({"cmd": "create"}, timeout=300)
        run = ProfileRun(profile=profile, versions=versions,
                         cases={c["name"]: c for c in created["cases"]},
                         settings=created["settings"], workdir=workdir)
        if created["short_age_created"] is not None:
            wait = created["short_age_created"] + SHORT_AGE_WAIT - time.time()
            if wait > 0:
                time.sleep(wait)

        run.before = helper.ask({"cmd": "snapshot"})["snapshot"]
        paths = {variant: write_settings(laurel_settings(profile, dj), workdir, variant)
                 for variant, dj in run.settings.items()}
        procs: dict[str, LineProcess] = {}
        try:
            binary = authcheck_binary()
            # One authcheck per settings variant, all started up front and stopped together so
            # their start-up and shutdown overlap.
            for variant, path in sorted(paths.items()):
                procs[variant] = authcheck(binary, path, workdir, variant)
            for case in run.cases.values():
                proc = procs[case["variant"]]
                run.laurel[case["name"]] = proc.ask({"cookie": case["cookie"]})
                if case["session_key"] is not None:
                    run.laurel_by_key[case["name"]] = proc.ask(
                        {"session_key": case["session_key"]})
        except Exception as e:  # noqa: BLE001 - surfaced by every laurel comparison
            run.laurel_error = f"{type(e).__name__}: {e}"
        finally:
            for proc in procs.values():
                proc.close_stdin()
            for proc in procs.values():
                proc.close()
        run.after = helper.ask({"cmd": "snapshot"})["snapshot"]

        # Only now may Django judge: its get_user may flush (hash mismatch) or cycle_key
        # (fallback hash) the sessions it is shown.
        judged = helper.ask({"cmd": "judge", "cases": list(run.cases.values())}, timeout=120)
        run.django, run.channels = judged["verdicts"], judged["channels"]
        return run
    finally:
        helper.close()
