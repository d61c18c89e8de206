"""Bulk revocations of many rows (red team, 2026-11-30): two at once, and past a database's
limit on bound values. One test per finding, each failing on the code it was found in.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jwtsessions.models import ApiKey, Session
from jwtsessions.revocation import revoke_api_keys, revoke_sessions
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def many_sessions(count: int) -> list[str]:
    user = make_user()
    expires = timezone.now() + timedelta(days=1)
    rows = Session.objects.bulk_create(
        Session(user=user, expires_at=expires, refresh_hash="0" * 64) for _ in range(count)
    )
    return [row.pk for row in rows]


@pytest.mark.postgres_only
def test_rows_are_locked_in_primary_key_order_whatever_the_queryset_order():
    """Two operators revoking overlapping rows from lists sorted differently locked them in
    opposite orders: PostgreSQL found a deadlock and one of them got a 500."""
    if not connection.features.has_select_for_update:
        pytest.skip("no row locks on this database (CI runs this on PostgreSQL)")
    many_sessions(5)
    with CaptureQueriesContext(connection) as queries:
        revoke_sessions(Session.objects.order_by("-created_at"), "test")
        revoke_api_keys(ApiKey.objects.order_by("-created_at"), "test")
    locking = [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
    assert len(locking) == 2
    by_primary_key = ("1 ASC", '"jwtsessions_session"."id" ASC', '"jwtsessions_apikey"."id" ASC')
    for sql in locking:
        order = sql.split("ORDER BY", 1)[1].split("FOR UPDATE", 1)[0].strip()
        assert order in by_primary_key, sql


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_operators_revoking_the_same_rows_in_opposite_orders_both_finish():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (CI runs this on PostgreSQL)")
    errors: list[BaseException] = []
    for _ in range(3):
        ids = many_sessions(3000)
        barrier = threading.Barrier(2)

        def revoke(order: str, ids: list[str] = ids, barrier: Any = barrier) -> None:
            try:
                barrier.wait(timeout=10)
                revoke_sessions(Session.objects.filter(pk__in=ids).order_by(order), "test")
            except BaseException as exc:  # a deadlock surfaces here
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=revoke, args=(o,)) for o in ("pk", "-pk")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not Session.objects.filter(pk__in=ids, revoked_at__isnull=True).exists()
    assert errors == []


@pytest.fixture
def few_bound_values() -> Any:
    """SQLite binding at most 1,200 values a statement (stock builds allow 32,766, older 999)."""
    if connection.vendor != "sqlite":
        pytest.skip("the limit on bound values is SQLite's")
    connection.ensure_connection()
    raw = connection.connection
    before = raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 1200)
    yield
    raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, before)


def test_revoking_more_rows_than_sqlite_binds_at_once(few_bound_values):
    """Past the limit, "select all" and revoke was a 500 ("too many SQL variables") and
    revoked nothing: the UPDATE named every id at once."""
    ids = many_sessions(1500)
    assert len(revoke_sessions(Session.objects.all(), "test")) == 1500
    assert not Session.objects.filter(revoked_at__isnull=True).exists()
    owner = make_user()
    ApiKey.objects.bulk_create(
        ApiKey(user=owner, name=f"k{i}", public_id=f"pub{i:08d}", digest="0" * 64)
        for i in range(1500)
    )
    assert len(revoke_api_keys(ApiKey.objects.all(), "test")) == 1500
    assert len(ids) == 1500
