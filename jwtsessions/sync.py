"""Catching up with refusals committed to the database, whatever the cache did.

STUB: the interface other modules code against; the implementation lands with issue 11.
"""

from __future__ import annotations


def catch_up() -> bool:
    """Make sure this process has applied every refusal committed to the database more than
    ``REVOCATION_SYNC_INTERVAL`` ago.

    Cheap when not due (a clock comparison); when due, at most one indexed query, after which
    the per-process copy is cleared of anything refused and the cache gets the refusals it
    missed. Returns ``False`` when this process cannot vouch for being up to date (the
    database could not be asked): callers must then not answer from the per-process copy.
    Never raises.
    """
    return True
