"""Login and refresh, ours against the peers', for ``bench/peers.py``.

* refresh: ours (``POST /api/auth/refresh/``) against simplejwt's ``TokenRefreshView`` with
  ``ROTATE_REFRESH_TOKENS`` and ``BLACKLIST_AFTER_ROTATION`` (its ``token_blacklist`` app
  installed). Both rotate: every refresh token is single use, so every request sends the token
  that the previous answer handed out (a chain per connection, see ``wrk/chain.lua``).
* login: ours (``POST /api/auth/login/``) against simplejwt's ``TokenObtainPairView`` (which also
  records the refresh token it issues, for the blacklist) and knox's ``LoginView`` (behind
  ``BasicAuthentication``). One user, one password hasher for all (``benchsite.settings``).
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import harness

USERNAME, PASSWORD = "bench", "bench-password-123"
LOGIN_BODY = json.dumps({"username": USERNAME, "password": PASSWORD})
WRK_DIR = harness.HERE / "wrk"


@dataclasses.dataclass
class Flow:
    """One login or refresh endpoint under test."""

    name: str
    path: str
    kind: str  # "login" or "refresh"
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    mint: Callable[[int], list[str]] | None = None  # refresh tokens to start chains with

    def body(self, token: str | None = None) -> str:
        return json.dumps({"refresh": token}) if self.kind == "refresh" else LOGIN_BODY


def make_flows(user: Any) -> dict[str, Flow]:
    from rest_framework_simplejwt.tokens import RefreshToken

    from jwtsessions.sessions import create_session

    def ours(n: int) -> list[str]:
        return [create_session(user).refresh for _ in range(n)]

    def simplejwt(n: int) -> list[str]:
        return [str(RefreshToken.for_user(user)) for _ in range(n)]

    basic = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    flows = [
        Flow("ours_refresh", "/api/auth/refresh/", "refresh", mint=ours),
        Flow("simplejwt_refresh_blacklist", "/flows/simplejwt/refresh/", "refresh", mint=simplejwt),
        Flow("ours_login", "/api/auth/login/", "login"),
        Flow("simplejwt_login", "/flows/simplejwt/login/", "login"),
        Flow("knox_login", "/flows/knox/login/", "login", {"Authorization": f"Basic {basic}"}),
    ]
    return {flow.name: flow for flow in flows}


# --- in process -----------------------------------------------------------------------------


def _environ(path: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()},
    }


def wsgi_call(handler: Any, flow: Flow) -> Callable[[], None]:
    """One POST through Django's WSGI handler; a refresh keeps the token it gets back."""
    chain = flow.mint(1) if flow.mint else []
    statuses: list[str] = []

    def start_response(status: str, _headers: Any, _exc: Any = None) -> None:
        statuses.append(status)

    def call() -> None:
        body = flow.body(chain[0] if chain else None).encode()
        response = handler(_environ(flow.path, body, flow.headers), start_response)
        content = b"".join(response)
        response.close()
        status = statuses.pop()
        if not status.startswith("200"):
            raise RuntimeError(f"{flow.name}: {status} {content[:200]!r}")
        if chain:
            chain[0] = json.loads(content)["refresh"]

    return call


def password_hash_ms(path: str = "django.contrib.auth.hashers.PBKDF2PasswordHasher") -> float:
    """What one password check costs with Django's default hasher, for the report's caveat."""
    from django.utils.module_loading import import_string

    hasher = import_string(path)()
    encoded = hasher.encode(PASSWORD, hasher.salt())
    start = time.perf_counter()
    hasher.verify(PASSWORD, encoded)
    return (time.perf_counter() - start) * 1e3


# --- over HTTP ------------------------------------------------------------------------------


def http_run(
    flow: Flow, port: int, seconds: float, connections: int, workdir: Path
) -> dict[str, float]:
    """One bounded wrk run against a flow; refresh chains start from freshly minted tokens."""
    from django.db import connections as db_connections

    if flow.kind == "refresh":
        assert flow.mint is not None
        pool = workdir / f"{flow.name}.tokens"
        pool.write_text("\n".join(flow.mint(connections * 4)) + "\n")
        db_connections.close_all()  # SQLite: no lock held by this process during the run
        return harness.wrk(
            port,
            flow.path,
            {},
            seconds,
            connections,
            WRK_DIR / "chain.lua",
            {"BENCH_TOKENS": str(pool)},
        )
    return harness.wrk(
        port,
        flow.path,
        flow.headers,
        seconds,
        connections,
        WRK_DIR / "post.lua",
        {"BENCH_BODY": LOGIN_BODY},
    )
