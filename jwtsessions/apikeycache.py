"""An API key's entry in the shared cache: its shape, and keeping it in step with the database.

The entry under ``store.API_KEY_KEY + public id`` is ``(digest, user id, expires, scopes)`` for
a usable key (``expires`` 0 = never) or ``("", code)`` for a refused one. It is built from the
database (:func:`load`), written on a miss (:func:`fill`) or when a key is created
(:func:`warm`), and every change to a key or its owner (revocation, edit, deletion,
deactivation) drops or rewrites it and is announced (:func:`forget`, :func:`refresh`, the
receivers of :func:`connect_receivers`), so every process drops its per-process copy before the
changing call returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from . import redisclient, store
from .models import ApiKey
from .settings import jwt_settings

Entry = tuple[Any, ...]


_ROW = ("digest", "user_id", "expires_at", "scopes", "revoked_at", "user__is_active")


def load(public_id: str) -> Entry:
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


def fill(public_id: str, entry: Entry) -> None:
    """Cache an entry just read from the database, unless the cache already holds one."""
    # ``add``, not ``set``: a refusal written meanwhile by a revocation is never overwritten.
    key = store.API_KEY_KEY + public_id
    store.cache_call_quietly(lambda c: c.add(key, entry, _ttl(entry)))


def warm(api_key: ApiKey) -> None:
    """Cache a key just created, as usable, so its first request costs no query.

    With ``add``, never ``set``: a write delayed in the network (a healing partition delivers
    what it held, late) landed after the key's revocation and overwrote the refusal, and every
    process admitted the revoked key until the entry expired (red team, 2026-11-30).
    """
    expires = int(api_key.expires_at.timestamp()) if api_key.expires_at is not None else 0
    entry = (api_key.digest, str(api_key.user_id), expires, _clean_scopes(api_key.scopes))
    key = store.API_KEY_KEY + api_key.public_id
    store.cache_call_quietly(lambda c: c.add(key, entry, _ttl(entry)))


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
            redisclient.set_many(cache, refused, store.negative_ttl())
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
