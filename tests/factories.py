"""Factories for test data. They make rows; they never stand in for the code under test."""

from __future__ import annotations

import itertools
from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.test import Client

DEFAULT_PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


@cache
def _hashed(password: str) -> str:
    # Argon2 is deliberately slow: hash each distinct password once per test run.
    return make_password(password)


def make_user(username: str | None = None, password: str = DEFAULT_PASSWORD, **fields: Any) -> Any:
    user_model = get_user_model()
    username = username or f"user{next(_counter)}"
    fields.setdefault("email", f"{username}@example.com")
    return user_model._default_manager.create(
        username=username, password=_hashed(password), **fields
    )


def login(
    client: Client, user: Any, password: str = DEFAULT_PASSWORD, **extra: Any
) -> dict[str, Any]:
    """Log in through the real endpoint; return the JSON body."""
    response = client.post(
        "/api/auth/login/",
        {"username": user.get_username(), "password": password},
        content_type="application/json",
        **extra,
    )
    assert response.status_code == 200, response.content
    return dict(response.json())


def bearer(access: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {access}"}
