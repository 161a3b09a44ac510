"""ULIDs, the request ids: 26 Crockford base-32 characters, 48 bits of milliseconds then 80
bits of entropy, so ids sort by the time their request started (https://github.com/ulid/spec).
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32: no I, L, O or U
_DIGITS = {char: i for i, char in enumerate(ALPHABET)}
# Two characters per 10 bits: a ULID's 130 bits are 5 + 12 x 10 + 5 (fewer loops per id).
_PAIRS = tuple(a + b for a in ALPHABET for b in ALPHABET)
_PAIR_SHIFTS = (115, 105, 95, 85, 75, 65, 55, 45, 35, 25, 15, 5)


def ulid(ms: int, entropy: int) -> str:
    """The ULID of a millisecond Unix time and 80 bits (random, or a hash for a fixed id)."""
    value = ms << 80 | entropy
    pairs = _PAIRS
    middle = [pairs[value >> shift & 1023] for shift in _PAIR_SHIFTS]
    return "".join([ALPHABET[value >> 125 & 31], *middle, ALPHABET[value & 31]])


def decode(text: str) -> int | None:
    """The 130-bit number a ULID spells (either case); None for anything that is not one."""
    upper = text.upper()
    if len(upper) != 26 or not all(char in _DIGITS for char in upper):
        return None
    value = 0
    for char in upper:
        value = value << 5 | _DIGITS[char]
    return value
