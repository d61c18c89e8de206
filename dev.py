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
import signal
import socket
import subprocess
import sys
import time
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


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return (host.strip("[]") or "127.0.0.1"), int(port)


def _port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _wait_until_listening(server: subprocess.Popen[bytes], host: str, port: int) -> bool:
    """True once the server accepts connections; False if it exits first (or in 60 s)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        time.sleep(0.2)
    return False


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def demo() -> int:
    # The address first: a busy port is one line at once, not after an install.
    address = os.environ.get("DEMO_ADDRESS", "127.0.0.1:8000")
    try:
        host, port = _split_address(address)
    except ValueError:
        print(f"error: DEMO_ADDRESS={address!r} is not HOST:PORT (e.g. 127.0.0.1:8001)")
        return 2
    if not _port_is_free(host, port):
        print(f"error: {address} is already in use; run with DEMO_ADDRESS={host}:{port + 1}")
        return 1
    ensure_environment(EXTRAS["demo"])
    # Local development on http://127.0.0.1: DEBUG serves the static files and lets the auth
    # cookies go without Secure (the example settings keep them Secure whenever DEBUG is off).
    os.environ.setdefault("DJANGO_DEBUG", "1")
    manage("migrate", "--noinput", "-v", "0")
    manage("demo_setup", "--no-migrate")
    command = [str(PYTHON), str(ROOT / "manage.py"), "runserver", address, "--noreload"]
    # runserver's own banner goes out before it binds: the URL is printed here, once it listens.
    server = subprocess.Popen(command, cwd=ROOT)
    # A SIGTERM (e.g. from `timeout`) stops the server too, never leaving it orphaned.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if not _wait_until_listening(server, host, port):
            server.wait()
            print(f"error: the demo server did not start on {address} (see above)")
            return 1
        url = f"http://{address}/"
        print(
            f"\n  The demo is up: open {url}  (admin: {url}admin/; Ctrl-C stops it)\n", flush=True
        )
        return server.wait()
    except KeyboardInterrupt:  # Ctrl-C ends the demo, quietly
        server.terminate()
        server.wait()
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
