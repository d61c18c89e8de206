#!/usr/bin/env python3
"""Cross-process revocation delay of the per-process session copy.

    python3 bench/revocation_delay.py [--trials 200]

Process A (this one) logs a session in and hands its access token to process B, which
authenticates it once (filling its local copy from Redis) and then authenticates it in a
tight loop, timestamping the start of every check. A revokes the session through
``jwtsessions.revocation.revoke_session`` and notes when the call returned. Both use
CLOCK_MONOTONIC, which Linux shares between processes. A violation is a check that B started
after A's call returned and that still admitted the token. Also reported: how long after the
revoking call *started* B's first refusal came.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402


def worker() -> None:
    """Process B: read a token per line, warm, spin until refused, report timings."""
    import django

    django.setup()
    from jwtsessions import localcache
    from jwtsessions.authentication import JWTSessionAuthentication
    from jwtsessions.exceptions import AuthFailed

    auth = JWTSessionAuthentication()
    request = SimpleNamespace()
    for line in sys.stdin:
        token = line.strip()
        auth.authenticate_token(request, token)  # warm: Redis read, then the local copy
        local = bool(localcache._state.entries)
        print("ready", flush=True)
        last_admitted = first_refused = 0.0
        checks = 0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            started = time.monotonic()
            checks += 1
            try:
                auth.authenticate_token(request, token)
            except AuthFailed:
                first_refused = started
                break
            last_admitted = started
        result = {
            "last_admitted": last_admitted,
            "first_refused": first_refused,
            "checks": checks,
            "local": local,
        }
        print(json.dumps(result), flush=True)


def measure(trials: int) -> dict[str, Any]:
    """Run the trials (Django must be set up in this process); return the summary."""
    from django.contrib.auth.models import User
    from django.db import connections

    from jwtsessions.revocation import revoke_session
    from jwtsessions.sessions import create_session

    user, _ = User.objects.get_or_create(username="revocation-bench")
    connections.close_all()
    child = subprocess.Popen(
        [sys.executable, __file__, "--worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    assert child.stdin is not None
    assert child.stdout is not None
    violations = 0
    after_return: list[float] = []  # last admitted start - revoke returned (want < 0)
    to_refusal: list[float] = []  # first refused start - revoke called
    revoke_cost: list[float] = []
    spins: list[int] = []
    local_used = 0
    try:
        for _ in range(trials):
            pair = create_session(user)
            child.stdin.write(pair.access + "\n")
            child.stdin.flush()
            if child.stdout.readline().strip() != "ready":
                raise RuntimeError("worker failed")
            time.sleep(random.uniform(0.0005, 0.003))  # let B spin on its local copy
            called = time.monotonic()
            revoke_session(pair.session.pk, reason="bench")
            returned = time.monotonic()
            result = json.loads(child.stdout.readline())
            if not result["first_refused"]:
                raise RuntimeError("worker never saw the revocation")
            local_used += result["local"]
            spins.append(result["checks"])
            revoke_cost.append((returned - called) * 1e6)
            to_refusal.append((result["first_refused"] - called) * 1e6)
            if result["last_admitted"]:
                after_return.append((result["last_admitted"] - returned) * 1e6)
                if result["last_admitted"] > returned:
                    violations += 1
    finally:
        child.stdin.close()
        child.wait(10)
    return {
        "trials": trials,
        "violations": violations,
        "local_copy_used": local_used,
        "median_checks_per_trial": statistics.median(spins),
        "revoke_call_us_median": statistics.median(revoke_cost),
        "revoke_call_us_max": max(revoke_cost),
        "first_refusal_after_call_us_median": statistics.median(to_refusal),
        "first_refusal_after_call_us_max": max(to_refusal),
        "last_admission_minus_return_us_max": max(after_return) if after_return else None,
    }


def markdown(summary: dict[str, Any]) -> str:
    worst = summary["last_admission_minus_return_us_max"]
    worst_text = "—" if worst is None else f"{worst:.0f} µs"
    return "\n".join(
        [
            "## Cross-process revocation (per-process session copy)",
            "",
            f"{summary['trials']} trials; B answered from its local copy in "
            f"{summary['local_copy_used']} of them (median "
            f"{summary['median_checks_per_trial']:.0f} checks per trial while spinning).",
            "",
            "| measure | value |",
            "|---|---:|",
            f"| checks admitted after the revoking call returned | **{summary['violations']}** |",
            "| latest admitted check start - call return (max; negative = before) | "
            f"{worst_text} |",
            f"| revoking call (DB + Redis + publish + ping), median / max | "
            f"{summary['revoke_call_us_median']:.0f} / {summary['revoke_call_us_max']:.0f} µs |",
            f"| first refusal in B after the call started, median / max | "
            f"{summary['first_refusal_after_call_us_median']:.0f} / "
            f"{summary['first_refusal_after_call_us_max']:.0f} µs |",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--install", choices=harness.INSTALLS, default="plain")
    args = parser.parse_args()
    if args.worker:
        worker()
        return
    with (
        tempfile.TemporaryDirectory(prefix="jwtsessions-revoke-") as tmp,
        harness.private_redis(Path(tmp)) as redis_url,
    ):
        harness.setup_django(Path(tmp) / "bench.db", redis_url, "")
        text = markdown(measure(args.trials))
    print(text)
    output = HERE / "results" / f"{time.strftime('%Y%m%d-%H%M')}-revocation.md"
    output.write_text(
        f"# Revocation delay — {time.strftime('%Y-%m-%d %H:%M %Z')}\n\n"
        f"Machine: {harness.machine()}\n\n{text}"
    )
    print(f"saved {output}", file=sys.stderr)


if __name__ == "__main__":
    if "--worker" not in sys.argv:
        harness.ensure_venv()
    main()
