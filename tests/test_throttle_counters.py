"""Login throttling's counters and locks on Redis under faults (red team, 2026-11-30).

Each Redis here is owned by its test. One test per finding, each failing on the code it was
found in.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.core.cache import caches

from jwtsessions import cachehealth, scriptrefusal, throttling
from tests.factories import make_user
from tests.own_redis import django_redis, own_redis, using_cache

pytestmark = pytest.mark.django_db

REFUSED = ("--rename-command", "EVAL", "", "--rename-command", "EVALSHA", "")


@pytest.fixture(autouse=True)
def fresh_process_state():
    """Each test starts as a new process: no remembered refusal, no back-off."""
    scriptrefusal.forget()
    cachehealth.reset_health()
    throttling.reset_fallback()
    yield
    scriptrefusal.forget()
    cachehealth.reset_health()


def counters(admin: Any) -> dict[bytes, int]:
    """Every throttle counter in Redis (locks left out) and its remaining lifetime."""
    names = [k for k in admin.scan_iter(match="*jws:lf:*") if not k.endswith(b":lock")]
    return {name: int(admin.ttl(name)) for name in names}


def refuse_transactions(server: Any) -> None:
    """An ACL that refuses scripts and MULTI/EXEC alike (second round of the red team)."""
    server.client().execute_command(
        "ACL", "SETUSER", "default", "-eval", "-evalsha", "-@transaction"
    )


@pytest.mark.parametrize("scripts", ["allowed", "refused", "refused with transactions"])
def test_a_counter_left_without_a_lifetime_gets_one_back(scripts):
    """A counter that never expires locks its address out for good once past the limit; one
    left so (by a fault, or an older version) is given its lifetime at the next attempt."""
    arguments = REFUSED if scripts == "refused" else ()
    with own_redis(*arguments) as server, using_cache(django_redis(server.url)):
        if scripts == "refused with transactions":
            refuse_transactions(server)
        admin = server.client()
        address_key, _ = throttling._keys("alice", "192.0.2.7")
        admin.set(caches["default"].make_key(address_key), 3)  # no lifetime
        assert throttling.attempt("alice", "192.0.2.7") is None
        assert all(ttl > 0 for ttl in counters(admin).values()), counters(admin)


def test_connections_killed_mid_attempt_leave_no_immortal_counter():
    """Where scripts are refused, a new counter's INCR and EXPIRE were two commands: a
    connection lost between them left it without a lifetime (8-17 of 1,200 attempts while
    connections were killed every 20 ms). Now they are one transaction: all or nothing."""
    with (
        own_redis(*REFUSED) as server,
        using_cache(django_redis(server.url), CACHE_OUTAGE_BACKOFF=0),
    ):
        admin = server.client()
        stop = threading.Event()

        def kill_connections() -> None:
            while not stop.is_set():
                admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
                stop.wait(0.002)

        killer = threading.Thread(target=kill_connections)
        killer.start()
        try:
            for i in range(600):  # each from a fresh address: each a new counter
                throttling.attempt(f"user{i}", f"198.51.{i // 250}.{i % 250}")
        finally:
            stop.set()
            killer.join()
        left = counters(admin)
        assert left  # the attempts did reach Redis between the kills
        assert [name for name, ttl in left.items() if ttl == -1] == []


def test_a_lockout_is_read_from_the_primary_not_a_replica():
    """Reads through the backend may go to a replica: one that lags (here: one that never
    heard of the lock) let attempts through once the counter's window ended, while the lock
    on the primary still held."""
    with own_redis(*REFUSED) as primary, own_redis() as lagging:
        entry = django_redis([primary.url, lagging.url])
        with using_cache(entry, LOGIN_FAILURE_LIMIT=2, LOGIN_LOCKOUT=60):
            for _ in range(2):
                assert throttling.attempt("bob", "203.0.113.5") is None
            assert throttling.attempt("bob", "203.0.113.5")  # locked: 429
            # The counters' window ends before the lock's (they started earlier):
            admin = primary.client()
            for name in counters(admin):
                admin.delete(name)
            assert throttling.attempt("bob", "203.0.113.5")  # still locked


def test_where_transactions_are_refused_too_each_attempt_counts_once():
    """Second round: with MULTI refused, a pipelined transaction's commands ran anyway, outside
    it, and its fallback counted again: every attempt counted twice (a lockout after half the
    limit)."""
    with own_redis() as server, using_cache(django_redis(server.url), LOGIN_FAILURE_LIMIT=5):
        refuse_transactions(server)
        for _ in range(3):
            assert throttling.attempt("carol", "192.0.2.9") is None
        admin = server.client()
        address_key, pair_key = throttling._keys("carol", "192.0.2.9")
        for key in (address_key, pair_key):
            name = caches["default"].make_key(key)
            assert int(admin.get(name)) == 3
            assert admin.ttl(name) > 0


@pytest.mark.parametrize("backend", ["django-redis", "django"])
def test_where_transactions_are_refused_refusal_writes_still_reach_the_cache(backend):
    """Third round: refusal writes go out as ``set_many``, which both backends send as
    MULTI/EXEC. Refused, the first user save left its process owing them for good: it never
    read the cache again, and counted logins on its own (15 password checks across 3 workers,
    limit 5)."""
    with own_redis() as server:
        entry = (
            django_redis(server.url)
            if backend == "django-redis"
            else {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": server.url,
                "OPTIONS": {"socket_timeout": 1, "socket_connect_timeout": 1},
            }
        )
        with using_cache(entry, LOGIN_FAILURE_LIMIT=5):
            refuse_transactions(server)
            user = make_user()
            user.set_password("a new one")
            user.save()  # a real change: its refusals are written to the cache
            assert cachehealth.reads_allowed()  # nothing owed, the cache is read again
            assert throttling.attempt(user.get_username(), "192.0.2.10") is None
            admin = server.client()
            assert counters(admin), "the attempt was counted in this process, not in Redis"
