"""Request ids are ULIDs spelled in Crockford's base 32, defined once in collector/ulid.py."""

from __future__ import annotations

import string
from pathlib import Path

import pytest

from collector.ulid import ALPHABET, decode, ulid

ROOT = Path(__file__).resolve().parent.parent
# Crockford's base 32 leaves out I, L, O and U (read as 1, 1, 0 and an obscenity).
CROCKFORD = "".join(c for c in string.digits + string.ascii_uppercase if c not in "ILOU")


def _spelled(value: int) -> str:
    """The plain reading of the spec: 26 five-bit digits, most significant first."""
    return "".join(CROCKFORD[value >> shift & 31] for shift in range(125, -1, -5))


def test_the_alphabet_is_crockfords_base_32() -> None:
    assert ALPHABET == CROCKFORD and len(ALPHABET) == 32


@pytest.mark.parametrize(
    ("ms", "entropy"),
    [(0, 0), (1, 1), (1_765_000_000_000, 0), ((1 << 48) - 1, (1 << 80) - 1), (10**12, 12345)],
)
def test_an_id_spells_its_time_and_entropy_and_reads_back(ms: int, entropy: int) -> None:
    value = ms << 80 | entropy
    text = ulid(ms, entropy)
    assert text == _spelled(value) and len(text) == 26
    assert decode(text) == decode(text.lower()) == value


@pytest.mark.parametrize("text", ["", "0" * 25, "0" * 27, "I" + "0" * 25, "01M9-" + "0" * 21])
def test_what_is_not_a_ulid_decodes_to_none(text: str) -> None:
    assert decode(text) is None


def test_no_module_spells_the_alphabet_again() -> None:
    again = [
        f"{path.relative_to(ROOT)}:{n}"
        for package in ("collector", "dashboard", "bench", "tests")
        for path in (ROOT / package).rglob("*.py")
        if path != ROOT / "collector" / "ulid.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if CROCKFORD in line
    ]
    assert not again, "use collector.ulid.ALPHABET: " + ", ".join(again)
