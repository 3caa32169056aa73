"""A custom user model app for the djangoauth compat suite: AUTH_USER_MODEL = "laurelaccounts.Member"."""
