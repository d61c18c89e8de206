"""A Redis server a test owns: started on a free loopback port, frozen, resumed, stopped by pid."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.test import override_settings

from tests.services import find_redis_server, free_port, wait_for_port


@dataclass
class OwnRedis:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def freeze(self) -> None:
        """SIGSTOP: connections stay open, nothing is answered (a hung server)."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)


@contextlib.contextmanager
def own_redis(*arguments: str) -> Iterator[OwnRedis]:
    binary = find_redis_server()
    assert binary is not None, "services.py requires a Redis binary"
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="jwtsessions-own-redis-")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
            *arguments,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = OwnRedis(port, process)
    try:
        wait_for_port(port)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            server.resume()
            process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)
        if process.poll() is None:
            process.kill()
            process.wait(5)
        shutil.rmtree(workdir, ignore_errors=True)


def django_redis(location: Any, **options: Any) -> dict[str, Any]:
    """A django-redis cache entry with the suite's short timeouts (overridable)."""
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": location,
        "OPTIONS": {"SOCKET_TIMEOUT": 1, "SOCKET_CONNECT_TIMEOUT": 1, **options},
    }


def using_cache(entry: dict[str, Any], **jwtsessions: Any) -> Any:
    """``override_settings`` for a default cache (and optionally JWTSESSIONS)."""
    values: dict[str, Any] = {"CACHES": {"default": entry}}
    if jwtsessions:
        values["JWTSESSIONS"] = jwtsessions
    return override_settings(**values)
