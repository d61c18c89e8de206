"""The refresh path: what one refresh costs (statements, cache commands) and what it refuses.

Counts, never timings: bench/peers.py measures speed against the peers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.db import connection
from django.db.models import F, OuterRef, Subquery
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from jwtsessions import returning, store
from jwtsessions.models import Session
from tests.factories import bearer, login, make_user

pytestmark = pytest.mark.django_db


def _redis_commands(client: Any) -> dict[str, int]:
    """Commands the test Redis has served, by name (our own INFO calls left out)."""
    stats = client.info("commandstats")
    return {k: v["calls"] for k, v in stats.items() if k != "cmdstat_info"}


def _sent(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}


def _refresh(client: Any, token: str) -> Any:
    return client.post("/api/auth/refresh/", {"refresh": token}, content_type="application/json")


def test_a_refresh_is_one_statement_where_the_database_returns_updated_rows(client):
    body = login(client, make_user())
    with CaptureQueriesContext(connection) as queries:
        r = _refresh(client, body["refresh"])
    assert r.status_code == 200
    statements = [q["sql"] for q in queries.captured_queries]
    if returning.can_return_from_update(connection.alias):
        assert len(statements) == 1, statements
        assert statements[0].startswith("UPDATE")
        assert " RETURNING " in statements[0]
    else:  # MySQL, MariaDB, Oracle: the update, then a read of the row
        assert len(statements) == 2, statements


def test_without_an_idle_timeout_a_refresh_only_seeds_the_new_tokens_blacklist_verdict(client):
    # The session's cached state is kept; the one command is the "not listed" verdict of the
    # new access token's jti (written with add), so its first request needs no query.
    body = login(client, make_user())
    counter = redis.Redis.from_url(settings.REDIS_URL)
    before = _redis_commands(counter)
    assert _refresh(client, body["refresh"]).status_code == 200
    sent = _sent(before, _redis_commands(counter))
    assert sum(sent.values()) <= 1, sent
    assert set(sent) <= {"cmdstat_set"}, sent


def test_the_cached_session_state_survives_a_refresh_without_an_idle_timeout(client):
    body = login(client, make_user())
    key = store.SESSION_KEY + body["session_id"]
    assert caches["default"].get(key) is not None
    new = _refresh(client, body["refresh"]).json()
    # Nothing the cache holds changed: the next request with the new token needs no database.
    assert caches["default"].get(key) is not None
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/whoami/", **bearer(new["access"])).status_code == 200
    assert not [q for q in queries.captured_queries if "jwtsessions_session" in q["sql"]]


@override_settings(JWTSESSIONS={"SESSION_IDLE_TIMEOUT": timedelta(hours=1)})
def test_with_an_idle_timeout_a_refresh_drops_the_cached_refresh_time(client):
    body = login(client, make_user())
    key = store.SESSION_KEY + body["session_id"]
    assert caches["default"].get(key) is not None
    new = _refresh(client, body["refresh"]).json()
    assert caches["default"].get(key) is None
    assert client.get("/api/whoami/", **bearer(new["access"])).status_code == 200
    refreshed_at = Session.objects.get(pk=body["session_id"]).refreshed_at
    assert caches["default"].get(key)[2] == int(refreshed_at.timestamp())


def test_refresh_for_an_inactive_user_is_refused_and_revokes_the_session(client):
    user = make_user()
    body = login(client, user)
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    r = _refresh(client, body["refresh"])
    assert r.status_code == 401
    assert r.json()["code"] == "user_inactive"
    session = Session.objects.get(pk=body["session_id"])
    assert session.revoked_at is not None
    assert session.refresh_generation == 0  # the token was not rotated
    assert _refresh(client, body["refresh"]).json()["code"] == "session_revoked"


def test_refresh_for_a_reactivated_user_works_again_only_with_a_new_login(client):
    user = make_user()
    body = login(client, user)
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    assert _refresh(client, body["refresh"]).status_code == 401
    get_user_model().objects.filter(pk=user.pk).update(is_active=True)
    assert _refresh(client, body["refresh"]).json()["code"] == "session_revoked"
    assert login(client, user)["refresh"]


@pytest.mark.parametrize("use_returning", [True, False], ids=["returning", "update-then-read"])
def test_update_one_returns_the_row_as_written_or_none(use_returning):
    user = make_user()
    session = Session.objects.create(
        user=user, expires_at=Session._meta.get_field("created_at").default() + timedelta(days=1)
    )
    match = Session.objects.filter(refresh_generation=0)
    updated = returning.update_one(
        match, session.pk, {"refresh_generation": 7, "user_agent": "ua"}, returning=use_returning
    )
    assert updated is not None
    assert (updated.pk, updated.refresh_generation, updated.user_agent) == (session.pk, 7, "ua")
    assert updated.expires_at == session.expires_at  # converted back to an aware datetime
    assert updated.user_id == user.pk
    # The condition no longer holds: nothing is written, nothing returned.
    assert (
        returning.update_one(match, session.pk, {"user_agent": "x"}, returning=use_returning)
        is None
    )
    assert Session.objects.get(pk=session.pk).user_agent == "ua"


@pytest.mark.parametrize("use_returning", [True, False], ids=["returning", "update-then-read"])
def test_update_one_also_returns_expressions_on_the_updated_row(use_returning):
    user = make_user(is_active=False)
    session = Session.objects.create(
        user=user, expires_at=Session._meta.get_field("created_at").default() + timedelta(days=1)
    )
    users = get_user_model()._base_manager.filter(pk=OuterRef("user_id"))
    updated = returning.update_one(
        Session.objects.all(),
        session.pk,
        {"refresh_generation": 3},
        extra={
            "owner_active": Subquery(users.values("is_active")[:1]),
            "owner_name": Subquery(users.values("username")[:1]),
            "next_generation": F("refresh_generation") + 1,
        },
        returning=use_returning,
    )
    assert updated is not None
    assert updated.refresh_generation == 3
    assert updated.owner_active is False  # converted: SQLite returns 0
    assert updated.owner_name == user.username
    assert updated.next_generation == 4


def test_the_swap_statement_is_compiled_once_per_idle_setting_and_still_refuses(client, settings):
    """The compare-and-swap is compiled once per process (jwtsessions.refreshswap) and reused
    with each refresh's values: the cached statement must refuse exactly what the ORM-built one
    did (a replayed token, an idle session), and an idle timeout gets its own statement."""
    from jwtsessions import refreshswap

    if not returning.can_return_from_update(connection.alias):
        pytest.skip("the compiled statement needs UPDATE ... RETURNING")
    refreshswap.forget()
    body = login(client, make_user())
    first = _refresh(client, body["refresh"])
    second = _refresh(client, first.json()["refresh"])
    assert second.status_code == 200
    assert len(refreshswap._plans) == 1
    # Two generations back (one back is the two-tabs grace): a reuse, the session revoked.
    assert _refresh(client, body["refresh"]).json()["code"] == "refresh_reused"
    assert _refresh(client, second.json()["refresh"]).json()["code"] == "session_revoked"

    settings.JWTSESSIONS = {"SESSION_IDLE_TIMEOUT": timedelta(minutes=30)}
    body = login(client, make_user())
    assert _refresh(client, body["refresh"]).status_code == 200
    assert len(refreshswap._plans) == 2
    body = login(client, make_user())
    Session.objects.filter(pk=body["session_id"]).update(
        refreshed_at=F("refreshed_at") - timedelta(hours=1)
    )
    assert _refresh(client, body["refresh"]).json()["code"] == "refresh_invalid"


def test_without_a_compiled_statement_the_orm_builds_it(client, monkeypatch):
    """The fallback path (no plan could be made): the same answers."""
    from jwtsessions import refreshswap

    monkeypatch.setattr(refreshswap, "swap", lambda alias, values, build: (False, None))
    body = login(client, make_user())
    first = _refresh(client, body["refresh"])
    second = _refresh(client, first.json()["refresh"])
    assert second.status_code == 200
    assert _refresh(client, body["refresh"]).json()["code"] == "refresh_reused"
    assert _refresh(client, second.json()["refresh"]).json()["code"] == "session_revoked"
