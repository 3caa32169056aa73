"""Run by test_dev_demo: real Django configured with `laurel dev`'s settings snippet reads its data.

stdin: {"SECRET_KEY", "DB", "REDIS", "session_key"}; stdout: JSON of what Django decided.
"""

import json
import sys

import django
from django.conf import settings

args = json.load(sys.stdin)
settings.configure(
    SECRET_KEY=args["SECRET_KEY"],
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions", "channels"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": args["DB"]}},
    SESSION_ENGINE="django.contrib.sessions.backends.db",
    CHANNEL_LAYERS={"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                "CONFIG": {"hosts": [args["REDIS"]]}}},
    USE_TZ=True,
)
django.setup()

from asgiref.sync import async_to_sync  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from django.contrib.auth import authenticate, get_user  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.migrations.executor import MigrationExecutor  # noqa: E402
from django.http import HttpRequest  # noqa: E402

out = {}
user = authenticate(username="demo", password="demo")
out["authenticate"] = user.username if user else None
bad = authenticate(username="demo", password="wrong")
out["wrong_password"] = bad.username if bad else None

request = HttpRequest()
request.session = SessionStore(args["session_key"])
u = get_user(request)
out["session_user"] = u.username if u.is_authenticated else None

executor = MigrationExecutor(connection)
plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
out["unapplied_migrations"] = [f"{m.app_label}.{m.name}" for m, _ in plan]

async_to_sync(get_channel_layer().group_send)(
    f"user_{user.pk}", {"type": "user.notification", "message": "from Django"})
out["group_send"] = "ok"
print(json.dumps(out))
