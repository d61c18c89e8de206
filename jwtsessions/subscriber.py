"""One connection subscribed to the invalidation channel, and the proof that it is live.

The connection is made by the cache's own connection pool (``pool.get_connection()``), so it
speaks whatever the pool speaks: RESP2 or RESP3, hiredis or the pure-Python parser, TLS, a
password, a Sentinel-managed primary, redis-py's maintenance notifications. Nothing is copied
from the pool's keyword arguments.

Liveness, end to end: a silent connection looks the same whether nothing was published, Redis
is frozen or unreachable, or the connection sits on a node that no longer gets the primary's
messages (a Sentinel failover leaves the demoted node up, and it keeps answering ``PING``). So
the connection also subscribes to a private heartbeat channel (``<channel>:hb:<random id>``), and
about once per liveness window the owner publishes a nonce to it *through the primary client*,
the connection announcements use (:meth:`Subscriber.heartbeat`). ``PUBLISH`` answers how many
subscribers *of that node* got the message: 0 means this subscription is not on the primary,
and it is dropped at once. The nonce, read back by the same non-blocking poll that reads
invalidations, proves that every message published through the primary before it has been
received (Redis delivers a connection's messages in order). The owner trusts its copy only while
that proof is recent (:attr:`Subscriber.proven_at`). ``PING <token>`` on the subscription
itself is kept for :func:`jwtsessions.localcache.probe` (system checks).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import select
import time
from collections.abc import Callable
from typing import Any

_tokens = itertools.count(1)


class SubscriberLost(Exception):
    """The connection broke, was reconnected behind our back, or answered out of protocol."""


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return b""


def _kind(reply: Any) -> bytes:
    """``b"message"``, ``b"subscribe"``, ``b"pong"``... for pub/sub replies, else ``b""``."""
    if isinstance(reply, list | tuple) and reply:
        return _bytes(reply[0]).lower()
    return b""


def _connection_from(pool: Any) -> Any:
    try:
        return pool.get_connection()
    except TypeError:  # redis-py before 5.3 wants a command name
        return pool.get_connection("SUBSCRIBE")


def _poller(sock: Any) -> Callable[[], bool]:
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
        return lambda: bool(poller.poll(0))
    return lambda: bool(select.select([sock], [], [], 0)[0])  # pragma: no cover - Windows


class Subscriber:
    """A connection from ``pool`` subscribed to ``channel``. Not thread-safe: the owner locks."""

    def __init__(self, pool: Any, channel: str) -> None:
        self.pool = pool
        self.channel = channel
        # Private to this subscription: only its own nonces arrive there.
        self.heartbeat_channel = f"{channel}:hb:{secrets.token_hex(8)}"
        self.heartbeat_token: bytes | None = None
        self.heartbeat_sent = 0.0
        self.pid = os.getpid()
        self.connection: Any = None
        self._sock: Any = None
        self._readable: Callable[[], bool] = lambda: True
        self.ping_token: bytes | None = None
        self.ping_sent = 0.0
        # Monotonic time before which every published message has been read (or is waiting
        # in the socket, where the next poll finds it).
        self.proven_at = 0.0
        self.primary_checked = time.monotonic()

    def open(self, confirm_timeout: float | None = None) -> None:
        """Connect and subscribe; return once Redis confirmed the subscription."""
        connection = _connection_from(self.pool)
        self.connection = connection
        try:
            sent = time.monotonic()
            channels = (self.channel, self.heartbeat_channel)
            connection.send_command("SUBSCRIBE", *channels, check_health=False)
            for _channel in channels:
                if confirm_timeout is not None and not connection.can_read(timeout=confirm_timeout):
                    raise SubscriberLost(f"no reply to SUBSCRIBE within {confirm_timeout:g}s")
                if _kind(self._read()) != b"subscribe":
                    raise SubscriberLost("unexpected reply to SUBSCRIBE")
            self._sock = getattr(connection, "_sock", None)
            if self._sock is not None:
                self._readable = _poller(self._sock)
            self.proven_at = sent
            # The parser may hold more than the confirmation: read it now, as the poll only
            # sees what is still in the socket.
            self.drain(force=True)
        except BaseException:
            self.close()
            raise

    def _read(self) -> Any:
        connection = self.connection
        if getattr(connection, "protocol", 2) in (3, "3"):
            # RESP3 delivers pub/sub messages as push frames: have them returned, not handled.
            return connection.read_response(push_request=True)
        return connection.read_response()

    def _check_same_socket(self) -> None:
        # redis-py reconnects silently on some paths; a new socket is not subscribed and the
        # messages sent meanwhile are lost.
        if self._sock is not None and getattr(self.connection, "_sock", None) is not self._sock:
            raise SubscriberLost("reconnected")

    def check_primary(self) -> None:
        """Raise if the pool now knows another primary than the one this connection is on.

        A Sentinel failover can leave the old primary up as a replica, with its subscribers
        connected: messages still reach them, but only through replication. redis-py's
        Sentinel pool learns of the move at its next connection and no longer "owns" a
        connection to the old address (an attribute check: no round trip).
        """
        owns = getattr(self.pool, "owns_connection", None)
        if owns is not None and not owns(self.connection):
            raise SubscriberLost("the primary moved")

    def ask_sentinel(self, now: float, every: float) -> None:
        """With a Sentinel pool, ask Sentinel for the primary at most every ``every`` seconds
        (one round trip to a sentinel), so a failover that left the old primary up is noticed
        even by a process that never wrote since. Other pools: nothing.
        """
        discover = getattr(self.pool, "get_master_address", None)
        if discover is None or now - self.primary_checked < every:
            return
        self.primary_checked = now
        with contextlib.suppress(Exception):  # Sentinel unreachable: the link itself is fine
            discover()
        self.check_primary()

    def drain(self, force: bool = False) -> bool:
        """Read whatever is waiting, without blocking. ``True`` if anything was invalidated.

        One ``poll`` when nothing is waiting (``force`` asks the parser too). Raises
        :class:`SubscriberLost` (or the client's error) when the link cannot be trusted.
        """
        if not force and not self._readable():
            return False
        invalidated = False
        connection = self.connection
        self._check_same_socket()
        while connection.can_read(timeout=0):
            reply = self._read()
            self._check_same_socket()
            if self.ping_token is not None and self._is_pong(reply):
                self.proven_at, self.ping_token = self.ping_sent, None
            elif self._is_heartbeat(reply):
                if _bytes(reply[2]) == self.heartbeat_token:
                    self.proven_at, self.heartbeat_token = self.heartbeat_sent, None
                # An older nonce (one that came back late): no news, and not an invalidation.
            else:
                # A message, or anything unexpected: drop everything, to be safe.
                invalidated = True
        self._check_same_socket()
        return invalidated

    def _is_pong(self, reply: Any) -> bool:
        if _kind(reply) == b"pong":  # RESP2 while subscribed: [b"pong", token]
            return len(reply) == 2 and _bytes(reply[1]) == self.ping_token
        return _bytes(reply) == self.ping_token  # RESP3: the token itself

    def _is_heartbeat(self, reply: Any) -> bool:
        return (
            _kind(reply) == b"message"
            and len(reply) == 3
            and _bytes(reply[1]) == self.heartbeat_channel.encode()
        )

    def heartbeat(self, now: float, primary: Any) -> None:
        """Publish a nonce on the heartbeat channel through ``primary`` (the client that
        announcements use); a later :meth:`drain` that reads it back proves the subscription
        live end to end. One round trip to the primary.

        Raises :class:`SubscriberLost` when the primary reports no subscriber on the channel:
        this connection is on another node (a demoted primary) and must be made again.
        """
        token = b"jws-hb-%d-%s" % (next(_tokens), secrets.token_hex(4).encode())
        self._check_same_socket()
        self.heartbeat_token, self.heartbeat_sent = token, now
        receivers = primary.publish(self.heartbeat_channel, token)
        if not receivers:
            raise SubscriberLost("the subscription is not on the primary")

    def ping(self, now: float) -> None:
        """Ask for a proof of liveness; its answer is read by a later :meth:`drain`."""
        token = b"jws-live-%d" % next(_tokens)
        self._check_same_socket()
        self.connection.send_command("PING", token, check_health=False)
        self.ping_token, self.ping_sent = token, now

    def wait_for_proof(self, timeout: float) -> bool:
        """Block up to ``timeout`` for the answer to the outstanding ``PING`` (system checks)."""
        deadline = time.monotonic() + timeout
        while self.ping_token is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not self.connection.can_read(timeout=left):
                return False
            self.drain(force=True)
        return True

    def close(self) -> None:
        """Close the connection (only in the process that opened it) and hand it back."""
        connection, self.connection, self._sock = self.connection, None, None
        if connection is None or self.pid != os.getpid():
            # A forked child shares the parent's socket: forget it without touching it.
            return
        with contextlib.suppress(Exception):
            connection.disconnect()
        with contextlib.suppress(Exception):
            self.pool.release(connection)
