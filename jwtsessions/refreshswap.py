"""The refresh's compare-and-swap statement, compiled once per process.

A refresh is one conditional ``UPDATE ... RETURNING`` (:func:`jwtsessions.sessions.rotate`).
Building it through the ORM each time (filters, two subqueries on the user table, expression
resolution, SQL compilation) was about 40 % of a refresh's time in process, for a statement
that is the same for every refresh: only its values change. So it is compiled once per
database, idle-timeout setting and user model, with a distinct marker in each value's place;
a refresh then puts its values where the markers were, each prepared as its field prepares it.
Where that cannot be set up exactly (a marker found other than once, a database without
``UPDATE ... RETURNING``), :func:`swap` says so and the caller takes the ORM path.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Field

from . import returning
from .models import Session

# Slot name -> the Session field whose preparation its value gets.
FIELDS = {
    "new_hash": "refresh_hash",
    "new_generation": "refresh_generation",
    "refreshed_at": "refreshed_at",
    "last_used_at": "last_used_at",
    "pk": "id",
    "old_hash": "refresh_hash",
    "old_generation": "refresh_generation",
    "alive_after": "expires_at",
    "idle_after": "refreshed_at",
}
_NO_PLAN = object()


@dataclass(frozen=True)
class _Plan:
    statement: returning.Statement
    positions: dict[str, int]


_plans: dict[tuple[Any, ...], Any] = {}
_lock = threading.Lock()


def _prepared(slot: str, value: Any, alias: str) -> Any:
    field = Session._meta.get_field(FIELDS[slot])
    assert isinstance(field, Field)  # concrete columns, never relations
    return field.get_db_prep_value(field.get_prep_value(value), connections[alias], prepared=True)


def _markers(idle: bool) -> dict[str, Any]:
    """A value for each slot that no other parameter of the statement can equal."""
    day = datetime(1971, 1, 1, tzinfo=dt_timezone.utc)
    markers: dict[str, Any] = {
        "new_hash": "jws-slot-new-hash",
        "new_generation": 1_000_000_007,
        "refreshed_at": day + timedelta(days=1),
        "last_used_at": day + timedelta(days=2),
        "pk": "jws-slot-pk",
        "old_hash": "jws-slot-old-hash",
        "old_generation": 1_000_000_009,
        "alive_after": day + timedelta(days=3),
    }
    if idle:
        markers["idle_after"] = day + timedelta(days=4)
    return markers


def _plan(alias: str, idle: bool, build: Any) -> Any:
    statement = build(_markers(idle))
    if statement is None:
        return _NO_PLAN
    positions: dict[str, int] = {}
    for slot, marker in _markers(idle).items():
        prepared = _prepared(slot, marker, alias)
        params = enumerate(statement.params)
        found = [i for i, p in params if type(p) is type(prepared) and p == prepared]
        if len(found) != 1:
            return _NO_PLAN
        positions[slot] = found[0]
    return _Plan(statement, positions)


def swap(alias: str, values: dict[str, Any], build: Any) -> tuple[bool, Any]:
    """Run the compare-and-swap with ``values`` (one per slot; ``idle_after`` only with an
    idle timeout). ``build(values)`` compiles the statement through the ORM
    (:func:`returning.compile_update`), called once per process and key.

    Returns ``(False, None)`` when no plan can be made (take the ORM path), else ``(True, row
    or None)``.
    """
    if not returning.can_return_from_update(alias):
        return False, None
    idle = "idle_after" in values
    user_model = get_user_model()
    key = (alias, idle, user_model._meta.label, user_model._meta.db_table)
    plan = _plans.get(key)
    if plan is None:
        with _lock:
            plan = _plans.get(key)
            if plan is None:
                plan = _plans[key] = _plan(alias, idle, build)
    if plan is _NO_PLAN:
        return False, None
    params = list(plan.statement.params)
    for slot, index in plan.positions.items():
        params[index] = _prepared(slot, values[slot], alias)
    return True, returning.run(plan.statement, params)


def forget() -> None:
    """Drop the compiled statements (settings or schema changed: tests)."""
    _plans.clear()
