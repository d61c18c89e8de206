"""How guessable an HMAC secret is: a conservative estimate for the system checks.

An HMAC-signed token is an offline oracle: whoever holds one token can try candidate keys
until the signature matches, at billions of guesses a second, and a found key forges tokens
for anyone. Length is no defence when the key is words, a pattern, or copied from a tutorial
(``my_very_long_and_safe_secret_key`` has 32 bytes and falls to a dictionary attack). This
module estimates the work of such an attack the way a cracker would go about it: known keys
first, then repeats (a back-reference costs a few bits, not the length it repeats), words
(about 12 bits each, a 4,000-word list), digit runs, sequences (``abcd``, ``1234``) and
separators. The estimate errs low on purpose: a key generated with
``secrets.token_urlsafe(64)`` scores far above the bar (about 300 bits); a human-made one
rarely does.
"""

from __future__ import annotations

import itertools
import math
import re

#: The least estimated strength accepted, in bits. 2**96 HMAC computations are out of any
#: attacker's reach; the estimate runs low, so random 256-bit keys (``token_urlsafe(32)``,
#: about 175 estimated bits, never under 110 in 30,000 draws) pass with a wide margin.
MIN_KEY_BITS = 96

GENERATE_HINT = (
    'Generate one with: python -c "import secrets; print(secrets.token_urlsafe(64))" and keep '
    "it out of source control (an environment variable or a secrets manager)."
)

# Keys (letters and digits only, case-folded) that appear in tutorials, docs and defaults, and
# so in every cracking dictionary.
_KNOWN_KEYS = frozenset(
    {
        "myverylongandsafesecretkey",
        "your256bitsecret",
        "your384bitsecret",
        "your512bitsecret",
        "yoursecretkey",
        "yoursecretkeyhere",
        "mysecretkey",
        "supersecretkey",
        "secretkey",
        "jwtsecretkey",
        "jwtsecret",
        "secret",
        "changeme",
        "password",
    }
)
# Phrases no real key contains: placeholders left in by copy and paste.
_PLACEHOLDERS = ("changeme", "changethis", "replaceme", "insecure", "notsecret", "example")

# A word: an optional capital then lowercase, or all capitals; else one digit run or one char.
_TOKENS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+|.", re.DOTALL)
_LETTER_BITS = math.log2(26)
_DIGIT_BITS = math.log2(10)
_WORD_BITS = 12.0
_VOWELS = frozenset("aeiouy")
_SYMBOL_BITS = 5.0
_REFERENCE_BITS = 8.0
_MIN_REPEAT = 3


def weakness(key: str | bytes) -> str | None:
    """Why ``key`` is too guessable to sign tokens with, or ``None`` if it looks random."""
    text = key.decode("latin-1") if isinstance(key, bytes) else str(key)
    if text.lower().startswith("django-insecure"):
        return "it has Django's 'django-insecure-' prefix (a development key)"
    folded = re.sub(r"[^0-9a-z]", "", text.casefold())
    if folded in _KNOWN_KEYS:
        return "it is a well-known example key, in every cracking dictionary"
    if any(placeholder in folded for placeholder in _PLACEHOLDERS):
        return "it contains a placeholder phrase (changeme, example, insecure, ...)"
    bits = estimated_bits(text)
    if bits < MIN_KEY_BITS:
        return (
            f"it is made of words, repeats or sequences worth about {int(bits)} bits of "
            f"guessing; at least {MIN_KEY_BITS} are needed"
        )
    return None


def estimated_bits(text: str) -> float:
    """A low estimate of the guesses (log2) a cracker needs for ``text``."""
    bits = 0.0
    seen_symbols: set[str] = set()
    i = 0
    while i < len(text):
        repeat = _repeat_length(text, i)
        if repeat:
            bits += _REFERENCE_BITS
            i += repeat
            continue
        token = _TOKENS.match(text, i)
        assert token is not None  # the last alternative matches any character
        part = token.group()
        bits += _token_bits(part, seen_symbols)
        i += len(part)
    return bits


def _repeat_length(text: str, i: int) -> int:
    """The length of the longest earlier occurrence of what starts at ``i`` (LZ77-style)."""
    length = 0
    while i + length < len(text):
        candidate = text[i : i + length + 1]
        found = text.find(candidate, 0, i + length)
        if found == -1 or found >= i:
            break
        length += 1
    return length if length >= _MIN_REPEAT else 0


def _is_sequence(part: str) -> bool:
    steps = {ord(b) - ord(a) for a, b in itertools.pairwise(part)}
    return len(part) >= 3 and len(steps) == 1 and steps <= {-1, 0, 1}


def _token_bits(part: str, seen_symbols: set[str]) -> float:
    if _is_sequence(part.lower()):
        return 6.0
    if part.isdigit():
        return len(part) * _DIGIT_BITS
    if part.isalpha() and part.isascii():
        letters = len(part) * _LETTER_BITS
        if len(part) < 3 or not _VOWELS.intersection(part.lower()):
            return letters  # not a word: each letter is a guess of its own
        # A word from a list of a few thousand; long words are rarer.
        return min(letters, _WORD_BITS + 2.0 * max(0, len(part) - 8))
    if not part.isprintable() or not part.isascii():
        return 8.0  # a byte no keyboard makes: a machine drew it
    # A separator used again (my_long_key) tells a cracker little.
    cost = 1.0 if part in seen_symbols else _SYMBOL_BITS
    seen_symbols.add(part)
    return cost
