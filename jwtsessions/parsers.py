"""Request-body parsers that refuse hostile bodies with a 400, never a 500.

DRF's parsers read the request stream directly, so Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is
never applied to a JSON body, and ``json`` raises ``RecursionError`` (not ``ValueError``) on
deeply nested input, which DRF lets through as a 500. These parsers read at most the limit,
and turn every parse failure into a ``ParseError`` in the contract's ``{"detail", "code"}``
shape.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import BaseParser, FormParser, JSONParser

from .exceptions import error_body


class BodyRefused(exceptions.ParseError):
    """400 ``invalid_request``: a body that is too large, too deep or unreadable."""

    def __init__(self, detail: str) -> None:
        super().__init__(error_body("invalid_request", detail), code="invalid_request")
        self.error_code = "invalid_request"


def _read_limited(stream: IO[bytes] | None) -> bytes:
    """The whole body, refusing one over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` without reading it all."""
    if stream is None:
        return b""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        data = stream.read() if limit is None else stream.read(limit + 1)
    except OSError:  # UnreadablePostError: the client went away mid-body
        raise BodyRefused("The request body could not be read.") from None
    if limit is not None and len(data) > limit:
        raise BodyRefused("The request body is too large.")
    return data


class _Bounded(BaseParser):
    """Reads the body within the limit, then lets the real parser parse the bytes."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        body = io.BytesIO(_read_limited(stream))
        try:
            return super().parse(body, media_type, parser_context)
        except RecursionError:  # json's answer to deep nesting, which DRF lets through
            raise BodyRefused("The request body is nested too deeply.") from None


class BoundedJSONParser(_Bounded, JSONParser):
    """``JSONParser`` with the body-size limit, and nesting too deep for ``json`` refused."""


class BoundedFormParser(_Bounded, FormParser):
    """``FormParser`` with the body-size limit (the field-count limit is Django's own)."""
