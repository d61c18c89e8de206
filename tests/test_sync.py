"""Issue 11 item 1: a revocation committed to the database is enforced by every process within
``REVOCATION_SYNC_INTERVAL``, whatever the cache did; and item 6: commands tell the truth.

Faults are real: the cache sits behind a TCP proxy the test cuts, or points at a closed port; the
"other process" is a real ``manage.py`` subprocess where the database can be shared (an
in-memory SQLite database cannot, so that test needs PostgreSQL).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jwtsessions import cachehealth, revocation, store, sync
from jwtsessions.models import RefusalLog, Session
from tests.factories import bearer, login, make_user
from tests.services import free_port

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
INTERVAL = 0.3


def whoami(client, access):
    return client.get("/api/whoami/", **bearer(access))


def code_of(client, access):
    r = whoami(client, access)
    return r.status_code, (r.json().get("code") if r.status_code != 200 else None)


@pytest.fixture
def proxy_settings():
    """``proxy`` (tests/conftest.py) with a back-off no test outlasts and a short sync interval."""
    return {"CACHE_OUTAGE_BACKOFF": 60, "REVOCATION_SYNC_INTERVAL": INTERVAL}


def _warm(client):
    body = login(client, make_user())
    for _ in range(2):  # the cache and this process's copy now hold "active"
        assert whoami(client, body["access"]).status_code == 200
    return body


def _forget_what_the_revoking_process_knew():
    """What dies with a process that revoked and exited: its memory of the failed write."""
    sync._state.pending.clear()
    cachehealth.reset_health()


def _refused_within(client, access, seconds, code="session_revoked"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, got = code_of(client, access)
        if status == 401:
            assert got == code
            return time.monotonic()
        time.sleep(0.05)
    raise AssertionError(f"still admitted {seconds}s later")


def test_failed_cache_write_is_enforced_within_the_interval_by_a_process_that_saw_nothing(
    client, proxy
):
    body = _warm(client)
    key = store.SESSION_KEY + body["session_id"]
    proxy.down()
    with revocation.track_cache_writes() as report:
        assert revocation.revoke_session(body["session_id"], reason="incident")
    assert report.cache_ok is False
    _forget_what_the_revoking_process_knew()
    proxy.up()
    assert caches["flaky"].get(key) != ("", store.REVOKED)  # the cache never heard of it
    _refused_within(client, body["access"], INTERVAL + 1)
    assert caches["flaky"].get(key) == ("", store.REVOKED)  # replayed into the cache
    for _ in range(3):
        assert code_of(client, body["access"]) == (401, "session_revoked")


def test_a_process_in_its_backoff_window_still_writes_refusals(client, proxy):
    body = _warm(client)
    proxy.down()
    other = login(client, make_user())  # noqa: F841 - the failure starts a 60 s back-off
    assert cachehealth.in_backoff()
    proxy.up()
    with revocation.track_cache_writes() as report:
        revocation.revoke_session(body["session_id"])
    assert report.cache_ok is True
    # Written at once, not skipped for the back-off: another process reading Redis refuses.
    assert caches["flaky"].get(store.SESSION_KEY + body["session_id"]) == ("", store.REVOKED)


def _statements(queries: CaptureQueriesContext) -> list[str]:
    # The catch-up runs in a savepoint inside a transaction (a TestCase's here): not queries.
    return [
        q["sql"]
        for q in queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"))
    ]


def test_catching_up_costs_one_query_per_interval_and_none_per_warm_request(client, settings):
    settings.JWTSESSIONS = {"REVOCATION_SYNC_INTERVAL": INTERVAL}
    body = _warm(client)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(20):
            assert whoami(client, body["access"]).status_code == 200
    assert len(_statements(queries)) <= 1, _statements(queries)
    time.sleep(INTERVAL)
    with CaptureQueriesContext(connection) as queries:
        assert whoami(client, body["access"]).status_code == 200
        assert whoami(client, body["access"]).status_code == 200
    statements = _statements(queries)
    assert [sql for sql in statements if "jwtsessions_refusallog" in sql] == statements
    assert len(statements) == 1


def test_a_row_committed_after_a_later_id_is_not_skipped(client, settings):
    """Ids are allocated at insert, commits happen in any order: a scan that saw id n+1 while
    id n was still uncommitted must still apply id n once it commits."""
    settings.JWTSESSIONS = {"REVOCATION_SYNC_INTERVAL": INTERVAL}
    late, early = _warm(client), _warm(client)
    sync.catch_up()
    # Both revoked in the database behind the cache's back; only their log rows announce it.
    Session.objects.filter(pk__in=[late["session_id"], early["session_id"]]).update(
        revoked_at=timezone.now()
    )
    first = RefusalLog.objects.create(kind="s", subject=late["session_id"], code="session_revoked")
    RefusalLog.objects.create(kind="s", subject=early["session_id"], code="session_revoked")
    # Id `first` is "not committed yet": a scan now sees only the later row.
    RefusalLog.objects.filter(pk=first.pk).delete()
    time.sleep(INTERVAL)
    assert code_of(client, early["access"]) == (401, "session_revoked")
    assert whoami(client, late["access"]).status_code == 200  # nothing says otherwise yet
    assert sync.in_gap(first.pk)
    # Now it commits, with its original id.
    RefusalLog.objects.create(
        pk=first.pk, kind="s", subject=late["session_id"], code="session_revoked"
    )
    time.sleep(INTERVAL)
    assert code_of(client, late["access"]) == (401, "session_revoked")
    assert not sync.in_gap(first.pk)


class _Rollback(Exception):
    pass


def test_catch_up_cannot_vouch_without_the_database(settings):
    settings.JWTSESSIONS = {"REVOCATION_SYNC_INTERVAL": INTERVAL}
    assert sync.catch_up() is True
    time.sleep(INTERVAL)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE jwtsessions_refusallog RENAME TO jwtsessions_refusallog_x")
    try:
        # The failed query aborts the transaction on PostgreSQL: roll back to a savepoint.
        with contextlib.suppress(_Rollback), transaction.atomic():
            vouched = sync.catch_up()
            raise _Rollback
        assert vouched is False
        assert sync.catch_up() is False  # not due again yet, still not vouching
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE jwtsessions_refusallog_x RENAME TO jwtsessions_refusallog")
    time.sleep(INTERVAL + 0.05)
    assert sync.catch_up() is True


@pytest.mark.parametrize(
    "change",
    ["revoke", "expiry", "scopes", "delete", "deactivate_owner"],
)
def test_api_key_changes_reach_a_process_that_missed_the_cache_write(client, proxy, change):
    from jwtsessions.apikeys import create_api_key

    owner = make_user()
    api_key, key = create_api_key(owner, "ci", ["items:read"])
    header = {"HTTP_AUTHORIZATION": f"Api-Key {key}"}
    assert client.get("/api/machine/", **header).status_code == 200  # cached as usable
    proxy.down()
    if change == "revoke":
        revocation.revoke_api_key(api_key)
        expected = "api_key_revoked"
    elif change == "expiry":
        api_key.expires_at = timezone.now()
        api_key.save()
        expected = "api_key_expired"
    elif change == "scopes":
        api_key.scopes = ["other"]
        api_key.save()
        expected = None
    elif change == "delete":
        api_key.delete()
        expected = "api_key_invalid"
    else:
        owner.is_active = False
        owner.save()
        expected = "user_inactive"
    _forget_what_the_revoking_process_knew()
    proxy.up()
    deadline = time.monotonic() + INTERVAL + 1
    while True:
        r = client.get("/api/machine/", **header)
        if expected is None:
            if r.status_code == 200 and r.json().get("scopes") == ["other"]:
                break
        elif r.status_code == 401:
            assert r.json()["code"] == expected
            break
        assert time.monotonic() < deadline, r.content
        time.sleep(0.05)


def test_user_deletion_reaches_a_process_that_missed_the_cache_write(
    client, proxy, django_capture_on_commit_callbacks
):
    user = make_user()
    body = login(client, user)
    assert whoami(client, body["access"]).status_code == 200
    proxy.down()
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()
    _forget_what_the_revoking_process_knew()
    proxy.up()
    _refused_within(client, body["access"], INTERVAL + 1, code="user_inactive")


def test_blacklisting_reaches_a_process_that_missed_the_cache_write(client, proxy):
    body = _warm(client)
    proxy.down()
    revocation.blacklist_token(body["access"])
    _forget_what_the_revoking_process_knew()
    proxy.up()
    _refused_within(client, body["access"], INTERVAL + 1, code="token_revoked")


# --- item 6: the revoke command tells the truth ---------------------------------------------


def _add_a_dead_cache(settings):
    """The cache alias ``dead``: nothing listens on its port, so every write to it fails."""
    settings.CACHES = {
        **settings.CACHES,
        "dead": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        },
    }


def test_revoke_command_exits_3_when_the_cache_was_not_updated(client, settings):
    body = login(client, make_user())
    _add_a_dead_cache(settings)
    settings.JWTSESSIONS = {"CACHE_ALIAS": "dead"}
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("jwtsessions_revoke", f"--session={body['session_id']}", stdout=out)
    assert raised.value.returncode == 3
    assert "saved in the database" in str(raised.value)
    assert "REVOCATION_SYNC_INTERVAL" in str(raised.value)
    assert "Revoked 1 session" in out.getvalue()
    assert Session.objects.get(pk=body["session_id"]).revoked_at is not None


def test_revoke_command_exits_0_when_the_cache_took_it(client):
    body = login(client, make_user())
    out = StringIO()
    call_command("jwtsessions_revoke", f"--session={body['session_id']}", stdout=out)
    assert "Revoked 1 session" in out.getvalue()


def test_track_cache_writes_reports_to_every_enclosing_block(client, settings):
    body = login(client, make_user())
    _add_a_dead_cache(settings)
    with revocation.track_cache_writes() as outer:
        with revocation.track_cache_writes() as inner:
            revocation.revoke_session(body["session_id"])
        assert inner.cache_ok
        assert outer.cache_ok
        settings.JWTSESSIONS = {"CACHE_ALIAS": "dead"}
        with revocation.track_cache_writes() as inner:
            revocation.revoke_user_sessions(make_user())  # nothing to revoke: no write
        assert inner.cache_ok
        revocation.blacklist_token("some-jti")
    assert outer.cache_ok is False


# --- a real second process ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_revocation_by_a_command_whose_cache_failed_is_refused_here_within_the_interval(client):
    if connection.vendor == "sqlite":
        pytest.skip("an in-memory SQLite database cannot be shared with a second process")
    body = login(client, make_user())
    for _ in range(2):  # this process's cache entry and its per-process copy say "active"
        assert whoami(client, body["access"]).status_code == 200
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        # Its cache is a closed port: its write fails, and it exits.
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "DATABASE_URL": (
            f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
            if not db.get("PASSWORD")
            else f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        ),
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "jwtsessions_revoke", f"--session={body['session_id']}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    exited = time.monotonic()
    assert done.returncode == 3, done.stderr
    assert "REVOCATION_SYNC_INTERVAL" in done.stderr
    # Nothing in this process heard of it; the database's log is all there is.
    refused_at = _refused_within(client, body["access"], 1 + 1)
    assert refused_at - exited <= 2
    for _ in range(5):
        assert code_of(client, body["access"]) == (401, "session_revoked")


def test_cleanup_deletes_refusal_log_rows_no_process_needs(client):
    from datetime import timedelta

    body = login(client, make_user())
    revocation.revoke_session(body["session_id"])
    old = RefusalLog.objects.create(kind="s", subject="x" * 22, code="session_revoked")
    RefusalLog.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    out = StringIO()
    call_command("jwtsessions_cleanup", stdout=out)
    assert "Deleted 1 old refusal log entries." in out.getvalue()
    assert list(RefusalLog.objects.values_list("subject", flat=True)) == [body["session_id"]]


def test_f3_more_than_1000_rows_committed_after_a_later_id_are_all_applied(client, settings):
    """Red team F3: a mass revocation (1500 rows) commits after a later, small one. The scan
    that saw the later id first must still apply the lowest of the 1500 once they commit."""
    settings.JWTSESSIONS = {"REVOCATION_SYNC_INTERVAL": INTERVAL}
    victim, bystander = _warm(client), _warm(client)
    sync.catch_up()
    Session.objects.filter(pk__in=[victim["session_id"], bystander["session_id"]]).update(
        revoked_at=timezone.now()
    )
    mass = [RefusalLog(kind="s", subject=victim["session_id"], code="session_revoked")]
    mass += [RefusalLog(kind="s", subject=f"gone{i}", code="session_revoked") for i in range(1499)]
    mass = RefusalLog.objects.bulk_create(mass)
    ids = [row.pk for row in mass]
    RefusalLog.objects.create(kind="s", subject=bystander["session_id"], code="session_revoked")
    RefusalLog.objects.filter(pk__in=ids).delete()  # "not committed yet"
    time.sleep(INTERVAL)
    assert code_of(client, bystander["access"]) == (401, "session_revoked")
    assert whoami(client, victim["access"]).status_code == 200  # nothing says otherwise yet
    assert len(sync._state.gaps) <= sync.MAX_GAPS
    # The mass revocation commits, with its original ids.
    RefusalLog.objects.bulk_create(
        RefusalLog(pk=pk, kind="s", subject=row.subject, code=row.code)
        for pk, row in zip(ids, mass, strict=True)
    )
    time.sleep(INTERVAL)
    assert code_of(client, victim["access"]) == (401, "session_revoked")
    assert not any(sync.in_gap(pk) for pk in ids)


def test_f3_gap_ranges_are_bounded_and_never_lose_or_repeat_an_id():
    """More scattered gaps than MAX_GAPS: ranges merge (re-reading applied ids, never
    applying them twice) and every missing id is still applied once it commits."""
    state = sync._State(high=0)
    seen = list(range(2, 400, 4))  # 100 ids seen; the three after each one are missing
    assert sync._absorb(state, [(pk, "s", f"x{pk}", "") for pk in seen], 0.0)
    assert len(state.gaps) <= sync.MAX_GAPS
    missing = [pk for pk in range(1, 398) if pk not in seen]
    covered = {pk for lo, hi, _ in state.gaps for pk in range(lo, hi + 1)} - state.inside
    assert covered == set(missing)
    # Everything commits; the query returns the re-read ids too: applied once, not twice.
    rows = [(pk, "s", f"x{pk}", "") for pk in range(1, 398)]
    writes = sync._absorb(state, rows, 1.0)
    assert sorted({key for key, _, _ in writes if key.startswith("jws:s:")}) == sorted(
        f"jws:s:x{pk}" for pk in missing
    )
    assert state.gaps == []


def test_f5_a_revoker_whose_clock_is_20_minutes_behind_is_not_skipped_by_a_new_process(
    client, proxy, monkeypatch
):
    """Red team F5: the log's times come from the database's clock, and a new process's
    starting point is computed against it, so a skewed revoker's row does not look old."""
    body = _warm(client)
    real_now = timezone.now
    proxy.down()  # the revoker's cache write fails: only the log carries the refusal
    with monkeypatch.context() as patched:
        patched.setattr(timezone, "now", lambda: real_now() - timedelta(minutes=20))
        assert revocation.revoke_session(body["session_id"])
    _forget_what_the_revoking_process_knew()
    sync.reset()  # this process now starts afresh, as a new worker after a deploy would
    proxy.up()
    _refused_within(client, body["access"], INTERVAL + 1)
