"""Pytest fixtures for the fault tests: a database other processes can share, and a lab."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults import Lab, sqlite_database, sqlite_template


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sqlite_template(tmp_path_factory.mktemp("live-db"))


@pytest.fixture
def live_database(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """PostgreSQL: the test database itself (the tests are ``transaction=True``, so it is
    flushed after each); SQLite: a file copy of a migrated template (an in-memory database
    cannot be shared between processes)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        settings = connection.settings_dict
        return {
            "ENGINE": settings["ENGINE"],
            "NAME": settings["NAME"],
            "USER": settings["USER"],
            "PASSWORD": settings["PASSWORD"],
            "HOST": settings["HOST"],
            "PORT": settings["PORT"],
        }
    return sqlite_database(request.getfixturevalue("_sqlite_template"), tmp_path)


@pytest.fixture
def lab(live_database: dict[str, Any]) -> Iterator[Lab]:
    """Everything a scenario starts, stopped by pid at the end whatever happened."""
    with Lab(live_database) as owned:
        yield owned
