"""django-jwtsessions: short-lived JWTs backed by revocable server-side sessions."""

__version__ = "0.1.0.dev0"
