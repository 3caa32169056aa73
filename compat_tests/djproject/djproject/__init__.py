"""The laurel reference Django project: the seed's WebSocket + Celery setup, served by Daphne.

Importing the package loads the Celery app so `@shared_task` binds to it (Celery's documented layout).
"""
from .celery import app as celery_app

__all__ = ("celery_app",)
