"""What a request says about its client (address, user agent), validated before anyone stores it.

Both come from the client or a proxy, so both are hostile input: an ``X-Forwarded-For`` entry
may be ``ip:port``, ``[v6]:port``, ``unknown`` or junk, a User-Agent may hold NUL or other
control characters. PostgreSQL refuses NUL in text and anything but an address in an ``inet``
column, which turned such requests into 500s. Here an address is always a valid, normalised
IP address or ``None``, and a user agent is printable text of bounded length.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading

from django.http import HttpRequest

from .settings import jwt_settings

logger = logging.getLogger("jwtsessions.requestinfo")

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_warned = threading.Event()


def parse_address(value: object) -> str | None:
    """A bare, normalised IP address from ``value``, or ``None`` if it holds none.

    Accepts what proxies write: ``1.2.3.4``, ``1.2.3.4:5678``, ``::1``, ``[::1]:5678``,
    ``fe80::1%eth0`` (the zone is dropped). An IPv4-mapped IPv6 address becomes IPv4.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > 64:
        return None
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")  # [v6] or [v6]:port
        if not closed or (rest and not (rest[0] == ":" and _is_port(rest[1:]))):
            return None
        text = host
    elif text.count(":") == 1:
        host, _, port = text.partition(":")  # v4:port
        if not _is_port(port):
            return None
        text = host
    text = text.split("%", 1)[0]  # an IPv6 zone is local to the proxy's host
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and 0 < len(text) <= 5 and int(text) <= 65535


def client_ip(request: HttpRequest) -> str | None:
    """The client address: ``REMOTE_ADDR``, or with ``NUM_PROXIES`` set, from X-Forwarded-For.

    The entry ``NUM_PROXIES`` hops from the right is the one the outermost trusted proxy
    wrote; entries further left are the client's own claims and never trusted. An entry that
    is not an address falls back to ``REMOTE_ADDR``.
    """
    proxies = jwt_settings.NUM_PROXIES
    header = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies:
        forwarded = [a.strip() for a in str(header).split(",")]
        forwarded = [a for a in forwarded if a]
        if len(forwarded) >= proxies:
            found = parse_address(forwarded[-proxies])
            if found is not None:
                return found
    elif header and not _warned.is_set():
        _warned.set()
        # Once per process: every request of a proxied deployment would repeat it.
        logger.warning(
            "a request carries X-Forwarded-For but JWTSESSIONS['NUM_PROXIES'] is 0: behind a "
            "reverse proxy every client then shares the proxy's address, and login "
            "throttling locks them out together. Set NUM_PROXIES to the number of proxies "
            "in front of Django (docs/settings.md)."
        )
    return parse_address(request.META.get("REMOTE_ADDR"))


def throttle_address(address: str | None) -> str | None:
    """The unit login throttling counts for an address: itself, or its /64 for IPv6.

    One IPv6 client usually holds a whole /64: counting single addresses would give it 2**64
    fresh counters.
    """
    if address is None:
        return None
    parsed = ipaddress.ip_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return address


def clean_text(value: object, max_length: int) -> str:
    """``value`` as printable text: control characters (NUL included) dropped, then cut."""
    if not isinstance(value, str):
        return ""
    return _CONTROL.sub("", value)[:max_length]


def user_agent(request: HttpRequest | None) -> str:
    """The request's User-Agent, safe to store."""
    if request is None:
        return ""
    from .models import USER_AGENT_MAX_LENGTH  # models need settings: not at import time

    return clean_text(request.META.get("HTTP_USER_AGENT", ""), USER_AGENT_MAX_LENGTH)
