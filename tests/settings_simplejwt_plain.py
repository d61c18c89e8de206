"""The test settings without simplejwt's token_blacklist app, and with its CHECK_REVOKE_TOKEN
(simplejwt decides both when it is imported, so this needs a process of its own)."""

from __future__ import annotations

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [
    app for app in INSTALLED_APPS if app != "rest_framework_simplejwt.token_blacklist"
]

SIMPLE_JWT = {"CHECK_REVOKE_TOKEN": True}
