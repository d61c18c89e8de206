#!/usr/bin/env python3
"""The two quickstart commands. Needs only Python 3.10+; everything else is installed here.

    python3 dev.py demo   # the example project on SQLite, no Redis needed
    python3 dev.py test   # the whole test suite (starts its own Redis)

Both create ``.venv`` beside this file on first use and reinstall only when ``pyproject.toml``
changes. ``test`` passes any further arguments to pytest.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")

EXTRAS = {"demo": "argon2,openapi", "test": "test,browser,lint"}


def ensure_environment(extras: str) -> None:
    """Create the virtualenv and install the package with ``extras`` when anything changed."""
    if not PYTHON.exists():
        print(f"creating {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed-{extras.replace(',', '-')}"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    print(f"installing django-jwtsessions[{extras}] into {VENV} ...", flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[{extras}]"], check=True)
    stamp.write_text(wanted)


def manage(*args: str) -> None:
    subprocess.run([str(PYTHON), str(ROOT / "manage.py"), *args], check=True, cwd=ROOT)


def demo() -> int:
    ensure_environment(EXTRAS["demo"])
    # Local development on http://127.0.0.1: DEBUG serves the static files and lets the auth
    # cookies go without Secure (the example settings keep them Secure whenever DEBUG is off).
    os.environ.setdefault("DJANGO_DEBUG", "1")
    manage("migrate", "--noinput", "-v", "0")
    manage("demo_setup", "--no-migrate")
    address = os.environ.get("DEMO_ADDRESS", "127.0.0.1:8000")
    print(f"\n  Open http://{address}/  (admin: http://{address}/admin/)\n", flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends the demo, quietly
        manage("runserver", address, "--noreload")
    return 0


def test(args: list[str]) -> int:
    ensure_environment(EXTRAS["test"])
    completed = subprocess.run([str(PYTHON), "-m", "pytest", *args], cwd=ROOT)
    # pytest's 5 means no test ran: that is a failure here, never a pass.
    return 1 if completed.returncode == 5 else completed.returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test"):
        print(__doc__)
        return 2
    return demo() if argv[0] == "demo" else test(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
