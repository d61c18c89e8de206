"""Catching up with refusals committed to the database, whatever the cache did.

Every revocation writes, in its own transaction, one :class:`~jwtsessions.models.RefusalLog`
row per thing it refuses (:func:`record`), then writes the refusal to the cache and announces it
(:func:`jwtsessions.refusals.refuse`) (so, with a
healthy cache, every process refuses before the revoking call returns). The log is the safety
net: each process reads the rows it has not seen at most once per ``REVOCATION_SYNC_INTERVAL``,
before it answers any request from the cache or from its per-process copy; when it finds any,
it drops its per-process copy and writes the refusals to the cache again (a replay), so a
write that failed, was skipped, or was made by a process that exited right after is enforced
everywhere within the interval.

This module owns the process's state and the public calls. Which rows are "not seen" (a late
commit leaves a gap below the highest id): :mod:`jwtsessions.loggaps`; the queries:
:mod:`jwtsessions.logqueries`; the cache writes a row needs and those owed:
:mod:`jwtsessions.logwrites`; a cache that went back in time: :mod:`jwtsessions.cacherollback`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from . import cachehealth, cacherollback, loggaps, logqueries, logwrites
from .cachekeys import negative_ttl

# Re-exported: the rest of the package and the tests use them as ``sync.<name>``.
from .cacherollback import on_rollback as on_rollback
from .loggaps import GAP_LIFETIME as GAP_LIFETIME
from .loggaps import MAX_GAPS as MAX_GAPS
from .logqueries import CHUNK as CHUNK
from .logwrites import Write as Write
from .logwrites import apply as apply
from .logwrites import writes_for as writes_for
from .settings import jwt_settings

logger = logging.getLogger("jwtsessions.sync")


@dataclasses.dataclass
class _State:
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    pid: int = dataclasses.field(default_factory=os.getpid)
    next_due: float = 0.0
    vouched: bool = False
    # When (monotonic) the last successful scan started: it saw every row committed before.
    caught_up_at: float | None = None
    # The log cursor: the highest id seen and the gaps below it (see loggaps.Cursor).
    high: int | None = None
    gaps: list[list[Any]] = dataclasses.field(default_factory=list)
    inside: set[int] = dataclasses.field(default_factory=set)
    # Refusals this process owes the cache (its own failed writes and failed replays).
    pending: logwrites.Owed = dataclasses.field(default_factory=dict)
    # Every unexpired blacklisted jti and its expiry (Unix time): loaded from the table when the
    # process starts, then kept by the log's "b" rows. Memory cannot evict it.
    listed: dict[str, float] = dataclasses.field(default_factory=dict)


_state = _State()
_listeners: list[Callable[[], None]] = []


def catch_up() -> bool:
    """Make sure this process has applied every refusal committed to the database more than
    ``REVOCATION_SYNC_INTERVAL`` ago.

    Cheap when not due (a clock comparison); when due, at most one indexed query, after which
    the per-process copy is cleared of anything refused and the cache gets the refusals it
    missed. Returns ``False`` when this process cannot vouch for being up to date (the
    database could not be asked): callers must then not answer from the per-process copy.
    Never raises.
    """
    state = _state
    if state.pid != os.getpid():
        _after_fork()
        state = _state
    if time.monotonic() < state.next_due:
        if state.pending and not cachehealth.in_backoff():
            with state.lock:
                _replay_pending()
        return state.vouched
    with state.lock:
        if time.monotonic() >= state.next_due:
            _scan(state)
        if state.pending and not cachehealth.in_backoff():
            _replay_pending()
        return state.vouched


def _scan(state: _State) -> None:
    started = time.monotonic()
    interval = jwt_settings.REVOCATION_SYNC_INTERVAL.total_seconds()
    applied = state.high
    # Read before the log, so a rollback after this read is seen by the next scan.
    mark = cacherollback.read_mark()
    writes: list[Write] = []
    try:
        for rows in logqueries.in_chunks(lambda after: _query(state, after)):
            writes += _absorb(state, rows, started)
        writes += cacherollback.replay(mark, applied, state.high)
    except Exception as exc:  # DatabaseError, or anything else: never raise on a request path
        state.vouched = False
        state.next_due = started + min(interval, 1.0)
        logger.warning("cannot read the refusal log (%s)", type(exc).__name__)
        return
    state.vouched = True
    state.caught_up_at = started
    state.next_due = started + interval
    if writes:
        for callback in _listeners:
            callback()
        _owe(writes)
        _replay_pending()
    cacherollback.settle(mark, applied, state.high, owing=bool(state.pending))


def caught_up_at() -> float | None:
    """When (``time.monotonic()``) this process's last successful catch-up started, or
    ``None`` if it never completed one: every refusal committed before then is applied here.
    """
    return _state.caught_up_at


def _query(state: _State, after: int) -> list[logqueries.Row]:
    with logqueries.savepoint():
        if state.high is None:
            listed, floor = logqueries.blacklist(), logqueries.floor()
            state.listed.update(listed)
            state.high = floor
        return logqueries.unseen(state.high, state.gaps, after)


def _absorb(state: _State, rows: Sequence[logqueries.Row], now: float) -> list[Write]:
    writes: list[Write] = []
    for pk, kind, subject, code in rows:
        if not loggaps.take(state, pk, now):
            continue  # applied already (a merged range re-reads it): nothing to do
        if kind == "b":
            state.listed[subject] = float(code) if code.isdigit() else time.time() + negative_ttl()
        writes += writes_for(kind, subject, code)
    loggaps.tidy(state, now)
    wall = time.time()
    for jti, expires in list(state.listed.items()):
        if expires <= wall:
            del state.listed[jti]
    return writes


def in_gap(pk: int) -> bool:
    """Whether this process still looks for refusal-log id ``pk`` (tests, diagnostics)."""
    return loggaps.looked_for(_state, pk)


def record(kind: str, subjects: Iterable[Any], code: str = "") -> None:
    """Add refusal-log rows; call inside the transaction that makes the change they announce."""
    from .models import RefusalLog

    # ``created_at`` comes from the database's clock (``db_default``).
    rows = [RefusalLog(kind=kind, subject=str(s), code=code) for s in subjects]
    if rows:
        RefusalLog.objects.bulk_create(rows)


def owe(writes: Iterable[Write]) -> None:
    """Remember refusals the cache did not take: written before this process reads it again."""
    with _state.lock:
        _owe(writes)


def is_listed(jti: str) -> bool | None:
    """Whether ``jti`` is blacklisted, as of this process's last catch-up (at most
    ``REVOCATION_SYNC_INTERVAL`` ago); ``None`` when this process cannot vouch for it.
    """
    state = _state
    if not state.vouched or state.high is None:
        return None
    expires = state.listed.get(jti)
    return expires is not None and expires > time.time()


def note_listed(jti: str, expires_at: float) -> None:
    """This process blacklisted ``jti``: known here at once, whatever the cache does."""
    _state.listed[jti] = expires_at


def on_refusals(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` whenever catching up finds refusals (the per-process copy registers
    its ``clear`` here, so this module does not import it).
    """
    _listeners.append(callback)
    return callback


def _owe(writes: Iterable[Write]) -> None:
    logwrites.owe(_state.pending, writes)


def _replay_pending() -> None:
    """Write what this process owes the cache (hold the lock)."""
    logwrites.replay(_state.pending)


def _after_fork() -> None:
    # A forked child keeps what the parent knew, but not its lock.
    global _state
    old = _state
    _state = _State(
        high=old.high,
        gaps=[list(g) for g in old.gaps],
        inside=set(old.inside),
        pending=dict(old.pending),
        vouched=old.vouched,
        caught_up_at=old.caught_up_at,
        listed=dict(old.listed),
    )
    _state.next_due = old.next_due


def reset() -> None:
    """Start over as a new process would (settings changed, tests)."""
    global _state
    _state = _State()
    cachehealth.set_owes_replay(False)


jwt_settings.on_reload(reset)
