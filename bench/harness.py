"""What every benchmark script here shares: its virtualenv, a private Redis, the Django site,
HTTP servers on loopback and the load generator.

Two installs are benchmarked, each in its own virtualenv under ``bench/.venv/``:

* ``plain``: ``pip install`` of this package's declared dependencies only (the newest redis-py,
  no hiredis), what a user gets from ``pip install django-jwtsessions``;
* ``hiredis``: the same plus ``hiredis`` (redis-py's C parser).

Both get the peers, gunicorn, uvicorn and psycopg. A script picks one with ``--install`` and
re-executes itself inside it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENVS = HERE / ".venv"
INSTALLS = ("plain", "hiredis")
PEERS = [
    "djangorestframework-simplejwt",
    "django-rest-knox",
    "djangorestframework-api-key",
    "gunicorn",
    "uvicorn[standard]",
    "psycopg[binary]",
]
EXTRA = {"plain": [], "hiredis": ["hiredis"]}


# --- environment ----------------------------------------------------------------------------


def install_of(argv: list[str]) -> str:
    """The ``--install`` value in ``argv`` (default ``plain``)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--install", choices=INSTALLS, default="plain")
    return str(parser.parse_known_args(argv)[0].install)


def venv_of(install: str) -> Path:
    return VENVS / install


def ensure_venv() -> None:
    """Re-run the calling script inside the virtualenv of its ``--install``, made on first use.

    Packages are (re)installed with ``--upgrade`` when the wanted list changed since the last
    run, so the plain install always has the newest redis-py that the package allows.
    """
    install = install_of(sys.argv[1:])
    venv = venv_of(install)
    python = venv / "bin" / "python"
    if Path(sys.prefix).resolve() == venv.resolve():
        return
    if not python.exists():
        print(f"creating {venv} ...", file=sys.stderr)
        venv.parent.mkdir(exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    stamp = venv / ".installed"
    wanted = "\n".join([*PEERS, *EXTRA[install]])
    if not stamp.exists() or stamp.read_text() != wanted:
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "--upgrade", "-e", str(ROOT), *PEERS, *EXTRA[install]], check=True)
        if install == "plain":
            # Nothing the peers pull in may bring the C parser back.
            subprocess.run([*pip[:3], "uninstall", "-y", "-q", "hiredis"], check=False)
        stamp.write_text(wanted)
    os.execv(str(python), [str(python), os.path.abspath(sys.argv[0]), *sys.argv[1:]])


def check_install(install: str) -> None:
    """Refuse to report numbers for an install that is not what its name says."""
    import redis.utils

    has_hiredis = bool(getattr(redis.utils, "HIREDIS_AVAILABLE", False))
    if has_hiredis != (install == "hiredis"):
        raise SystemExit(f"--install {install}, but hiredis available = {has_hiredis}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


@contextlib.contextmanager
def private_redis(workdir: Path) -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server not found (apt-get install -y redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [
            server,
            *("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
            *("--dir", str(workdir)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def redis_pid(redis_url: str) -> int:
    """The process id of the redis-server behind ``redis_url`` (to account for its CPU)."""
    import redis

    return int(redis.Redis.from_url(redis_url).info("server")["process_id"])


def setup_django(sqlite: Path, redis_url: str, database_url: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchsite.settings"
    os.environ["BENCH_SQLITE"] = str(sqlite)
    os.environ["BENCH_REDIS_URL"] = redis_url
    os.environ["BENCH_DATABASE_URL"] = database_url
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    import django

    django.setup()
    from django.core.management import call_command

    if database_url:
        call_command("flush", interactive=False, verbosity=0)
    call_command("migrate", verbosity=0)


# --- servers --------------------------------------------------------------------------------


def _server_command(kind: str, workers: int, port: int) -> list[str]:
    bin_dir = Path(sys.prefix) / "bin"
    if kind == "gunicorn":
        return [
            str(bin_dir / "gunicorn"),
            "benchsite.wsgi:application",
            *("-w", str(workers), "-b", f"127.0.0.1:{port}", "--chdir", str(HERE)),
            *("--log-level", "warning"),
        ]
    if kind == "uvicorn":
        return [
            str(bin_dir / "uvicorn"),
            "benchsite.asgi:application",
            *("--workers", str(workers), "--host", "127.0.0.1", "--port", str(port)),
            *("--app-dir", str(HERE), "--log-level", "warning", "--no-access-log"),
        ]
    raise ValueError(kind)


class Server:
    """A running HTTP server on loopback: its port and the pids of its workers."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc, self.port = proc, port

    def pids(self) -> list[int]:
        """The master and every process below it."""
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            with contextlib.suppress(OSError):
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
                todo.extend(int(c) for c in children)
        return found

    def cpu_by_pid(self) -> dict[int, float]:
        """CPU time (user + system, seconds) used so far by each of the server's processes."""
        tick = os.sysconf("SC_CLK_TCK")
        out: dict[int, float] = {}
        for pid in self.pids():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                out[pid] = (int(fields[11]) + int(fields[12])) / tick
        return out

    def cpu_seconds(self) -> float:
        """CPU time used so far by all of the server's processes together."""
        return sum(self.cpu_by_pid().values())


@contextlib.contextmanager
def server(kind: str, workers: int) -> Iterator[Server]:
    """gunicorn (sync workers, WSGI) or uvicorn (Django's ASGI handler) on a free port."""
    port = free_port()
    proc = subprocess.Popen(_server_command(kind, workers, port), env=os.environ.copy())
    try:
        wait_for_port(port)
        yield Server(proc, port)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# --- load -----------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


def wrk(
    port: int,
    path: str,
    headers: dict[str, str],
    seconds: float,
    connections: int,
    script: Path | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, float]:
    """One bounded ``wrk`` run (one thread) against 127.0.0.1.

    Returns req/s, p50/p99 (ms), the CPU seconds wrk used and the failed requests.
    """
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found (apt-get install -y wrk), or run with --skip-http")
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "--latency"]
    for header, value in headers.items():
        command += ["-H", f"{header}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    command.append(f"http://127.0.0.1:{port}{path}")
    before = os.times()
    done = subprocess.run(
        command, capture_output=True, text=True, check=True, env={**os.environ, **(env or {})}
    )
    after = os.times()
    out = done.stdout
    # Refusals and socket errors are counted, not hidden: the report shows them per scheme.
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return {"rps": rps, "p50": p50, "p99": p99, "client_cpu": cpu, "errors": errors}


# --- report ---------------------------------------------------------------------------------

DISTRIBUTIONS = (
    "Django",
    "djangorestframework",
    "PyJWT",
    "djangorestframework-simplejwt",
    "django-rest-knox",
    "djangorestframework-api-key",
    "django-redis",
    "redis",
    "hiredis",
    "gunicorn",
    "uvicorn",
    "psycopg",
)


def versions() -> dict[str, str]:
    import sqlite3
    from importlib.metadata import PackageNotFoundError, version

    out = {"Python": platform.python_version()}
    for dist in DISTRIBUTIONS:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    out["SQLite"] = sqlite3.sqlite_version
    out["redis-server"] = (
        subprocess.run(["redis-server", "--version"], capture_output=True, text=True)
        .stdout.split()[2]
        .removeprefix("v=")
    )
    if shutil.which("wrk"):
        out["wrk"] = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()[1]
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        [
            "git",
            "-C",
            str(ROOT),
            "status",
            "--porcelain",
            "jwtsessions",
            "bench/*.py",
            "bench/benchsite",
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()
    out["django-jwtsessions"] = f"{commit}{' (+ uncommitted changes)' if dirty else ''}"
    return out


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.1f} GiB RAM"
    return f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs{memory}"


def load_average() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "unknown"


def ratio(value: float | None, base: float | None) -> str:
    return "—" if not value or not base else f"{value / base:.2f}x"


def results_path(kind: str, install: str, database_url: str, quick: bool) -> Path:
    database = "postgres" if database_url else "sqlite"
    stamp = time.strftime("%Y%m%d-%H%M")
    return HERE / "results" / f"{stamp}-{kind}-{install}-{database}{'-quick' if quick else ''}.md"
