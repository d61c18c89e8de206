"""Fault injection for real: a TCP proxy that drops, resets and delays; Redis servers to freeze,
kill, restart, replicate and fail over; a live multi-worker gunicorn; a second process.

Everything binds 127.0.0.1 on a free port, belongs to a :class:`Lab` (an ``ExitStack``), and is
stopped by pid when the lab closes, whether the test passed or not. Nothing here mocks a client:
the faults are what the kernel and the servers do.

* :class:`FaultProxy`: ``passthrough()``, ``blackhole()`` (stop forwarding without closing:
  what a dropped-packet link looks like; bytes sent meanwhile arrive once it heals, as TCP
  retransmission would deliver them), ``reset()`` (every connection gets a TCP RST, new ones
  too), ``latency(seconds)`` (each direction delayed by that much: the round trip grows twice);
  ``from_clients`` counts the bytes clients sent it (in front of a frozen server: what the code
  under test still tried to send).
* :class:`RedisServer`: ``freeze()`` / ``thaw()`` (SIGSTOP / SIGCONT), ``kill()`` (SIGKILL),
  ``start()`` again on the same port, ``replica_of()``.
* :class:`Sentinels`: one primary, one replica, one or three ``redis-server --sentinel``.
* :class:`LiveServer`: gunicorn with sync workers on :mod:`tests.live_settings`.
* :class:`Driver`: a second Python process (``tests.fault_driver``) that revokes, checks and
  exits on command, with its own cache link.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.services import free_port, redis_binary, spawn_redis, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
# Processes start elsewhere than ROOT: ``python -m`` puts the working directory first on
# sys.path, which would shadow FAULTS_CODE_PATH (see live_environment).
NEUTRAL_CWD = tempfile.gettempdir()


# --- the proxy ---------------------------------------------------------------------------------


class FaultProxy:
    """A TCP forwarder on 127.0.0.1 to ``target_port`` whose link can misbehave on command."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.delay = 0.0
        self.accepted = 0
        # Bytes read from clients (what the code under test sent towards the server).
        self.from_clients = 0
        self._flowing = threading.Event()
        self._flowing.set()
        self._resetting = False
        self._closed = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(128)
        threading.Thread(target=self._accept, daemon=True, name=f"proxy:{self.port}").start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    # modes ------------------------------------------------------------------------------------

    def passthrough(self) -> None:
        """Forward everything again (bytes held by a blackhole flow on, in order)."""
        self._resetting = False
        self.delay = 0.0
        self._flowing.set()

    def blackhole(self) -> None:
        """Stop forwarding in both directions without closing anything."""
        self._resetting = False
        self._flowing.clear()

    def latency(self, seconds: float) -> None:
        """Delay every chunk by ``seconds`` in each direction (round trip: twice that)."""
        self._resetting = False
        self.delay = seconds
        self._flowing.set()

    def reset(self) -> None:
        """Reset every open connection (RST) and every new one until :meth:`passthrough`.

        Bytes a blackhole was holding are lost with their connections: after
        ``blackhole(); reset()`` a write that timed out never reaches Redis.
        """
        self._resetting = True
        with self._lock:
            sockets, self._sockets = self._sockets, []
            self._pairs = []
        for sock in sockets:
            _abort(sock)
        self._flowing.set()

    def lose_held(self) -> None:
        """Kill (RST) the connections that have bytes held by a blackhole; idle ones live on.

        What a real outage looks like to a client that timed out: its request's packets were
        dropped and its connection died, while connections with nothing in flight (a
        subscriber, an idle pooled connection) survive the blip. Call :meth:`passthrough` next.
        """
        with self._lock:
            pairs = list(self._pairs)
        for pair in pairs:
            with contextlib.suppress(OSError, ValueError):
                if select.select(list(pair), [], [], 0)[0]:
                    for sock in pair:
                        _abort(sock)

    def set_target(self, port: int) -> None:
        """New connections go to another port (a failed-over primary behind one address)."""
        self.target = (self.target[0], port)

    def close(self) -> None:
        self._closed = True
        self.reset()
        with contextlib.suppress(OSError):
            self._listener.close()

    # plumbing ---------------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            if self._resetting or self._closed:
                _abort(client)
                continue
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        # A blackholed link does not complete the upstream connection until it heals.
        while not self._flowing.wait(0.05):
            if self._closed or self._resetting:
                _abort(client)
                return
        try:
            upstream = socket.create_connection(self.target, 2)
        except OSError:
            _abort(client)
            return
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._sockets += [client, upstream]
            self._pairs.append((client, upstream))
        for source, sink in ((client, upstream), (upstream, client)):
            chunks: queue.Queue[tuple[float, bytes] | None] = queue.Queue()
            reader = (source, sink, chunks, source is client)
            threading.Thread(target=self._read, args=reader, daemon=True).start()
            threading.Thread(target=self._write, args=(sink, source, chunks), daemon=True).start()

    def _read(
        self, source: socket.socket, sink: socket.socket, chunks: queue.Queue[Any], counted: bool
    ) -> None:
        try:
            while True:
                self._flowing.wait()
                data = source.recv(65536)
                if not data:
                    break
                if counted:
                    with self._lock:
                        self.from_clients += len(data)
                chunks.put((time.monotonic() + self.delay, data))
        except OSError:
            pass
        chunks.put(None)

    def _write(self, sink: socket.socket, source: socket.socket, chunks: queue.Queue[Any]) -> None:
        try:
            while (item := chunks.get()) is not None:
                due, data = item
                self._flowing.wait()
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                self._flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _abort(sock: socket.socket) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a crashed peer or a firewall reset would."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


# --- Redis -------------------------------------------------------------------------------------


class RedisServer:
    """A test-owned ``redis-server`` on a fixed free port, restartable on the same port."""

    def __init__(self, *extra: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.extra = list(extra)
        self.workdir = tempfile.mkdtemp(prefix="jwtsessions-faults-redis-")
        self.process: subprocess.Popen[bytes] | None = None
        self.frozen = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.process = spawn_redis(self.port, self.workdir, *self.extra)
        wait_for_port(self.port)
        return self

    def client(self, timeout: float = 2.0) -> Any:
        import redis

        return redis.Redis(port=self.port, socket_timeout=timeout, socket_connect_timeout=timeout)

    def freeze(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)
        self.frozen = False

    def kill(self) -> None:
        """SIGKILL: no goodbye to clients, no save."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a frozen process dies only once woken
            self.process.kill()
            self.process.wait(10)
        self.process = None
        self.frozen = False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def replica_of(self, port: int) -> None:
        self.client().replicaof("127.0.0.1", port)

    def wait_synced(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.client().info("replication")
            if info.get("master_link_status") == "up":
                return
            time.sleep(0.05)
        raise RuntimeError(f"replica on {self.port} did not sync")


SENTINEL_SERVICE = "jwsprimary"


class Sentinels:
    """One primary, one replica and ``count`` sentinels, every one a test-owned process."""

    def __init__(self, lab: Lab, count: int = 1, down_after_ms: int = 1000) -> None:
        self.lab = lab
        self.down_after_ms = down_after_ms
        self.primary = lab.redis()
        self.replica = lab.redis("--replicaof", "127.0.0.1", str(self.primary.port))
        self.replica.wait_synced()
        self.quorum = 1 if count == 1 else 2
        self.processes: list[subprocess.Popen[bytes]] = []
        self.ports: list[int] = []
        for _ in range(count):
            self._start_sentinel()
        self.wait_ready()

    def _start_sentinel(self) -> None:
        port = free_port()
        workdir = Path(tempfile.mkdtemp(prefix="jwtsessions-sentinel-"))
        conf = workdir / "sentinel.conf"
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {workdir}\n"
            f"sentinel monitor {SENTINEL_SERVICE} 127.0.0.1 {self.primary.port} {self.quorum}\n"
            f"sentinel down-after-milliseconds {SENTINEL_SERVICE} {self.down_after_ms}\n"
            f"sentinel failover-timeout {SENTINEL_SERVICE} 5000\n"
            f"sentinel parallel-syncs {SENTINEL_SERVICE} 1\n"
        )
        process = subprocess.Popen(
            [redis_binary(), str(conf), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=workdir,
        )
        self.lab.callback(_terminate, process)
        self.lab.callback(shutil.rmtree, workdir, True)
        wait_for_port(port)
        self.processes.append(process)
        self.ports.append(port)

    def sentinel(self, index: int = 0) -> Any:
        import redis

        return redis.Redis(port=self.ports[index], socket_timeout=2, decode_responses=True)

    def primary_port(self) -> int:
        host_port = self.sentinel().sentinel_get_master_addr_by_name(SENTINEL_SERVICE)
        return int(host_port[1])

    def wait_ready(self, timeout: float = 15.0) -> None:
        """Every sentinel knows the replica (and the others): a failover can happen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = True
            for index in range(len(self.ports)):
                sentinel = self.sentinel(index)
                master = sentinel.sentinel_master(SENTINEL_SERVICE)
                replicas = sentinel.sentinel_slaves(SENTINEL_SERVICE)
                if not replicas or int(master.get("num-other-sentinels", 0)) < len(self.ports) - 1:
                    ready = False
            if ready:
                return
            time.sleep(0.1)
        raise RuntimeError("sentinels did not discover the replica")

    def failover(self) -> None:
        self.sentinel().execute_command("SENTINEL", "FAILOVER", SENTINEL_SERVICE)

    def wait_primary_moved(self, old_port: int, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                port = self.primary_port()
                if port != old_port:
                    return port
            time.sleep(0.05)
        raise RuntimeError("no failover happened")

    def server(self, port: int) -> RedisServer:
        return self.primary if self.primary.port == port else self.replica

    def cache(self, **options: Any) -> dict[str, Any]:
        """A django-redis cache definition for this topology (django-redis's own Sentinel
        support: ``SentinelClient`` with the ``SentinelConnectionFactory``)."""
        return {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://{SENTINEL_SERVICE}/0",
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.SentinelClient",
                "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
                "SENTINELS": [["127.0.0.1", port] for port in self.ports],
                "SENTINEL_KWARGS": {"socket_timeout": 1, "socket_connect_timeout": 1},
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 1,
                **options,
            },
        }


def _terminate(process: subprocess.Popen[Any], grace: float = 5.0) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGCONT)
        process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


# --- the web server and the second process -----------------------------------------------------


def redis_cache(location: str | list[str], **options: Any) -> dict[str, Any]:
    """A django-redis cache with 1 s timeouts (what docs/operations.md recommends)."""
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": location,
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1, **options},
    }


def live_environment(
    database: dict[str, Any], cache: dict[str, Any], jwtsessions: dict[str, Any] | None = None
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.live_settings",
        # FAULTS_CODE_PATH: run another version of the package (bench: the code before a fix).
        PYTHONPATH=os.pathsep.join(p for p in (os.environ.get("FAULTS_CODE_PATH"), str(ROOT)) if p),
        PYTHONUNBUFFERED="1",
        LIVE_DATABASE=json.dumps(database),
        LIVE_CACHE=json.dumps(cache),
        LIVE_JWTSESSIONS=json.dumps(jwtsessions or {}),
        # tests.settings must not start a Redis of its own in these processes.
        REDIS_URL="redis://127.0.0.1:1/0",
    )
    env.pop("DATABASE_URL", None)
    return env


class LiveServer:
    """gunicorn (sync workers) serving the test project; JSON helpers for the tests."""

    def __init__(self, env: dict[str, str], workers: int = 3) -> None:
        self.env = env
        self.workers = workers
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        # The server's output, for a failing test to show; closed (deleted) by stop().
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix="jwtsessions-gunicorn-", suffix=".log"
        )

    def start(self) -> LiveServer:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--preload",
                "--workers",
                str(self.workers),
                "--worker-class",
                "sync",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--timeout",
                "60",
                "--graceful-timeout",
                "2",
                "tests.live_wsgi:application",
            ],
            env=self.env,
            cwd=NEUTRAL_CWD,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, 30)
        return self

    def output(self, limit: int = 200_000) -> str:
        """What the server wrote so far (the end of it)."""
        with open(self.log.name, "rb") as log:
            data = log.read()
        return data[-limit:].decode(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # Nothing to drain: the workers (ours, by pid) go first, then the arbiter quickly
            # (SIGQUIT; SIGTERM would wait for the graceful timeout).
            for pid in self.worker_pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGQUIT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
            _terminate(self.process, 5)
        self.process = None
        self.log.close()

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.process.pid)],
            capture_output=True,
            text=True,
            check=False,
        )
        return [int(x) for x in out.stdout.split()]

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, Any]:
        status, data, _pid = self.request_with_pid(method, path, body, headers, timeout)
        return status, data

    def request_with_pid(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, Any, int | None]:
        """Like :meth:`request`, plus the pid of the worker that answered."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            payload = None if body is None else json.dumps(body)
            all_headers = {"Content-Type": "application/json", **(headers or {})}
            conn.request(method, path, payload, all_headers)
            response = conn.getresponse()
            raw = response.read()
            try:
                data = json.loads(raw) if raw else None
            except ValueError:
                data = raw.decode(errors="replace")
            pid = response.getheader("X-Worker-Pid")
            return response.status, data, int(pid) if pid else None
        finally:
            conn.close()


class Driver:
    """A second process on the same database: revokes, checks, exits when told.

    Commands and answers are JSON lines; every answer carries ``started`` and ``returned``
    (CLOCK_MONOTONIC, which every process on the machine shares).
    """

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fault_driver"],
            env=env,
            cwd=NEUTRAL_CWD,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.call("ping")["ok"]

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"driver exited during {op!r}")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"driver {op!r}: {answer['error']}")
        return answer

    def exit(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(Exception):
                assert self.process.stdin is not None
                self.process.stdin.close()
            _terminate(self.process)


def manage(
    env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``manage.py`` in a process of its own, on the live settings."""
    return subprocess.run(
        [sys.executable, "-m", "django", *args],
        env=env,
        cwd=NEUTRAL_CWD,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# --- the lab -----------------------------------------------------------------------------------


class Lab(contextlib.ExitStack):
    """Owns every server, proxy and process a scenario starts; closing it stops them all."""

    def __init__(self, database: dict[str, Any]) -> None:
        super().__init__()
        self.database = database

    def redis(self, *extra: str) -> RedisServer:
        server = RedisServer(*extra)
        self.callback(server.close)
        return server.start()

    def proxy(self, port: int) -> FaultProxy:
        proxy = FaultProxy(port)
        self.callback(proxy.close)
        return proxy

    def sentinels(self, count: int = 1, down_after_ms: int = 1000) -> Sentinels:
        return Sentinels(self, count, down_after_ms)

    def env(self, cache: dict[str, Any], **jwtsessions: Any) -> dict[str, str]:
        return live_environment(self.database, cache, jwtsessions)

    def server(self, env: dict[str, str], workers: int = 3) -> LiveServer:
        server = LiveServer(env, workers)
        self.callback(server.stop)
        return server.start()

    def driver(self, env: dict[str, str]) -> Driver:
        driver = Driver(env)
        self.callback(driver.exit)
        return driver


# --- databases for processes other than the test's own ------------------------------------------


def sqlite_template(directory: Path) -> Path:
    """A migrated SQLite file, made once by ``manage.py migrate`` in a process of its own."""
    template = directory / "template.sqlite3"
    if not template.exists():
        env = live_environment(
            {"ENGINE": "django.db.backends.sqlite3", "NAME": str(template)},
            {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        )
        done = manage(env, "migrate", "--noinput", "-v", "0")
        if done.returncode != 0:
            raise RuntimeError(f"migrate failed: {done.stderr[-2000:]}")
    return template


def sqlite_database(template: Path, directory: Path) -> dict[str, Any]:
    """A fresh copy of the template, shared by every process of one scenario (WAL mode)."""
    path = Path(tempfile.mkdtemp(dir=directory)) / "live.sqlite3"
    shutil.copyfile(template, path)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        # IMMEDIATE: a transaction that reads then writes (a revocation) takes the write lock
        # up front; a deferred one fails at once with "database is locked" when another
        # process wrote meanwhile, whatever the timeout.
        "OPTIONS": {
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL;",
            "transaction_mode": "IMMEDIATE",
        },
    }


@contextlib.contextmanager
def lab(database: dict[str, Any]) -> Iterator[Lab]:
    with Lab(database) as owned:
        yield owned
