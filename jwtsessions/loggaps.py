"""Which refusal-log ids a process has not seen yet: the highest one and the gaps below it.

Reading "the rows not seen yet" must not skip a row that commits late. Ids are allocated at
insert, commits happen in any order, so a scan can see id 8 while id 7 is still uncommitted.
Each process keeps the highest id it has seen and the ranges of ids below it it has not (gaps);
every scan asks for ``id > highest OR id BETWEEN lo AND hi ...``, one query on the primary key.
At most :data:`MAX_GAPS` ranges are kept (the closest merge). A gap is forgotten once seen in
full, or after :data:`GAP_LIFETIME` (a rolled-back revocation leaves one forever): a
revocation inside a transaction that stays open longer than that between its log row and its
commit is enforced from the cache and ``SESSION_CACHE_TTL`` only.

Pure functions over a :class:`Cursor` (the state of :mod:`jwtsessions.sync`), which holds the
lock while calling them.
"""

from __future__ import annotations

from typing import Any, Protocol

# How long an id missing below the highest seen one is still looked for (see the module doc).
GAP_LIFETIME = 600.0
# Ranges of missing ids looked for at once; more are merged (see tidy).
MAX_GAPS = 32


class Cursor(Protocol):
    high: int | None
    # Ranges [first id, last id, first seen (monotonic)] of ids below ``high`` not seen yet.
    gaps: list[list[Any]]
    # Ids inside ``gaps`` applied already (ranges merged over them).
    inside: set[int]


def take(cursor: Cursor, pk: int, now: float) -> bool:
    """Row ``pk`` was read at ``now``: ``True`` if it is new to this process (apply it)."""
    high = cursor.high or 0
    if pk > high:
        if pk > high + 1:
            cursor.gaps.append([high + 1, pk - 1, now])
        cursor.high = pk
        return True
    return _fill(cursor, pk)


def _fill(cursor: Cursor, pk: int) -> bool:
    """``pk`` committed below the highest id: ``True`` if it was missing (apply it)."""
    if pk in cursor.inside:
        return False
    for index, (lo, hi, since) in enumerate(cursor.gaps):
        if lo <= pk <= hi:
            pieces = [[lo, pk - 1, since], [pk + 1, hi, since]]
            cursor.gaps[index : index + 1] = [p for p in pieces if p[0] <= p[1]]
            return True
    return False


def tidy(cursor: Cursor, now: float) -> None:
    """Forget old ranges; merge the closest ones while there are too many (a merged range
    also covers ids applied already, remembered in ``inside`` so they are not applied again).
    """
    cursor.gaps = sorted(g for g in cursor.gaps if now - g[2] <= GAP_LIFETIME)
    while len(cursor.gaps) > MAX_GAPS:
        index = min(
            range(len(cursor.gaps) - 1),
            key=lambda i: cursor.gaps[i + 1][0] - cursor.gaps[i][1],
        )
        first, second = cursor.gaps[index], cursor.gaps[index + 1]
        cursor.inside.update(range(first[1] + 1, second[0]))
        cursor.gaps[index : index + 2] = [[first[0], second[1], max(first[2], second[2])]]
    if cursor.inside:
        cursor.inside = {pk for pk in cursor.inside if _gap_of(cursor, pk) is not None}
    # A range holding only applied ids is seen in full.
    cursor.gaps = [g for g in cursor.gaps if any(pk not in cursor.inside for pk in _ids(g))]


def looked_for(cursor: Cursor, pk: int) -> bool:
    """Whether refusal-log id ``pk`` is in a gap, still looked for."""
    return _gap_of(cursor, pk) is not None and pk not in cursor.inside


def _ids(gap: list[Any]) -> range:
    return range(gap[0], gap[1] + 1)


def _gap_of(cursor: Cursor, pk: int) -> list[Any] | None:
    return next((g for g in cursor.gaps if g[0] <= pk <= g[1]), None)
