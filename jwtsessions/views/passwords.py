"""Password checks made by the endpoints: each one throttled and counted like a login."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request

from .. import conventions, sessions, throttling
from ..exceptions import ReauthenticationRequired, TooManyAttempts


def count_attempt(request: Request, username: str, credentials: dict[str, Any]) -> str | None:
    """Count one password check for (``username``, client address) before it runs.

    Counted first, so no burst gets more checks than the limit. Over the limit: a failed login
    to everything that listens (password masked), then 429 ``too_many_attempts``. Returns the
    client address (``None`` when unknown), for ``throttling.succeeded`` once the password
    proved right.
    """
    address = sessions.client_ip(request)
    wait = throttling.attempt(username, address)
    if wait is not None:
        conventions.send_login_failed(request._request, credentials)
        raise TooManyAttempts(wait)
    return address


def reauthenticate(request: Request, password: Any) -> None:
    """Check the caller's current password, throttled and counted like a login.

    Missing or wrong: 403 ``reauthentication_required``; a wrong one counts as a failed login
    for (username, address), so a stolen access token cannot be used to guess the password.
    """
    if not isinstance(password, str) or not password:
        raise ReauthenticationRequired()
    user = request.user
    username = str(user.get_username())
    credentials = {"username": username, "password": password}
    address = count_attempt(request, username, credentials)
    if not user.check_password(password):
        # A failed login to everything that listens (django-axes, audit logs), password masked.
        conventions.send_login_failed(request._request, credentials)
        raise ReauthenticationRequired()
    throttling.succeeded(username, address)
