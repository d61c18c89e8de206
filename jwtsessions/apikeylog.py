"""API-key edits and deletions in the refusal log, so every process drops what it cached.

Revocation logs itself (:func:`jwtsessions.revocation.revoke_api_keys`). An edit through
``save()`` (a new expiry, narrower scopes, a new owner) or a deletion does not go through it, so
these receivers add the row, in the transaction of the change: every process then drops the
key's cached entry and its per-process copy within ``REVOCATION_SYNC_INTERVAL``, even if the
cache writes :mod:`jwtsessions.apikeycache` makes right away (and after commit) fail.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from . import sync


def _on_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if not created:
        sync.record("k", [instance.public_id])


def _on_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    sync.record("k", [instance.public_id], "api_key_invalid")


def connect_receivers() -> None:
    from .models import ApiKey

    post_save.connect(_on_saved, sender=ApiKey, dispatch_uid="jwtsessions.apikeylog.save")
    post_delete.connect(_on_deleted, sender=ApiKey, dispatch_uid="jwtsessions.apikeylog.delete")
