"""The API key format and its digest: generating, parsing and hashing keys.

A key reads ``<API_KEY_PREFIX>_<public id>_<secret><checksum>``:

* the public id (12 base62 characters) names the row; it is not a credential and is shown in
  lists and the admin;
* the secret is 43 base62 characters drawn one by one with :mod:`secrets` (256 bits);
* the checksum (6 base62 characters, CRC-32 of the public id and secret) lets a mistyped or
  truncated key be refused before any cache call or query, and lets secret scanners recognise
  a key without asking the server.

The server keeps the public id and a SHA-256 digest of the secret; see :class:`KeyCodec` for
why a plain digest and not a pepper or a password hasher. Nothing here touches the cache or
the database.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import zlib
from typing import Any

from .settings import jwt_settings


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
        """The ``API_KEY_PREFIX`` setting, which starts every key."""
        # Read on every call: settings follow override_settings and are never captured.
        return str(jwt_settings.API_KEY_PREFIX)

    def key_length(self) -> int:
        """The length of a whole key with the current prefix."""
        body = self.PUBLIC_ID_LENGTH + self.SECRET_LENGTH + self.CHECKSUM_LENGTH
        return len(self.prefix) + 2 + body

    def _random(self, length: int) -> str:
        return "".join(secrets.choice(self.ALPHABET) for _ in range(length))

    def new_public_id(self) -> str:
        """A fresh random public id (72 bits)."""
        return self._random(self.PUBLIC_ID_LENGTH)

    def checksum(self, public_id: str, secret: str) -> str:
        """The 6-character base62 CRC-32 of the public id and secret that ends a key."""
        value = zlib.crc32(f"{public_id}_{secret}".encode("ascii"))
        chars = []
        for _ in range(self.CHECKSUM_LENGTH):
            value, index = divmod(value, len(self.ALPHABET))
            chars.append(self.ALPHABET[index])
        return "".join(reversed(chars))

    def compose(self, public_id: str, secret: str) -> str:
        """The whole key of a public id and a secret, checksum included."""
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
        """Whether ``value`` has the shape of a public id (not whether such a key exists)."""
        return (
            isinstance(value, str)
            and len(value) == self.PUBLIC_ID_LENGTH
            and all(c in self.ALPHABET for c in value)
        )

    def digest(self, public_id: str, secret: str) -> bytes:
        """The domain-separated SHA-256 digest the server keeps for a key."""
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
