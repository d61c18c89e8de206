"""API-key edits and deletions in the refusal log, so every process drops what it cached.

Revocation logs itself (:func:`jwtsessions.revocation.revoke_api_keys`). An edit through
``save()`` (a new expiry, narrower scopes, a new owner) or a deletion does not go through it, so
these receivers add the row: every process then drops the key's cached entry and its
per-process copy within ``REVOCATION_SYNC_INTERVAL``, even if this process's cache write fails
(:mod:`jwtsessions.apikeys` deletes the entry itself right away).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save

from . import refusals, sync


def _on_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if created:
        return
    sync.record("k", [instance.public_id])
    writes = sync.writes_for("k", instance.public_id, "")
    transaction.on_commit(lambda: refusals.refuse(writes))


def _on_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    sync.record("k", [instance.public_id], "api_key_invalid")
    writes = sync.writes_for("k", instance.public_id, "api_key_invalid")
    transaction.on_commit(lambda: refusals.refuse(writes))


def connect_receivers() -> None:
    from .models import ApiKey

    post_save.connect(_on_saved, sender=ApiKey, dispatch_uid="jwtsessions.apikeylog.save")
    post_delete.connect(_on_deleted, sender=ApiKey, dispatch_uid="jwtsessions.apikeylog.delete")
