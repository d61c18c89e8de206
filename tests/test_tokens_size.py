"""Access tokens stay small: they travel with every request (issue 7 sets 230 characters)."""

from __future__ import annotations

import pytest

from jwtsessions import tokens
from jwtsessions.sessions import issue_access_token
from tests.factories import login, make_user

pytestmark = pytest.mark.django_db

MAX_ACCESS_TOKEN_LENGTH = 230


def test_access_token_from_login_fits_the_budget(client):
    access = login(client, make_user())["access"]
    assert len(access) <= MAX_ACCESS_TOKEN_LENGTH, access


def test_access_token_for_a_seven_digit_user_id_fits_the_budget():
    # Default claims and HS256: sub, sid (22 chars), jti, iat, exp, and a typ header.
    access, _ = issue_access_token("S" * 22, 9_999_999)
    assert len(access) <= MAX_ACCESS_TOKEN_LENGTH, (len(access), access)
    header = tokens._json_object(tokens._b64decode_canonical(access.split(".")[0]))
    assert header == {"alg": "HS256", "typ": tokens.ACCESS_TOKEN_TYPE}
