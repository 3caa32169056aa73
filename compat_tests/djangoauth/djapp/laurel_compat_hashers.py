"""A fast PBKDF2 hasher for the compat suite (the pattern Django's own docs give for tests).

The password column keeps Django's real pbkdf2_sha256 format; only the iteration count is low, so
creating and logging in ~20 users per profile stays fast. laurel HMACs the whole column, so the
iteration count is irrelevant to it.
"""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class FastPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    iterations = 1000
