"""API keys and service tokens: the key format, its digest, and the cache-over-database lookup.

A key reads ``<API_KEY_PREFIX>_<public id>_<secret><checksum>``:

* the public id (12 base62 characters) names the row; it is not a credential and is shown in
  lists and the admin;
* the secret is 43 base62 characters drawn one by one with :mod:`secrets` (256 bits);
* the checksum (6 base62 characters, CRC-32 of the public id and secret) lets a mistyped or
  truncated key be refused before any cache call or query, and lets secret scanners recognise
  a key without asking the server.

The server keeps the public id and a SHA-256 digest of the secret; see :class:`KeyCodec` for
why a plain digest and not a pepper or a password hasher.

Lookup follows :mod:`jwtsessions.store`: a key or service token this process accepted moments
ago is answered from its per-process copy (:mod:`jwtsessions.localcache`: no cache call, no
query); otherwise one ``get_many`` on the primary (the key's entry and its "last seen" stamp);
on a miss or an outage the database answers and, on a miss, fills the cache. Every change to a
key or its owner (revocation, edit, deletion, deactivation) is announced, so every process drops
its copy before the changing call returns.
``last_used_at`` is never written by authentication: the request stores a timestamp in the
cache at most once per ``LAST_USED_INTERVAL``, and :func:`persist_last_used` copies those stamps
to the database when keys are listed (or from a periodic job).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import secrets
import string
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from functools import cached_property
from typing import Any

from django.contrib.auth import get_user_model
from django.db import DatabaseError, IntegrityError, transaction
from django.utils.crypto import constant_time_compare

from . import freshness, localcache, redisclient, store, tokens
from .exceptions import TemporarilyUnavailable
from .models import ApiKey
from .settings import jwt_settings

logger = logging.getLogger("jwtsessions.apikeys")

# "When was this key last used": written by requests, read by persist_last_used.
LAST_USED_KEY = "jws:ku:"
# Long enough that a key used once and listed weeks later still shows the right date.
LAST_USED_TTL = int(timedelta(days=90).total_seconds())

SERVICE_SUBJECT_PREFIX = "apikey:"
MAX_SCOPE_LENGTH = 64
# RFC 6749 section 3.3 scope-token characters: printable ASCII except space, '"' and '\'.
SCOPE_CHARACTERS = frozenset(chr(c) for c in range(0x21, 0x7F)) - {'"', "\\"}


class KeyCodec:
    """Generation, parsing and hashing of API keys. Nothing here touches the cache or database.

    **Digest: plain SHA-256, domain-separated** (``sha256("jwtsessions.apikey.v1" NUL public id
    NUL secret)``). The secret is 256 uniformly random bits, so a stolen digest cannot be
    reversed or brute-forced; a pepper (HMAC with a server-side key) would add nothing against
    that and would have to survive ``SECRET_KEY`` rotation forever, or every key would die with
    the old secret. A password hasher (Argon2, bcrypt, PBKDF2) would add nothing either and would
    hand any client a CPU amplifier on every request. Digests are compared with
    :func:`hmac.compare_digest` on bytes, and an unknown or refused public id is compared against
    a dummy digest, so every lookup costs the same comparison.
    """

    ALPHABET = string.digits + string.ascii_letters
    PUBLIC_ID_LENGTH = 12
    # 43 * log2(62) = 256.03 bits.
    SECRET_LENGTH = 43
    CHECKSUM_LENGTH = 6
    _DOMAIN = b"jwtsessions.apikey.v1"
    _DUMMY_DIGEST = hashlib.sha256(b"jwtsessions.apikey.dummy").digest()

    @property
    def prefix(self) -> str:
        # Read on every call: settings follow override_settings and are never captured.
        return str(jwt_settings.API_KEY_PREFIX)

    def key_length(self) -> int:
        body = self.PUBLIC_ID_LENGTH + self.SECRET_LENGTH + self.CHECKSUM_LENGTH
        return len(self.prefix) + 2 + body

    def _random(self, length: int) -> str:
        return "".join(secrets.choice(self.ALPHABET) for _ in range(length))

    def new_public_id(self) -> str:
        return self._random(self.PUBLIC_ID_LENGTH)

    def checksum(self, public_id: str, secret: str) -> str:
        value = zlib.crc32(f"{public_id}_{secret}".encode("ascii"))
        chars = []
        for _ in range(self.CHECKSUM_LENGTH):
            value, index = divmod(value, len(self.ALPHABET))
            chars.append(self.ALPHABET[index])
        return "".join(reversed(chars))

    def compose(self, public_id: str, secret: str) -> str:
        return f"{self.prefix}_{public_id}_{secret}{self.checksum(public_id, secret)}"

    def generate(self, public_id: str | None = None) -> tuple[str, str, str]:
        """A new key: ``(public id, the whole key, hex digest)``. The key is shown once."""
        public_id = public_id or self.new_public_id()
        secret = self._random(self.SECRET_LENGTH)
        return public_id, self.compose(public_id, secret), self.digest(public_id, secret).hex()

    def display_prefix(self, public_id: str) -> str:
        """The non-secret start of a key, to tell keys apart in lists."""
        return f"{self.prefix}_{public_id}"

    def parse(self, raw: Any) -> tuple[str, str] | None:
        """``(public id, secret)`` of a well-formed key with a valid checksum, else ``None``."""
        if not isinstance(raw, str) or len(raw) != self.key_length():
            return None
        head = self.prefix + "_"
        if not raw.startswith(head):
            return None
        public_id, separator, body = raw[len(head) :].partition("_")
        if not separator or len(public_id) != self.PUBLIC_ID_LENGTH:
            return None
        if not all(c in self.ALPHABET for c in public_id + body):
            return None
        secret, check = body[: self.SECRET_LENGTH], body[self.SECRET_LENGTH :]
        if check != self.checksum(public_id, secret):
            return None
        return public_id, secret

    def is_public_id(self, value: Any) -> bool:
        return (
            isinstance(value, str)
            and len(value) == self.PUBLIC_ID_LENGTH
            and all(c in self.ALPHABET for c in value)
        )

    def digest(self, public_id: str, secret: str) -> bytes:
        data = b"\0".join((self._DOMAIN, public_id.encode("ascii"), secret.encode("ascii")))
        return hashlib.sha256(data).digest()

    def matches(self, stored_hex: str, public_id: str, secret: str) -> bool:
        """Constant-time comparison of the presented secret with a stored hex digest.

        ``stored_hex`` empty (unknown or refused key) is compared against a dummy digest, so
        the answer takes the same work either way.
        """
        try:
            stored = bytes.fromhex(stored_hex) if stored_hex else b""
        except ValueError:
            stored = b""
        candidate = self.digest(public_id, secret)
        equal = hmac.compare_digest(stored or self._DUMMY_DIGEST, candidate)
        return equal and bool(stored)


codec = KeyCodec()


# --- cached state -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class KeyState:
    """What authentication needs to know about a usable key."""

    public_id: str
    user_id: str
    expires_at: int  # 0 = never
    scopes: tuple[str, ...]


class ScopedCredential:
    """Base of ``request.auth`` for credentials that carry scopes (checked by ``HasScope``)."""

    scopes: tuple[str, ...]
    public_id: str

    @cached_property
    def api_key(self) -> ApiKey:
        """The :class:`~jwtsessions.models.ApiKey` row (one query, on first access)."""
        return ApiKey.objects.get(public_id=self.public_id)

    def has_scopes(self, required: Iterable[str]) -> bool:
        return set(required) <= set(self.scopes)


@dataclasses.dataclass(frozen=True, eq=False)
class ApiKeyAuth(ScopedCredential):
    """``request.auth`` for an API key: its public id, owner and scopes (never the secret)."""

    public_id: str
    user_id: str
    scopes: tuple[str, ...]
    expires_at: datetime | None


@dataclasses.dataclass(frozen=True, eq=False)
class ServiceTokenAuth(ScopedCredential):
    """``request.auth`` for a service token: the token, its claims and effective scopes."""

    token: str
    claims: dict[str, Any]
    public_id: str
    user_id: str
    scopes: tuple[str, ...]

    @property
    def jti(self) -> str:
        return str(self.claims["jti"])


Entry = tuple[Any, ...]


_ROW = ("digest", "user_id", "expires_at", "scopes", "revoked_at", "user__is_active")


def _load(public_id: str) -> Entry:
    """The key's cache entry, built from the database (one query)."""
    row = ApiKey.objects.filter(public_id=public_id).values_list(*_ROW).first()
    return _entry_of(row)


def _load_many(public_ids: list[str]) -> dict[str, Entry]:
    """Cache entries of several keys (one query); a missing row is ``api_key_invalid``."""
    rows = ApiKey.objects.filter(public_id__in=public_ids).values_list("public_id", *_ROW)
    found = {row[0]: _entry_of(row[1:]) for row in rows}
    return {p: found.get(p, ("", "api_key_invalid")) for p in public_ids}


def _entry_of(row: Any) -> Entry:
    if row is None:
        return ("", "api_key_invalid")
    digest, user_id, expires_at, scopes, revoked_at, is_active = row
    if revoked_at is not None:
        return ("", "api_key_revoked")
    if not is_active:
        return ("", "user_inactive")
    expires = int(expires_at.timestamp()) if expires_at is not None else 0
    return (digest, str(user_id), expires, _clean_scopes(scopes))


def _clean_scopes(scopes: Any) -> tuple[str, ...]:
    if not isinstance(scopes, list | tuple):
        return ()
    return tuple(s for s in scopes if isinstance(s, str))


def _ttl(entry: Entry) -> int:
    if entry[0] == "" and entry[1] == "api_key_revoked":
        return store.negative_ttl()
    return max(int(jwt_settings.SESSION_CACHE_TTL.total_seconds()), 1)


def _fill(public_id: str, entry: Entry) -> None:
    # ``add``, not ``set``: a refusal written meanwhile by a revocation is never overwritten.
    key = store.API_KEY_KEY + public_id
    store.cache_call_quietly(lambda c: c.add(key, entry, _ttl(entry)))


def _state_from(public_id: str, entry: Any, secret: str | None) -> KeyState:
    """Turn a cache entry into a usable state or raise :class:`store.Refusal`.

    With ``secret`` given the digest is checked first, so a forged secret never learns more
    than ``api_key_invalid`` about a usable key.
    """
    if not isinstance(entry, tuple) or len(entry) not in (2, 4):
        entry = ("", "api_key_invalid")
    if len(entry) == 2:
        if secret is not None:
            codec.matches("", public_id, secret)
        raise store.Refusal(str(entry[1]))
    digest, user_id, expires, scopes = entry
    if secret is not None and not codec.matches(str(digest), public_id, secret):
        raise store.Refusal("api_key_invalid")
    if expires and expires <= time.time():
        raise store.Refusal("api_key_expired")
    return KeyState(public_id, str(user_id), int(expires), tuple(scopes))


def _record_seen(public_id: str, seen: Any, now: int) -> int:
    """Stamp the key's last use at most once per ``LAST_USED_INTERVAL``; the stamp in force."""
    interval = jwt_settings.LAST_USED_INTERVAL.total_seconds()
    if isinstance(seen, int) and now - seen < interval:
        return seen
    key = LAST_USED_KEY + public_id
    store.cache_call_quietly(lambda c: c.set(key, now, LAST_USED_TTL))
    return now


def _local_copy_usable() -> bool:
    # As for sessions: only while this process is up to date with the refusal log and owes the
    # cache nothing (its copy may predate a refusal it has not applied). Raises
    # TemporarilyUnavailable when it cannot vouch for the log at all (jwtsessions.freshness).
    return freshness.vouched() and store.reads_allowed()


def _remember(local_key: tuple[str, ...], entry: Entry, generation: int, now: float) -> None:
    """Keep a usable entry (read from the primary or the database) in the per-process copy."""
    valid_until = now + jwt_settings.SESSION_CACHE_TTL.total_seconds()
    localcache.remember(local_key, entry, valid_until, generation)


def check_api_key(raw_key: Any) -> KeyState:
    """Authenticate a presented key, or raise :class:`store.Refusal`.

    A malformed key or a bad checksum is refused before any cache call or query. A key this
    process accepted moments ago costs no cache call and no query (the digest is still checked);
    otherwise one ``get_many`` and no query; a cold or unreachable cache costs one query.
    Never writes to the database.
    """
    parsed = codec.parse(raw_key)
    if parsed is None:
        raise store.Refusal("api_key_invalid")
    public_id, secret = parsed
    now = time.time()
    local_key = ("k", public_id)
    generation = -1
    if _local_copy_usable():
        local, generation = localcache.get(local_key, now)
        # (entry, last seen): the full path runs again once per LAST_USED_INTERVAL to stamp it.
        if local is not None and now - local[1] < jwt_settings.LAST_USED_INTERVAL.total_seconds():
            return _state_from(public_id, local[0], secret)
    entry, cached = _fetch(public_id, [LAST_USED_KEY + public_id])
    state = _state_from(public_id, entry, secret)
    if cached is not None:
        seen = _record_seen(public_id, cached.get(LAST_USED_KEY + public_id), int(now))
        if generation >= 0:
            _remember(local_key, (entry, seen), generation, now)
    return state


def _fetch(public_id: str, extra_keys: list[str]) -> tuple[Entry, dict[str, Any] | None]:
    """The key's entry and ``extra_keys`` in one ``get_many`` on the primary; the database on a
    miss. The second value is the ``get_many`` result, or ``None`` when the cache is unavailable.
    """
    key = store.API_KEY_KEY + public_id
    # Refusals the cache missed are applied before it is read; a process that cannot vouch
    # for them answers 503 rather than trust the cache's entry.
    freshness.vouched()
    try:
        cached: dict[str, Any] | None = store.cache_call(
            lambda c: redisclient.get_many(c, [key, *extra_keys])
        )
    except store.CacheUnavailable:
        cached = None
    entry = cached.get(key) if cached is not None else None
    if entry is None:
        try:
            entry = _load(public_id)
        except DatabaseError:
            raise TemporarilyUnavailable() from None
        if cached is not None:
            _fill(public_id, entry)
    return entry, cached


def check_service_token(public_id: str, jti: str) -> KeyState:
    """The state of a service token's key and its ``jti`` blacklist entry: one ``get_many``.

    A token is refused when its ``jti`` is blacklisted (``token_revoked``) or when its key is
    revoked, expired or deleted, or its owner inactive (the key's code): revoking a key ends
    the service tokens it issued on the next request.
    """
    now = time.time()
    local_key = ("t", public_id, jti)
    generation = -1
    if _local_copy_usable():
        local, generation = localcache.get(local_key, now)
        if local is not None:
            # Accepted moments ago; a blacklisting or a change to the key since was announced
            # and would have emptied the copy. Expiry is checked again.
            return _state_from(public_id, local, None)
    entry, cached = _fetch(public_id, [store.BLACKLIST_KEY + jti])
    state = _state_from(public_id, entry, None)
    if store.blacklist_verdict(jti, cached):
        raise store.Refusal("token_revoked")
    if cached is not None and generation >= 0:
        _remember(local_key, entry, generation, now)
    return state


# --- creating, listing ------------------------------------------------------------------------


class CredentialChanged(Exception):
    """The owner's password changed, or the owner was deactivated, while a key was created."""


def create_api_key(
    user: Any,
    name: str,
    scopes: Sequence[str] = (),
    expires_at: datetime | None = None,
    *,
    verified_password_hash: str | Callable[[str], bool] | None = None,
) -> tuple[ApiKey, str]:
    """Create a key for ``user``; return the row and the whole key (to show once, never log).

    ``verified_password_hash`` is the hash the caller's password was just checked against
    (``POST api-keys/``), or a test of the stored hash (the session's binding): if the owner's
    stored hash no longer passes, or the owner is inactive, nothing is created and
    :class:`CredentialChanged` is raised.
    """
    for _attempt in range(3):
        public_id, key, digest = codec.generate()
        api_key = ApiKey(
            user=user,
            name=name,
            public_id=public_id,
            digest=digest,
            scopes=list(scopes),
            expires_at=expires_at,
        )
        try:
            with transaction.atomic():
                api_key.save(force_insert=True)
                if _owner_still_holds(user, verified_password_hash):
                    _warm(api_key)
        except IntegrityError:
            # A public id collision (72 random bits: practically never): draw again.
            if ApiKey.objects.filter(public_id=public_id).exists():
                continue
            raise
        return api_key, key
    raise RuntimeError("could not draw a unique API key id")


def _owner_still_holds(user: Any, verified: str | Callable[[str], bool] | None) -> bool:
    """Lock the owner's row, inside the key's transaction, and read its credential again.

    Raises :class:`CredentialChanged` (rolling the new key back) when a password was verified
    and the stored hash is no longer that one, or the owner is inactive. Returns whether the
    owner is active, i.e. whether the new key may be cached as usable.

    Why the lock closes the race with a password change or a deactivation (the user's
    ``post_save`` lists and revokes the keys *after* its ``UPDATE`` of the user row), whatever
    the order of the writes under READ COMMITTED:

    * we lock first: the change's ``UPDATE`` waits for our commit, so its later listing of the
      user's keys sees this key and revokes it (or, for a deactivation, refuses it), and our
      cache entry, written before our commit, is overwritten by that refusal;
    * the change's ``UPDATE`` comes first: our ``SELECT ... FOR UPDATE`` waits for its commit
      and reads the new hash or ``is_active``, and we refuse.

    The key row is inserted before the lock is taken so that SQLite (which ignores
    ``FOR UPDATE``) is covered too: the insert takes the database's write lock, so a change
    either committed before it (and the read below sees it) or waits for our commit.
    """
    user_model = get_user_model()
    fields = ["password"]
    if any(f.name == "is_active" for f in user_model._meta.concrete_fields):
        fields.append("is_active")
    row = user_model._base_manager.select_for_update().filter(pk=user.pk).values(*fields).first()
    active = row is not None and bool(row.get("is_active", True))
    if verified is None:
        return active
    stored = str(row["password"]) if row is not None else ""
    holds = verified(stored) if callable(verified) else constant_time_compare(stored, verified)
    if not (active and holds):
        raise CredentialChanged()
    return True


def _warm(api_key: ApiKey) -> None:
    expires = int(api_key.expires_at.timestamp()) if api_key.expires_at is not None else 0
    entry = (api_key.digest, str(api_key.user_id), expires, _clean_scopes(api_key.scopes))
    key = store.API_KEY_KEY + api_key.public_id
    store.cache_call_quietly(lambda c: c.set(key, entry, _ttl(entry)))


def last_seen(public_ids: list[str]) -> dict[str, datetime]:
    """When each key was last used, as recorded in the cache (``{}`` if unavailable)."""
    if not public_ids:
        return {}
    try:
        found = store.cache_call(lambda c: c.get_many([LAST_USED_KEY + p for p in public_ids]))
    except store.CacheUnavailable:
        return {}
    return {
        key[len(LAST_USED_KEY) :]: datetime.fromtimestamp(value, tz=dt_timezone.utc)
        for key, value in found.items()
        if isinstance(value, int)
    }


def persist_last_used(api_keys: Sequence[ApiKey]) -> None:
    """Copy the cached "last used" stamps of ``api_keys`` to their rows (and the instances).

    Called when keys are listed, so the database catches up without any write on the request
    path. One ``UPDATE`` per key whose stamp moved, at most once per ``LAST_USED_INTERVAL``.
    """
    seen = last_seen([k.public_id for k in api_keys])
    for api_key in api_keys:
        stamp = seen.get(api_key.public_id)
        if stamp is None or (api_key.last_used_at is not None and api_key.last_used_at >= stamp):
            continue
        ApiKey.objects.filter(pk=api_key.pk).exclude(last_used_at__gte=stamp).update(
            last_used_at=stamp
        )
        api_key.last_used_at = stamp


# --- service tokens ---------------------------------------------------------------------------


def issue_service_token(state: KeyState, scopes: Sequence[str]) -> tuple[str, int]:
    """A signed service token for a key, limited to ``scopes``; and its lifetime in seconds."""
    lifetime = jwt_settings.SERVICE_TOKEN_LIFETIME
    claims: dict[str, Any] = {
        "sub": SERVICE_SUBJECT_PREFIX + state.public_id,
        "scope": " ".join(scopes),
        **tokens.standard_claims(lifetime),
    }
    if state.expires_at and state.expires_at < claims["exp"]:
        # Never outlive the key that obtained it.
        claims["exp"] = max(state.expires_at, claims["iat"] + 1)
    return tokens.encode(claims, tokens.SERVICE_TOKEN_TYPE), claims["exp"] - claims["iat"]


def parse_scope(value: Any) -> tuple[str, ...] | None:
    """Scope tokens of a space-separated ``scope`` string, or ``None`` if malformed."""
    if not isinstance(value, str) or len(value) > 4096:
        return None
    scopes = tuple(dict.fromkeys(value.split(" ")))
    if not all(is_valid_scope(s) for s in scopes):
        return None
    return scopes


def is_valid_scope(scope: Any) -> bool:
    return (
        isinstance(scope, str)
        and 0 < len(scope) <= MAX_SCOPE_LENGTH
        and all(c in SCOPE_CHARACTERS for c in scope)
    )


# --- keeping the cache honest -----------------------------------------------------------------


def forget(public_ids: Iterable[str]) -> None:
    """Drop cached entries so the next request reads the database (after an edit), and make
    every process drop its per-process copy before returning.
    """
    keys = [store.API_KEY_KEY + p for p in public_ids]
    if keys:
        store.refuse_everywhere(lambda c: c.delete_many(keys))


def refresh(public_ids: Iterable[str]) -> None:
    """After a committed change: write each key's refusal as the database now says it (``set``,
    so a stale "usable" written meanwhile by a racing read is overwritten), drop the usable
    ones (never ``set`` a usable entry: it could overwrite a newer refusal), and announce.
    """
    ids = list(public_ids)
    if not ids:
        return
    refused = {
        store.API_KEY_KEY + public_id: entry
        for public_id, entry in _load_many(ids).items()
        if entry[0] == ""
    }
    usable = [store.API_KEY_KEY + p for p in ids if store.API_KEY_KEY + p not in refused]

    def write(cache: Any) -> None:
        if refused:
            cache.set_many(refused, store.negative_ttl())
        if usable:
            cache.delete_many(usable)

    store.refuse_everywhere(write)


def _forget_now_and_after_commit(public_ids: list[str]) -> None:
    # Now, for this request's later reads; after commit, from the committed rows, in case
    # another request re-cached the old row between the two.
    forget(public_ids)
    transaction.on_commit(lambda: refresh(public_ids))


def _on_api_key_saved(sender: Any, instance: ApiKey, created: bool, **kwargs: Any) -> None:
    if not created:
        _forget_now_and_after_commit([instance.public_id])


def _on_api_key_deleted(sender: Any, instance: ApiKey, **kwargs: Any) -> None:
    _forget_now_and_after_commit([instance.public_id])


def _on_user_saved(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    if kwargs.get("created") or (update_fields is not None and "is_active" not in update_fields):
        return
    public_ids = list(
        ApiKey.objects.filter(user_id=instance.pk, revoked_at__isnull=True).values_list(
            "public_id", flat=True
        )
    )
    if public_ids:
        _forget_now_and_after_commit(public_ids)


def connect_receivers() -> None:
    """Keep cached key state in step with edits (admin, ORM ``save``/``delete``, owners)."""
    from django.contrib.auth import get_user_model
    from django.db.models.signals import post_delete, post_save

    post_save.connect(_on_api_key_saved, sender=ApiKey, dispatch_uid="jwtsessions.apikey.save")
    post_delete.connect(_on_api_key_deleted, sender=ApiKey, dispatch_uid="jwtsessions.apikey.del")
    post_save.connect(
        _on_user_saved, sender=get_user_model(), dispatch_uid="jwtsessions.apikey.user"
    )
