"""How guessable an HMAC secret is: a conservative estimate for the system checks.

An HMAC-signed token is an offline oracle: whoever holds one token can try candidate keys
until the signature matches, at billions of guesses a second, and a found key forges tokens
for anyone. Length is no defence when the key is words, a pattern, or copied from a tutorial
(``my_very_long_and_safe_secret_key`` has 32 bytes and falls to a dictionary attack). This
module estimates the work of such an attack the way a cracker goes about it: the cheapest way
to spell the key out of published example keys, common words (a small built-in list, cheap),
other word-like runs, keyboard walks (``1qaz2wsx``, ``qwerty``), sequences (``abcd``,
``1234``), years, repeats (a back-reference costs a few bits, not the length it repeats) and
single characters (the cheapest segmentation wins, as in zxcvbn). The estimate errs low on
purpose: a key generated with ``secrets.token_urlsafe(64)`` scores far above the bar; a
human-made one rarely does.
"""

from __future__ import annotations

import math
import re

from .keywords import COMMON_WORDS, PUBLISHED_KEYS, TOP_WORDS

#: The least estimated strength accepted, in bits. 2**96 HMAC computations are out of any
#: attacker's reach; the estimate runs low, so random 256-bit keys (``token_urlsafe(32)``,
#: about 179 estimated bits, never under 135 in 10,000 draws) pass with a wide margin.
MIN_KEY_BITS = 96

GENERATE_HINT = (
    'Generate one with: python -c "import secrets; print(secrets.token_urlsafe(64))" and keep '
    "it out of source control (an environment variable or a secrets manager)."
)

# Phrases no real key contains: placeholders left in by copy and paste.
_PLACEHOLDERS = ("changeme", "changethis", "replaceme", "insecure", "notsecret", "example")

_LETTER_BITS = math.log2(26)
_DIGIT_BITS = math.log2(10)
_SYMBOL_BITS = 5.0
_REFERENCE_BITS = 8.0
_SEQUENCE_BITS = 6.0
_YEAR_BITS = 7.0
_PUBLISHED_BITS = 10.0  # one of a list of published keys (a cracker tries those first)
_TOP_WORD_BITS = math.log2(len(TOP_WORDS))
_COMMON_WORD_BITS = math.log2(len(COMMON_WORDS))
_OTHER_WORD_BITS = 12.0  # a word-like run: one of a few thousand words
_VOWELS = frozenset("aeiouy")
_MAX_RUN = 64  # longer runs are counted as several (a low estimate either way)
_WORD_MAX = 16

# Keyboard rows (US layout) and their horizontal offsets, unshifted and shifted.
_ROWS = (
    ("`1234567890-=", "~!@#$%^&*()_+", 0.0),
    ("qwertyuiop[]\\", "QWERTYUIOP{}|", 1.5),
    ("asdfghjkl;'", 'ASDFGHJKL:"', 1.75),
    ("zxcvbnm,./", "ZXCVBNM<>?", 2.25),
)


def _keyboard() -> dict[str, tuple[int, float, bool]]:
    keys: dict[str, tuple[int, float, bool]] = {}
    for row, (plain, shifted, offset) in enumerate(_ROWS):
        for column, (a, b) in enumerate(zip(plain, shifted, strict=True)):
            keys[a] = (row, offset + column, False)
            keys[b] = (row, offset + column, True)
    return keys


_KEYS = _keyboard()


def _step(a: str, b: str) -> tuple[int, int] | None:
    """The direction from key ``a`` to an adjacent key ``b`` (same shift state), or ``None``."""
    if a not in _KEYS or b not in _KEYS:
        return None
    (ra, xa, sa), (rb, xb, sb) = _KEYS[a], _KEYS[b]
    dr, dx = rb - ra, xb - xa
    if sa != sb or not ((dr == 0 and abs(dx) == 1) or (abs(dr) == 1 and abs(dx) < 1)):
        return None
    return (dr, 1 if dx > 0 else -1)


def weakness(key: str | bytes) -> str | None:
    """Why ``key`` is too guessable to sign tokens with, or ``None`` if it looks random."""
    text = key.decode("latin-1") if isinstance(key, bytes) else str(key)
    if text.lower().startswith("django-insecure"):
        return "it has Django's 'django-insecure-' prefix (a development key)"
    folded = _fold(text)
    if folded in PUBLISHED_KEYS:
        return "it is a well-known example key, in every cracking dictionary"
    if any(placeholder in folded for placeholder in _PLACEHOLDERS):
        return "it contains a placeholder phrase (changeme, example, insecure, ...)"
    bits = estimated_bits(text)
    if bits < MIN_KEY_BITS:
        return (
            f"it is made of words, patterns or published keys worth about {int(bits)} bits "
            f"of guessing; at least {MIN_KEY_BITS} are needed"
        )
    return None


def _fold(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.casefold())


def estimated_bits(text: str) -> float:
    """A low estimate of the guesses (log2) a cracker needs for ``text``: the cheapest
    segmentation into the patterns above."""
    n = len(text)
    best = [0.0] + [math.inf] * n
    single = _single_costs(text)
    published = _published_matches(text)
    for i in range(n):
        if best[i] == math.inf:
            continue
        candidates = [(i + 1, single[i])]
        candidates += [(end, _PUBLISHED_BITS) for end in published.get(i, ())]
        candidates += [(end, _REFERENCE_BITS) for end in _repeat_ends(text, i)]
        candidates += [(end, _SEQUENCE_BITS) for end in _sequence_ends(text, i)]
        candidates += _walks(text, i)
        candidates += _words(text, i)
        if len(text) >= i + 4 and text[i : i + 4].isdigit() and text[i : i + 2] in ("19", "20"):
            candidates.append((i + 4, _YEAR_BITS))
        for end, cost in candidates:
            best[end] = min(best[end], best[i] + cost)
    return best[n]


def _single_costs(text: str) -> list[float]:
    costs = []
    seen: set[str] = set()
    for ch in text:
        if ch.isascii() and ch.isalpha():
            costs.append(_LETTER_BITS)
        elif ch.isascii() and ch.isdigit():
            costs.append(_DIGIT_BITS)
        elif not ch.isprintable() or not ch.isascii():
            costs.append(8.0)  # a byte no keyboard makes: a machine drew it
        else:
            # A separator used again (my_long_key) tells a cracker little.
            costs.append(1.0 if ch in seen else _SYMBOL_BITS)
            seen.add(ch)
    return costs


def _published_matches(text: str) -> dict[int, list[int]]:
    """Where a published key occurs (compared folded: case and separators ignored)."""
    positions = [i for i, ch in enumerate(text) if re.fullmatch(r"[0-9a-z]", ch.casefold())]
    folded = "".join(text[i].casefold() for i in positions)
    found: dict[int, list[int]] = {}
    for published in PUBLISHED_KEYS:
        if len(published) < 8:
            continue
        start = folded.find(published)
        while start != -1:
            end = positions[start + len(published) - 1] + 1
            found.setdefault(positions[start], []).append(end)
            start = folded.find(published, start + 1)
    return found


def _repeat_ends(text: str, i: int) -> list[int]:
    """Ends of the earlier occurrences (LZ77-style) of what starts at ``i``, 3 long or more."""
    ends = []
    length = 0
    while i + length < len(text) and length < _MAX_RUN:
        candidate = text[i : i + length + 1]
        found = text.find(candidate, 0, i + length)
        if found == -1 or found >= i:
            break
        length += 1
        if length >= 3:
            ends.append(i + length)
    return ends


def _is_sequence_step(a: str, b: str, previous: int | None) -> int | None:
    step = ord(b) - ord(a)
    if step not in (-1, 0, 1) or (previous is not None and step != previous):
        return None
    return step


def _sequence_ends(text: str, i: int) -> list[int]:
    """Ends of runs like ``abcd``, ``4321`` or ``kkkk`` from ``i`` (3 long or more)."""
    ends = []
    previous: int | None = None
    j = i + 1
    while j < len(text) and j - i < _MAX_RUN:
        step = _is_sequence_step(text[j - 1], text[j], previous)
        if step is None:
            break
        previous = step
        j += 1
        if j - i >= 3:
            ends.append(j)
    return ends


def _walks(text: str, i: int) -> list[tuple[int, float]]:
    """Keyboard walks from ``i`` (3 keys or more): a start key, a length, and each turn."""
    found = []
    turns = 0
    direction: tuple[int, int] | None = None
    j = i + 1
    while j < len(text) and j - i < _MAX_RUN:
        step = _step(text[j - 1], text[j])
        if step is None:
            break
        if direction is not None and step != direction:
            turns += 1
        direction = step
        j += 1
        if j - i >= 3:
            found.append((j, math.log2(47) + math.log2(j - i) + 3.0 * turns))
    return found


def _words(text: str, i: int) -> list[tuple[int, float]]:
    """Common words from ``i`` (lowercase, Capitalised or UPPER), and other word-like runs."""
    found = []
    for end in range(i + 2, min(len(text), i + _WORD_MAX) + 1):
        part = text[i:end]
        if not (part.isascii() and part.isalpha()):
            break
        lower = part.lower()
        # Capitalised words (CamelCase phrases) cost nothing more: one rule for the phrase.
        case = 1.0 if len(part) > 1 and part == lower.upper() else 0.0
        if part not in (lower, lower.capitalize(), lower.upper()):
            continue
        if lower in TOP_WORDS:
            found.append((end, _TOP_WORD_BITS + case))
        elif lower in COMMON_WORDS:
            found.append((end, _COMMON_WORD_BITS + case))
        elif len(part) >= 3 and _VOWELS.intersection(lower) and part != lower.upper():
            letters = len(part) * _LETTER_BITS
            found.append((end, min(letters, _OTHER_WORD_BITS + 2.0 * max(0, len(part) - 8))))
    return found
