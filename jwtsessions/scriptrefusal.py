"""Remembering, per process, that the cache's Redis refuses Lua scripts.

Login throttling runs each step as one script (:mod:`jwtsessions.throttling`); where Redis
refuses scripts it takes the same steps as single commands. Asking again on every login cost
two refused ``EVAL`` round trips per login, forever. So a refusal is remembered and later
steps go straight to the commands. What is counted does not change: both ways count on the
same keys in the same shared Redis, each step atomic there.

Only a refusal is remembered: ``NOPERM`` (an ACL without ``EVAL``) or an unknown command
(``rename-command EVAL ""``, a proxy that does not know it). Any other error reply (a replica's
``READONLY`` during a failover, ``OOM``, ``BUSY``, ``CROSSSLOT``, an error in the script) still
makes that one step take the commands, as before, and the next step tries the script again.
A timeout or a reset connection is not a reply at all: it reaches the cache's outage handling
(:mod:`jwtsessions.cachehealth`) and is never remembered here.

A remembered refusal is asked again after :data:`RECHECK_AFTER`, after any cache failure this
process sees (a reconnect or a failover, perhaps to a server that allows scripts) and after a
settings reload; a forked child starts without one. Each of those costs one ``EVAL``.
"""

from __future__ import annotations

import os
import time

from redis.exceptions import ResponseError

from . import cachehealth
from .redisclient import is_refusal

# Seconds a refusal is trusted: a Redis whose ACL or configuration starts allowing scripts
# again is used again within this time, at the price of one refused EVAL per process per period.
RECHECK_AFTER = 300.0

# (cachehealth epoch, time.monotonic()) of the refusal, or None. Replaced whole, never
# updated in place: threads read it without a lock, and a race costs one extra EVAL at most.
_refused: tuple[int, float] | None = None


def refused() -> bool:
    """True while a refusal remembered by this process still holds."""
    seen = _refused
    if seen is None:
        return False
    epoch, since = seen
    return epoch == cachehealth.epoch() and time.monotonic() - since < RECHECK_AFTER


def remember(error: ResponseError) -> None:
    """Remember ``error`` if it is a refusal (see :func:`is_refusal`); otherwise nothing."""
    global _refused
    if is_refusal(error):
        _refused = (cachehealth.epoch(), time.monotonic())


def ran() -> None:
    """A script ran: a refusal remembered before (and asked again since) is over."""
    if _refused is not None:
        forget()


def forget() -> None:
    """Ask the server again at the next script (tests; a forked child)."""
    global _refused
    _refused = None


# A child of a fork (gunicorn --preload, multiprocessing) asks for itself: the refusal would be
# harmless there (the same server, the same counting), but per process means per process.
if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=forget)
