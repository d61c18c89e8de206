"""Counting the commands a real Redis executes, with ``MONITOR`` on a connection of its own.

``MONITOR`` streams every command the server runs, with the client address that sent it. The
log ends at a marker (``ECHO``) sent on another raw connection after the code under test ran:
Redis runs commands in order, so everything before the marker is in the log.
"""

from __future__ import annotations

import re
import socket
import uuid
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import redis

_LINE = re.compile(r'^\+[\d.]+ \[\d+ ([^\]]+)\] "([^"]*)"')


@dataclass
class CommandLog:
    """``with CommandLog(url) as log: ...``; then ``log.commands``: ``[(address, COMMAND)]``."""

    url: str
    commands: list[tuple[str, str]] = field(default_factory=list)
    _sock: Any = None

    def _address(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or 6379

    def __enter__(self) -> CommandLog:
        self._sock = socket.create_connection(self._address(), 5)
        self._sock.sendall(b"MONITOR\r\n")
        reply = self._sock.recv(5)
        assert reply == b"+OK\r\n", reply
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: Any, traceback: TracebackType | None
    ) -> None:
        marker = f"jws-monitor-end-{uuid.uuid4().hex}"
        with socket.create_connection(self._address(), 5) as echo:
            host, port = echo.getsockname()[:2]
            mine = f"{host}:{port}"
            echo.sendall(b"*2\r\n$4\r\nECHO\r\n$%d\r\n%s\r\n" % (len(marker), marker.encode()))
            echo.recv(100)
        buffer = b""
        while marker.encode() not in buffer:
            chunk = self._sock.recv(65536)
            if not chunk:
                break
            buffer += chunk
        self._sock.close()
        for line in buffer.decode(errors="replace").split("\r\n"):
            match = _LINE.match(line)
            if match and match.group(1) != mine:
                self.commands.append((match.group(1), match.group(2).upper()))

    def excluding(self, addresses: set[str]) -> list[str]:
        """The commands sent from any other address."""
        return [command for address, command in self.commands if address not in addresses]

    def warm(self, addresses: set[str]) -> list[str]:
        """:meth:`excluding`, less the one log-mark ``GET`` a due catch-up makes (at most once
        per ``REVOCATION_SYNC_INTERVAL``, see :mod:`jwtsessions.logmark`).
        """
        commands = self.excluding(addresses)
        if "GET" in commands:
            commands.remove("GET")
        return commands


def subscriber_address() -> str:
    """``host:port`` of this process's subscriber connection, as Redis lists its clients."""
    from jwtsessions import localcache

    subscriber = localcache._state.subscriber
    assert subscriber is not None, localcache.failure()
    host, port = subscriber.connection._sock.getsockname()[:2]
    return f"{host}:{port}"


def subscriber_addresses(url: str | None = None) -> set[str]:
    """This process's subscriber (the per-process copy's connection), to count it apart."""
    return {subscriber_address()}


def subscriber_protocol(url: str) -> str:
    """The RESP version this process's subscriber speaks (``CLIENT LIST``'s ``resp`` field)."""
    client = redis.Redis.from_url(url, protocol=2)
    try:
        mine = subscriber_address()
        (found,) = [c for c in client.client_list(_type="pubsub") if c["addr"] == mine]
        return str(found.get("resp", "2"))
    finally:
        client.close()
