"""Cookie mode: the access and refresh tokens as HttpOnly cookies for browsers.

Active when ``AUTH_COOKIE`` is set. The access cookie lives as long as the access token and is
sent on ``COOKIE_PATH``; the refresh cookie lives as long as the session may still be refreshed
and is sent only to the refresh endpoint, so a page's ordinary API calls never carry it. A third
cookie, sent only to the logout endpoint, names the session (with an HMAC tag) so that logout
revokes it even after the access cookie has expired; it grants nothing else.

Cookie name prefixes are honoured: a ``__Host-`` cookie is always ``Secure``, host-only (no
``Domain``) and on path ``/`` (browsers reject it otherwise); a ``__Secure-`` cookie is always
``Secure``. Prefer ``__Host-`` for the access cookie and ``__Secure-`` for the refresh cookie:
``__Host-`` would force the refresh cookie onto every path.
"""

from __future__ import annotations

from django.http import HttpResponseBase
from django.urls import reverse

from .sessions import TokenPair, logout_proof
from .settings import jwt_settings

HOST_PREFIX = "__Host-"
SECURE_PREFIX = "__Secure-"


def cookie_mode() -> bool:
    """True when ``AUTH_COOKIE`` is set."""
    return bool(jwt_settings.AUTH_COOKIE)


def refresh_cookie_path() -> str:
    """The refresh endpoint's path: the only place the refresh cookie is sent."""
    return reverse("jwtsessions:refresh")


def logout_cookie_name() -> str:
    """The cookie that proves which session to revoke on logout (it keeps any name prefix)."""
    return f"{jwt_settings.REFRESH_COOKIE}_logout"


def logout_cookie_path() -> str:
    """The logout endpoint's path: the only place the logout cookie is sent."""
    return reverse("jwtsessions:logout")


def _set(response: HttpResponseBase, name: str, value: str, max_age: int, path: str) -> None:
    config = jwt_settings.config
    host_only = name.startswith(HOST_PREFIX)
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/" if host_only else path,
        domain=None if host_only else config.COOKIE_DOMAIN,
        secure=config.COOKIE_SECURE or name.startswith((HOST_PREFIX, SECURE_PREFIX)),
        httponly=True,
        samesite=config.COOKIE_SAMESITE,  # type: ignore[arg-type]
    )


def _refresh_max_age(pair: TokenPair) -> int:
    # With an idle timeout the session dies that long after this refresh unless refreshed again:
    # the cookie need not outlive it.
    remaining = pair.refresh_expires_in
    idle = jwt_settings.SESSION_IDLE_TIMEOUT
    if idle is not None:
        remaining = min(remaining, int(idle.total_seconds()))
    return remaining


def set_auth_cookies(response: HttpResponseBase, pair: TokenPair) -> None:
    """Put the access and refresh tokens of ``pair`` into HttpOnly cookies on ``response``."""
    config = jwt_settings.config
    assert config.AUTH_COOKIE
    _set(response, config.AUTH_COOKIE, pair.access, pair.expires_in, config.COOKIE_PATH)
    remaining = _refresh_max_age(pair)
    _set(response, config.REFRESH_COOKIE, pair.refresh, remaining, refresh_cookie_path())
    # The access cookie is gone from the browser once it expires; this one lets logout still
    # find (and revoke) the session, and can do nothing else.
    _set(
        response,
        logout_cookie_name(),
        logout_proof(pair.session.pk),
        remaining,
        logout_cookie_path(),
    )


def delete_auth_cookies(response: HttpResponseBase) -> None:
    """Expire the cookies (a no-op outside cookie mode).

    The deletion repeats the cookies' own attributes: a browser only replaces a cookie whose
    name, domain and path match, and may refuse to overwrite a ``Secure`` cookie with one that
    is not.
    """
    config = jwt_settings.config
    if not config.AUTH_COOKIE:
        return
    _set(response, config.AUTH_COOKIE, "", 0, config.COOKIE_PATH)
    _set(response, config.REFRESH_COOKIE, "", 0, refresh_cookie_path())
    _set(response, logout_cookie_name(), "", 0, logout_cookie_path())
