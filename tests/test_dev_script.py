"""``python3 dev.py demo``, the README's first command, when the address is wrong or taken.

Issue 14: a busy port must be a clear one-line error, no traceback; and it comes at once, before
anything is installed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_demo(address: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEMO_ADDRESS": address}
    return subprocess.run(
        [sys.executable, str(ROOT / "dev.py"), "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_busy_port_is_one_line_and_no_traceback() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_demo(f"127.0.0.1:{port}")
    assert done.returncode == 1
    assert done.stdout.strip().splitlines() == [
        f"error: 127.0.0.1:{port} is already in use; run with DEMO_ADDRESS=127.0.0.1:{port + 1}"
    ]
    assert done.stderr == ""  # no traceback, and no install went first


def test_an_address_without_a_port_is_one_line() -> None:
    done = run_demo("localhost")
    assert done.returncode == 2
    assert done.stdout.strip().splitlines() == [
        "error: DEMO_ADDRESS='localhost' is not HOST:PORT (e.g. 127.0.0.1:8001)"
    ]
    assert done.stderr == ""
