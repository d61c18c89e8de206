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

Reading "the rows not seen yet" must not skip a row that commits late. Ids are allocated at
insert, commits happen in any order, so a scan can see id 8 while id 7 is still uncommitted.
Each process keeps the highest id it has seen and the ids below it it has not (gaps); every
scan asks for ``id > highest OR id IN (gaps)``, one query on the primary key. A gap is
forgotten after :data:`GAP_LIFETIME` (a rolled-back revocation leaves one forever): a
revocation inside a transaction that stays open longer than that between its log row and its
commit is enforced from the cache and ``SESSION_CACHE_TTL`` only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any

from django.core.cache import BaseCache
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from . import cachehealth, logmark
from .cachekeys import (
    API_KEY_KEY,
    BLACKLIST_KEY,
    CREDENTIAL_KEY,
    REVOKED,
    SEEN_KEY,
    SESSION_KEY,
    negative_ttl,
    positive_ttl,
)
from .settings import jwt_settings

logger = logging.getLogger("jwtsessions.sync")

# How long an id missing below the highest seen one is still looked for (see the module doc).
GAP_LIFETIME = 600.0
# Ranges of missing ids looked for at once; more are merged (see _tidy_gaps).
MAX_GAPS = 32
# Rows read per query; a backlog (a mass revocation, a process starting) takes several.
CHUNK = 5000

# (cache key, value, ttl); value None deletes the key.
Write = tuple[str, Any, int]


@dataclasses.dataclass
class _State:
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    pid: int = dataclasses.field(default_factory=os.getpid)
    next_due: float = 0.0
    vouched: bool = False
    # When (monotonic) the last successful scan started: it saw every row committed before.
    caught_up_at: float | None = None
    high: int | None = None
    # Ranges [first id, last id, first seen (monotonic)] of ids below ``high`` not seen yet.
    gaps: list[list[Any]] = dataclasses.field(default_factory=list)
    # Ids inside ``gaps`` applied already (ranges merged over them).
    inside: set[int] = dataclasses.field(default_factory=set)
    # Refusals this process owes the cache (its own failed writes and failed replays).
    pending: dict[str, tuple[Any, int]] = dataclasses.field(default_factory=dict)
    # Every unexpired blacklisted jti and its expiry (Unix time): loaded from the table when the
    # process starts, then kept by the log's "b" rows. Memory cannot evict it.
    listed: dict[str, float] = dataclasses.field(default_factory=dict)


_state = _State()
_listeners: list[Callable[[], None]] = []
_rollback_listeners: list[Callable[[BaseCache], None]] = []


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
    rolled_back = False
    # Read before the log, so a rollback after this read is seen by the next scan.
    mark = _read_mark()
    writes: list[Write] = []
    try:
        after = 0
        while True:
            with _savepoint():
                rows = _query(state, after)
            writes += _absorb(state, rows, started)
            if len(rows) < CHUNK:
                break
            after = rows[-1][0]
        # A mark above every id this scan could see was not written for this database (a
        # restored database, two deployments sharing one cache): it proves nothing, and left
        # alone it would hide every later rollback. Replay the window and set it right.
        bogus = mark is not None and state.high is not None and mark > state.high
        rolled_back = bogus or (mark is not None and applied is not None and mark < applied)
        if rolled_back:
            # The cache went back in time (or lost the mark): it may have lost refusals.
            logger.warning("cache %r lost refusals; replaying", jwt_settings.CACHE_ALIAS)
            with _savepoint():
                if bogus:
                    writes += _lost(0, state.high or 0)
                else:
                    writes += _lost(max(mark or 0, 0), applied or 0)
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
    if bogus and not state.pending and state.high is not None and _announce_rollback():
        _force_mark(state.high)
        return
    if mark is None or state.pending or state.high is None or mark >= state.high:
        return
    # Other processes may have copied the rolled-back entries: they drop their copies first.
    if not rolled_back or _announce_rollback():
        _raise_mark(state.high, mark)


def _announce_rollback() -> bool:
    try:
        for callback in _rollback_listeners:
            callback(cachehealth._cache())
    except Exception as exc:  # the mark stays low: the next scan (here or elsewhere) retries
        cachehealth.mark_down(exc)
        return False
    return True


def _read_mark() -> int | None:
    try:
        return logmark.read(cachehealth._cache())
    except Exception as exc:  # the next scan reads it again
        cachehealth.mark_down(exc)
        return None


def _force_mark(value: int) -> None:
    try:
        logmark.force(cachehealth._cache(), value)
    except Exception as exc:  # the next scan finds the mark still too high and tries again
        cachehealth.mark_down(exc)


def _raise_mark(value: int, read_before: int) -> None:
    try:
        logmark.raise_to(cachehealth._cache(), value, read_before)
    except Exception as exc:  # a lower mark only costs a replay
        cachehealth.mark_down(exc)


def _replay_window() -> Any:
    """Rows older than this need no replay after a cache rollback (database clock).

    A stale "active" entry the rollback brought back was written before the refusal's commit
    and lives at most ``SESSION_CACHE_TTL``; a row commits at most :data:`GAP_LIFETIME` after
    its ``created_at`` (or is not looked for). Blacklisted ids do not depend on the cache
    (every process keeps them in memory).
    """
    return Now() - (jwt_settings.SESSION_CACHE_TTL + timedelta(seconds=GAP_LIFETIME))


def _lost(mark: int, applied: int) -> list[Write]:
    """The writes for every recent row the cache may have lost: ``mark < id <= applied``."""
    from .models import RefusalLog

    writes: list[Write] = []
    after = max(mark, 0)
    recent = RefusalLog.objects.filter(created_at__gte=_replay_window(), pk__lte=applied)
    while True:
        rows = list(
            recent.filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", "kind", "subject", "code")[:CHUNK]
        )
        for pk, kind, subject, code in rows:
            writes += writes_for(kind, subject, code)
            after = pk
        if len(rows) < CHUNK:
            return writes


def _savepoint() -> contextlib.AbstractContextManager[Any]:
    # Inside the caller's transaction, a failed query must not abort it (PostgreSQL refuses
    # every later statement of an aborted transaction): the savepoint is rolled back instead.
    from django.db import connection, transaction

    return transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()


def caught_up_at() -> float | None:
    """When (``time.monotonic()``) this process's last successful catch-up started, or
    ``None`` if it never completed one: every refusal committed before then is applied here.
    """
    return _state.caught_up_at


def _query(state: _State, after: int) -> list[tuple[int, str, str, str]]:
    from .models import RefusalLog

    if state.high is None:
        listed, floor = _blacklist(), _floor()
        state.listed.update(listed)
        state.high = floor
    condition = Q(pk__gt=state.high)
    for lo, hi, _since in state.gaps:
        condition |= Q(pk__range=(lo, hi))
    rows = RefusalLog.objects.filter(condition, pk__gt=after).order_by("pk")
    return list(rows.values_list("pk", "kind", "subject", "code")[:CHUNK])


def _blacklist() -> dict[str, float]:
    from .models import BlacklistedToken

    rows = BlacklistedToken.objects.filter(expires_at__gt=timezone.now())
    return {jti: expires.timestamp() for jti, expires in rows.values_list("jti", "expires_at")}


def _floor() -> int:
    """Where a new process starts: just before the rows of the last ``SESSION_CACHE_TTL``.

    Those are replayed, in case every process that could have replayed them died: a stale
    positive entry in the cache lives no longer than ``SESSION_CACHE_TTL``.
    """
    from .models import RefusalLog

    # The database's clock on both sides: a process's or a revoker's clock may be off.
    older = RefusalLog.objects.filter(created_at__lt=_replay_window()).order_by("-pk")
    return int(older.values_list("pk", flat=True).first() or 0)


def _absorb(state: _State, rows: Sequence[tuple[int, str, str, str]], now: float) -> list[Write]:
    writes: list[Write] = []
    for pk, kind, subject, code in rows:
        high = state.high or 0
        if pk > high:
            if pk > high + 1:
                state.gaps.append([high + 1, pk - 1, now])
            state.high = pk
        elif not _fill_gap(state, pk):
            continue  # applied already (a merged range re-reads it): nothing to do
        if kind == "b":
            state.listed[subject] = float(code) if code.isdigit() else time.time() + negative_ttl()
        writes += writes_for(kind, subject, code)
    _tidy_gaps(state, now)
    wall = time.time()
    for jti, expires in list(state.listed.items()):
        if expires <= wall:
            del state.listed[jti]
    return writes


def _fill_gap(state: _State, pk: int) -> bool:
    """``pk`` committed below the highest id: ``True`` if it was missing (apply it)."""
    if pk in state.inside:
        return False
    for index, (lo, hi, since) in enumerate(state.gaps):
        if lo <= pk <= hi:
            pieces = [[lo, pk - 1, since], [pk + 1, hi, since]]
            state.gaps[index : index + 1] = [p for p in pieces if p[0] <= p[1]]
            return True
    return False


def _tidy_gaps(state: _State, now: float) -> None:
    """Forget old ranges; merge the closest ones while there are too many (a merged range
    also covers ids applied already, remembered in ``inside`` so they are not applied again).
    """
    state.gaps = sorted(g for g in state.gaps if now - g[2] <= GAP_LIFETIME)
    while len(state.gaps) > MAX_GAPS:
        index = min(
            range(len(state.gaps) - 1),
            key=lambda i: state.gaps[i + 1][0] - state.gaps[i][1],
        )
        first, second = state.gaps[index], state.gaps[index + 1]
        state.inside.update(range(first[1] + 1, second[0]))
        state.gaps[index : index + 2] = [[first[0], second[1], max(first[2], second[2])]]
    if state.inside:
        state.inside = {pk for pk in state.inside if _gap_of(state, pk) is not None}
    # A range holding only applied ids is seen in full.
    state.gaps = [g for g in state.gaps if any(pk not in state.inside for pk in _ids(g))]


def _ids(gap: list[Any]) -> range:
    return range(gap[0], gap[1] + 1)


def _gap_of(state: _State, pk: int) -> list[Any] | None:
    return next((g for g in state.gaps if g[0] <= pk <= g[1]), None)


def in_gap(pk: int) -> bool:
    """Whether this process still looks for refusal-log id ``pk`` (tests, diagnostics)."""
    gap = _gap_of(_state, pk)
    return gap is not None and pk not in _state.inside


def writes_for(kind: str, subject: str, code: str) -> list[Write]:
    """The cache writes that enforce one refusal-log row."""
    ttl = negative_ttl()
    if kind == "s":
        return [(SESSION_KEY + subject, ("", code or REVOKED), ttl), (SEEN_KEY + subject, None, 0)]
    if kind == "b":
        # ``code``: when the entry expires (Unix time), so the cache keeps it no longer.
        if code.isdigit():
            ttl = max(int(code) - int(time.time()) + 1, 1)
        return [(BLACKLIST_KEY + subject, 1, ttl)]
    if kind == "k":
        return [(API_KEY_KEY + subject, ("", code) if code else None, ttl)]
    if kind == "u":
        # The user's credential as the change left it (jwtsessions.binding.credential_value):
        # ``set``, so a fill that read the database before the change cannot stay behind it.
        return [(CREDENTIAL_KEY + subject, code or None, positive_ttl())]
    return []


def apply(cache: BaseCache, writes: Iterable[Write]) -> None:
    """Make ``writes`` in as few round trips as possible (one per TTL, one for deletions)."""
    by_ttl: dict[int, dict[str, Any]] = {}
    deletions: list[str] = []
    for key, value, ttl in writes:
        if value is None:
            deletions.append(key)
        else:
            by_ttl.setdefault(ttl, {})[key] = value
    for ttl, entries in by_ttl.items():
        cache.set_many(entries, ttl)
    if deletions:
        cache.delete_many(deletions)


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


def on_rollback(callback: Callable[[BaseCache], None]) -> Callable[[BaseCache], None]:
    """Call ``callback(cache)`` after refusals a cache rollback lost were written again (the
    per-process copy registers its ``announce``: every process drops what it copied from the
    rolled-back cache).
    """
    _rollback_listeners.append(callback)
    return callback


def _owe(writes: Iterable[Write]) -> None:
    for key, value, ttl in writes:
        _state.pending[key] = (value, ttl)
    cachehealth.set_owes_replay(bool(_state.pending))


def _replay_pending() -> None:
    """Write what this process owes the cache (hold the lock)."""
    pending = dict(_state.pending)
    if not pending:
        return
    writes = [(key, value, ttl) for key, (value, ttl) in pending.items()]
    try:
        apply(cachehealth._cache(), writes)
    except Exception as exc:
        cachehealth.mark_down(exc)
        cachehealth.set_owes_replay(True)
        return
    for key in pending:
        _state.pending.pop(key, None)
    cachehealth.set_owes_replay(bool(_state.pending))
    logger.info("replayed %d refusal(s) to cache %r", len(writes), jwt_settings.CACHE_ALIAS)


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
