"""The operators' commands, jwtsessions_cleanup and jwtsessions_revoke, on the real DB and cache."""

from __future__ import annotations

import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.test import override_settings
from django.utils import timezone

from jwtsessions import cleanup
from jwtsessions.models import BlacklistedToken, Session
from jwtsessions.revocation import blacklist_token, revoke_session
from tests.factories import bearer, login, make_user

pytestmark = pytest.mark.django_db


def run(*args: str, **options) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def make_blacklist(expired: int, live: int) -> tuple[set[str], set[str]]:
    now = timezone.now()
    rows = [
        BlacklistedToken(jti=f"old-{i}", expires_at=now - timedelta(minutes=1 + i))
        for i in range(expired)
    ] + [
        BlacklistedToken(jti=f"live-{i}", expires_at=now + timedelta(minutes=5 + i))
        for i in range(live)
    ]
    BlacklistedToken.objects.bulk_create(rows)
    return {f"old-{i}" for i in range(expired)}, {f"live-{i}" for i in range(live)}


def remaining_jtis() -> set[str]:
    return set(BlacklistedToken.objects.values_list("jti", flat=True))


def make_session(user, *, expired_days_ago=None, revoked_days_ago=None) -> Session:
    now = timezone.now()
    expires = now - timedelta(days=expired_days_ago) if expired_days_ago is not None else None
    revoked = now - timedelta(days=revoked_days_ago) if revoked_days_ago is not None else None
    return Session.objects.create(
        user=user,
        created_at=now - timedelta(days=40),
        refreshed_at=now - timedelta(days=40),
        expires_at=expires or now + timedelta(days=1),
        revoked_at=revoked,
        refresh_hash="0" * 64,
    )


def whoami(client, access):
    return client.get("/api/whoami/", **bearer(access))


# --- jwtsessions_cleanup ----------------------------------------------------------------------


def test_dry_run_counts_and_deletes_nothing():
    user = make_user()
    make_blacklist(expired=30, live=20)
    stale = make_session(user, expired_days_ago=30)
    before = remaining_jtis()

    output = run("jwtsessions_cleanup", "--dry-run")

    assert remaining_jtis() == before
    assert Session.objects.filter(pk=stale.pk).exists()
    assert "Would delete 30 expired blacklist entries." in output
    assert "Would delete 1 expired sessions." in output
    assert "nothing was deleted" in output


def test_batches_of_50_over_300_rows_delete_exactly_the_expired_ones():
    expired, live = make_blacklist(expired=180, live=120)

    output = run("jwtsessions_cleanup", "--batch-size", "50", verbosity=2)

    assert remaining_jtis() == live
    assert not remaining_jtis() & expired
    assert "Deleted 180 expired blacklist entries." in output
    # 180 rows in batches of 50: 50, 100, 150, then a short batch of 30 ends the loop.
    progress = [line for line in output.splitlines() if "expired blacklist entries:" in line]
    assert [line.split(": ")[1] for line in progress] == [
        "50 deleted so far…",
        "100 deleted so far…",
        "150 deleted so far…",
        "180 deleted so far…",
    ]


def test_a_second_run_finds_nothing_left():
    make_blacklist(expired=10, live=5)
    run("jwtsessions_cleanup")
    output = run("jwtsessions_cleanup")
    assert "Deleted 0 expired blacklist entries." in output
    assert "Done: 0 rows deleted" in output


def test_live_blacklist_entries_still_refuse_their_tokens_after_cleanup(client):
    body = login(client, make_user())
    blacklist_token(body["access"], reason="stolen")
    make_blacklist(expired=120, live=0)

    run("jwtsessions_cleanup", "--batch-size", "50")

    assert BlacklistedToken.objects.count() == 1
    r = whoami(client, body["access"])
    assert r.status_code == 401
    assert r.json()["code"] == "token_revoked"
    # And from the database alone, with nothing in the cache.
    caches["default"].clear()
    r = whoami(client, body["access"])
    assert r.status_code == 401
    assert r.json()["code"] == "token_revoked"


@override_settings(JWTSESSIONS={"LEEWAY": 120})
def test_entries_inside_the_leeway_are_kept():
    now = timezone.now()
    BlacklistedToken.objects.create(jti="in-leeway", expires_at=now - timedelta(seconds=30))
    BlacklistedToken.objects.create(jti="gone", expires_at=now - timedelta(seconds=600))
    run("jwtsessions_cleanup")
    assert remaining_jtis() == {"in-leeway"}


def test_sessions_are_kept_for_the_retention_window():
    user = make_user()
    active = make_session(user)
    recently_revoked = make_session(user, revoked_days_ago=2)
    recently_expired = make_session(user, expired_days_ago=2)
    long_revoked = make_session(user, revoked_days_ago=20)
    long_expired = make_session(user, expired_days_ago=20)

    output = run("jwtsessions_cleanup", "--sessions-older-than", "10")

    kept = set(Session.objects.values_list("pk", flat=True))
    assert kept == {active.pk, recently_revoked.pk, recently_expired.pk}
    assert long_revoked.pk not in kept
    assert long_expired.pk not in kept
    assert "Deleted 1 expired sessions." in output
    assert "Deleted 1 revoked sessions." in output


def test_default_retention_comes_from_the_setting():
    user = make_user()
    three_days = make_session(user, expired_days_ago=3)
    ten_days = make_session(user, expired_days_ago=10)
    run("jwtsessions_cleanup")  # default CLEANUP_RETENTION: 7 days
    assert set(Session.objects.values_list("pk", flat=True)) == {three_days.pk}
    with override_settings(JWTSESSIONS={"CLEANUP_RETENTION": timedelta(days=1)}):
        run("jwtsessions_cleanup")
    assert not Session.objects.filter(pk__in=[three_days.pk, ten_days.pk]).exists()


def test_a_revoked_session_inside_retention_still_answers_session_revoked(client):
    user = make_user()
    body = login(client, user)
    revoke_session(body["session_id"])
    run("jwtsessions_cleanup", "--sessions-older-than", "0", "--dry-run")
    run("jwtsessions_cleanup")  # revoked just now: inside the 7-day retention
    caches["default"].clear()
    assert Session.objects.filter(pk=body["session_id"]).exists()
    r = client.post(
        "/api/auth/refresh/", {"refresh": body["refresh"]}, content_type="application/json"
    )
    assert r.status_code == 401
    r = whoami(client, body["access"])
    assert r.status_code == 401
    assert r.json()["code"] == "session_revoked"


@pytest.mark.parametrize(
    "args",
    [["--batch-size", "0"], ["--batch-size", "100000"], ["--sessions-older-than", "-1"]],
)
def test_bad_arguments_are_a_command_error(args):
    make_blacklist(expired=3, live=0)
    with pytest.raises(CommandError):
        run("jwtsessions_cleanup", *args)
    assert BlacklistedToken.objects.count() == 3


def test_sleep_must_not_be_negative():
    with pytest.raises(CommandError):
        run("jwtsessions_cleanup", "--sleep", "-1")


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_cleanups_at_once_split_the_work():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite in-memory is one connection)")
    expired, live = make_blacklist(expired=3000, live=200)
    barrier = threading.Barrier(2)
    counts: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            counts.append(cleanup.delete_in_batches(cleanup.expired_blacklist(), batch_size=100))
        except BaseException as exc:  # reported below, never swallowed
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sum(counts) == len(expired)
    assert remaining_jtis() == live


# --- jwtsessions_revoke -----------------------------------------------------------------------


def test_revoke_by_user(client):
    alice, bob = make_user(), make_user()
    a1, a2, b1 = login(client, alice), login(client, alice), login(client, bob)

    output = run("jwtsessions_revoke", "--user", alice.username, "--reason", "incident 42")

    assert f"Revoked 2 sessions of user '{alice.username}'." in output
    for body in (a1, a2):
        r = whoami(client, body["access"])
        assert r.status_code == 401
        assert r.json()["code"] == "session_revoked"
    assert whoami(client, b1["access"]).status_code == 200
    assert set(Session.objects.filter(user=alice).values_list("revoke_reason", flat=True)) == {
        "incident 42"
    }


def test_revoke_by_session(client):
    user = make_user()
    first, second = login(client, user), login(client, user)

    output = run("jwtsessions_revoke", "--session", first["session_id"])

    assert "Revoked 1 session" in output
    assert whoami(client, first["access"]).json()["code"] == "session_revoked"
    assert whoami(client, second["access"]).status_code == 200
    again = run("jwtsessions_revoke", "--session", first["session_id"])
    assert "Revoked 0 sessions" in again
    assert "already revoked" in again


def test_revoke_all_without_input(client):
    bodies = [login(client, make_user()) for _ in range(3)]
    output = run("jwtsessions_revoke", "--all", "--no-input")
    assert "Revoked 3 sessions of 3 users." in output
    for body in bodies:
        assert whoami(client, body["access"]).json()["code"] == "session_revoked"
    assert "Revoked 0 sessions of 0 users." in run("jwtsessions_revoke", "--all", "--noinput")


def test_revoke_all_asks_first_and_a_no_changes_nothing(client, monkeypatch):
    body = login(client, make_user())
    prompts: list[str] = []

    def answer(prompt: str) -> str:  # the operator at the terminal
        prompts.append(prompt)
        return "no"

    monkeypatch.setattr("builtins.input", answer)
    with pytest.raises(CommandError, match="Cancelled"):
        run("jwtsessions_revoke", "--all")
    assert "all 1 active session of every user" in prompts[0]
    assert whoami(client, body["access"]).status_code == 200

    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    assert "Revoked 1 session of 1 user." in run("jwtsessions_revoke", "--all")
    assert whoami(client, body["access"]).status_code == 401


def test_unknown_user_or_session_is_a_command_error():
    with pytest.raises(CommandError, match="No user"):
        run("jwtsessions_revoke", "--user", "nobody-here")
    with pytest.raises(CommandError, match="No session"):
        run("jwtsessions_revoke", "--session", "does-not-exist")


def test_exactly_one_target_is_required():
    with pytest.raises(CommandError):
        run("jwtsessions_revoke")
    with pytest.raises(CommandError):
        run("jwtsessions_revoke", "--all", "--user", "x", "--no-input")


def _bulk_sessions(user, count: int) -> None:
    now = timezone.now()
    Session.objects.bulk_create(
        Session(user=user, expires_at=now + timedelta(days=1), refresh_hash="0" * 64)
        for _ in range(count)
    )


@pytest.mark.parametrize("target", [["--all", "--noinput"], ["--user", "bulk"]])
def test_revoke_large_counts_reports_progress_per_batch(monkeypatch, target):
    from jwtsessions.management.commands import jwtsessions_revoke

    monkeypatch.setattr(jwtsessions_revoke, "ALL_BATCH_SIZE", 10)
    _bulk_sessions(make_user("bulk"), 25)

    output = run("jwtsessions_revoke", *target)

    assert "  10 of 25 sessions revoked…" in output
    assert "  20 of 25 sessions revoked…" in output
    assert "  25 of 25 sessions revoked…" in output
    assert output.strip().splitlines()[-1] in (
        "Revoked 25 sessions of 1 user.",
        "Revoked 25 sessions of user 'bulk'.",
    )
    assert not Session.objects.filter(revoked_at__isnull=True).exists()
    # Small counts stay one line.
    _bulk_sessions(make_user(), 1)
    assert run("jwtsessions_revoke", "--all", "--noinput") == "Revoked 1 session of 1 user.\n"


def test_revoke_exits_3_when_the_cache_could_not_be_updated(client, settings):
    """The database is updated either way; the exit status tells a script the cache was not."""
    from jwtsessions import revocation

    if "STUB" in (revocation.track_cache_writes.__doc__ or ""):
        pytest.skip("track_cache_writes is still the stub (issue 11 implements it)")
    body = login(client, make_user("alice"))
    # A cache nobody listens on: every write of the revocation fails.
    settings.CACHES = {
        **settings.CACHES,
        "dead": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        },
    }
    with (
        override_settings(JWTSESSIONS={"CACHE_ALIAS": "dead"}),
        pytest.raises(CommandError) as raised,
    ):
        run("jwtsessions_revoke", "--user", "alice")
    assert raised.value.returncode == 3
    assert "REVOCATION_SYNC_INTERVAL" in str(raised.value)
    assert Session.objects.get(pk=body["session_id"]).revoked_at is not None
