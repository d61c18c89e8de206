"""A process that learns its Redis refuses scripts, then forks children that guess together.

Run by tests/test_login_noscripts.py as ``python -m tests.fork_throttle CHILDREN ATTEMPTS``
on tests/live_settings.py (``LIVE_CACHE``: a test-owned Redis that refuses scripts). Forking
here, in a process with one thread, not in pytest's. Prints one JSON line per child: whether
it started with the parent's refusal, how many of its attempts were admitted, and whether it
had learned the refusal for itself by the end.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

import django

django.setup()

from jwtsessions import scriptrefusal, throttling  # noqa: E402


def _child(go: int, out: int, attempts: int) -> None:
    inherited = scriptrefusal.refused()
    os.read(go, 1)  # every child starts guessing at once
    admitted = sum(throttling.attempt("victim", "192.0.2.91") is None for _ in range(attempts))
    report = {"inherited": inherited, "admitted": admitted, "learned": scriptrefusal.refused()}
    os.write(out, json.dumps(report).encode())


def main() -> None:
    children, attempts = int(sys.argv[1]), int(sys.argv[2])
    # The parent's one refused EVAL, before the fork: what a preloading master would carry.
    assert throttling.attempt("parent", "192.0.2.90") is None
    assert scriptrefusal.refused()
    go_read, go_write = os.pipe()
    running: list[tuple[int, int]] = []
    for _ in range(children):
        out_read, out_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _child(go_read, out_write, attempts)
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        os.close(out_write)
        running.append((pid, out_read))
    os.write(go_write, b"g" * children)
    failed = 0
    for pid, out_read in running:
        with os.fdopen(out_read) as report:
            print(report.read(), flush=True)
        failed += os.waitpid(pid, 0)[1] != 0
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
