"""Cookie mode: the access and refresh tokens as HttpOnly cookies for browsers.

Active when ``AUTH_COOKIE`` is set. The access cookie lives as long as the access token and is
sent on ``COOKIE_PATH``; the refresh cookie lives as long as the session and is sent only to
the refresh endpoint (and logout, which must be able to revoke it).
"""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import reverse

from .sessions import TokenPair
from .settings import jwt_settings


def cookie_mode() -> bool:
    return bool(jwt_settings.AUTH_COOKIE)


def refresh_cookie_path() -> str:
    """The refresh endpoint's path: the only place the refresh cookie is sent."""
    return reverse("jwtsessions:refresh")


def _set(response: HttpResponse, name: str, value: str, max_age: int, path: str) -> None:
    config = jwt_settings.config
    host_only = name.startswith("__Host-")
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/" if host_only else path,
        domain=None if host_only else config.COOKIE_DOMAIN,
        secure=config.COOKIE_SECURE or host_only or name.startswith("__Secure-"),
        httponly=True,
        samesite=config.COOKIE_SAMESITE,  # type: ignore[arg-type]
    )


def set_auth_cookies(response: HttpResponse, pair: TokenPair) -> None:
    config = jwt_settings.config
    assert config.AUTH_COOKIE
    _set(response, config.AUTH_COOKIE, pair.access, pair.expires_in, config.COOKIE_PATH)
    _set(
        response, config.REFRESH_COOKIE, pair.refresh, pair.refresh_expires_in, refresh_cookie_path()
    )


def delete_auth_cookies(response: HttpResponse) -> None:
    config = jwt_settings.config
    if not config.AUTH_COOKIE:
        return
    for name, path in (
        (config.AUTH_COOKIE, config.COOKIE_PATH),
        (config.REFRESH_COOKIE, refresh_cookie_path()),
    ):
        host_only = name.startswith("__Host-")
        response.delete_cookie(
            name,
            path="/" if host_only else path,
            domain=None if host_only else config.COOKIE_DOMAIN,
            samesite=config.COOKIE_SAMESITE,  # type: ignore[arg-type]
        )
