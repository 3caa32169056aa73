"""Member: a custom AbstractBaseUser with a bigint pk and its own table, laurel_members.

laurel must read users from this table (LAUREL_USER_TABLE) instead of auth_user, with the same
columns Django's get_user relies on: id, password, is_active, plus the fields laurel reports
(username, is_staff, is_superuser).
"""

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
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
