"""Print the Django settings laurel needs, as JSON, keys named as in settings.py.

The e2e suite turns this into laurel's TOML config, so laurel sees exactly what Django uses.
"""
import json

from django.conf import settings
from django.core.management.base import BaseCommand

KEYS = [
    "SECRET_KEY", "SECRET_KEY_FALLBACKS", "ALLOWED_HOSTS", "DEBUG", "SESSION_ENGINE", "SESSION_COOKIE_NAME",
    "SESSION_COOKIE_AGE", "SESSION_SERIALIZER", "AUTHENTICATION_BACKENDS", "AUTH_USER_MODEL", "USE_TZ",
    "TIME_ZONE", "DATABASES", "CACHES", "CHANNEL_LAYERS",
]


class Command(BaseCommand):
    help = "print laurel-relevant settings as JSON"

    def handle(self, *args, **options):
        out = {}
        for key in KEYS:
            value = getattr(settings, key)
            if key == "DATABASES":
                value = {"default": {k: v for k, v in value["default"].items() if k in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT")}}
            out[key] = value
        self.stdout.write(json.dumps(out, default=str))
