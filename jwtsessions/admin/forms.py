"""The API-key add form: the same rules for scopes and expiry as the ``api-keys/`` endpoint."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django import forms
from django.utils import timezone

from ..models import ApiKey
from ..settings import jwt_settings

if TYPE_CHECKING:
    _ApiKeyFormBase = forms.ModelForm[ApiKey]
else:
    _ApiKeyFormBase = forms.ModelForm  # generic for type checkers only


class ApiKeyAddForm(_ApiKeyFormBase):
    """The add form: the same rules for scopes and expiry as the ``api-keys/`` endpoint."""

    class Meta:
        model = ApiKey
        fields = ("name", "user", "scopes", "expires_at")

    def clean_scopes(self) -> list[str]:
        from ..apikeys import is_valid_scope

        scopes = self.cleaned_data.get("scopes") or []
        if not isinstance(scopes, list) or not all(is_valid_scope(s) for s in scopes):
            raise forms.ValidationError(
                'Enter a JSON list of scope names, e.g. ["items:read", "items:write"].'
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
