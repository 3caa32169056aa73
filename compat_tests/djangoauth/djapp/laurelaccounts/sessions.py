"""SESSION_ENGINE = "laurelaccounts.sessions": a db SessionStore subclass with its own class name
and session model, the pattern of Django's "Extending database-backed session engines".

Django's signing salt is "django.contrib.sessions." + type(store).__qualname__, so sessions saved
by this engine are signed with the salt "django.contrib.sessions.LaurelSessionStore"; laurel reads
them with SESSION_ENGINE = django.contrib.sessions.backends.db, LAUREL_SESSION_STORE_CLASS =
"LaurelSessionStore" and LAUREL_SESSION_TABLE = "laurel_sessions".
"""

from django.contrib.sessions.backends.db import SessionStore as DBStore


class LaurelSessionStore(DBStore):
    @classmethod
    def get_model_class(cls):
        from laurelaccounts.models import LaurelSession

        return LaurelSession

    def create_model_instance(self, data):
        obj = super().create_model_instance(data)
        try:
            obj.account_id = int(data.get("_auth_user_id"))
        except (ValueError, TypeError):
            obj.account_id = None
        return obj


# SessionMiddleware and django.test.Client look the store up as <engine module>.SessionStore.
SessionStore = LaurelSessionStore
