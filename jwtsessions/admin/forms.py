"""The API-key add form: who may own the key, which scopes, until when.

The same rules as the ``api-keys/`` endpoint (well-formed scopes, at most
``MAX_API_KEY_SCOPES``, only scopes ``API_KEY_SCOPES`` lets the owner grant, an expiry in the
future), plus the admin's own: a key may be issued for someone else only by staff holding
``jwtsessions.add_api_key_for_others``, and for a superuser only by a superuser.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils import timezone

from ..models import ApiKey
from ..scopes import InvalidScope, check_grantable, is_valid_scope
from ..settings import jwt_settings

if TYPE_CHECKING:
    _ApiKeyFormBase = forms.ModelForm[ApiKey]
else:
    _ApiKeyFormBase = forms.ModelForm  # generic for type checkers only

#: The permission that lets staff issue keys owned by other users (see docs/api-keys.md).
ISSUE_FOR_OTHERS = "jwtsessions.add_api_key_for_others"
#: The add form's proposed lifetime: long enough for a CI credential, short enough that a
#: forgotten key dies on its own. Clearing the field issues a key that never expires.
DEFAULT_LIFETIME = timedelta(days=90)


def default_expiry() -> datetime:
    return (timezone.now() + DEFAULT_LIFETIME).replace(second=0, microsecond=0)


def static_scope_choices() -> list[str] | None:
    """The grantable scopes when ``API_KEY_SCOPES`` is a fixed list (checkboxes), else None."""
    configured = jwt_settings.API_KEY_SCOPES
    if configured is None or isinstance(configured, str):
        return None  # any scope, or a per-user callable: typed one per line
    return sorted(configured)


class ScopeListField(forms.Field):
    """Scopes typed one per line (spaces also separate; a JSON list is still understood)."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 40, "placeholder": "items:read"})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return "\n".join(str(scope) for scope in value)
        return value

    def to_python(self, value: Any) -> list[Any]:
        text = str(value or "").strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError:
                raise forms.ValidationError("Enter one scope per line.") from None
            return parsed if isinstance(parsed, list) else [parsed]
        return text.split()


class ApiKeyAddForm(_ApiKeyFormBase):
    """Issue a key. ``actor`` (the operator) decides whether ``user`` may be someone else."""

    actor: Any = None

    class Meta:
        model = ApiKey
        fields = ("name", "user", "scopes", "expires_at")
        labels = {"user": "Owner"}
        help_texts = {
            "expires_at": "Proposed: 90 days from now. Leave empty for a key that never expires.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = static_scope_choices()
        if choices is None:
            self.fields["scopes"] = ScopeListField(
                required=False, help_text="One scope per line, e.g. items:read."
            )
        else:
            self.fields["scopes"] = forms.MultipleChoiceField(
                choices=[(scope, scope) for scope in choices],
                widget=forms.CheckboxSelectMultiple,
                required=False,
                help_text="The scopes API_KEY_SCOPES lets the owner grant.",
            )
        if "expires_at" in self.fields and not self.is_bound:
            self.fields["expires_at"].initial = default_expiry()

    def may_issue_for_others(self) -> bool:
        return self.actor is not None and bool(self.actor.has_perm(ISSUE_FOR_OTHERS))

    def clean_user(self) -> Any:
        owner = self.cleaned_data.get("user")
        actor = self.actor
        if owner is None or actor is None:
            return owner
        if owner.pk != actor.pk and not self.may_issue_for_others():
            raise forms.ValidationError(
                "You may issue keys for yourself only: a key for someone else needs the "
                "“Can add API keys owned by other users” permission."
            )
        if getattr(owner, "is_superuser", False) and not getattr(actor, "is_superuser", False):
            raise forms.ValidationError("Only a superuser may issue a key owned by a superuser.")
        return owner

    def clean_scopes(self) -> list[str]:
        scopes = self.cleaned_data.get("scopes") or []
        if not isinstance(scopes, list) or not all(
            isinstance(s, str) and is_valid_scope(s) for s in scopes
        ):
            raise forms.ValidationError(
                "Enter scope names one per line, e.g. items:read (letters, digits, and . : _ -)."
            )
        if len(scopes) > jwt_settings.MAX_API_KEY_SCOPES:
            raise forms.ValidationError(
                f"At most {jwt_settings.MAX_API_KEY_SCOPES} scopes per key."
            )
        return list(dict.fromkeys(scopes))

    def clean_expires_at(self) -> datetime | None:
        expires_at: datetime | None = self.cleaned_data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError("The expiry must be in the future.")
        return expires_at

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # Without the owner field (staff who may issue keys for themselves only) it is the actor.
        owner = cleaned.get("user") if "user" in self.fields else self.actor
        scopes = cleaned.get("scopes")
        if owner is not None and scopes:
            try:
                check_grantable(owner, scopes)
            except InvalidScope as exc:
                self.add_error("scopes", f"Not grantable to this owner: {' '.join(exc.scopes)}.")
        return cleaned
