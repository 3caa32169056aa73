"""Settings of the laurel reference project, configurable through environment variables.

DJANGO_SECRET_KEY      SECRET_KEY (a fixed test value by default)
DJANGO_REDIS_URL       redis://host:port — the channel layer uses db 0, Celery db DJANGO_CELERY_DB (1)
DJANGO_DB_PATH         SQLite file (default: db.sqlite3 next to manage.py)
DJANGO_DATABASE_URL    postgresql://user@host:port/name — overrides DJANGO_DB_PATH
DJANGO_SESSION_ENGINE  SESSION_ENGINE (default django.contrib.sessions.backends.db)
DJANGO_ALLOWED_HOSTS   comma-separated ALLOWED_HOSTS (default 127.0.0.1,localhost)
DJANGO_DEBUG           "1" for DEBUG=True (default False: AllowedHostsOriginValidator uses ALLOWED_HOSTS)
DJANGO_REDIS_SOCKET_TIMEOUT  channel layer socket_timeout in seconds (default 15; "default" = redis-py's)
"""
import os
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "laurel-e2e-not-a-secret-0123456789abcdef")
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "djproject.urls"
ASGI_APPLICATION = "djproject.asgi.application"
TEMPLATES = []

REDIS_URL = os.environ.get("DJANGO_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
_redis = urlsplit(REDIS_URL)
_redis_base = f"{_redis.scheme}://{_redis.netloc}"

if os.environ.get("DJANGO_DATABASE_URL"):
    _db = urlsplit(os.environ["DJANGO_DATABASE_URL"])
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _db.path.lstrip("/"),
            "USER": _db.username or "",
            "PASSWORD": _db.password or "",
            "HOST": _db.hostname or "",
            "PORT": str(_db.port or ""),
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("DJANGO_DB_PATH", str(BASE_DIR / "db.sqlite3")),
        }
    }

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"{_redis_base}/{os.environ.get('DJANGO_CACHE_DB', '2')}",
    }
}

SESSION_ENGINE = os.environ.get("DJANGO_SESSION_ENGINE", "django.contrib.sessions.backends.db")

# redis-py 8 made socket_timeout default to 5 s, the same as channels_redis' BZPOPMIN timeout, so an
# idle consumer's receive() raises redis.exceptions.TimeoutError and Daphne closes the socket with
# 1011 (django/channels_redis#422). The documented workaround is an explicit socket_timeout above
# the 5 s block. DJANGO_REDIS_SOCKET_TIMEOUT=default keeps redis-py's default (reproduces the bug).
_socket_timeout = os.environ.get("DJANGO_REDIS_SOCKET_TIMEOUT", "15")
_layer_host = (
    f"{_redis_base}/0"
    if _socket_timeout == "default"
    else {"address": f"{_redis_base}/0", "socket_timeout": float(_socket_timeout)}
)
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [_layer_host]},
    }
}

CELERY_BROKER_URL = f"{_redis_base}/{os.environ.get('DJANGO_CELERY_DB', '1')}"
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING")},
}
