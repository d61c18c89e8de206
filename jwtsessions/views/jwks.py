"""The JWKS endpoint: the public half of the signing key ring, for other services."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response

from .. import tokens
from .base import OpenView


class JWKSView(OpenView):
    """GET: the public keys of the ring's asymmetric keys, for other services to verify with."""

    def get(self, request: Request) -> Response:
        response = Response(tokens.jwks())
        response["Cache-Control"] = "public, max-age=300"
        return response
