"""Models of the djangoauth compat suite's custom app.

Member: a custom AbstractBaseUser with a bigint pk and its own table, laurel_members.

laurel must read users from this table (LAUREL_USER_TABLE) instead of auth_user, with the same
columns Django's get_user relies on: id, password, is_active, plus the fields laurel reports
(username, is_staff, is_superuser).

UuidMember: a custom user with a UUID pk in column uid, email as USERNAME_FIELD, is_active
stored in column "enabled", and no is_staff / is_superuser at all (Django reads them with
getattr defaults). SQLite stores the pk as char(32) hex, PostgreSQL as uuid; the session holds
str(uuid) with dashes.

LaurelSession: a custom session model for a SessionStore subclass with its own class name (which
changes Django's signing salt) and its own table.
"""

import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models


class MemberManager(BaseUserManager):
    def create_user(self, username, password=None, **extra):
        user = self.model(username=username, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, username, password=None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(username, password, **extra)


class Member(AbstractBaseUser):
    id = models.BigAutoField(primary_key=True)
    username = models.CharField(max_length=150, unique=True)
    display_name = models.CharField(max_length=100, blank=True, default="")
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    is_superuser = models.BooleanField(default=False)

    USERNAME_FIELD = "username"
    objects = MemberManager()

    class Meta:
        app_label = "laurelaccounts"
        db_table = "laurel_members"


class LaurelSession(AbstractBaseSession):
    """A custom session model, as in Django's "Extending database-backed session engines":
    its own table (laurel_sessions) and an extra column. Used with sessions.LaurelSessionStore."""

    account_id = models.IntegerField(null=True, db_index=True)

    @classmethod
    def get_session_store_class(cls):
        from laurelaccounts.sessions import LaurelSessionStore

        return LaurelSessionStore

    class Meta:
        app_label = "laurelaccounts"
        db_table = "laurel_sessions"


class UuidMemberManager(BaseUserManager):
    def create_user(self, email, password=None, **extra):
        # The model has no staff / superuser columns: such flags cannot be stored.
        extra.pop("is_staff", None)
        extra.pop("is_superuser", None)
        user = self.model(email=email, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **extra):
        return self.create_user(email, password, **extra)


class UuidMember(AbstractBaseUser):
    uid = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.CharField(max_length=254, unique=True)
    is_active = models.BooleanField(default=True, db_column="enabled")

    USERNAME_FIELD = "email"
    objects = UuidMemberManager()

    class Meta:
        app_label = "laurelaccounts"
        db_table = "laurel_uuid_members"
