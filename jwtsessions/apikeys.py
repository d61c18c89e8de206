"""The names other modules (and projects) import from ``jwtsessions.apikeys``.

API keys and service tokens were split by concern; this module only re-exports:

* :mod:`jwtsessions.apikeycodec`: the key format, its checksum and digest (:class:`KeyCodec`);
* :mod:`jwtsessions.credentials`: :class:`KeyState` and the ``request.auth`` objects;
* :mod:`jwtsessions.apikeylookup`: checking a presented key or service token;
* :mod:`jwtsessions.apikeycache`: a key's cache entry, kept in step with the database;
* :mod:`jwtsessions.apikeyusage`: "last used" stamps and copying them to the database;
* :mod:`jwtsessions.apikeycreation`: creating a key;
* :mod:`jwtsessions.servicetokens`: issuing a service token;
* :mod:`jwtsessions.scopes`: the syntax of scopes.
"""

from __future__ import annotations

from .apikeycache import Entry, connect_receivers, forget, refresh
from .apikeycodec import KeyCodec, codec
from .apikeycreation import CredentialChanged, create_api_key
from .apikeylookup import check_api_key, check_service_token
from .apikeyusage import LAST_USED_KEY, LAST_USED_TTL, last_seen, persist_last_used
from .credentials import ApiKeyAuth, KeyState, ScopedCredential, ServiceTokenAuth
from .scopes import MAX_SCOPE_LENGTH, SCOPE_CHARACTERS, is_valid_scope, parse_scope
from .servicetokens import SERVICE_SUBJECT_PREFIX, issue_service_token

__all__ = [
    "LAST_USED_KEY",
    "LAST_USED_TTL",
    "MAX_SCOPE_LENGTH",
    "SCOPE_CHARACTERS",
    "SERVICE_SUBJECT_PREFIX",
    "ApiKeyAuth",
    "CredentialChanged",
    "Entry",
    "KeyCodec",
    "KeyState",
    "ScopedCredential",
    "ServiceTokenAuth",
    "check_api_key",
    "check_service_token",
    "codec",
    "connect_receivers",
    "create_api_key",
    "forget",
    "is_valid_scope",
    "issue_service_token",
    "last_seen",
    "parse_scope",
    "persist_last_used",
    "refresh",
]
