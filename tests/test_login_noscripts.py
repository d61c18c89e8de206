"""Where Redis refuses scripts, a process remembers it: logins stop paying a refused ``EVAL``.

Each login sent its two throttling steps as scripts first, had them refused, then sent the
same steps as commands: two wasted round trips per login, forever. Every Redis here is owned
by its test and refuses scripts for real, by ACL (``-eval -evalsha``) or by configuration
(``rename-command EVAL ""``). What the server refused is read from the server: an ACL's
refusals are its ``rejected_calls`` (``INFO commandstats``); an unknown command has no
commandstats entry, only an ``ERR`` reply in ``INFO errorstats``, a count that every new
connection's handshake also raises (``CLIENT SETINFO`` before Redis 7.2), so it is compared only
while no connection was opened. ``MONITOR`` does not list refused commands.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.core.cache import caches

from jwtsessions import throttling
from tests.factories import login, make_user
from tests.faults import NEUTRAL_CWD, FaultProxy, RedisServer, live_environment, redis_cache
from tests.live import _sqlite_template, lab, live_database  # noqa: F401
from tests.own_redis import django_redis, own_redis, using_cache

# jwtsessions.scriptrefusal is imported by the tests that read it, so the others also run on the
# code from before it (PYTHONPATH / FAULTS_CODE_PATH), where they fail.
ACL, RENAMED = "acl", "renamed"
RENAMED_ARGS = ("--rename-command", "EVAL", "", "--rename-command", "EVALSHA", "")


@contextlib.contextmanager
def refusing_redis(kind: str) -> Iterator[RedisServer]:
    with own_redis(*(RENAMED_ARGS if kind == RENAMED else ())) as server:
        if kind == ACL:
            server.client().execute_command("ACL", "SETUSER", "default", "-eval", "-evalsha")
        yield server


def _commandstat(admin: Any, command: str, field: str) -> int:
    return int(admin.info("commandstats").get(f"cmdstat_{command}", {}).get(field, 0))


def refused_scripts(admin: Any, kind: str) -> int:
    """Scripts the server refused so far (for RENAMED: every ``ERR`` reply, see above)."""
    if kind == ACL:
        return sum(_commandstat(admin, name, "rejected_calls") for name in ("eval", "evalsha"))
    return int(admin.info("errorstats").get("errorstat_ERR", {}).get("count", 0))


def connections(admin: Any) -> int:
    return int(admin.info("stats")["total_connections_received"])


@pytest.mark.django_db
@pytest.mark.parametrize("kind", [ACL, RENAMED])
def test_where_scripts_are_refused_a_login_does_not_try_eval_every_time(client, kind):
    """Every login cost two refused EVALs: now the first login of a process learns the
    refusal and the later ones send the commands straight away."""
    with refusing_redis(kind) as server, using_cache(django_redis(server.url)):
        admin = server.client()
        user = make_user()
        login(client, user)  # learns the refusal from the server
        before, opened = refused_scripts(admin, kind), connections(admin)
        incr, getdel = (
            _commandstat(admin, "incrby", "calls"),
            _commandstat(admin, "getdel", "calls"),
        )
        for _ in range(5):
            login(client, user)
        assert connections(admin) == opened  # (so any new ERR below would be a refused EVAL)
        assert refused_scripts(admin, kind) == before
        # ... and the throttle still counted each login, with commands: two counters each,
        # and the success's forgiving.
        assert _commandstat(admin, "incrby", "calls") - incr == 10
        assert _commandstat(admin, "getdel", "calls") - getdel == 5
        if kind == ACL:  # one refused EVAL in six logins: the first login's first step
            assert refused_scripts(admin, kind) == 1


@pytest.mark.django_db
def test_a_server_that_allows_scripts_again_is_used_again(client, monkeypatch):
    from jwtsessions import scriptrefusal

    with (
        refusing_redis(ACL) as server,
        using_cache(django_redis(server.url), CACHE_OUTAGE_BACKOFF=0),
    ):
        admin = server.client()
        user = make_user()
        login(client, user)
        assert refused_scripts(admin, ACL) == 1
        admin.execute_command("ACL", "SETUSER", "default", "+eval", "+evalsha")
        login(client, user)
        assert _commandstat(admin, "eval", "calls") == 0  # the refusal is trusted a while ...
        monkeypatch.setattr(scriptrefusal, "RECHECK_AFTER", 0.0)
        login(client, user)
        assert _commandstat(admin, "eval", "calls") == 2  # ... then asked again, and used
        monkeypatch.undo()

        # Refused again and remembered again; then the cache fails once (frozen past the
        # client's 1 s timeout), as a failover does: the refusal is asked again after it.
        admin.execute_command("ACL", "SETUSER", "default", "-eval", "-evalsha")
        login(client, user)
        assert refused_scripts(admin, ACL) == 2
        admin.execute_command("ACL", "SETUSER", "default", "+eval", "+evalsha")
        login(client, user)
        assert _commandstat(admin, "eval", "calls") == 2
        server.freeze()
        try:
            assert throttling.attempt("someone", "192.0.2.80") is None  # counted in-process
        finally:
            server.thaw()
        login(client, user)
        assert _commandstat(admin, "eval", "calls") == 4


@pytest.mark.parametrize("fault", ["timeout", "reset"])
def test_a_timeout_or_a_reset_is_not_remembered_as_a_refusal(fault):
    """A transient failure reaches the outage handling (this attempt counts in the process);
    the next attempt runs the script again."""
    with own_redis() as server:
        link = FaultProxy(server.port)
        try:
            with using_cache(django_redis(link.url), CACHE_OUTAGE_BACKOFF=0):
                admin = server.client()
                assert throttling.attempt("alice", "192.0.2.81") is None
                assert _commandstat(admin, "eval", "calls") == 1
                if fault == "timeout":
                    link.blackhole()  # the EVAL waits past the 1 s timeout, then is lost
                    assert throttling.attempt("alice", "192.0.2.81") is None
                    link.lose_held()
                else:
                    link.reset()  # connection reset, and every reconnection too
                    assert throttling.attempt("alice", "192.0.2.81") is None
                link.passthrough()
                assert throttling.attempt("alice", "192.0.2.81") is None
                assert _commandstat(admin, "eval", "calls") == 2
        finally:
            link.close()


def _run_attempt_script() -> Any:
    keys = throttling._keys("alice", "192.0.2.82")
    return throttling._script(
        caches["default"], throttling._ATTEMPT, [*keys, *(k + ":lock" for k in keys)], [10, 60, 0]
    )


def test_only_a_refusal_is_remembered_not_another_error_reply():
    """A replica's READONLY (a failover under way) or an error inside the script is that one
    step's failure, taken with commands as before; only NOPERM and an unknown command mean
    the server refuses scripts."""
    from jwtsessions import scriptrefusal

    with own_redis() as primary, own_redis("--replicaof", "127.0.0.1", str(primary.port)) as copy:
        with using_cache(django_redis(copy.url)):
            assert _run_attempt_script() is None  # READONLY
            assert not scriptrefusal.refused()
        with using_cache(django_redis(primary.url)):
            address_key = caches["default"].make_key(throttling._keys("alice", "192.0.2.82")[0])
            primary.client().lpush(address_key, "not a counter")
            assert _run_attempt_script() is None  # WRONGTYPE, inside the script
            assert not scriptrefusal.refused()
    for kind in (ACL, RENAMED):
        with refusing_redis(kind) as server, using_cache(django_redis(server.url)):
            assert _run_attempt_script() is None
            assert scriptrefusal.refused(), kind


def test_a_forked_child_asks_for_itself_and_counts_with_its_siblings():
    """gunicorn --preload forks workers from a master that may have learned a refusal: each
    child starts without it (one refused EVAL each), and they count on the same counters."""
    with refusing_redis(ACL) as server:
        database = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
        env = live_environment(database, redis_cache(server.url))
        done = subprocess.run(
            [sys.executable, "-m", "tests.fork_throttle", "3", "8"],
            env=env,
            cwd=NEUTRAL_CWD,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        children = [json.loads(line) for line in done.stdout.splitlines() if line]
        assert [(c["inherited"], c["learned"]) for c in children] == [(False, True)] * 3
        assert sum(c["admitted"] for c in children) == 10  # LOGIN_FAILURE_LIMIT, of 24
        assert refused_scripts(server.client(), ACL) == 1 + 3  # the parent, then each child


@pytest.mark.live_server
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", [ACL, RENAMED])
def test_with_scripts_refused_each_worker_asks_once_and_the_lockout_holds_across_workers(
    lab,  # noqa: F811
    kind,
):
    redis = lab.redis(*(RENAMED_ARGS if kind == RENAMED else ()))
    admin = redis.client()
    if kind == ACL:
        admin.execute_command("ACL", "SETUSER", "default", "-eval", "-evalsha")
    cache = redis_cache(redis.url)
    server = lab.server(lab.env(cache, NUM_PROXIES=1, LOGIN_FAILURE_LIMIT=5), workers=3)
    status, body = server.request("POST", "/faults/setup/", {"username": "owner"})
    assert status == 200, body

    def log_in(password: str, address: str) -> tuple[int, int | None]:
        credentials = {"username": "owner", "password": password}
        status, _, pid = server.request_with_pid(
            "POST", "/api/auth/login/", credentials, {"X-Forwarded-For": address}, timeout=30
        )
        return status, pid

    def burst(password: str, addresses: list[str]) -> list[tuple[int, int | None]]:
        with ThreadPoolExecutor(6) as pool:
            return list(pool.map(lambda address: log_in(password, address), addresses))

    # Logins from many addresses until every worker has answered some: each learns once.
    workers: set[int | None] = set()
    for round_ in range(20):
        answers = burst("pw-owner", [f"203.0.113.{6 * round_ + n + 1}" for n in range(6)])
        assert {status for status, _ in answers} == {200}, answers
        workers |= {pid for _, pid in answers}
        if len(workers) == 3:
            break
    assert len(workers) == 3, workers
    if kind == ACL:
        assert refused_scripts(admin, kind) <= 3  # at most one per worker
    before, opened = refused_scripts(admin, kind), connections(admin)

    answers = burst("pw-owner", [f"198.18.0.{n + 1}" for n in range(12)])
    assert {status for status, _ in answers} == {200}, answers
    guesses = burst("wrong", ["198.51.100.1"] * 15)
    assert Counter(status for status, _ in guesses) == {401: 5, 429: 10}, guesses
    assert len({pid for _, pid in guesses}) >= 2  # the workers counted together
    assert log_in("pw-owner", "198.51.100.1")[0] == 429  # the guesser's address is locked
    assert log_in("pw-owner", "198.51.100.2")[0] == 200  # the owner elsewhere is not

    assert connections(admin) == opened
    assert refused_scripts(admin, kind) == before
