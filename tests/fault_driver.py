"""A second process for the fault scenarios (see tests/faults.py: ``Driver``).

Reads one JSON command per line on stdin, answers one JSON line on stdout. Runs on
tests/live_settings.py, so it shares the live server's database and reaches Redis through
whatever link its environment names (its own proxy: another "host").
"""

from __future__ import annotations

import json
import sys
import threading
import time
from types import SimpleNamespace
from typing import Any

import django

django.setup()

from jwtsessions import revocation, store  # noqa: E402
from jwtsessions.authentication import JWTSessionAuthentication  # noqa: E402
from jwtsessions.exceptions import AuthFailed  # noqa: E402

_spins: dict[str, Any] = {}


def _admits(token: str) -> bool:
    try:
        JWTSessionAuthentication().authenticate_token(SimpleNamespace(), token)
    except AuthFailed:
        return False
    return True


def _spin(token: str, seconds: float) -> None:
    """Check ``token`` in a tight loop until refused; note the last admission's start."""
    last_admitted = first_refused = 0.0
    checks = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        checks += 1
        if not _admits(token):
            first_refused = started
            break
        last_admitted = started
    _spins["result"] = {
        "last_admitted": last_admitted,
        "first_refused": first_refused,
        "checks": checks,
    }


def handle(command: dict[str, Any]) -> dict[str, Any]:
    op = command["op"]
    started = time.monotonic()
    answer: dict[str, Any] = {"ok": True}
    if op == "ping":
        pass
    elif op == "touch":
        # Any cache call: lets this process notice (or not) that its cache link is down.
        try:
            store.cache_call(lambda c: c.get("jws:faults:touch"))
        except store.CacheUnavailable:
            answer["ok"] = False
    elif op == "check":
        answer["ok"] = _admits(command["token"])
    elif op == "revoke_session":
        answer["ok"] = revocation.revoke_session(command["id"], reason="faults")
    elif op == "revoke_api_key":
        answer["ok"] = revocation.revoke_api_key(command["id"], reason="faults")
    elif op == "spin_start":
        token = command["token"]
        for _ in range(3):  # warm: the cache, then this process's copy
            assert _admits(token)
        _spins.clear()
        thread = threading.Thread(target=_spin, args=(token, command.get("seconds", 5.0)))
        thread.start()
        _spins["thread"] = thread
    elif op == "spin_result":
        _spins["thread"].join()
        answer.update(_spins["result"])
    else:
        raise ValueError(f"unknown op {op!r}")
    answer["started"] = started
    answer["returned"] = time.monotonic()
    return answer


def main() -> None:
    for line in sys.stdin:
        try:
            answer = handle(json.loads(line))
        except Exception as exc:  # reported to the test, which fails with it
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
